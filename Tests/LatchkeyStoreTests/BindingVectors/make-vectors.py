#!/usr/bin/env python3
"""Writes the row-binding vectors of the SCM columns from docs/STORE.md alone (an
independent implementation: Python's hashlib, not libsodium).

A MAC key is crypto_kdf_derive_from_key(32, id, "lkrowmac", secret), which is BLAKE2b-256
keyed with the secret over no message, salt = u64le(id) || 8 zero bytes, personal =
"lkrowmac" || 8 zero bytes; the MAC is BLAKE2b-256 keyed with it over the row's encoding.
good-*.vec carry the encoding and MAC the daemon must compute; bad-*.vec a row whose
stored MAC is the one of another row (what a store writer's edit leaves), which the daemon
must refuse. Run from this directory; the files are committed, this script only documents
where they came from."""
import hashlib, struct

SECRET = bytes(range(32))
IDS = {"connection-scm": 5, "project-scm": 6, "scm-deploy-key": 7, "token-verification": 8}
FIELDS = {
    "connection-scm": ["name", "created-at", "ca-file"],
    "project-scm": ["name", "created-at", "install-deploy-key", "deploy-key-write"],
    "scm-deploy-key": ["project", "version", "repo", "connection", "state", "server-key-id"],
    "token-verification": ["owner", "version", "version-created-at", "checked-at", "state", "user", "scopes", "expires-at", "missing", "message"],
}
LABELS = {
    "connection-scm": "latchkey/row/connection-scm/v1", "project-scm": "latchkey/row/project-scm/v1",
    "scm-deploy-key": "latchkey/row/scm-deploy-key/v1", "token-verification": "latchkey/row/token-verification/v1",
}

def s(b): return struct.pack(">I", len(b)) + b
def txt(v): return s(v.encode())
def opt(v): return b"\x00" if v is None else b"\x01" + txt(v)
def u64(v): return struct.pack(">Q", int(v) & 0xffffffffffffffff)

def encode(table, r):
    e = txt(LABELS[table])
    if table == "connection-scm": e += txt(r["name"]) + txt(r["created-at"]) + opt(r["ca-file"])
    if table == "project-scm": e += txt(r["name"]) + txt(r["created-at"]) + u64(r["install-deploy-key"]) + u64(r["deploy-key-write"])
    if table == "scm-deploy-key":
        e += txt(r["project"]) + u64(r["version"]) + txt(r["repo"]) + txt(r["connection"]) + txt(r["state"]) + txt(r["server-key-id"])
    if table == "token-verification":
        e += (txt(r["owner"]) + u64(r["version"]) + txt(r["version-created-at"]) + txt(r["checked-at"]) + txt(r["state"])
              + opt(r["user"]) + opt(r["scopes"]) + opt(r["expires-at"]) + txt(r["missing"]) + opt(r["message"]))
    return e

def mac(table, r):
    key = hashlib.blake2b(b"", key=SECRET, salt=struct.pack("<Q", IDS[table]) + bytes(8), person=b"lkrowmac" + bytes(8), digest_size=32).digest()
    return hashlib.blake2b(encode(table, r), key=key, digest_size=32).hexdigest()

def write(name, table, r, expect, source, **extra):
    lines = ["latchkey-row-binding-vector: 1", "expect: " + expect, "table: " + table, "secret: " + SECRET.hex()]
    for k in FIELDS[table]:
        v = r[k]
        lines.append("%s: %s" % (k, "~" if v is None else v))
    for k, v in extra.items(): lines.append("%s: %s" % (k, v))
    lines.append("source: " + source)
    open(name + ".vec", "w").write("\n".join(lines) + "\n")

def good(name, table, r, source): write(name, table, r, "ok", source, encoding=encode(table, r).hex(), mac=mac(table, r))
def bad(name, table, r, signed, source): write(name, table, r, "error binding_failed", source, mac=mac(table, signed))

created = "2026-12-01T09:30:00.123456Z"
conn = {"name": "ghe", "created-at": created, "ca-file": "/etc/latchkey/corp-ca.pem"}
good("good-connection-ca-file", "connection-scm", conn, "make-vectors.py: a connection trusting its own CA file")
good("good-connection-system-store", "connection-scm", dict(conn, **{"ca-file": None}), "make-vectors.py: the system's CA store (ca_file NULL)")
proj = {"name": "web", "created-at": created, "install-deploy-key": 1, "deploy-key-write": 0}
good("good-project-install", "project-scm", proj, "make-vectors.py: deploy keys installed read-only")
key = {"project": "web", "version": 3, "repo": "acme/web", "connection": "ghe", "state": "installed", "server-key-id": "1042"}
good("good-deploy-key-installed", "scm-deploy-key", key, "make-vectors.py: an installed key and the server's id for it")
good("good-deploy-key-removing", "scm-deploy-key", dict(key, state="removing"), "make-vectors.py: the same key queued for removal")
tv = {"owner": "connection:gl", "version": 2, "version-created-at": created, "checked-at": "2026-12-02T02:00:00.000000Z", "state": "missing-scopes",
      "user": "ci-bot", "scopes": '["read_api"]', "expires-at": "2027-06-30", "missing": '["scope api (deploy keys on acme/platform/web)"]',
      "message": None}
good("good-token-verification", "token-verification", tv, "make-vectors.py: a re-verification that found a scope missing")
good("good-token-verification-unreachable", "token-verification",
     dict(tv, state="unreachable", user=None, scopes=None, **{"expires-at": None, "missing": "[]", "message": "GitLab gl: cannot connect — café"}),
     "make-vectors.py: a check that could not reach the server; non-ASCII text is its UTF-8")
bad("bad-connection-ca-file-swapped", "connection-scm", dict(conn, **{"ca-file": "/tmp/attacker-ca.pem"}), conn,
    "issue 17: a store writer points the connection at their own CA; the MAC is the old file's")
bad("bad-connection-ca-file-cleared", "connection-scm", dict(conn, **{"ca-file": None}), conn,
    "make-vectors.py: the CA file removed (the system's store trusted instead)")
bad("bad-project-write-turned-on", "project-scm", dict(proj, **{"deploy-key-write": 1}), proj,
    "issue 17: a store writer makes the installed keys writable")
bad("bad-project-install-turned-off", "project-scm", dict(proj, **{"install-deploy-key": 0}), proj,
    "issue 17: a store writer stops Latchkey from installing and removing keys")
bad("bad-deploy-key-id-swapped", "scm-deploy-key", dict(key, **{"server-key-id": "7"}), key,
    "issue 17: a store writer makes Latchkey delete a key id of their choosing")
bad("bad-deploy-key-moved-repo", "scm-deploy-key", dict(key, repo="acme/other"), key, "make-vectors.py: the removal aimed at another repository")
bad("bad-deploy-key-state-removing", "scm-deploy-key", dict(key, state="removing"), key, "make-vectors.py: a removal queued by the writer")
bad("bad-token-verification-made-ok", "token-verification", dict(tv, state="ok", missing="[]"), tv,
    "make-vectors.py: a missing scope hidden by the writer")
bad("bad-token-verification-other-version", "token-verification", dict(tv, version=3), tv,
    "make-vectors.py: a result moved onto another version")
