public import LatchkeyStore
import LatchkeyCrypto

/// A row of the audit log: the entry, its place in the chain and its hashes.
public struct AuditRecord: Sendable, Codable, Equatable {
    public var seq: Int64
    public var time: Timestamp
    public var entry: AuditEntry
    public var prevHash: [UInt8]
    public var rowHash: [UInt8]

    public init(seq: Int64, time: Timestamp, entry: AuditEntry, prevHash: [UInt8], rowHash: [UInt8]) {
        self.seq = seq
        self.time = time
        self.entry = entry
        self.prevHash = prevHash
        self.rowHash = rowHash
    }
}

/// A signed statement over the chain head: "row `auditSeq` has hash `headHash`, and the
/// checkpoint before me had hash `prevHash`".
public struct Checkpoint: Sendable, Codable, Equatable {
    public var id: Int64
    public var auditSeq: Int64
    public var headHash: [UInt8]
    public var time: Timestamp
    public var publicKey: [UInt8]
    public var signature: [UInt8]
    /// The previous checkpoint's hash (`AuditEncoding.checkpointHash`; zero for id 1);
    /// nil for a checkpoint signed before checkpoints were chained (message v1).
    public var prevHash: [UInt8]?

    public init(
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
    public func verifies(with publicKey: [UInt8]) -> Bool {
        self.publicKey == publicKey
            && ed25519Verify(signature: signature, message: AuditEncoding.checkpointMessage(self), publicKey: publicKey)
    }
}
