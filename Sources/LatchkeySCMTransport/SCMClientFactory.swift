package import LatchkeySCM

/// The daemon's `SCMTransportFactory`: an `SCMClient` (async-http-client, TLS by
/// swift-nio-ssl) per connection.
package struct SCMClientFactory: SCMTransportFactory {
    package init() {}

    package func transport(for connection: SCMConnection, settings: SCMClientSettings, observer: (any SCMRequestObserver)?) throws(SCMError)
        -> any SCMTransport
    {
        try SCMClient(connection: connection, settings: settings, observer: observer)
    }

    package func validateCAFile(_ path: String, connection: String) throws(SCMError) {
        try SCMClient.validateCAFile(path, connection: connection)
    }
}
