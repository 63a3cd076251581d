/// Each server's error answers, in the shapes its documentation shows.
enum FakeErrors {
    static let githubDocs = "https://docs.github.com/enterprise-server@3.14/rest"

    static func unauthorized(_ kind: FakeKind) -> FakeResponse {
        switch kind {
        case .githubEnterprise:
            .json(401, ["message": "Bad credentials", "documentation_url": githubDocs])
        case .gitlab:
            .json(401, ["message": "401 Unauthorized"])
        case .bitbucketServer:
            bitbucket(401, "Authentication failed. Please check your credentials and try again.", "com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException")
        }
    }

    static func forbiddenScope(_ kind: FakeKind, scope: String = "api") -> FakeResponse {
        switch kind {
        case .githubEnterprise:
            .json(403, ["message": "Resource not accessible by personal access token", "documentation_url": githubDocs + "/deploy-keys/deploy-keys#create-a-deploy-key"],
                  headers: [("X-Accepted-OAuth-Scopes", "repo")])
        case .gitlab:
            .json(
                403,
                ["error": "insufficient_scope", "error_description": "The request requires higher privileges than provided by the access token.", "scope": scope],
                headers: [("WWW-Authenticate", "Bearer realm=\"Protected by OAuth 2.0\", error=\"insufficient_scope\", error_description=\"The request requires higher privileges than provided by the access token.\", scope=\"\(scope)\"")])
        case .bitbucketServer:
            // Bitbucket answers a missing permission with 401, like a bad token.
            bitbucket(401, "You are not permitted to access this resource", "com.atlassian.bitbucket.AuthorisationException")
        }
    }

    static func forbiddenRole(_ kind: FakeKind) -> FakeResponse {
        switch kind {
        case .githubEnterprise: .json(404, ["message": "Not Found", "documentation_url": githubDocs])
        case .gitlab: .json(403, ["message": "403 Forbidden"])
        case .bitbucketServer: bitbucket(401, "You are not permitted to access this resource", "com.atlassian.bitbucket.AuthorisationException")
        }
    }

    static func keyInUse(_ kind: FakeKind) -> FakeResponse {
        switch kind {
        case .githubEnterprise:
            .json(
                422,
                [
                    "message": "Validation Failed",
                    "errors": [["resource": "PublicKey", "code": "custom", "field": "key", "message": "key is already in use"]],
                    "documentation_url": githubDocs + "/deploy-keys/deploy-keys#create-a-deploy-key",
                ])
        case .gitlab:
            .json(400, ["message": ["deploy_key.fingerprint": ["has already been taken"]]])
        case .bitbucketServer:
            bitbucket(409, "This SSH key is already in use by another user or repository.", "com.atlassian.bitbucket.ssh.DuplicateSshKeyException")
        }
    }

    static func notFound(_ kind: FakeKind, _ what: String = "Not Found") -> FakeResponse {
        switch kind {
        case .githubEnterprise: .json(404, ["message": "Not Found", "documentation_url": githubDocs])
        case .gitlab: .json(404, ["message": "404 \(what) Not Found"])
        case .bitbucketServer: bitbucket(404, "\(what) does not exist.", "com.atlassian.bitbucket.NoSuchEntityException")
        }
    }

    static func invalid(_ kind: FakeKind, field: String, _ message: String) -> FakeResponse {
        switch kind {
        case .githubEnterprise:
            .json(422, ["message": "Validation Failed", "errors": [["resource": "PublicKey", "code": "custom", "field": field, "message": message]], "documentation_url": githubDocs])
        case .gitlab: .json(400, ["message": [field: [message]]])
        case .bitbucketServer: bitbucket(400, message, "com.atlassian.bitbucket.validation.ArgumentValidationException")
        }
    }

    static func status(_ kind: FakeKind, _ code: Int) -> FakeResponse {
        let text: String =
            switch code {
            case 429: "API rate limit exceeded"
            case 500: "Internal Server Error"
            case 502: "Bad Gateway"
            case 503: "Service Unavailable"
            default: "Error \(code)"
            }
        switch kind {
        case .githubEnterprise: return .json(code, ["message": text, "documentation_url": githubDocs])
        case .gitlab: return .json(code, ["message": "\(code) \(text)"])
        case .bitbucketServer: return bitbucket(code, text, nil)
        }
    }

    static func bitbucket(_ status: Int, _ message: String, _ exception: String?) -> FakeResponse {
        var e: [String: Any] = ["context": NSNullValue.null, "message": message]
        e["exceptionName"] = exception ?? NSNullValue.null
        return .json(status, ["errors": [e]])
    }
}

import Foundation
enum NSNullValue { static let null = NSNull() }
