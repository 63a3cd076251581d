import Foundation
import LatchkeyCrypto
import LatchkeySCM
import LatchkeyTestSupport
import SCMFakes
import Testing

/// A GitHub App key and the JWTs it signs, proven by the `openssl` tool; and each
/// server's token minting and revocation against its fake.
@Suite struct RepoTokenMintTests {
    /// An RSA key made by `openssl genpkey`, its PEM and its public key file.
    struct AppKey {
        let dir: String
        var privatePath: String { dir + "/app.pem" }
        var publicPath: String { dir + "/app.pub.pem" }

        static func make(_ args: [String] = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], traditional: Bool = true) throws -> AppKey {
            let dir = NSTemporaryDirectory() + "lk-app-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let k = AppKey(dir: dir)
            let gen = runCaptured(["openssl", "genpkey"] + args + ["-out", k.privatePath])
            guard gen.status == 0 else { throw TestPKI.PKIError.openssl(String(decoding: gen.err, as: UTF8.self)) }
            if traditional, args.contains("RSA") {
                // GitHub downloads PKCS#1 ("BEGIN RSA PRIVATE KEY").
                _ = runCaptured(["openssl", "rsa", "-in", k.privatePath, "-out", k.privatePath, "-traditional"])
            }
            _ = runCaptured(["openssl", "pkey", "-in", k.privatePath, "-pubout", "-out", k.publicPath])
            return k
        }

