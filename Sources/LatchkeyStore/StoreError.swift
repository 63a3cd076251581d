/// What can go wrong with the store. Messages say what, where and what to do; none
/// contains secret bytes.
package enum StoreError: Error, Sendable, CustomStringConvertible {
    case directoryExposed(path: String, mode: UInt16)
    case directoryUnusable(path: String, reason: String)
    case notInitialized(path: String)
    case alreadyInitialized(path: String)
    case newerSchema(path: String, found: Int, supported: Int)
    case corrupt(path: String, reason: String)
    case wrongMasterKey
    case wrongKeySource(expected: String)
    case unavailable(reason: String)
    case notFound(what: String)
    case conflict(what: String)
    /// Bad input from an admin: the message says what is allowed.
    case invalid(String)
    /// A backup file that is damaged, truncated or not a Latchkey backup.
    case damagedBackup(path: String, reason: String)
    /// A row's clear columns do not match its binding MAC: someone who can write the
    /// store file changed them. The row is named; nothing from it is shown or acted on.
    case bindingFailed(row: String)
    /// A row read needs the unlocked key ring (its bindings) and the store is not unlocked.
    case locked

    package var code: String {
        switch self {
        case .directoryExposed: "data_dir_exposed"
        case .directoryUnusable: "data_dir_unusable"
        case .notInitialized: "store_not_initialized"
        case .alreadyInitialized: "store_exists"
        case .newerSchema: "store_newer_schema"
        case .corrupt: "store_corrupt"
        case .wrongMasterKey: "wrong_master_key"
        case .wrongKeySource: "wrong_key_source"
        case .unavailable: "store_unavailable"
        case .notFound: "not_found"
        case .conflict: "conflict"
        case .invalid: "invalid"
        case .damagedBackup: "backup_damaged"
        case .bindingFailed: "binding_failed"
        case .locked: "store_locked"
        }
    }

    package var description: String {
        switch self {
        case .directoryExposed(let p, let m):
            "data directory \(p) has mode \(String(m, radix: 8)): others can read or write it; run `chmod 700 \(p)`"
        case .directoryUnusable(let p, let r): "data directory \(p) cannot be used: \(r)"
        case .notInitialized(let p) where p.hasPrefix("postgres"):
            "no store in \(p); create one with `latchkey init --database …` as the database's owner role"
        case .notInitialized(let p): "no store in \(p); create one with `latchkey init --data-dir \(p)`"
        case .alreadyInitialized(let p): "a store already exists in \(p); refusing to overwrite it"
        case .newerSchema(let p, let f, let s):
            "store \(p) has schema version \(f) but this latchkey supports up to \(s); upgrade latchkey (stores are never downgraded)"
        case .corrupt(let p, let r):
            "store \(p) is damaged or not a Latchkey store (\(r)); restore it from a backup — it is never repaired silently"
        case .wrongMasterKey:
            "the master key does not match this store (wrong key file or passphrase); nothing was changed"
        case .wrongKeySource(let e): "this store is unlocked with \(e)"
        case .unavailable(let r): "the store cannot be written: \(r)"
        case .notFound(let w): "\(w) not found"
        case .conflict(let w): w
        case .invalid(let m): m
        case .damagedBackup(let p, let r):
            "backup \(p) is damaged or not a Latchkey backup (\(r)); it cannot be restored — use another backup"
        case .bindingFailed(let r):
            "the store's \(r) does not match its binding: it was changed outside Latchkey by someone who can write the store file; nothing from it was shown or released — restore the store from a backup and rotate what that row holds"
        case .locked: "the store is not unlocked (no key ring); rows cannot be verified"
        }
    }
}
