#ifndef LATCHKEY_SYSTEM_SHIMS_H
#define LATCHKEY_SYSTEM_SHIMS_H
// Small wrappers over system calls that do not import into Swift (variadic prctl,
// struct ucred behind _GNU_SOURCE, malloc_trim from malloc.h).
#include <sys/types.h>

/// Marks the process non-dumpable: no core dumps, and no ptrace attach by other users.
int latchkey_set_nondumpable(void);
/// 1 if the process is dumpable, 0 if not, -1 on error.
int latchkey_is_dumpable(void);
/// Reads SO_PEERCRED of a connected Unix socket. Returns 0 on success, -1 with errno.
int latchkey_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid);
/// Returns memory glibc's allocator holds free to the system (malloc_trim(0)).
void latchkey_release_free_memory(void);
#endif
