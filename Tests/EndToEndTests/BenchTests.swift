import Foundation
import Testing

@Suite struct BenchTests {
    /// The quick form of `latchkey bench`: it runs every workload, and the audit rows it
    /// counts equal the requests answered.
    @Test func quickBenchRunsAndAuditRowsEqualRequests() throws {
        let r = sh([latchkeyBinary, "bench", "--duration", "0.5", "--clients", "2", "--workload", "all", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]])
        #expect(rows.count == 5)
        for row in rows {
            #expect((row["errors"] as? Int) == 0, "\(row)")
            #expect((row["requests"] as? Int ?? 0) > 0, "\(row)")
            if row["auditRows"] != nil { #expect((row["auditMatches"] as? Bool) == true, "\(row)") }
        }
        #expect(rows.filter { $0["auditMatches"] != nil }.count == 3)
    }
}
