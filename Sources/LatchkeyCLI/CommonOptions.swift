import ArgumentParser
import LatchkeyClient
import LatchkeyCrypto
import LatchkeyStore
import Foundation

/// Where the daemon's socket is: `--socket`, else `LATCHKEY_SOCKET`, else Keys/latchkey.sock.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "The daemon's socket (default: $LATCHKEY_SOCKET or Keys/latchkey.sock).")
    var socket: String?

    @Flag(name: .long, help: "Print JSON for scripts.")
    var json = false

    var socketPath: String {
        socket ?? ProcessInfo.processInfo.environment["LATCHKEY_SOCKET"] ?? Defaults.socketPath
    }

    func client() throws -> LatchkeyClient { try LatchkeyClient(socketPath: socketPath) }
}

enum Defaults {
    static let dataDirectory = "Keys"
    static let policiesDirectory = "Policies"
    static let socketPath = "Keys/latchkey.sock"
    static let keyFileName = "master.key"
}

/// How the master key is given: `--key-file PATH` or `--passphrase-stdin`.
struct KeyOptions: ParsableArguments {
    @Option(name: .long, help: "The master key file (32 bytes, mode 0600).")
    var keyFile: String?

    @Flag(name: .long, help: "Read a passphrase from standard input (Argon2id derives the master key).")
    var passphraseStdin = false

    @Option(name: .long, help: "Read the passphrase from this file (mode 0600 or stricter, e.g. a systemd credential).")
    var passphraseFile: String?

    func validate() throws {
        if [keyFile != nil, passphraseStdin, passphraseFile != nil].filter({ $0 }).count > 1 {
            throw ValidationError("give one of --key-file, --passphrase-stdin or --passphrase-file")
        }
    }

    /// The key source; with none of the options, the key file beside the store.
    func source(dataDirectory: String) throws -> RootKeySource {
        if passphraseStdin { return .passphrase(try readPassphrase()) }
        if let passphraseFile { return .passphrase(try readPassphrase(file: passphraseFile)) }
        return .keyFile(path: keyFile ?? (dataDirectory as NSString).appendingPathComponent(Defaults.keyFileName))
    }

    var isDefault: Bool { keyFile == nil && !passphraseStdin && passphraseFile == nil }
}

/// Reads a secret from stdin into guarded memory: no echo on a terminal, one trailing
/// newline removed, at most `limit` bytes.
func readSecretFromStdin(prompt: String, limit: Int = 4096) throws -> SecretBytes {
    let tty = isatty(STDIN_FILENO) == 1
    var saved = termios()
    if tty {
        FileHandle.standardError.write(Data(prompt.utf8))
        tcgetattr(STDIN_FILENO, &saved)
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &silent)
    }
    defer {
        if tty {
            tcsetattr(STDIN_FILENO, TCSANOW, &saved)
            FileHandle.standardError.write(Data("\n".utf8))
        }
    }
    var bytes = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 4096)
    defer { wipe(&chunk) }
    while true {
        let n = read(STDIN_FILENO, &chunk, chunk.count)
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        bytes += chunk[0..<n]
        if bytes.count > limit + 2 {
            wipe(&bytes)
            throw InputError("standard input holds more than \(limit) bytes; refusing it")
        }
        if tty, bytes.last == 10 { break }
    }
    if bytes.last == 10 { bytes.removeLast() }
    if bytes.last == 13 { bytes.removeLast() }
    return try SecretBytes(consuming: &bytes)
}

func readPassphrase() throws -> SecretBytes {
    let p = try readSecretFromStdin(prompt: "Passphrase: ", limit: 1024)
    guard p.count >= 8 else { throw InputError("the passphrase must have at least 8 bytes") }
    return p
}

/// Reads a passphrase file: refused when group or others may access it; one trailing
/// newline removed.
func readPassphrase(file path: String) throws -> SecretBytes {
    let limit = 1024
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw InputError("cannot read --passphrase-file \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw InputError("--passphrase-file \(path) is not a regular file") }
    guard st.st_mode & 0o077 == 0 else {
        throw InputError("--passphrase-file \(path) has mode \(String(st.st_mode & 0o777, radix: 8)) and can be read by others; run `chmod 600 \(path)`")
    }
    var bytes = [UInt8](repeating: 0, count: limit + 2)
    var got = 0
    while got < bytes.count {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, $0.count - got) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        got += n
    }
    guard got <= limit else {
        wipe(&bytes)
        throw InputError("--passphrase-file \(path) holds more than \(limit) bytes; refusing it")
    }
    bytes.removeSubrange(got...)
    if bytes.last == 10 { bytes.removeLast() }
    if bytes.last == 13 { bytes.removeLast() }
    let p = try SecretBytes(consuming: &bytes)
    guard p.count >= 8 else { throw InputError("the passphrase must have at least 8 bytes") }
    return p
}

/// Prints a value as sorted, pretty JSON.
func printJSON<T: Encodable>(_ value: T) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try e.encode(value), as: UTF8.self))
}
