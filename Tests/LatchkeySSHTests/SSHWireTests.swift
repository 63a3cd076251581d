import LatchkeyCrypto
import LatchkeySSH
import Testing

@Suite struct SSHWireTests {
    /// RFC 4251 §5's mpint examples (positive ones), and redundant leading zeros dropped.
    @Test func mpintMatchesRFC4251Examples() {
        func mpint(_ hex: String) -> String {
            var w = SSHWireWriter()
            w.writeMPInt(magnitude: Hex.decode(hex)!)
            return Hex.encode(w.bytes)
        }
        #expect(mpint("") == "00000000")
        #expect(mpint("00") == "00000000")
        #expect(mpint("09a378f9b2e332a7") == "0000000809a378f9b2e332a7")
        #expect(mpint("80") == "000000020080")
        #expect(mpint("000001") == "0000000101")
    }

    @Test func readsRoundTripWrites() {
        var w = SSHWireWriter()
        w.writeUInt8(7)
        w.writeUInt32(0xdead_beef)
        w.writeString("ssh-ed25519")
        w.writeMPInt(magnitude: [0xff, 0x01])
        w.writeString([UInt8]())
        var r = SSHWireReader(w.bytes)
        #expect(r.readUInt8() == 7)
        #expect(r.readUInt32() == 0xdead_beef)
        #expect(r.readUTF8String() == "ssh-ed25519")
        #expect(r.readMPInt() == [0xff, 0x01])
        #expect(r.readString() == [])
        #expect(r.isAtEnd)
        #expect(r.readUInt8() == nil)
    }

    @Test func shortReadsReturnNilAndStayPut() {
        // A string announcing 4 GiB with three bytes behind it: nil, nothing allocated, position unchanged.
        var r = SSHWireReader([0xff, 0xff, 0xff, 0xff, 1, 2, 3])
        #expect(r.readString() == nil)
        #expect(r.offset == 0)
        #expect(r.readMPInt() == nil)
        #expect(r.readBytes(8) == nil)
        #expect(r.readBytes(-1) == nil)
        #expect(r.readUInt32() == 0xffff_ffff)
        #expect(r.readUInt32() == nil)
        #expect(r.offset == 4)
        var empty = SSHWireReader([])
        #expect(empty.readUInt8() == nil && empty.readUInt32() == nil && empty.readString() == nil)
    }

    @Test func negativeMPIntIsRefused() {
        var r = SSHWireReader([0, 0, 0, 1, 0x80])
        #expect(r.readMPInt() == nil)
        #expect(r.offset == 0)
    }

    @Test func everyPrefixOfAKeyBlobReadsWithoutTrapping() throws {
        let blob = try SharedKeys.key(.rsa3072).publicKeyBlob
        for n in 0..<blob.count {
            #expect(throws: SSHKeyError.self) { try SSHPublicKey(blob: Array(blob.prefix(n))) }
        }
    }
}

@Suite struct SSHPublicKeyTests {
    @Test(arguments: DeployKeyType.allCases)
    func authorizedKeysLineRoundTrips(type: DeployKeyType) throws {
        let key = try SharedKeys.key(type)
        let parsed = try SSHPublicKey(authorizedKeysLine: key.authorizedKeysLine(comment: "latchkey:web:v2 extra words") + "\n")
        #expect(parsed.type == type)
        #expect(parsed.blob == key.publicKeyBlob)
        #expect(parsed.comment == "latchkey:web:v2 extra words")
        #expect(parsed.fingerprint == key.fingerprint)
        #expect(parsed.authorizedKeysLine == key.authorizedKeysLine(comment: "latchkey:web:v2 extra words"))
        #expect(key.publicKey(comment: "c") == (try SSHPublicKey(authorizedKeysLine: key.authorizedKeysLine(comment: "c"))))
    }

    @Test func parsesLinesWrittenBySshKeygen() throws {
        for name in ["good-ssh-keygen-ed25519", "good-ssh-keygen-ecdsa-p256", "good-ssh-keygen-rsa-3072"] {
            let vector = try Vector.load(name)
            let parsed = try SSHPublicKey(authorizedKeysLine: try #require(vector.headers["public-line"]))
            #expect(parsed.fingerprint == vector.headers["fingerprint"])
            #expect(parsed.type.rawValue == vector.headers["type"])
        }
    }

    @Test func malformedLinesAreRefusedWithCodes() throws {
        let ed = try SharedKeys.key(.ed25519)
        let edB64 = ed.authorizedKeysLine(comment: "").split(separator: " ")[1]
        func code(_ line: String) -> String? {
            #expect(throws: SSHKeyError.self) { try SSHPublicKey(authorizedKeysLine: line) }?.code
        }
        #expect(code("") == "ssh_public_key_malformed")
        #expect(code("ssh-ed25519") == "ssh_public_key_malformed")
        #expect(code("ssh-ed25519 !!!notbase64") == "ssh_public_key_malformed")
        #expect(code("ssh-dss \(edB64)") == "ssh_key_unknown_type")
        #expect(code("ssh-rsa \(edB64)") == "ssh_public_key_malformed")  // line and blob disagree
        #expect(code("ssh-ed25519 " + String(repeating: "A", count: 20_000)) == "ssh_public_key_malformed")
        var w = SSHWireWriter()
        w.writeString("ssh-ed25519")
        w.writeString([UInt8](repeating: 1, count: 31))
        #expect(throws: SSHKeyError.self) { try SSHPublicKey(blob: w.bytes) }
        w = SSHWireWriter()
        w.writeBytes(ed.publicKeyBlob)
        w.writeUInt8(0)
        #expect(throws: SSHKeyError.trailingData(where: "after the public key")) { try SSHPublicKey(blob: w.bytes) }
        w = SSHWireWriter()
        w.writeString("ecdsa-sha2-nistp384")
        #expect(throws: SSHKeyError.unknownKeyType("ecdsa-sha2-nistp384")) { try SSHPublicKey(blob: w.bytes) }
    }

    @Test func rsaKeysOfOtherSizesAreRefused() throws {
        var w = SSHWireWriter()
        w.writeString("ssh-rsa")
        w.writeMPInt(magnitude: [1, 0, 1])
        w.writeMPInt(magnitude: [0x80] + [UInt8](repeating: 0, count: 255))  // 2048 bits
        #expect(throws: SSHKeyError.unsupportedKeySize(bits: 2048)) { try SSHPublicKey(blob: w.bytes) }
    }
}
