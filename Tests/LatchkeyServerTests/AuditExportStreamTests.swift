import Foundation
import LatchkeyAPI
import LatchkeyAudit
import LatchkeyClient
import Testing

/// `GET /v1/audit/export` streams: the log goes out in chunks of a page of rows each, so
/// the daemon holds one page however long the log is, and the export still verifies.
@Suite(.serialized) struct AuditExportStreamTests {
    @Test func theExportIsStreamedInPagesAndVerifies() async throws {
        let d = try await TestDaemon()
        try await offPool {
            let c = try d.client()
            for _ in 0..<2_100 { let _: AuditPublicKey = try c.call("GET", "/v1/audit/public-key") }
            var chunks = 0
            var largest = 0
            var bytes: [UInt8] = []
            try c.stream("/v1/audit/export") { piece in
                chunks += 1
                largest = max(largest, piece.count)
                bytes += piece
            }
            let contents = try AuditExport.read(bytes)
            #expect(contents.records.count >= 2_100)
            #expect(chunks >= 4, "header, three pages of rows, checkpoints: \(chunks) chunk(s)")
            #expect(largest < 1_000 * 600, "a chunk is one page of rows (\(largest) bytes)")
            let report = AuditVerifier.verify(records: contents.records, checkpoints: contents.checkpoints, publicKey: contents.publicKey)
            #expect(report.isIntact, "\(report)")
            // The plain call still reads a chunked answer whole.
            let whole = try c.call("GET", "/v1/audit/export")
            #expect(try AuditExport.read(whole).records.count >= 2_100)
        }
        await d.stop()
    }
}
