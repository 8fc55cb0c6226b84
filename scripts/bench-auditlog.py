#!/usr/bin/env python3
"""bench-auditlog.py DIR N: write a synthetic, valid audit log of N entries to DIR
for `make bench` to time `dataprep audit verify --dir DIR` on. Written from the
byte-exact protocol in audit/README.md (canonical JSON member order, the hash is
SHA-256 of the line without its "hash" member, chained through "prev"); no
fsync, no daemon: this measures the verifier, not the writer. The entries look
like a data room's day (logins, requests, jobs) and hold no card data."""
import datetime
import hashlib
import os
import sys

EVENTS = [
    ("login", "ok", '"actor":"bob","os_user":"dataprep"', None),
    ("request.create", "ok", '"actor":"bob","job":"J{j:06d}","request":"R{j:06d}"', None),
    ("request.approve", "ok", '"actor":"carol","approver":"carol","request":"R{j:06d}"', None),
    ("job.decrypt.start", "ok", '"actor":"bob","approver":"carol","job":"J{j:06d}","issuer":"demo-bank","machine":"emb1"',
     {"sha256": "{h}"}),
    ("job.ready", "ok", '"actor":"bob","approver":"carol","job":"J{j:06d}","issuer":"demo-bank","machine":"emb1"',
     {"cipher": "SEIPDv1 AES-256", "output_sha256": "{h}", "records_accepted": "one thousand"}),
]


def main():
    d, n = sys.argv[1], int(sys.argv[2])
    os.makedirs(d, mode=0o700, exist_ok=True)
    t0 = datetime.datetime(2026, 1, 15, 9, 30, tzinfo=datetime.timezone.utc)
    prev = "0" * 64
    out = []
    for seq in range(1, n + 1):
        ev, outcome, who, detail = EVENTS[seq % len(EVENTS)]
        j = seq // len(EVENTS) % 1000000
        t = t0 + datetime.timedelta(milliseconds=seq)
        ts = t.strftime("%Y-%m-%dT%H:%M:%S.") + "%09dZ" % (t.microsecond * 1000)
        body = '{"seq":%d,"time":"%s","event":"%s","outcome":"%s",%s' % (seq, ts, ev, outcome, who.format(j=j))
        if detail:
            h = hashlib.sha256(b"%d" % seq).hexdigest()
            body += ',"detail":{' + ",".join('"%s":"%s"' % (k, v.format(h=h)) for k, v in sorted(detail.items())) + "}"
        body += ',"prev":"%s"}' % prev
        prev = hashlib.sha256(body.encode()).hexdigest()
        out.append(body[:-1] + ',"hash":"%s"}\n' % prev)
    path = os.path.join(d, "audit-000001.jsonl")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(out))


if __name__ == "__main__":
    main()
