@testable import LatchkeyPostgres
import Testing

/// The store's `?` placeholders become PostgreSQL's `$n` in order, and nothing inside a
/// literal, an identifier, a dollar-quoted body or a comment is touched.
@Suite struct PostgresPlaceholdersTests {
    @Test func numbersPlaceholdersInOrder() {
        let r = PostgresPlaceholders.rewrite("INSERT INTO t(a, b, c) VALUES (?, ?, ?) ON CONFLICT(a) DO UPDATE SET b = excluded.b WHERE c < ?")
        #expect(r.sql == "INSERT INTO t(a, b, c) VALUES ($1, $2, $3) ON CONFLICT(a) DO UPDATE SET b = excluded.b WHERE c < $4")
        #expect(r.count == 4)
        #expect(PostgresPlaceholders.rewrite("SELECT 1").count == 0)
        #expect(PostgresPlaceholders.rewrite("LIMIT ?").sql == "LIMIT $1")
    }

    @Test func leavesQuotedTextAndCommentsAlone() {
        let cases: [(String, String, Int)] = [
            ("SELECT '?' || ?", "SELECT '?' || $1", 1),
            ("SELECT 'it''s ?' , ?", "SELECT 'it''s ?' , $1", 1),
            ("SELECT \"we?ird\" FROM t WHERE x = ?", "SELECT \"we?ird\" FROM t WHERE x = $1", 1),
            ("SELECT \"a\"\"?\" , ?", "SELECT \"a\"\"?\" , $1", 1),
            ("SELECT E'\\'?' , ?", "SELECT E'\\'?' , $1", 1),
            ("SELECT ? -- what?\n, ?", "SELECT $1 -- what?\n, $2", 2),
            ("SELECT /* ? /* nested ? */ still ? */ ?", "SELECT /* ? /* nested ? */ still ? */ $1", 1),
            ("SELECT $$ ? $$, ?", "SELECT $$ ? $$, $1", 1),
            ("SELECT $fn$ it's ? $fn$, ?", "SELECT $fn$ it's ? $fn$, $1", 1),
            ("SELECT 'unterminated ?", "SELECT 'unterminated ?", 0),
            ("SELECT /* unterminated ?", "SELECT /* unterminated ?", 0),
            ("SELECT $1, ?", "SELECT $1, $1", 1),  // an existing $1 is not a dollar quote
        ]
        for (input, expected, count) in cases {
            let r = PostgresPlaceholders.rewrite(input)
            #expect(r.sql == expected, "\(input)")
            #expect(r.count == count, "\(input)")
        }
    }

    @Test func nonASCIITextSurvives() {
        #expect(PostgresPlaceholders.rewrite("SELECT 'héllo ✓' WHERE name = ?").sql == "SELECT 'héllo ✓' WHERE name = $1")
    }
}
