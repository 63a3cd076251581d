#!/usr/bin/env python3
"""Regenerates the certificate vectors (run once; the outputs are committed).

Usage: make-cert-vectors.py OUTDIR

The good- vector is OpenSSH's own output: this script writes the CA key (the RFC 8032
test-1 seed) as openssh-key-v1 and the subject's public key (the test-2 seed's public
key), then has `ssh-keygen -s` sign a user certificate with fixed fields. ssh-keygen's
nonce is random, so the Swift test re-issues with the nonce read from the file; ed25519
signatures are deterministic, so the result must be byte-identical.

The bad- vectors are that certificate's blob, re-encoded here with one defect each
(the parser checks structure; OpenSSH checks signatures, so they need none).
Vector file format: first line `latchkey-ssh-cert-vector: 1`, header lines
`name: value`, one empty line, then the certificate line (the -cert.pub file).
"""
import base64, os, struct, subprocess, sys, tempfile

CA_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
CA_PK = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
SUBJECT_SEED = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
SUBJECT_PK = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
ALG = b"ssh-ed25519-cert-v01@openssh.com"
FIELDS = dict(key_id="latchkey:web:s-7f3c:4711", serial=42, principals="git,deploy",
              valid="20261201000000:20261201010000", after=1796083200, before=1796086800)

def s(b): return struct.pack(">I", len(b)) + b
def u32(n): return struct.pack(">I", n)
def u64(n): return struct.pack(">Q", n)

def ca_pem():
    pub = s(b"ssh-ed25519") + s(CA_PK)
    body = u32(0x4C4B5353) * 2 + s(b"ssh-ed25519") + s(CA_PK) + s(CA_SEED + CA_PK) + s(b"ca")
    body += bytes(range(1, (8 - len(body) % 8) % 8 + 1))
    raw = b"openssh-key-v1\0" + s(b"none") + s(b"none") + s(b"") + u32(1) + s(pub) + s(body)
    b = base64.b64encode(raw).decode()
    return ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(b[i:i + 70] for i in range(0, len(b), 70))
            + "\n-----END OPENSSH PRIVATE KEY-----\n").encode()

def read_string(b, i):
    n = struct.unpack(">I", b[i:i + 4])[0]
    return b[i + 4:i + 4 + n], i + 4 + n

def fields(blob):
    """Splits a certificate blob into its raw fields (strings keep their prefix)."""
    out, i = [], 0
    for kind in ["s", "s", "s", "q", "i", "s", "s", "q", "q", "s", "s", "s", "s", "s"]:
        if kind == "s":
            _, j = read_string(blob, i)
        else:
            j = i + (8 if kind == "q" else 4)
        out.append(blob[i:j]); i = j
    assert i == len(blob)
    return out

def line(blob): return (ALG.decode() + " " + base64.b64encode(blob).decode() + " vector\n").encode()

def write(outdir, name, headers, body):
    with open(os.path.join(outdir, name + ".vec"), "wb") as f:
        f.write(b"latchkey-ssh-cert-vector: 1\n")
        for k, v in headers:
            f.write(f"{k}: {v}\n".encode())
        f.write(b"\n" + body)

def main(outdir):
    with tempfile.TemporaryDirectory() as d:
        ca = os.path.join(d, "ca")
        with open(os.open(ca, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600), "wb") as f:
            f.write(ca_pem())
        subject = os.path.join(d, "id")
        with open(subject + ".pub", "w") as f:
            f.write("ssh-ed25519 " + base64.b64encode(s(b"ssh-ed25519") + s(SUBJECT_PK)).decode() + " subject\n")
        subprocess.run(["ssh-keygen", "-q", "-s", ca, "-I", FIELDS["key_id"], "-n", FIELDS["principals"],
                        "-V", FIELDS["valid"], "-z", str(FIELDS["serial"]), "-O", "clear",
                        "-O", "source-address=127.0.0.0/8", "-O", "permit-pty",
                        "-O", "extension:login@github.com=octocat", subject + ".pub"],
                       check=True, env=dict(os.environ, TZ="UTC"))
        good = open(subject + "-cert.pub", "rb").read()
    blob = base64.b64decode(good.split()[1])
    f = fields(blob)
    nonce = read_string(f[1], 0)[0]
    common = [("ca-seed", CA_SEED.hex()), ("subject-seed", SUBJECT_SEED.hex())]
    write(outdir, "good-ssh-keygen-ed25519-ca", [("expect", "ok")] + common + [
        ("nonce", nonce.hex()), ("key-id", FIELDS["key_id"]), ("serial", str(FIELDS["serial"])),
        ("principals", FIELDS["principals"]), ("valid-after", str(FIELDS["after"])),
        ("valid-before", str(FIELDS["before"])), ("critical-options", "source-address=127.0.0.0/8"),
        ("extensions", "login@github.com=octocat,permit-pty"),
        ("source", "ssh-keygen -s (OpenSSH 9.2) with the RFC 8032 test-1 seed as CA; make-cert-vectors.py")], good)

    def bad(name, code, new_blob, why):
        write(outdir, "bad-" + name, [("expect", "error " + code), ("source", "make-cert-vectors.py: " + why)], line(new_blob))

    def swap(i, value): return b"".join(value if k == i else x for k, x in enumerate(f))
    bad("truncated", "ssh_certificate_malformed", blob[:len(blob) // 2], "the good blob cut in half")
    bad("trailing-bytes", "ssh_key_trailing_data", blob + b"\0", "one byte after the signature")
    bad("rsa-cert-type", "ssh_key_unknown_type", swap(0, s(b"ssh-rsa-cert-v01@openssh.com")), "another certificate type")
    bad("short-key", "ssh_certificate_malformed", swap(2, s(SUBJECT_PK[:31])), "a 31-byte ed25519 key")
    bad("unknown-kind", "ssh_certificate_malformed", swap(4, u32(3)), "certificate type 3")
    bad("principal-truncated", "ssh_certificate_malformed", swap(6, s(u32(10) + b"git")), "a principal longer than its field")
    ext = lambda name, val=None: s(name) + (s(s(val)) if val is not None else s(b""))
    bad("unsorted-extensions", "ssh_certificate_malformed",
        swap(10, s(ext(b"permit-pty") + ext(b"login@github.com", b"octocat"))), "extensions out of order")
    bad("repeated-extension", "ssh_certificate_malformed",
        swap(10, s(ext(b"permit-pty") + ext(b"permit-pty"))), "an extension twice")
    bad("extension-value-trailing", "ssh_certificate_malformed",
        swap(10, s(s(b"login@github.com") + s(s(b"octocat") + b"x"))), "an extension's data longer than its string")
    bad("reserved-not-empty", "ssh_certificate_malformed", swap(11, s(b"x")), "a non-empty reserved field")
    bad("ca-is-certificate", "ssh_certificate_malformed", swap(12, s(blob)), "a certificate as the signature key")
    bad("signature-malformed", "ssh_certificate_malformed", swap(13, s(s(b"ssh-ed25519"))), "a signature without its bytes")
    write(outdir, "bad-base64", [("expect", "error ssh_certificate_malformed"), ("source", "make-cert-vectors.py: not base64")],
          ALG + b" AAAA*AAA vector\n")
    write(outdir, "bad-empty", [("expect", "error ssh_certificate_malformed"), ("source", "make-cert-vectors.py: an empty file")], b"")

main(sys.argv[1])
