/// Makes the transport of a connection, and checks a CA file for one. The daemon's
/// core holds one (`Vault.open(…, scmTransports:)`) so that it never names a socket
/// library: the adapter module passes `SCMClientFactory` (LatchkeySCMTransport).
package protocol SCMTransportFactory: Sendable {
    /// Checks the connection's settings (https URL, CA file) and returns its transport;
    /// every attempt it makes is reported to `observer`.
    func transport(for connection: SCMConnection, settings: SCMClientSettings, observer: (any SCMRequestObserver)?) throws(SCMError)
        -> any SCMTransport

    /// Checks that a CA file can be read as PEM certificates (for `connection add|set --ca-file`).
    func validateCAFile(_ path: String, connection: String) throws(SCMError)
}
