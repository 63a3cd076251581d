extension Glob {
    /// A project name both globs match, or nil when no name can match both. The answer
    /// is exact, not a guess from the literal text: `web-*` and `*-prod` share
    /// `web-prod`; `web-*` and `api-*` share nothing. The loader uses it to find runner
    /// rules that would both apply to one project.
    ///
    /// The example starts with a letter or digit like every project name; the 64
    /// character limit on names is not taken into account, so a result is possible (but
    /// unlikely with real globs) that only a longer name would have.
    ///
    /// It searches the product of the two patterns' automata breadth-first: states are
    /// (position in self, position in other, whether a character was read), at most
    /// (129 × 129 × 2) for the longest globs, each with at most four moves.
    package func commonMatch(with other: Glob) -> String? {
        let a = tokens
        let b = other.tokens
        guard Self.endsAgree(a, b) else { return nil }
        let width = b.count + 1
        let stateCount = (a.count + 1) * width * 2
        func index(_ i: Int, _ j: Int, _ started: Int) -> Int { (i * width + j) * 2 + started }

        // How each state was first reached: the previous state and the byte read (nil for a step over a star).
        var reachedFrom = [(previous: Int, byte: UInt8?)?](repeating: nil, count: stateCount)
        var queue = [index(0, 0, 0)]
        reachedFrom[index(0, 0, 0)] = (-1, nil)
        var head = 0
        while head < queue.count {
            let state = queue[head]
            head += 1
            let started = state % 2
            let i = state / 2 / width
            let j = state / 2 % width
            if i == a.count, j == b.count, started == 1 { return example(endingAt: state, reachedFrom) }

            func visit(_ ni: Int, _ nj: Int, reading set: ByteSet?) {
                var byte: UInt8?
                if let set {
                    let allowed = started == 0 ? set.intersection(.nameStart) : set
                    guard let chosen = allowed.example else { return }
                    byte = chosen
                }
                let target = index(ni, nj, byte == nil ? started : 1)
                guard reachedFrom[target] == nil else { return }
                reachedFrom[target] = (state, byte)
                queue.append(target)
            }

            let left = i < a.count ? a[i] : nil
            let right = j < b.count ? b[j] : nil
            // A star may match nothing.
            if left == .star { visit(i + 1, j, reading: nil) }
            if right == .star { visit(i, j + 1, reading: nil) }
            // Read one character that both sides accept.
            switch (left, right) {
            case (.one(let x)?, .one(let y)?): visit(i + 1, j + 1, reading: x.intersection(y))
            case (.star?, .one(let y)?): visit(i, j + 1, reading: y)
            case (.one(let x)?, .star?): visit(i + 1, j, reading: x)
            case (.star?, .star?): visit(i, j, reading: .nameCharacters)
            default: break
            }
        }
        return nil
    }

    /// A quick, exact refusal before the search: where both patterns are still before
    /// their first star, character i of any common match is read by token i of each, so
    /// an empty intersection there rules every name out; likewise counting from the end
    /// after the last star. (`p1-*` and `p17-*` differ at the third character.) Most
    /// pairs of rules in a large policy are told apart here, in a few comparisons.
    private static func endsAgree(_ a: [Token], _ b: [Token]) -> Bool {
        let count = min(a.count, b.count)
        var i = 0
        while i < count, case .one(let x) = a[i], case .one(let y) = b[i] {
            if x.intersection(y).isEmpty { return false }
            i += 1
        }
        i = 1
        while i <= count, case .one(let x) = a[a.count - i], case .one(let y) = b[b.count - i] {
            if x.intersection(y).isEmpty { return false }
            i += 1
        }
        return true
    }

    private func example(endingAt end: Int, _ reachedFrom: [(previous: Int, byte: UInt8?)?]) -> String {
        var bytes: [UInt8] = []
        var state = end
        while let step = reachedFrom[state], step.previous >= 0 {
            if let byte = step.byte { bytes.append(byte) }
            state = step.previous
        }
        return String(decoding: bytes.reversed(), as: UTF8.self)
    }
}
