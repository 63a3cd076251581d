import Foundation
import Testing

@Suite struct BenchTests {
    /// The quick form of `latchkey bench`: it runs every workload and the offline figures
    /// (small), and the audit rows it counts equal the requests answered.
    @Test func quickBenchRunsAndAuditRowsEqualRequests() throws {
        let r = sh([latchkeyBinary, "bench", "--duration", "0.5", "--clients", "2", "--workload", "all", "--scale", "0.002", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let rows = try #require(report["workloads"] as? [[String: Any]])
        #expect(rows.count == 5)
        for row in rows {
            #expect((row["errors"] as? Int) == 0, "\(row)")
            #expect((row["requests"] as? Int ?? 0) > 0, "\(row)")
            if row["auditRows"] != nil { #expect((row["auditMatches"] as? Bool) == true, "\(row)") }
        }
        #expect(rows.filter { $0["auditMatches"] != nil }.count == 3)
        let offline = try #require(report["offline"] as? [[String: Any]])
        #expect(offline.map { $0["name"] as? String } == [
            "daemon start-up", "audit verify", "daemon start-up, long log", "master-key rotation", "RSS with live sessions",
        ])
        for figure in offline { #expect((figure["value"] as? Double ?? 0) > 0, "\(figure)") }
    }
}
