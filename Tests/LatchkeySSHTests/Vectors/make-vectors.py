#!/usr/bin/env python3
"""Regenerates the LatchkeySSH vector files (run once; the outputs are committed).

Usage: make-vectors.py KEYDIR OUTDIR
       make-vectors.py --hostile OUTDIR   (only the vectors built from public values)
KEYDIR holds throwaway keys made by OpenSSH:
  ssh-keygen -q -t ed25519 -N '' -C 'made-by-ssh-keygen ed25519' -f KEYDIR/ed
  ssh-keygen -q -t ecdsa -b 256 -N '' -C 'made-by-ssh-keygen ecdsa' -f KEYDIR/ec
  ssh-keygen -q -t rsa -b 3072 -N '' -C 'made-by-ssh-keygen rsa' -f KEYDIR/rsa
  ssh-keygen -q -t rsa -b 2048 -N '' -C 'rsa-2048' -f KEYDIR/rsa2048
  ssh-keygen -q -t ed25519 -N pass -Z aes256-ctr -C encrypted -f KEYDIR/enc

This writes openssh-key-v1 independently of the Swift code, from the RFC 8032
test-1 seed, so the good- vector is a known answer and not our own output echoed.
Vector file format: header lines `name: value` (first line `latchkey-ssh-vector: 1`),
one empty line, then the exact key file bytes.
"""
import base64, hashlib, struct, subprocess, sys, os

SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PK = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")  # RFC 8032 7.1 test 1
OTHER_PK = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")  # RFC 8032 test 2
COMMENT = b"latchkey:web:v1"
CHECK = 0x4C4B5353  # "LKSS"

def s(b): return struct.pack(">I", len(b)) + b
def u32(n): return struct.pack(">I", n)

def pub_blob(pk): return s(b"ssh-ed25519") + s(pk)

def private_section(check1=CHECK, check2=CHECK, keytype=b"ssh-ed25519", pad=None, pk=PK):
    body = u32(check1) + u32(check2) + s(keytype) + s(pk) + s(SEED + pk) + s(COMMENT)
    n = (8 - len(body) % 8) % 8
    return body + (bytes(range(1, n + 1)) if pad is None else pad(n))

def blob(section=None, cipher=b"none", kdf=b"none", kdfopts=b"", nkeys=1, public=None, magic=b"openssh-key-v1\0", extra=b""):
    section = private_section() if section is None else section
    public = pub_blob(PK) if public is None else public
    return magic + s(cipher) + s(kdf) + s(kdfopts) + u32(nkeys) + s(public) + s(section) + extra

def pem(raw):
    b = base64.b64encode(raw).decode()
    lines = [b[i:i + 70] for i in range(0, len(b), 70)]
    return ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END OPENSSH PRIVATE KEY-----\n").encode()

def line(blob_bytes, comment):
    name = blob_bytes[4:4 + struct.unpack(">I", blob_bytes[:4])[0]].decode()
    return f"{name} {base64.b64encode(blob_bytes).decode()} {comment}"

def fp(blob_bytes):
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob_bytes).digest()).decode().rstrip("=")

def write(outdir, name, headers, body):
    with open(os.path.join(outdir, name + ".vec"), "wb") as f:
        f.write(b"latchkey-ssh-vector: 1\n")
        for k, v in headers:
            f.write(f"{k}: {v}\n".encode())
        f.write(b"\n")
        f.write(body)

def decode_pem(path):
    text = open(path, "rb").read()
    inner = text.split(b"-----\n", 1)[1].rsplit(b"-----END", 1)[0]
    return text, base64.b64decode(b"".join(inner.split()))

def fields(raw):
    """Splits an unencrypted openssh-key-v1 blob: (header up to the public key, public blob, private section)."""
    off = 15
    for _ in range(3): off += 4 + struct.unpack(">I", raw[off:off + 4])[0]
    off += 4
    publen = struct.unpack(">I", raw[off:off + 4])[0]
    public = raw[off + 4:off + 4 + publen]
    off += 4 + publen
    seclen = struct.unpack(">I", raw[off:off + 4])[0]
    return raw[:off], public, raw[off + 4:off + 4 + seclen]

