import LatchkeyAudit

/// The audit export reader (`latchkey audit verify --export`): an export that reads is
/// verified, written out again line by line, and must read back to the same rows and
/// checkpoints.
enum AuditExportFuzzTarget {
    static func run(_ input: [UInt8]) {
        guard let contents = try? AuditExport.read(input) else { return }
        _ = AuditVerifier.verify(records: contents.records, checkpoints: contents.checkpoints, publicKey: contents.publicKey)
        var text = AuditExport.header(publicKey: contents.publicKey) + "\n"
        for r in contents.records { text += AuditExport.line(r) + "\n" }
        for c in contents.checkpoints { text += AuditExport.line(c) + "\n" }
        guard let again = try? AuditExport.read(Array(text.utf8)) else { fuzzFailure("a re-exported log does not read back") }
        guard again.records == contents.records, again.checkpoints == contents.checkpoints else {
            fuzzFailure("a re-exported log reads back different rows")
        }
    }
}
