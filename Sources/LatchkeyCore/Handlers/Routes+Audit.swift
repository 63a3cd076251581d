package import LatchkeyAPI
package import LatchkeyAudit
package import LatchkeyCrypto
package import LatchkeyStore
package import NIOCore

extension Vault {
    static let auditListDefaultLimit = 100
    static let auditListMaxLimit = 10_000

    func listAudit(_ op: inout Operation) async throws -> Response {
        let query = try auditQuery(op.request, defaultLimit: Self.auditListDefaultLimit)
        let lines = try await op.read { db in try AuditReader.records(query, in: db).map(AuditExport.line) }
        return Response(body: ByteBuffer(string: "[" + lines.joined(separator: ",") + "]"))
    }

    /// Rows per page of a streamed export (one page is what the export holds in memory).
    static let exportPageRows = 1_000

    /// The export, streamed: one snapshot fixes what it holds (rows are append-only, so
    /// every later page read sees them), then the rows go out a page at a time, flat in
    /// memory however long the log. A checkpoint signed meanwhile is not in it (it could
    /// name rows the export does not have).
    func exportAudit(_ op: inout Operation) async throws -> Response {
        let query = try auditQuery(op.request, defaultLimit: nil)
        let publicKey = keyRing.auditSigning.publicKey
        let (lastSeq, lastCheckpoint) = try await op.read { db in
            (try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM audit") ?? 0,
             try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) FROM audit_checkpoint") ?? 0)
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

    func auditPublicKey(_ op: inout Operation) -> AuditPublicKey {
        AuditPublicKey(publicKey: Hex.encode(keyRing.auditSigning.publicKey))
    }

    func auditQuery(_ req: Request, defaultLimit: Int?) throws(APIError) -> AuditQuery {
        var q = AuditQuery()
        func time(_ k: String) throws(APIError) -> Timestamp? {
            guard let v = req.query[k] else { return nil }
            guard let t = Timestamp(parsing: v) else {
                throw APIError.invalid("\(k) '\(Names.printable(v))' is not a time like 2026-11-22 or 2026-11-22T10:00:00Z")
            }
            return t
        }
        q.since = try time("since")
        q.until = try time("until")
        if let project = req.query["project"] {
            do { try Names.validate(project, what: "project") } catch { throw APIError.invalid(error.description) }
            q.project = project
        }
        if let action = req.query["action"] {
            guard AuditAction(rawValue: action) != nil else {
                throw APIError.invalid("action '\(Names.printable(action))' is not an audit action (see docs/AUDIT.md)")
            }
            q.action = action
        }
        if let o = req.query["outcome"] {
            guard let outcome = AuditEntry.Outcome(rawValue: o) else { throw APIError.invalid("outcome must be granted, denied or failed") }
            q.outcome = outcome
        }
        if let u = req.query["uid"] {
            guard let uid = UInt32(u) else { throw APIError.invalid("uid must be a number") }
            q.uid = uid
        }
        if let a = req.query["after"] {
            guard let after = Int64(a), after >= 0 else { throw APIError.invalid("after must be a sequence number") }
            q.afterSeq = after
        }
        if let l = req.query["limit"] {
            guard let limit = Int(l), (1...Self.auditListMaxLimit).contains(limit) else {
                throw APIError.invalid("limit must be between 1 and \(Self.auditListMaxLimit)")
            }
            q.limit = limit
        } else {
            q.limit = defaultLimit
        }
        return q
    }
}
