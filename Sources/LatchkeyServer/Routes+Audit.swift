import LatchkeyAPI
import LatchkeyAudit
import LatchkeyCrypto
import LatchkeyStore
import NIOCore

extension Vault {
    static let auditListDefaultLimit = 100
    static let auditListMaxLimit = 10_000
    /// Rows per page of a streamed export (one page is what the export holds in memory).
    static let exportPageRows = 1_000

    func addAuditRoutes(_ r: inout Router) {
        r.add(.GET, "/v1/audit") { [self] req in
            let op = try await authorize(req, as: .auditor, action: "audit.list", target: AuditTarget())
            let query: AuditQuery
            do { query = try auditQuery(req, defaultLimit: Self.auditListDefaultLimit) } catch let e as APIError { throw try await op.refuse(e) }
            let lines = try await op.read { db in try AuditReader.records(query, in: db).map(AuditExport.line) }
            return Response(body: ByteBuffer(string: "[" + lines.joined(separator: ",") + "]"))
        }
        r.add(.GET, "/v1/audit/export") { [self] req in
            let op = try await authorize(req, as: .auditor, action: "audit.export", target: AuditTarget())
            let query: AuditQuery
            do { query = try auditQuery(req, defaultLimit: nil) } catch let e as APIError { throw try await op.refuse(e) }
            let publicKey = keyRing.auditSigning.publicKey
            // One snapshot fixes what the export holds (rows are append-only, so every later
            // page read sees them); the rows then go out in pages, flat in memory however
            // long the log (a checkpoint signed meanwhile is not in it: it could name rows
            // the export does not have).
            let (lastSeq, lastCheckpoint) = try await op.read { db in
                (try Int64.fetchOne(db, sql: "SELECT IFNULL(MAX(seq), 0) FROM audit") ?? 0,
                 try Int64.fetchOne(db, sql: "SELECT IFNULL(MAX(id), 0) FROM audit_checkpoint") ?? 0)
            }
            let store = store
            return Response(contentType: "application/x-ndjson") { write in
                try await write(ByteBuffer(string: AuditExport.header(publicKey: publicKey) + "\n"))
                var page = query
                page.limit = Self.exportPageRows
                var after: Int64 = query.afterSeq ?? 0
                while after < lastSeq {
                    page.afterSeq = after
                    let thisPage = page
                    let (text, last) = try await store.database.read { db -> (String, Int64?) in
                        var out = ""
                        var last: Int64?
                        try AuditReader.forEachRecord(thisPage, in: db) { r in
                            guard r.seq <= lastSeq else { return }
                            out += AuditExport.line(r) + "\n"
                            last = r.seq
                        }
                        return (out, last)
                    }
                    guard let last else { break }
                    try await write(ByteBuffer(string: text))
                    after = last
                }
                let checkpoints = try await store.database.read { db in try AuditReader.checkpoints(in: db).filter { $0.id <= lastCheckpoint } }
                try await write(ByteBuffer(string: checkpoints.map { AuditExport.line($0) + "\n" }.joined()))
            }
        }
        r.add(.GET, "/v1/audit/public-key") { [self] req in
            let op = try await authorize(req, as: .auditor, action: "audit.public-key", target: AuditTarget())
            try await op.record(.granted)
            return .json(AuditPublicKey(publicKey: Hex.encode(keyRing.auditSigning.publicKey)))
        }
    }

    func auditQuery(_ req: Request, defaultLimit: Int?) throws -> AuditQuery {
        var q = AuditQuery()
        func time(_ k: String) throws -> Timestamp? {
            guard let v = req.query[k] else { return nil }
            guard let t = Timestamp(parsing: v) else {
                throw APIError.badRequest("invalid", "\(k) '\(Names.printable(v))' is not a time like 2026-11-22 or 2026-11-22T10:00:00Z")
            }
            return t
        }
        q.since = try time("since")
        q.until = try time("until")
        q.project = req.query["project"]
        q.action = req.query["action"]
        if let o = req.query["outcome"] {
            guard let outcome = AuditEntry.Outcome(rawValue: o) else { throw APIError.badRequest("invalid", "outcome must be granted, denied or failed") }
            q.outcome = outcome
        }
        if let u = req.query["uid"] {
            guard let uid = UInt32(u) else { throw APIError.badRequest("invalid", "uid must be a number") }
            q.uid = uid
        }
        if let a = req.query["after"] {
            guard let after = Int64(a), after >= 0 else { throw APIError.badRequest("invalid", "after must be a sequence number") }
            q.afterSeq = after
        }
        if let l = req.query["limit"] {
            guard let limit = Int(l), (1...Self.auditListMaxLimit).contains(limit) else {
                throw APIError.badRequest("invalid", "limit must be between 1 and \(Self.auditListMaxLimit)")
            }
            q.limit = limit
        } else {
            q.limit = defaultLimit
        }
        return q
    }
}
