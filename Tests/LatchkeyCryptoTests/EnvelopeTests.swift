import Foundation
import LatchkeyCrypto
import Testing

@Suite struct EnvelopeTests {
    let record = RecordBinding(kind: "token", id: "connection:ghe", version: 3)

    func payload() throws -> SecretBytes {
        var b = Array("ghp_0123456789abcdefghijklmnopqrstuvwxyz".utf8)
        return try SecretBytes(consuming: &b)
    }

    @Test func roundTripsUnderItsOwnRecord() throws {
        let kek = try KeyEncryptionKey.generate(generation: 1)
        let sealed = try kek.seal(payload(), for: record)
        #expect(try kek.open(sealed, for: record).constantTimeEquals(payload()))
    }

    @Test func blobMovedToAnotherRecordFailsToOpen() throws {
        let kek = try KeyEncryptionKey.generate(generation: 1)
        let sealed = try kek.seal(payload(), for: record)
        for other in [
            RecordBinding(kind: "deploy-key", id: record.id, version: 3),
            RecordBinding(kind: "token", id: "connection:gitlab", version: 3),
            RecordBinding(kind: "token", id: record.id, version: 4),
        ] {
            #expect(throws: CryptoError.self) { try kek.open(sealed, for: other) }
        }
        // A payload paired with another record's data key fails too.
        let second = try kek.seal(payload(), for: record)
        let swapped = SealedSecret(sealedPayload: sealed.sealedPayload, wrappedDataKey: second.wrappedDataKey, generation: 1)
        #expect(throws: CryptoError.self) { try kek.open(swapped, for: record) }
    }

    @Test func flippedByteFailsToOpen() throws {
        let kek = try KeyEncryptionKey.generate(generation: 1)
        let sealed = try kek.seal(payload(), for: record)
        var a = sealed
        a.sealedPayload[30] ^= 0x80
        #expect(throws: CryptoError.self) { try kek.open(a, for: record) }
        var b = sealed
        b.wrappedDataKey[b.wrappedDataKey.count - 1] ^= 0x01
        #expect(throws: CryptoError.self) { try kek.open(b, for: record) }
    }

    @Test func wrongKeyOrGenerationFailsToOpen() throws {
        let kek = try KeyEncryptionKey.generate(generation: 1)
        let sealed = try kek.seal(payload(), for: record)
        #expect(throws: CryptoError.self) { try KeyEncryptionKey.generate(generation: 1).open(sealed, for: record) }
        let sameKeyOtherGeneration = KeyEncryptionKey(generation: 2, key: kek.key)
        var relabeled = sealed
        relabeled.generation = 2
        #expect(throws: CryptoError.self) { try sameKeyOtherGeneration.open(relabeled, for: record) }
    }

    @Test func rewrapMovesOnlyTheDataKey() throws {
        let old = try KeyEncryptionKey.generate(generation: 1)
        let new = try KeyEncryptionKey.generate(generation: 2)
        let sealed = try old.seal(payload(), for: record)
        let moved = SealedSecret(
            sealedPayload: sealed.sealedPayload,
            wrappedDataKey: try new.rewrap(sealed.wrappedDataKey, from: old, for: record), generation: 2)
        #expect(try new.open(moved, for: record).constantTimeEquals(payload()))
        #expect(throws: CryptoError.self) { try old.open(moved, for: record) }
    }

    @Test func rootKeyWrapsGenerationsAndTellsWrongKeys() throws {
        let root = try RootKey.generate()
        let kek = try KeyEncryptionKey.generate(generation: 5)
        let wrapped = root.wrap(kek)
        #expect(try root.unwrapKEK(wrapped, generation: 5).key.constantTimeEquals(kek.key))
        #expect(throws: CryptoError.self) { try root.unwrapKEK(wrapped, generation: 6) }
        #expect(throws: CryptoError.self) { try RootKey.generate().unwrapKEK(wrapped, generation: 5) }
        #expect(root.matches(checkValue: root.checkValue))
        #expect(!(try RootKey.generate()).matches(checkValue: root.checkValue))
    }

    @Test func passphraseDerivationIsDeterministicPerSalt() throws {
        func pass(_ s: String) throws -> SecretBytes {
            var b = Array(s.utf8)
            return try SecretBytes(consuming: &b)
        }
        let salt = [UInt8](repeating: 9, count: PassphraseLimits.saltBytes)
        let a = try RootKey.derive(passphrase: pass("correct horse"), salt: salt, limits: .interactive)
        let b = try RootKey.derive(passphrase: pass("correct horse"), salt: salt, limits: .interactive)
        let c = try RootKey.derive(passphrase: pass("correct horsf"), salt: salt, limits: .interactive)
        #expect(a.key.constantTimeEquals(b.key))
        #expect(!a.matches(checkValue: c.checkValue))
    }
}

@Suite struct KeyFileTests {
    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "lk-keyfile-\(UUID().uuidString)"
        mkdir(d, 0o700)
        return d
    }

    @Test func createsMode0600AndReadsBack() throws {
        let path = tempDir() + "/master.key"
        let created = try KeyFile.create(path: path)
        var st = stat()
        stat(path, &st)
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(try KeyFile.read(path: path).key.constantTimeEquals(created.key))
        #expect(throws: KeyFile.Failure.self) { try KeyFile.create(path: path) }
    }

    @Test func refusesKeyFileOthersCanRead() throws {
        let path = tempDir() + "/master.key"
        _ = try KeyFile.create(path: path)
        chmod(path, 0o644)
        #expect {
            try KeyFile.read(path: path)
        } throws: { e in
            "\(e)".contains("chmod 600")
        }
    }

    @Test func refusesWrongSizeAndMissing() throws {
        let dir = tempDir()
        FileManager.default.createFile(atPath: dir + "/short.key", contents: Data([1, 2, 3]), attributes: [.posixPermissions: 0o600])
        #expect(throws: KeyFile.Failure.self) { try KeyFile.read(path: dir + "/short.key") }
        #expect(throws: KeyFile.Failure.self) { try KeyFile.read(path: dir + "/missing.key") }
    }
}
