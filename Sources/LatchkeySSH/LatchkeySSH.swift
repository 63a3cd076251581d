// LatchkeySSH: SSH deploy keys and the ssh-agent wire protocol.
//
// A `DeployKey` is one private key of one of four types (`DeployKeyType`):
// ed25519 (libsodium, the default), ECDSA P-256 and RSA 3072/4096 (OpenSSL 3).
// It renders the three formats OpenSSH users meet: the `authorized_keys` line,
// the `SHA256:` fingerprint `ssh-keygen -lf` prints, and the unencrypted
// `openssh-key-v1` PEM that `ssh`, `git` and `ssh-keygen -y` read. It parses that
// PEM back (ours or ssh-keygen's), and signs in the SSH signature format an
// ssh-agent returns.
//
// Private material never sits in a plain Swift array longer than a call: ed25519
// keys and every PEM live in `SecretBytes`; ECDSA and RSA keys are OpenSSL
// `EVP_PKEY` handles freed with their owner; transient copies are wiped.
//
// Parsers here (`SSHWireReader`, the PEM reader, `SSHPublicKey`, the agent framer)
// check every length before they read or allocate and never trap on input; each
// refusal is an `SSHKeyError` with a stable `code` and a message without key bytes.
//
// `SSHAgentMessage` and `SSHAgentFramer` are a pure codec for the subset of
// OpenSSH's agent protocol (draft-miller-ssh-agent) a per-session agent serves:
// list identities and sign. No sockets here.