        func pem() throws -> SecretBytes {
            var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: privatePath)))
            return try SecretBytes(consuming: &bytes)
        }

        func remove() { try? FileManager.default.removeItem(atPath: dir) }
    }

    static func decode(_ part: Substring) -> [String: Any]? {
        var t = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }

    @Test func theAppJWTVerifiesWithOpenSSLOnTheAppsPublicKeyAndCarriesItsClaims() throws {
        let k = try AppKey.make()
        defer { k.remove() }
        let key = try GitHubAppKey(pem: try k.pem())
        #expect(key.bits == 2048)
        // GitHub's fingerprint: SHA-256 of the public key's DER, base64.
        let der = runCaptured(["openssl", "pkey", "-pubin", "-in", k.publicPath, "-outform", "DER"])
        let digest = runCaptured(["openssl", "dgst", "-sha256", "-binary"], stdin: der.out)
        #expect(key.fingerprint == "SHA256:" + digest.out.base64EncodedString())

        let now: Int64 = 1_800_000_000
        let jwt = try key.appJWT(appID: "4242", now: now).withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3)
        #expect(!jwt.contains("="), "base64url without padding")
        let header = try #require(Self.decode(parts[0]))
        #expect(header["alg"] as? String == "RS256")
        #expect(header["typ"] as? String == "JWT")
        let claims = try #require(Self.decode(parts[1]))
        #expect(claims["iss"] as? String == "4242")
        #expect(claims["iat"] as? Int == 1_800_000_000 - 60)
        #expect(claims["exp"] as? Int == 1_800_000_000 + 540)
        #expect(Set(claims.keys) == ["iat", "exp", "iss"])

        // The signature, checked by the openssl tool with the public key alone.
        var sigText = String(parts[2]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while sigText.count % 4 != 0 { sigText += "=" }
        let sigPath = k.dir + "/sig.bin"
        FileManager.default.createFile(atPath: sigPath, contents: Data(base64Encoded: sigText))
        let signed = Data("\(parts[0]).\(parts[1])".utf8)
        let ok = runCaptured(["openssl", "dgst", "-sha256", "-verify", k.publicPath, "-signature", sigPath], stdin: signed)
        #expect(ok.status == 0 && String(decoding: ok.out, as: UTF8.self).contains("Verified OK"))
        // The same signature over changed claims does not verify.
        let forged = Data("\(parts[0]).\(GitHubAppKey.base64URL(Array(#"{"iat":1,"exp":2,"iss":"4242"}"#.utf8)))".utf8)
        #expect(runCaptured(["openssl", "dgst", "-sha256", "-verify", k.publicPath, "-signature", sigPath], stdin: forged).status != 0)
    }

    @Test func aKeyThatIsNotAnUnencryptedRSAKeyOfAtLeast2048BitsIsRefused() throws {
        let ec = try AppKey.make(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
        defer { ec.remove() }
        let small = try AppKey.make(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"])
        defer { small.remove() }
        let rsa = try AppKey.make()
        defer { rsa.remove() }
        _ = runCaptured(["openssl", "pkey", "-in", rsa.privatePath, "-aes256", "-passout", "pass:secret", "-out", rsa.dir + "/enc.pem"])
        func refusal(_ bytes: [UInt8]) -> String? {
            var b = bytes
            do {
                _ = try GitHubAppKey(pem: try SecretBytes(consuming: &b))
                return nil
            } catch {
                return (error as? SCMError)?.message
            }
        }
        func file(_ path: String) -> [UInt8] { Array((try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()) }
        #expect(refusal(file(ec.privatePath))?.contains("not an RSA key") == true)
        #expect(refusal(file(small.privatePath))?.contains("1024 bits") == true)
        #expect(refusal(file(rsa.dir + "/enc.pem"))?.contains("unencrypted") == true)
        #expect(refusal(file(rsa.publicPath))?.contains("not a PEM private key") == true)
        #expect(refusal(Array("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n".utf8)) != nil)
        #expect(refusal([]) != nil)
        // The PEM without its final newline (stdin read as a line) still loads.
        var pem = file(rsa.privatePath)
        while pem.last == 10 { pem.removeLast() }
        #expect(refusal(pem) == nil)
    }

    /// A GET the minted token makes itself, to the repository's own API path.
    static func repositoryCall(_ bed: Bed, _ repository: String, token: SecretBytes) async throws -> Int {
        let path: String =
            switch bed.kind {
            case .githubEnterprise: "/repos" + SCMPath.segments(repository)
            case .gitlab: "/projects/" + SCMPath.segment(repository)
            case .bitbucketServer:
                "/api/1.0/projects/\(repository.split(separator: "/")[0])/repos/\(repository.split(separator: "/")[1])"
            }
        return try await bed.client().send(SCMRequest(.GET, path, purpose: "use the minted token"), token: token).status
    }

    static func other(_ kind: SCMServerKind) -> String {
        switch kind {
        case .githubEnterprise: "acme/other"
        case .gitlab: "acme/platform/other"
        case .bitbucketServer: "ACME/other"
        }
    }

    @Test(arguments: SCMServerKind.allCases)
    func eachServerMintsATokenThatReachesItsOneRepositoryUntilItIsRevoked(kind: SCMServerKind) async throws {
        let bed = try await Bed.start(kind)
        defer { Task { await bed.stop() } }
        bed.fake.addRepository(Self.other(kind), admins: ["ci-bot"])
        let adapter = try bed.adapter()
        let ask = SCMTokenMintRequest(
            repository: bed.repository, name: "latchkey-s_test",
            permissions: kind == .githubEnterprise ? ["contents:read"] : kind == .gitlab ? ["read_repository", "reporter"] : ["REPO_READ"])
        let minted: SCMMintedToken
        var key: AppKey?
        defer { key?.remove() }
        switch kind {
        case .githubEnterprise:
            let k = try AppKey.make()
            key = k
            bed.fake.addGitHubApp(
                id: 4242, publicKeyPath: k.publicPath, installationID: 77, account: "acme", repositories: [bed.repository, Self.other(kind)],
                permissions: ["contents": "write", "metadata": "read"])
            let gh = try #require(adapter as? GitHubEnterpriseAdapter)
            let jwt = try GitHubAppKey(pem: try k.pem()).appJWT(appID: "4242")
            #expect(try await gh.findInstallation(repository: bed.repository, jwt: jwt) == "77")
            minted = try await gh.mintInstallationToken(installationID: "77", ask, jwt: jwt)
            #expect(minted.id == "installation:77")
            #expect(minted.permissions == ["contents:read"])
            #expect(bed.fake.installationTokens.first?.repositories == [bed.repository])
            let claims = try #require(bed.fake.acceptedJWTs.last)
            #expect(claims.iss == "4242" && claims.alg == "RS256")
            // More than the installation was granted: the server's 422, in its words.
            await #expect(throws: SCMError.self) {
                _ = try await gh.mintInstallationToken(
                    installationID: "77", SCMTokenMintRequest(repository: bed.repository, name: "x", permissions: ["administration:write"]), jwt: jwt)
            }
            // A JWT signed by another key is refused by the server.
            let stranger = try AppKey.make()
            defer { stranger.remove() }
            let forged = try GitHubAppKey(pem: try stranger.pem()).appJWT(appID: "4242")
            await #expect(throws: SCMError.self) { _ = try await gh.findInstallation(repository: bed.repository, jwt: forged) }
            #expect(bed.fake.refusedJWTs.count == 1)
        case .gitlab:
            let gl = try #require(adapter as? GitLabAdapter)
            minted = try await gl.mintProjectAccessToken(ask, token: try Bed.secret(Bed.token))
            let t = try #require(bed.fake.projectTokens.first)
            #expect(t.name == "latchkey-s_test" && t.scopes == ["read_repository"] && t.accessLevel == 20)
            #expect(minted.permissions == ["read_repository", "reporter"])
        case .bitbucketServer:
            let bb = try #require(adapter as? BitbucketServerAdapter)
            minted = try await bb.mintRepositoryAccessToken(ask, token: try Bed.secret(Bed.token))
            let t = try #require(bed.fake.repositoryTokens.first)
            #expect(t.name == "latchkey-s_test" && t.permissions == ["REPO_READ"] && t.expiryDays == 1)
            #expect(minted.id == t.id)
        }
        #expect(try await Self.repositoryCall(bed, bed.repository, token: minted.token) == 200)
        #expect(try await Self.repositoryCall(bed, Self.other(kind), token: minted.token) != 200)

        switch kind {
        case .githubEnterprise: try await (adapter as! GitHubEnterpriseAdapter).revokeInstallationToken(minted.token)
        case .gitlab: try await (adapter as! GitLabAdapter).revokeProjectAccessToken(id: minted.id, repository: bed.repository, token: try Bed.secret(Bed.token))
        case .bitbucketServer:
            try await (adapter as! BitbucketServerAdapter).revokeRepositoryAccessToken(id: minted.id, repository: bed.repository, token: try Bed.secret(Bed.token))
        }
        #expect(try await Self.repositoryCall(bed, bed.repository, token: minted.token) == 401)
        #expect(bed.fake.liveMintedTokens == 0)
        // Revoking again is what was asked: done.
        switch kind {
        case .githubEnterprise: try await (adapter as! GitHubEnterpriseAdapter).revokeInstallationToken(minted.token)
        case .gitlab: try await (adapter as! GitLabAdapter).revokeProjectAccessToken(id: minted.id, repository: bed.repository, token: try Bed.secret(Bed.token))
        case .bitbucketServer:
            try await (adapter as! BitbucketServerAdapter).revokeRepositoryAccessToken(id: minted.id, repository: bed.repository, token: try Bed.secret(Bed.token))
        }
    }
}