def strings(section, count):
    """The check ints and the first `count` strings/mpints of a private section, and the rest."""
    off, out = 8, []
    for _ in range(count):
        n = struct.unpack(">I", section[off:off + 4])[0]
        out.append(section[off + 4:off + 4 + n])
        off += 4 + n
    return section[:8], out, section[off:]

def flip_last_byte_of_field(keydir, short, count, index):
    """The ssh-keygen key `short` with the last byte of private field `index` flipped (same length)."""
    _, raw = decode_pem(os.path.join(keydir, short))
    head, public, section = fields(raw)
    checks, items, rest = strings(section, count)
    items[index] = items[index][:-1] + bytes([items[index][-1] ^ 0x01])
    section = checks + b"".join(s(x) for x in items) + rest
    return pem(head + s(section))

def mpint(n):
    b = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return s(b"\0" + b if b and b[0] & 0x80 else b)

def openssh_file(keytype, public, fields, comment=b"hostile"):
    """An unencrypted key file around `fields` (already wire-encoded), well formed in every other way."""
    body = u32(CHECK) + u32(CHECK) + s(keytype) + fields + s(comment)
    n = (8 - len(body) % 8) % 8
    return pem(blob(section=body + bytes(range(1, n + 1)), public=public))

# P-256 (SEC 2 / FIPS 186-4): the base point G and the group order n.
P256_G = bytes.fromhex("04" "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
                       "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")
P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551

def hostile(outdir):
    """Keys whose parts fit together arithmetically but are not keys: built from public values only."""
    rsa_line = [l for l in open(os.path.join(outdir, "good-ssh-keygen-rsa-3072.vec")).read().splitlines()
                if l.startswith("public-line: ")][0]
    rsa_pub = base64.b64decode(rsa_line.split()[2])
    e, n = 65537, None
    off = 4 + struct.unpack(">I", rsa_pub[:4])[0]
    off += 4 + struct.unpack(">I", rsa_pub[off:off + 4])[0]
    n = int.from_bytes(rsa_pub[off + 4:off + 4 + struct.unpack(">I", rsa_pub[off:off + 4])[0]], "big")
    # p = 1, q = n: n = p*q holds, but p - 1 = 0 (a CRT modulus of zero).
    write(outdir, "bad-rsa-factor-one", [("expect", "error ssh_key_invalid"),
        ("source", "public n of good-ssh-keygen-rsa-3072 with p = 1, q = n, d = 1, iqmp = 0")],
        openssh_file(b"ssh-rsa", rsa_pub, mpint(n) + mpint(e) + mpint(1) + mpint(0) + mpint(1) + mpint(n)))
    # d = n + 1 fits in 32 bytes and (n + 1)·G = G: only a range check on d refuses it.
    ec_pub = s(b"ecdsa-sha2-nistp256") + s(b"nistp256") + s(P256_G)
    write(outdir, "bad-ecdsa-scalar-out-of-range", [("expect", "error ssh_key_invalid"),
        ("source", "P-256 public point G with private scalar n + 1 (not below the group order)")],
        openssh_file(b"ecdsa-sha2-nistp256", ec_pub, s(b"nistp256") + s(P256_G) + mpint(P256_N + 1)))

