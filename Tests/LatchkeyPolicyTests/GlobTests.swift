import LatchkeyPolicy
import Testing

@Suite struct GlobTests {
    @Test(arguments: [
        ("*", "api", true),
        ("*", "a", true),
        ("api", "api", true),
        ("api", "api2", false),
        ("api", "ap", false),
        ("web-*", "web-frontend", true),
        ("web-*", "web-", true),
        ("web-*", "webx", false),
        ("web-*", "my-web-app", false),
        ("*-prod", "web-prod", true),
        ("*-prod", "web-prod2", false),
        ("*api*", "api", true),
        ("*api*", "my-api-v2", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("a?c", "abbc", false),
        ("v[0-9]", "v7", true),
        ("v[0-9]", "vx", false),
        ("v[!0-9]", "vx", true),
        ("v[!0-9]", "v7", false),
        ("[ab-]x", "-x", true),
        ("[a-]x", "-x", true),
        ("[a-]x", "bx", false),
        ("lib.*", "lib.core", true),
        ("lib.*", "libxcore", false),
        ("Api", "api", false),
    ])
    func matchesLikeAShellGlob(pattern: String, name: String, expected: Bool) throws {
        #expect(try Glob(pattern).matches(name) == expected)
    }

    @Test func namesOutsideTheProjectAlphabetMatchNothing() throws {
        let everything = try Glob("*")
        for name in ["a/b", "a b", "ä", "a\u{0}b", "x\n", "../etc"] {
            #expect(!everything.matches(name), "\(name)")
        }
    }

    @Test(arguments: [
        ("", "empty"),
        ("web-**", "'**' is not supported"),
        ("**", "'**' is not supported"),
        ("[abc", "never closed"),
        ("[]x", "empty"),
        ("[!]", "empty"),
        ("[z-a]", "backwards"),
        ("[^a]", "use [!...]"),
        ("a]", "has no '['"),
        ("a b", "cannot be in a project name"),
        ("a/b", "cannot be in a project name"),
        ("projét", "non-ASCII"),
        ("[!a-zA-Z0-9._-]", "matches no character"),
        (String(repeating: "a", count: 129), "longer than 128"),
    ])
    func refusesMalformedPatternsAndSaysWhy(pattern: String, reason: String) {
        #expect {
            _ = try Glob(pattern)
        } throws: { error in
            guard let error = error as? GlobSyntaxError else { return false }
            return error.reason.contains(reason) && error.pattern == pattern
        }
    }

    @Test func syntaxErrorsEscapeControlCharacters() {
        do {
            _ = try Glob("a\u{1b}[31m")
            Issue.record("accepted a control character")
        } catch {
            #expect(!error.description.contains("\u{1b}"))
            #expect(error.description.contains("\\u{1b}"))
        }
    }

    /// A backtracking matcher takes exponential time on these; the NFA takes
    /// O(name × pattern) and finishes at once.
    @Test(.timeLimit(.minutes(1))) func hostilePatternsMatchInBoundedTime() throws {
        let manyStars = try Glob(String(repeating: "*a", count: 60) + "*b")  // 121 bytes
        let longName = String(repeating: "a", count: 100_000)
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            #expect(!manyStars.matches(longName))
            #expect(manyStars.matches(String(repeating: "a", count: 60) + "b"))
            #expect(!manyStars.matches(String(repeating: "a", count: 59) + "b"))
        }
        #expect(elapsed < .seconds(10))
        let questions = try Glob(String(repeating: "?", count: 128))
        #expect(questions.matches(String(repeating: "x", count: 128)))
        #expect(!questions.matches(longName))
    }

    @Test(arguments: [
        ("web-*", "*-prod", "web-prod"),
        ("api", "api", "api"),
        ("*", "*", "a"),
        ("a*", "*b", "ab"),
        ("v[0-9]", "v?", "v0"),
        ("*", "-x", nil),  // names start with a letter or digit
        ("web-*", "api-*", nil),
        ("v[0-4]", "v[5-9]", nil),
        ("a?", "a", nil),
        ("[!a]*", "a*", nil),
    ] as [(String, String, String?)])
    func commonMatchFindsANameBothMatchOrProvesThereIsNone(a: String, b: String, expected: String?) throws {
        let x = try Glob(a)
        let y = try Glob(b)
        let found = x.commonMatch(with: y)
        #expect(found == expected)
        #expect(y.commonMatch(with: x).map { x.matches($0) && y.matches($0) } ?? (expected == nil))
        if let found {
            #expect(x.matches(found) && y.matches(found))
        }
    }

    @Test func commonMatchOfTheLongestGlobsIsQuick() throws {
        let a = try Glob(String(repeating: "*a", count: 63) + "*")  // 127 bytes
        let b = try Glob(String(repeating: "*b", count: 64))  // 128 bytes
        let c = try Glob(String(repeating: "[a-c]", count: 25))
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            let ab = a.commonMatch(with: b)
            #expect(ab.map { a.matches($0) && b.matches($0) } == true)
            #expect(a.commonMatch(with: c) == nil)  // 63 a's do not fit in 25 characters
            #expect(try! Glob(String(repeating: "?", count: 100)).commonMatch(with: c) == nil)
            #expect(try! Glob(String(repeating: "?", count: 25)).commonMatch(with: c) == String(repeating: "a", count: 25))
        }
        #expect(elapsed < .seconds(10))
    }
}
