import LatchkeyTestSupport
import Foundation
import LatchkeyCrypto
import LatchkeySSH
import Testing

/// Runs a real tool (ssh-keygen, openssl) and captures its output. Arguments never
/// carry key material; private keys reach tools only as 0600 files.
struct Tool {
    struct Result {
        let status: Int32
        let output: [UInt8]
        let stderr: String
        var stdout: String { String(decoding: output, as: UTF8.self) }
    }

    static func run(
        _ executable: String, _ arguments: [String], stdin: [UInt8] = [], environment: [String: String]? = nil
    ) throws -> Result {
        let r = runCaptured([executable] + arguments, stdin: Data(stdin), environment: environment)
        return Result(status: r.status, output: [UInt8](r.out), stderr: String(decoding: r.err, as: UTF8.self))
    }

    static func sshKeygen(_ arguments: [String], stdin: [UInt8] = [], environment: [String: String]? = nil) throws -> Result {
        try run("/usr/bin/ssh-keygen", arguments, stdin: stdin, environment: environment)
    }
}

/// A private temporary directory, removed with everything in it on release.
final class TempDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/latchkey-ssh-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    /// Writes secret bytes to a new file with O_CREAT|O_EXCL and mode 0600 (ssh refuses
    /// key files others can read; the umask here is 0022).
    func writePrivate(_ name: String, _ secret: SecretBytes) throws -> String {
        let target = file(name)
        let fd = open(target, O_CREAT | O_EXCL | O_WRONLY, 0o600)
        guard fd >= 0 else { throw POSIXError(.EEXIST) }
        defer { close(fd) }
        let written = secret.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == secret.count else { throw POSIXError(.EIO) }
        return target
    }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let target = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        return target
    }

    /// Reads a key file into guarded memory, wiping the transient copy.
    func readSecret(_ path: String) throws -> SecretBytes {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        return try SecretBytes(consuming: &bytes)
    }
}

/// One key per type, generated once for the whole suite (RSA-4096 takes seconds).
enum SharedKeys {
    private static let keys: [DeployKeyType: Swift.Result<DeployKey, any Error>] = {
        var out: [DeployKeyType: Swift.Result<DeployKey, any Error>] = [:]
        for type in DeployKeyType.allCases { out[type] = Swift.Result { try DeployKey.generate(type: type) } }
        return out
    }()

    static func key(_ type: DeployKeyType) throws -> DeployKey { try keys[type]!.get() }
}

/// The first two fields (type and base64 blob) of an authorized_keys line.
func typeAndBlob(_ line: String) -> [Substring] {
    Array(line.split(separator: " ", omittingEmptySubsequences: true).prefix(2))
}

/// An SSHSIG signature (OpenSSH PROTOCOL.sshsig) over `message` made with our
/// `DeployKey.sign`, armored as `ssh-keygen -Y sign` writes it.
func sshsig(_ key: DeployKey, message: [UInt8], namespace: String, flags: UInt32) throws -> String {
    func string(_ b: [UInt8]) -> [UInt8] {
        let n = UInt32(b.count)
        return [UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + b
    }
    let magic = Array("SSHSIG".utf8)
    let hashName = Array("sha512".utf8)
    let digest = try Tool.run("/usr/bin/openssl", ["dgst", "-sha512", "-binary"], stdin: message).output
    #expect(digest.count == 64)
    let signed = magic + string(Array(namespace.utf8)) + string([]) + string(hashName) + string(digest)
    let signature = try key.sign(signed, flags: flags)
    let blob = magic + [0, 0, 0, 1] + string(key.publicKeyBlob) + string(Array(namespace.utf8)) + string([])
        + string(hashName) + string(signature)
    let b64 = Data(blob).base64EncodedString()
    var lines: [String] = []
    var rest = Substring(b64)
    while !rest.isEmpty {
        lines.append(String(rest.prefix(70)))
        rest = rest.dropFirst(70)
    }
    return "-----BEGIN SSH SIGNATURE-----\n" + lines.joined(separator: "\n") + "\n-----END SSH SIGNATURE-----\n"
}
