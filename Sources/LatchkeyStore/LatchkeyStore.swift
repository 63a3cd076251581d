// LatchkeyStore: the sealed store on SQLite (WAL, synchronous=FULL).
//
// `DataDirectory` checks and creates the data directory (mode 0700). `Store` opens
// the database, applies the numbered migrations in `Schema` and refuses a store from
// a newer schema. `KeyRing` unlocks it with a root key: it checks the stored check
// value, unwraps the active key-encryption key and the daemon's sub-keys (intake,
// audit signing, token hashing), all kept sealed in `secret_version`. Every row that
// holds secret material holds it sealed; the schema carries the rules.
