#!/usr/bin/env python3
"""A second, independent verifier of dataprep audit logs, written from
audit/README.md alone (no code shared with the Go package), to show that the
format, checkpoint signatures included, can be checked without Go.
TestReferenceVerifier runs it over the golden vectors when python3 is
installed. Standard library only: RSA (PKCS #1 v1.5, SHA-256) and ECDSA P-256
verification are done with plain integer arithmetic. It is a reference, not a
hardened tool: it is not constant-time (verification needs no secrets) and it
reads whole segments into memory.

usage: verify_reference.py [--key PUBLIC.pem]... [--against=CHECKPOINT] DIR ...
--against applies to the DIR that follows it. Prints for each DIR one line:
"ok ENTRIES HEAD FIRST CHECKPOINTS UNSEALED", "tampered FILE LINE SEQ",
"torn FILE LINE SEQ", "truncated FILE LINE SEQ", "pruned", "badagainst" or
"nolog". Without --key, checkpoint signatures are not checked.
"""
import base64
import hashlib
import json
import os
import re
import stat
import sys
from datetime import datetime

MAX_LINE = 65536  # with the newline
ORDER = ["seq", "time", "event", "outcome", "actor", "os_user", "approver",
         "job", "issuer", "request", "machine", "detail", "prev", "hash"]
OPTIONAL_STRINGS = ORDER[3:11]
EVENT = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\Z")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z\Z")
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
ORIGIN = re.compile(r"[\x21-\x7e]{1,255}\Z")
DECIMAL = re.compile(r"(0|[1-9][0-9]*)\Z")
GENESIS = "0" * 64
CHECKPOINT = "audit.checkpoint"
PRUNED = "audit.pruned"
HEADER = "dataprep audit checkpoint v1"


class Broken(Exception):
    pass


# ---- keys and signatures ------------------------------------------------

def der(b, i):
    """One DER element at b[i:]: (tag, content, next index)."""
    if i + 2 > len(b):
        raise ValueError("short")
    tag, n = b[i], b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or i + k > len(b):
            raise ValueError("length")
        n = int.from_bytes(b[i:i + k], "big")
        i += k
    if i + n > len(b):
        raise ValueError("short")
    return tag, b[i:i + n], i + n


def der_int(b, i):
    tag, v, i = der(b, i)
    if tag != 0x02 or not v or v[0] & 0x80 or (len(v) > 1 and v[0] == 0 and not v[1] & 0x80):
        raise ValueError("not a minimal positive INTEGER")
    return int.from_bytes(v, "big"), i


RSA_OID = bytes.fromhex("06092a864886f70d010101")
EC_OID = bytes.fromhex("06072a8648ce3d0201")
P256_OID = bytes.fromhex("06082a8648ce3d030107")


def load_key(path):
    """A PEM PUBLIC KEY (PKIX): returns (key id, key)."""
    text = open(path).read()
    m = re.search(r"-----BEGIN PUBLIC KEY-----\n(.*?)-----END PUBLIC KEY-----", text, re.S)
    spki = base64.b64decode("".join(m.group(1).split()))
    _, body, _ = der(spki, 0)
    _, alg, i = der(body, 0)
    tag, bits, _ = der(body, i)
    if tag != 0x03 or bits[0] != 0:
        raise ValueError("bad BIT STRING")
    bits = bits[1:]
    if alg.startswith(RSA_OID):
        _, seq, _ = der(bits, 0)
        n, j = der_int(seq, 0)
        e, _ = der_int(seq, j)
        key = ("rsa", n, e)
    elif alg.startswith(EC_OID) and alg[len(EC_OID):] == P256_OID and bits[0] == 4 and len(bits) == 65:
        key = ("p256", (int.from_bytes(bits[1:33], "big"), int.from_bytes(bits[33:], "big")))
    else:
        raise ValueError("unsupported key")
    return hashlib.sha256(spki).hexdigest(), key


SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def rsa_verify(n, e, msg, sig):
    k = (n.bit_length() + 7) // 8
    s = int.from_bytes(sig, "big")
    if len(sig) != k or s >= n:
        return False
    t = SHA256_DIGEST_INFO + hashlib.sha256(msg).digest()
    return pow(s, e, n).to_bytes(k, "big") == b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t


# P-256 (FIPS 186-4 D.1.2.3), affine coordinates, None is the point at infinity.
P = 2**256 - 2**224 + 2**192 + 2**96 - 1
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
     0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)


def ec_add(p, q):
    if p is None:
        return q
    if q is None:
        return p
    if p[0] == q[0] and (p[1] + q[1]) % P == 0:
        return None
    if p == q:
        lam = (3 * p[0] * p[0] - 3) * pow(2 * p[1], -1, P) % P
    else:
        lam = (q[1] - p[1]) * pow(q[0] - p[0], -1, P) % P
    x = (lam * lam - p[0] - q[0]) % P
    return x, (lam * (p[0] - x) - p[1]) % P


def ec_mul(k, p):
    r = None
    while k:
        if k & 1:
            r = ec_add(r, p)
        p = ec_add(p, p)
        k >>= 1
    return r


def p256_verify(q, msg, sig):
    x, y = q
    if not (0 <= x < P and 0 <= y < P and (y * y - x * x * x + 3 * x - B) % P == 0):
        return False
    try:
        tag, body, end = der(sig, 0)
        r, i = der_int(body, 0)
        s, j = der_int(body, i)
    except ValueError:
        return False
    if tag != 0x30 or end != len(sig) or j != len(body) or not (0 < r < N and 0 < s < N):
        return False
    z = int.from_bytes(hashlib.sha256(msg).digest(), "big")
    w = pow(s, -1, N)
    pt = ec_add(ec_mul(z * w % N, G), ec_mul(r * w % N, q))
    return pt is not None and pt[0] % N == r


def sig_ok(keys, ckpt):
    """None if a key of keys made the checkpoint's signature, else why not."""
    key = keys.get(ckpt["key_id"])
    if key is None:
        return "unknown key"
    text = signed_text(ckpt)
    ok = rsa_verify(key[1], key[2], text, ckpt["sig"]) if key[0] == "rsa" else p256_verify(key[1], text, ckpt["sig"])
    return None if ok else "bad signature"


def signed_text(c):
    return ("%s\n%s\n%d\n%s\n%s\n" % (HEADER, c["origin"], c["seq"], c["head"], c["time"])).encode()


def decode_sig(s):
    try:
        sig = base64.b64decode(s, validate=True)
    except ValueError:
        return None
    if not 1 <= len(sig) <= 1024 or base64.b64encode(sig).decode() != s:
        return None
    return sig


def load_checkpoint(path):
    """A checkpoint file: the signed text, an empty line, '— KEYID SIG'."""
    data = open(path, "rb").read().decode("utf-8")
    lines = data.split("\n")
    if len(lines) != 8 or lines[0] != HEADER or lines[5] != "" or lines[7] != "":
        raise ValueError("not a checkpoint file")
    m = re.fullmatch(r"\u2014 ([0-9a-f]{64}) (\S+)", lines[6])
    sig = decode_sig(m.group(2)) if m else None
    if not (ORIGIN.match(lines[1]) and DECIMAL.match(lines[2]) and HEX64.match(lines[3])
            and TIME.match(lines[4]) and sig):
        raise ValueError("malformed checkpoint file")
    return {"origin": lines[1], "seq": int(lines[2]), "head": lines[3], "time": lines[4],
            "key_id": m.group(1), "sig": sig}


# ---- entries ------------------------------------------------------------

def enc(s):
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def body(e):
    parts = ['"seq":%d' % e["seq"], '"time":' + enc(e["time"]), '"event":' + enc(e["event"])]
    for m in OPTIONAL_STRINGS:
        if e.get(m):
            parts.append('"%s":%s' % (m, enc(e[m])))
    if e.get("detail"):
        keys = sorted(e["detail"], key=lambda k: k.encode("utf-8"))
        parts.append('"detail":{' + ",".join(enc(k) + ":" + enc(e["detail"][k]) for k in keys) + "}")
    parts.append('"prev":' + enc(e["prev"]))
    return ("{" + ",".join(parts) + "}").encode("utf-8")


