import CSystemShims

/// Promise 5 for every Latchkey process that holds secrets: no core dumps, and no
/// ptrace attach by other users.
func disableCoreDumps() {
    _ = latchkey_set_nondumpable()
}
