package import LatchkeyAPI
package import LatchkeyStore

extension Vault {
    /// Adds a key generation and re-wraps every data key in one transaction; the new KEK
    /// is active for whatever commits with it, and the old one is put back if the
    /// transaction fails.
    func rotateMasterKey(_ op: inout Operation) async throws -> MasterKeyRotation {
        op.target = AuditTarget(kind: "master-key")
        let old = keyRing.kek
        do {
            let result = try await op.change { [keyRing] db in
                let (new, count) = try keyRing.rotate(in: db)
                keyRing.activate(new)
                return MasterKeyRotation(generation: new.generation, rewrapped: count)
            }
            logger.notice("master key rotated", metadata: ["generation": "\(result.generation)", "rewrapped": "\(result.rewrapped)"])
            return result
        } catch {
            keyRing.activate(old)
            throw error
        }
    }
}
