#!/usr/bin/env python3
"""Writes the audit row vectors from docs/AUDIT.md alone (an independent implementation).

good-*.vec carry the encoding and hash the daemon must produce; bad-*.vec a row the
daemon could never have written, and a word the refusal must name. Run from this
directory; the files are committed, this script only documents where they came from."""
import hashlib, struct

FIELDS = ["seq", "time", "role", "uid", "gid", "pid", "session", "action", "connection", "project", "kind", "version",
          "outcome", "reason", "request-id"]

def s(b): return struct.pack(">I", len(b)) + b
def txt(v): return s(v.encode())
def opt(v, f): return b"\x00" if v is None else b"\x01" + f(v)
def u32(v): return struct.pack(">I", v & 0xffffffff)
def u64(v): return struct.pack(">Q", v & 0xffffffffffffffff)

def encode(r):
    if r.get("host") is not None:  # v2: a fleet's row, its own label, the host last
        return (txt("latchkey-audit-row-v2") + fields(r) + opt(r["client-request-id"], txt) + txt(r["host"]))
    return txt("latchkey-audit-row-v1") + fields(r)

def fields(r):
    return (u64(r["seq"]) + txt(r["time"]) + txt(r["role"]) + opt(r["uid"], u32) + opt(r["gid"], u32)
            + opt(r["pid"], u32) + opt(r["session"], txt) + txt(r["action"]) + opt(r["connection"], txt) + opt(r["project"], txt)
            + opt(r["kind"], txt) + opt(r["version"], u64) + txt(r["outcome"]) + opt(r["reason"], txt) + opt(r["request-id"], txt))

def row(**kw):
    r = dict(seq=1, time="2026-11-22T22:36:19.123456Z", role="daemon", uid=None, gid=None, pid=None, session=None, action="daemon.start",
             connection=None, project=None, kind=None, version=None, outcome="granted", reason=None, **{"request-id": None})
    r.update({k.replace("_", "-"): v for k, v in kw.items()})
    return r

def write(name, r, prev, expect, source, **extra):
    lines = ["latchkey-audit-row-vector: 1", "expect: " + expect]
    for k in FIELDS + (["client-request-id", "host"] if "host" in r else []):
        v = r[k]
        lines.append("%s: %s" % (k, "~" if v is None else v))
    lines.append("prev: " + prev.hex())
    for k, v in extra.items(): lines.append("%s: %s" % (k, v))
    lines.append("source: " + source)
    open(name + ".vec", "w").write("\n".join(lines) + "\n")

def good(name, r, prev, source):
    e = encode(r)
    write(name, r, prev, "ok", source, encoding=e.hex(), hash=hashlib.blake2b(prev + e, digest_size=32).hexdigest())

zero = bytes(32)
prev = hashlib.blake2b(b"an earlier row", digest_size=32).digest()
good("good-daemon-start", row(), zero, "make-vectors.py: the first row of a log, every optional absent")
good("good-build-release", row(seq=42, role="build", uid=1000, gid=1000, pid=4242, session="s_0123456789abcdef01234567", action="secret.release",
     connection="ghe", project="web", kind="deploy-key", version=3, request_id="req-7"), prev, "make-vectors.py: a release with every field")
good("good-limits", row(seq=9223372036854775807, role="admin", uid=4294967295, gid=0, pid=-2147483648, action="deploy-key.revoke",
     version=-1, outcome="denied", reason="not_admin"), prev, "make-vectors.py: the largest uid, the smallest pid, a negative version")
good("good-unicode", row(seq=7, role="admin", uid=0, action="project.add", project="café-ünïcode", outcome="failed", reason="invalid"),
     prev, "make-vectors.py: non-ASCII text is its UTF-8 bytes")

good("good-fleet-host", row(seq=77, role="build", uid=1000, gid=1000, pid=99, session="s_fleet", action="secret.release", connection="ghe",
     project="web", kind="token", version=2, request_id="req-9", client_request_id="ci-run-5", host="build-07.example"), prev,
     "make-vectors.py: a fleet's row (v2) with its host and a client request id")
good("good-fleet-host-only", row(seq=78, action="session.end", reason="token-revoked", client_request_id=None, host="build-07.example"),
     prev, "make-vectors.py: a fleet's row (v2) with no client request id: its presence byte is 0")

def bad(name, r, reason, source): write(name, r, prev, "error malformed", source, **{"reason-contains": reason})
bad("bad-uid-over-32-bits", row(seq=5, role="build", uid=4294968296, action="secret.release"), "actor_uid",
    "issue 16: 2^32+1000 is uid 1000 as a u32; it must be refused, not read as 1000")
bad("bad-gid-negative", row(seq=5, role="build", gid=-1, action="secret.release"), "actor_gid", "make-vectors.py: a gid below zero")
bad("bad-pid-over-31-bits", row(seq=5, pid=2147483648), "actor_pid", "make-vectors.py: a pid beyond i32")
bad("bad-time-form", row(time="2026-11-22 22:36:19Z"), "time", "make-vectors.py: a time not in the stored form")
bad("bad-missing-action", row(action=None), "action", "make-vectors.py: a required text absent")
bad("bad-outcome", row(outcome="approved"), "outcome", "make-vectors.py: an outcome the daemon never writes")
bad("bad-seq-zero", row(seq=0), "seq", "make-vectors.py: sequence numbers start at 1")
bad("bad-fleet-outcome", row(seq=79, outcome="approved", client_request_id=None, host="build-07.example"), "outcome",
    "make-vectors.py: a fleet's row (v2) is held to the same rules")
