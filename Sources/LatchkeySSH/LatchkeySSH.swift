// LatchkeySSH: per-project SSH deploy keys in OpenSSH's own formats, and the agent wire.
//
// `DeployKey` generates ed25519 (libsodium), ecdsa-p256 and rsa-3072/4096 (OpenSSL 3)
// keys, renders the public key as an `authorized_keys` line with its `SHA256:`
// fingerprint exactly as `ssh-keygen -lf` prints it, writes and parses the unencrypted
// `openssh-key-v1` private key (PROTOCOL.key) that `ssh`, `git` and `ssh-keygen -y`
// read, and signs as an ssh-agent does (rsa-sha2-256/512 flags included). Private
// material lives in `SecretBytes` or inside OpenSSL key objects freed with their owner.
// `SSHWireReader` never traps on short input. `SSHAgentMessage` is the agent protocol's
// framing and messages (PROTOCOL.agent), pure functions over bytes.