def main(keydir, outdir):
    good = pem(blob())
    write(outdir, "good-ed25519-rfc8032-seed", [
        ("expect", "ok"), ("type", "ed25519"), ("seed", SEED.hex()), ("comment", COMMENT.decode()),
        ("check-int", f"{CHECK:08x}"), ("public-line", line(pub_blob(PK), COMMENT.decode())),
        ("fingerprint", fp(pub_blob(PK))),
        ("source", "RFC 8032 7.1 test 1 seed; file written by make-vectors.py, accepted by ssh-keygen -y")], good)

    for short, typ in (("ed", "ed25519"), ("ec", "ecdsa-p256"), ("rsa", "rsa-3072")):
        text, raw = decode_pem(os.path.join(keydir, short))
        pubtext = open(os.path.join(keydir, short + ".pub")).read().strip()
        pub = base64.b64decode(pubtext.split()[1])
        comment = pubtext.split(None, 2)[2]
        # the check integer: after magic, 3 strings, nkeys, public key, the section length
        off = 15
        for _ in range(3): off += 4 + struct.unpack(">I", raw[off:off + 4])[0]
        off += 4
        off += 4 + struct.unpack(">I", raw[off:off + 4])[0]
        off += 4
        check = struct.unpack(">I", raw[off:off + 4])[0]
        write(outdir, f"good-ssh-keygen-{typ}", [
            ("expect", "ok"), ("type", typ), ("comment", comment), ("check-int", f"{check:08x}"),
            ("public-line", pubtext), ("fingerprint", fp(pub)),
            ("source", "ssh-keygen (OpenSSH 9.2p1) -N ''; re-encoding must reproduce this file byte for byte")], text)

    bad = [
        ("bad-empty", "ssh_key_empty", b"", "empty input"),
        ("bad-truncated", "ssh_key_truncated", pem(blob()[:100]), "the blob cut inside the private section"),
        ("bad-check-mismatch", "ssh_key_check_mismatch", pem(blob(private_section(check2=CHECK ^ 1))), "the two check integers differ"),
        ("bad-padding", "ssh_key_bad_padding",
         pem(blob(private_section(pad=lambda n: bytes(range(1, n)) + b"\x09" if n else b"")) ), "last padding byte wrong"),
        ("bad-padding-length", "ssh_key_bad_padding", pem(blob(private_section() + b"\x01")), "private section not a multiple of 8"),
        ("bad-encrypted", "ssh_key_encrypted", open(os.path.join(keydir, "enc"), "rb").read(),
         "ssh-keygen -N pass -Z aes256-ctr (bcrypt KDF)"),
        ("bad-trailing-garbage", "ssh_key_trailing_data", good + b"garbage\n", "text after the PEM footer"),
        ("bad-trailing-bytes", "ssh_key_trailing_data", pem(blob(extra=b"\0\0\0\0")), "bytes after the private section inside the blob"),
        ("bad-unknown-type", "ssh_key_unknown_type", pem(blob(private_section(keytype=b"ssh-dss"))), "private key type ssh-dss"),
        ("bad-not-pem", "ssh_key_not_pem", good.replace(b"OPENSSH PRIVATE", b"RSA PRIVATE"), "RSA PRIVATE KEY armor"),
        ("bad-missing-footer", "ssh_key_not_pem", good[:good.index(b"-----END")], "the footer line is missing"),
        ("bad-base64", "ssh_key_bad_base64", good.replace(b"b3Bl", b"b3B!", 1), "a character outside base64"),
        ("bad-magic", "ssh_key_bad_magic", pem(blob(magic=b"openssh-key-v2\0")), "openssh-key-v2"),
        ("bad-two-keys", "ssh_key_count", pem(blob(nkeys=2)), "nkeys 2"),
        ("bad-public-mismatch", "ssh_key_public_mismatch", pem(blob(public=pub_blob(OTHER_PK))), "outer public key of another key"),
        ("bad-ecdsa-scalar-mismatch", "ssh_key_invalid", flip_last_byte_of_field(keydir, "ec", 4, 3),
         "ssh-keygen ECDSA key, private scalar changed: it no longer matches Q"),
        ("bad-rsa-d-mismatch", "ssh_key_invalid", flip_last_byte_of_field(keydir, "rsa", 4, 3),
         "ssh-keygen RSA-3072 key, d changed: no longer the inverse of e"),
        ("bad-ed25519-seed-mismatch", "ssh_key_invalid", pem(blob(private_section().replace(SEED, bytes(32)))),
         "ed25519 seed zeroed: it no longer produces the stored public key"),
        ("bad-rsa-2048", "ssh_key_unsupported_size", open(os.path.join(keydir, "rsa2048"), "rb").read(), "ssh-keygen -t rsa -b 2048"),
    ]
    for name, code, body, note in bad:
        write(outdir, name, [("expect", "error " + code), ("source", note)], body)
    hostile(outdir)

if __name__ == "__main__":
    if sys.argv[1] == "--hostile":
        hostile(sys.argv[2])
    else:
        main(sys.argv[1], sys.argv[2])
