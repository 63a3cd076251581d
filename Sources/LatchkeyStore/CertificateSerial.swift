
/// Serial numbers of a connection's SSH certificate authority: 1, 2, 3, … shared by
/// every version of the CA.
package enum CertificateSerials {
    /// Reserves the next serial. It belongs to the caller once the transaction commits
    /// (`synchronous=FULL`): a reserved serial is never handed out again, whether or not a
    /// certificate was signed with it, so a crash between reserving and signing burns a
    /// number rather than reusing one.
    package static func reserve(connectionID: Int64, in db: StoreDB) throws -> UInt64 {
        guard let serial = try Int64.fetchOne(
                db,
                sql: """
                    INSERT INTO ssh_certificate_serial(connection_id, last_serial) VALUES (?, 1)
                    ON CONFLICT(connection_id) DO UPDATE SET last_serial = ssh_certificate_serial.last_serial + 1
                    RETURNING last_serial
                    """,
                arguments: [connectionID]), serial >= 1
        else { throw StoreError.corrupt(path: "store", reason: "the certificate serial counter did not advance") }
        return UInt64(serial)
    }

    /// The last serial handed out (0 when none).
    package static func last(connectionID: Int64, in db: StoreDB) throws -> UInt64 {
        UInt64(try Int64.fetchOne(db, sql: "SELECT last_serial FROM ssh_certificate_serial WHERE connection_id = ?", arguments: [connectionID]) ?? 0)
    }
}
