package import LatchkeyAPI

// How the request bodies of LatchkeyAPI are taken: which may be empty (`{}`), and the
// checks each makes on itself after decoding.

extension DeployKeyRequest: OptionalBody { package static var empty: Self { Self() } }
extension RevokeRequest: OptionalBody { package static var empty: Self { Self() } }
extension TokenRevokeRequest: OptionalBody { package static var empty: Self { Self() } }