def parse_line(line):
    """Checks a line on its own (form, canonical encoding, hash)."""
    try:
        e = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Broken()
    if not isinstance(e, dict) or set(e) - set(ORDER):
        raise Broken()
    for m in ("seq", "time", "event", "prev", "hash"):
        if m not in e:
            raise Broken()
    if type(e["seq"]) is not int or not 0 <= e["seq"] < 2**64:
        raise Broken()
    for m in ORDER[1:]:
        if m == "detail":
            d = e.get("detail", {})
            if not isinstance(d, dict) or not all(isinstance(v, str) and KEY.match(k) for k, v in d.items()):
                raise Broken()
        elif m in e and not isinstance(e[m], str):
            raise Broken()
    if not TIME.match(e["time"]) or not EVENT.match(e["event"]):
        raise Broken()
    try:
        datetime.strptime(e["time"][:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise Broken()
    if e.get("outcome", "ok") not in ("ok", "refused", "failed"):
        raise Broken()
    if not HEX64.match(e["prev"]) or not HEX64.match(e["hash"]):
        raise Broken()
    try:
        b = body(e)
    except UnicodeEncodeError:  # lone surrogates from \ud800 escapes
        raise Broken()
    if line != b[:-1] + b',"hash":"' + e["hash"].encode() + b'"}':
        raise Broken()  # not canonical
    if hashlib.sha256(b).hexdigest() != e["hash"]:
        raise Broken()
    return e


def only_detail(e, keys):
    """The entry has no optional string member and exactly these detail keys."""
    return not any(e.get(m) for m in OPTIONAL_STRINGS) and set(e.get("detail", {})) == set(keys)


def checkpoint_of(e):
    d = e.get("detail", {})
    if not only_detail(e, ["head", "key_id", "origin", "seq", "signature"]):
        raise Broken()
    sig = decode_sig(d["signature"])
    if not (ORIGIN.match(d["origin"]) and DECIMAL.match(d["seq"]) and HEX64.match(d["head"])
            and HEX64.match(d["key_id"]) and sig):
        raise Broken()
    if int(d["seq"]) != e["seq"] - 1 or d["head"] != e["prev"]:
        raise Broken()
    return {"origin": d["origin"], "seq": int(d["seq"]), "head": d["head"], "time": e["time"],
            "key_id": d["key_id"], "sig": sig}


def pruned_through(e):
    d = e.get("detail", {})
    names = ["before", "first_segment", "last_segment", "first_seq", "last_seq"]
    if not only_detail(e, names) or not TIME.match(d["before"]):
        raise Broken()
    if not all(DECIMAL.match(d[k]) for k in names[1:]):
        raise Broken()
    fs, ls, fq, lq = (int(d[k]) for k in names[1:])
    if not (1 <= fs <= ls <= 2**30 and 1 <= fq <= lq < e["seq"]):
        raise Broken()
    return ls


class Chain:
    def __init__(self, keys, against):
        self.seq, self.hash, self.time = 0, GENESIS, ""
        self.first = self.entries = self.ckpts = self.ckpt_seq = self.pruned = 0
        self.event = None
        self.anchor = False
        self.keys, self.against = keys, against
        self.against_at = None  # (file, line, matches)

    def note_against(self, name, no):
        if self.against is not None and self.against["seq"] == self.seq:
            self.against_at = (name, no, self.hash == self.against["head"])

    def next(self, line, name, no, must_ckpt):
        e = parse_line(line)
        if (must_ckpt or self.anchor) and e["event"] != CHECKPOINT:
            raise Broken()
        if self.anchor:  # pruned: the chain starts from this checkpoint
            if e["seq"] == 0:
                raise Broken()
            self.anchor = False
            self.seq, self.hash = e["seq"] - 1, e["prev"]
            self.note_against(name, no)
        if e["seq"] != self.seq + 1 or e["prev"] != self.hash or e["time"] < self.time:
            raise Broken()
        if e["event"] == CHECKPOINT:
            c = checkpoint_of(e)
            if self.keys and sig_ok(self.keys, c):
                raise Broken()
            self.ckpts += 1
            self.ckpt_seq = e["seq"]
        elif e["event"] == PRUNED:
            self.pruned = max(self.pruned, pruned_through(e))
        self.first = self.first or e["seq"]
        self.seq, self.hash, self.time, self.event = e["seq"], e["hash"], e["time"], e["event"]
        self.entries += 1
        self.note_against(name, no)


def verify(d, keys, against):
    segs = {}
    for name in os.listdir(d):
        if name.startswith("audit-") and name.endswith(".jsonl"):
            m = re.fullmatch(r"audit-(\d+)\.jsonl", name)
            if not m or "audit-%06d.jsonl" % int(m.group(1)) != name or int(m.group(1)) < 1:
                return "tampered %s 0 0" % name
            if not stat.S_ISREG(os.lstat(os.path.join(d, name)).st_mode):
                return "tampered %s 0 0" % name
            segs[int(m.group(1))] = name
    if not segs:
        return "nolog"
    ch = Chain(keys, against)
    nums = sorted(segs)
    lowest = nums[0]
    ch.anchor = lowest > 1
    if lowest == 1:
        ch.note_against("audit-000001.jsonl", 0)
    torn = None
    for i, n in enumerate(nums):
        name = "audit-%06d.jsonl" % (lowest + i)
        if n != lowest + i:
            return "tampered %s 0 %d" % (name, ch.seq + 1)
        last = i == len(nums) - 1
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        if not data and (not last or n > 1):
            return "tampered %s 0 %d" % (name, ch.seq + 1)
        lines = data.split(b"\n")
        tail = lines.pop()  # after the last newline: b"" unless torn
        for no, line in enumerate(lines, 1):
            try:
                if len(line) + 1 > MAX_LINE:
                    raise Broken()
                ch.next(line, name, no, no == 1 and n > 1)
            except Broken:
                return "tampered %s %d %d" % (name, no, ch.seq + 1)
        if tail:
            if not last or len(tail) >= MAX_LINE or (not lines and n > 1):
                return "tampered %s %d %d" % (name, len(lines) + 1, ch.seq + 1)
            torn = "torn %s %d %d" % (name, len(lines) + 1, ch.seq + 1)
        elif not last and ch.event != CHECKPOINT:
            return "tampered %s %d %d" % (name, len(lines), ch.seq)
    if lowest > 1 and ch.pruned < lowest - 1:
        return "tampered audit-%06d.jsonl 0 %d" % (lowest, ch.first)
    if against is not None:
        if ch.against_at is None and against["seq"] > ch.seq:
            return "truncated %s 0 %d" % ("audit-%06d.jsonl" % nums[-1], ch.seq + 1)
        if ch.against_at is None:
            return "pruned"
        if not ch.against_at[2]:
            return "truncated %s %d %d" % (ch.against_at[0], ch.against_at[1], against["seq"])
    if torn:
        return torn
    unsealed = ch.seq - ch.ckpt_seq if ch.ckpts else ch.entries
    return "ok %d %s %d %d %d" % (ch.entries, ch.hash, ch.first, ch.ckpts, unsealed)


def main(args):
    keys, against, dirs = {}, None, 0
    while args:
        a = args.pop(0)
        if a == "--key":
            kid, key = load_key(args.pop(0))
            keys[kid] = key
        elif a.startswith("--against="):
            against = load_checkpoint(a[len("--against="):])
        else:
            dirs += 1
            if against is not None and keys and sig_ok(keys, against):
                print("badagainst")
            else:
                print(verify(a, keys, against))
            against = None
    if not dirs:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
