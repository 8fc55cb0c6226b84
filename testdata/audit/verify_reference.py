#!/usr/bin/env python3
"""A second, independent verifier of dataprep audit logs, written from
audit/README.md alone (no code shared with the Go package), to show that the
format can be checked without Go. TestReferenceVerifier runs it over the
golden vectors when python3 is installed.

usage: verify_reference.py DIR...
prints for each DIR one line: "ok ENTRIES HEAD", "tampered FILE LINE SEQ",
"torn FILE LINE SEQ" or "nolog"
"""
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
GENESIS = "0" * 64


class Broken(Exception):
    pass


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


def check_line(line, state):
    """line: bytes without newline; state: [seq, hash, time]."""
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
    seq, prev, time = state
    if e["seq"] != seq + 1 or e["prev"] != prev or e["time"] < time:
        raise Broken()
    state[:] = [e["seq"], e["hash"], e["time"]]


def verify(d):
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
    state = [0, GENESIS, ""]
    nums = sorted(segs)
    for i, n in enumerate(nums, 1):
        name = "audit-%06d.jsonl" % i
        if n != i:
            return "tampered %s 0 %d" % (name, state[0] + 1)
        last = i == len(nums)
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        if not data and not last:
            return "tampered %s 0 %d" % (name, state[0] + 1)
        lines = data.split(b"\n")
        tail = lines.pop()  # after the last newline: b"" unless torn
        for no, line in enumerate(lines, 1):
            try:
                if len(line) + 1 > MAX_LINE:
                    raise Broken()
                check_line(line, state)
            except Broken:
                return "tampered %s %d %d" % (name, no, state[0] + 1)
        if tail:
            kind = "torn" if last and len(tail) < MAX_LINE else "tampered"
            return "%s %s %d %d" % (kind, name, len(lines) + 1, state[0] + 1)
    return "ok %d %s" % (state[0], state[1])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for d in sys.argv[1:]:
        print(verify(d))
