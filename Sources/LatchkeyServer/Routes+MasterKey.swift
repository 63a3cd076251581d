import Foundation
import LatchkeyAPI
import LatchkeyCrypto
import LatchkeyStore

extension Vault {
    func addMasterKeyRoutes(_ r: inout Router) {
        // Adds a key generation and re-wraps every data key in one transaction. The new KEK
        // is staged inside it and becomes active only once it committed (on the audit
        // writer, before its next transaction); until then releases open with the old one.
        r.add(.POST, "/v1/master-key/rotate") { [self] req in
            let op = try await authorize(req, as: .admin, action: "master-key.rotate", target: AuditTarget(kind: "master-key"))
            let result = try await op.change({ [keyRing] db in
                let (new, count) = try keyRing.rotate(in: db)
                return MasterKeyRotation(generation: new.generation, rewrapped: count)
            }, settled: { [keyRing] committed in keyRing.settle(committed: committed) })
            logger.notice("master key rotated", metadata: ["generation": "\(result.generation)", "rewrapped": "\(result.rewrapped)"])
            await truncateWAL(after: "master-key.rotate")
            return .json(result)
        }
        // Replaces the root key (key file or passphrase) the KEK is wrapped under, and the
        // check value, in one transaction: the old key file or passphrase is refused after.
        r.add(.POST, "/v1/master-key/rekey") { [self] req in try await rekey(req) }
    }

    private func rekey(_ req: Request) async throws -> Response {
        let body = try req.decode(MasterKeyRekeyRequest.self)
        let op = try await authorize(req, as: .admin, action: "master-key.rekey", target: AuditTarget(kind: "master-key"))
        let newRoot: RootKey
        let metadata: RootKeyMetadata
        switch (body.keyFile, body.sealedPassphrase) {
        case (let path?, nil):
            guard path.hasPrefix("/") else {
                throw try await op.refuse(.badRequest("invalid", "keyFile must be an absolute path (the daemon's working directory is not yours)"))
            }
            do {
                newRoot = FileManager.default.fileExists(atPath: path) ? try KeyFile.read(path: path) : try KeyFile.create(path: path)
            } catch let e as KeyFile.Failure {
                throw try await op.refuse(.badRequest("key_file_refused", e.description))
            }
            metadata = .keyFile
        case (nil, let sealed?):
            guard let bytes = Data(base64Encoded: sealed), bytes.count <= Self.maxPassphraseBytes + IntakeKeyPair.sealOverheadBytes else {
                throw try await op.refuse(.badRequest("invalid", "sealedPassphrase is not base64 of a sealed box (or is over 1 KiB)"))
            }
            let pass: SecretBytes
            do { pass = try keyRing.intake.open(Array(bytes)) } catch {
                throw try await op.refuse(.badRequest("seal_open_failed", "the sealed passphrase did not open: it was altered, or sealed to another daemon's intake key"))
            }
            guard pass.count >= Self.minPassphraseBytes else {
                throw try await op.refuse(.badRequest("invalid", "the new passphrase must be at least \(Self.minPassphraseBytes) bytes"))
            }
            let salt = randomBytes(PassphraseLimits.saltBytes)
            let limits = body.kdf == "interactive" ? PassphraseLimits.interactive : PassphraseLimits.moderate
            newRoot = try RootKey.derive(passphrase: pass, salt: salt, limits: limits)
            metadata = .passphrase(salt: salt, limits: limits)
        default:
            throw try await op.refuse(.badRequest("invalid", "give exactly one of keyFile or sealedPassphrase"))
        }
        if constantTimeEquals(newRoot.checkValue, keyRing.root.checkValue) {
            throw try await op.refuse(.badRequest("invalid", "the new master key is the one in use; rekey needs a different key file or passphrase"))
        }
        let generation = keyRing.generation
        try await op.change({ [keyRing] db in try keyRing.rekey(to: newRoot, source: metadata, in: db) },
            settled: { [keyRing] committed in keyRing.settle(committed: committed) })
        logger.notice("master key replaced (rekey); the previous key file or passphrase no longer opens the store",
            metadata: ["generation": "\(generation)", "kind": "\(body.keyFile != nil ? "key-file" : "passphrase")"])
        await truncateWAL(after: "master-key.rekey")
        return .json(MasterKeyRekeyResult(generation: generation, kind: body.keyFile != nil ? "key-file" : "passphrase"))
    }

    static let minPassphraseBytes = 8
    static let maxPassphraseBytes = 1024

    /// After destroying material, the WAL's copies of the old pages go too (logged if
    /// readers held the checkpoint back; the next destroying change retries).
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
