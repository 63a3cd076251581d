package import LatchkeyStore
import LatchkeyCrypto

/// A row of the audit log: the entry, its place in the chain and its hashes.
package struct AuditRecord: Sendable, Codable, Equatable {
    package var seq: Int64
    package var time: Timestamp
    package var entry: AuditEntry
    package var prevHash: [UInt8]
    package var rowHash: [UInt8]

    package init(seq: Int64, time: Timestamp, entry: AuditEntry, prevHash: [UInt8], rowHash: [UInt8]) {
        self.seq = seq
        self.time = time
        self.entry = entry
        self.prevHash = prevHash
        self.rowHash = rowHash
    }
}

/// A signed statement over the chain head: "row `auditSeq` has hash `headHash`, and the
/// checkpoint before me had hash `prevHash`".
package struct Checkpoint: Sendable, Codable, Equatable {
    package var id: Int64
    package var auditSeq: Int64
    package var headHash: [UInt8]
    package var time: Timestamp
    package var publicKey: [UInt8]
    package var signature: [UInt8]
    /// The previous checkpoint's hash (`AuditEncoding.checkpointHash`; zero for id 1);
    /// nil for a checkpoint signed before checkpoints were chained (message v1).
    package var prevHash: [UInt8]?

    package init(
        id: Int64, auditSeq: Int64, headHash: [UInt8], time: Timestamp, publicKey: [UInt8], signature: [UInt8], prevHash: [UInt8]? = nil
    ) {
        self.id = id
        self.auditSeq = auditSeq
        self.headHash = headHash
        self.time = time
        self.publicKey = publicKey
        self.signature = signature
        self.prevHash = prevHash
    }

    /// Whether the signature verifies with `publicKey` (and the checkpoint names that key).
    package func verifies(with publicKey: [UInt8]) -> Bool {
        self.publicKey == publicKey
            && ed25519Verify(signature: signature, message: AuditEncoding.checkpointMessage(self), publicKey: publicKey)
    }
}
