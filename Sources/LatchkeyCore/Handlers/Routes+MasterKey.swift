package import LatchkeyAPI
package import LatchkeyStore
import Foundation
import LatchkeyCrypto

extension Vault {
    /// Adds a key generation and re-wraps every data key in one transaction. The new KEK
    /// is staged inside it and becomes active only once it committed (on the audit writer,
    /// before its next transaction); until then releases open with the old one, and a
    /// transaction that fails drops it.
    func rotateMasterKey(_ op: inout Operation) async throws -> MasterKeyRotation {
        op.target = AuditTarget(kind: "master-key")
        let result = try await op.change({ [keyRing] db in
            let (new, count) = try keyRing.rotate(in: db)
            return MasterKeyRotation(generation: new.generation, rewrapped: count)
        }, settled: { [keyRing] committed in keyRing.settle(committed: committed) })
        logger.notice("master key rotated", metadata: ["generation": "\(result.generation)", "rewrapped": "\(result.rewrapped)"])
        await truncateWAL(after: "master-key.rotate")
        return result
    }

    static let minPassphraseBytes = 8
    static let maxPassphraseBytes = 1024

    /// Replaces the root key (key file or passphrase) the KEK is wrapped under, and the
    /// check value, in one transaction: the old key file or passphrase is refused after.
    func rekeyMasterKey(_ op: inout Operation, _ body: MasterKeyRekeyRequest) async throws -> MasterKeyRekeyResult {
        op.target = AuditTarget(kind: "master-key")
        let newRoot: RootKey
        let metadata: RootKeyMetadata
        switch (body.keyFile, body.sealedPassphrase) {
        case (let path?, nil):
            guard path.hasPrefix("/") else {
                throw APIError.invalid("keyFile must be an absolute path (the daemon's working directory is not yours)")
            }
            do {
                newRoot = FileManager.default.fileExists(atPath: path) ? try KeyFile.read(path: path) : try KeyFile.create(path: path)
            } catch let e as KeyFile.Failure {
                throw APIError(.keyFileRefused, e.description)
            }
            metadata = .keyFile
        case (nil, let sealed?):
            guard let bytes = Data(base64Encoded: sealed), bytes.count <= Self.maxPassphraseBytes + IntakeKeyPair.sealOverheadBytes else {
                throw APIError.invalid("sealedPassphrase is not base64 of a sealed box (or is over 1 KiB)")
            }
            let pass: SecretBytes
            do { pass = try keyRing.intake.open(Array(bytes)) } catch {
                throw APIError(.sealOpenFailed, "the sealed passphrase did not open: it was altered, or sealed to another daemon's intake key")
            }
            guard pass.count >= Self.minPassphraseBytes else {
                throw APIError.invalid("the new passphrase must be at least \(Self.minPassphraseBytes) bytes")
            }
            guard body.kdf == nil || body.kdf == "moderate" || body.kdf == "interactive" else {
                throw APIError.invalid("kdf must be moderate or interactive")
            }
            let salt = randomBytes(PassphraseLimits.saltBytes)
            let limits = body.kdf == "interactive" ? PassphraseLimits.interactive : PassphraseLimits.moderate
            newRoot = try RootKey.derive(passphrase: pass, salt: salt, limits: limits)
            metadata = .passphrase(salt: salt, limits: limits)
        default:
            throw APIError.invalid("give exactly one of keyFile or sealedPassphrase")
        }
        if constantTimeEquals(newRoot.checkValue, keyRing.root.checkValue) {
            throw APIError.invalid("the new master key is the one in use; rekey needs a different key file or passphrase")
        }
        let generation = keyRing.generation
        let kind = body.keyFile != nil ? "key-file" : "passphrase"
        try await op.change({ [keyRing] db in try keyRing.rekey(to: newRoot, source: metadata, in: db) },
            settled: { [keyRing] committed in keyRing.settle(committed: committed) })
        logger.notice("master key replaced (rekey); the previous key file or passphrase no longer opens the store",
            metadata: ["generation": "\(generation)", "kind": "\(kind)"])
        await truncateWAL(after: "master-key.rekey")
        return MasterKeyRekeyResult(generation: generation, kind: kind)
    }

    /// After destroying material (a revoke, a removal, a rotation or rekey), the WAL's
    /// copies of the old pages go too (logged if readers held the checkpoint back; the
    /// next destroying change retries).
    func truncateWAL(after action: String) async {
        do {
            if try await !store.truncateWAL() {
                logger.warning("the WAL could not be truncated after \(action) (readers were active); older page images remain until the next checkpoint")
            }
        } catch {
            logger.error("the WAL could not be truncated after \(action): \(error)")
        }
    }
}
