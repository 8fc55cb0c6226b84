#!/usr/bin/env bash
# make demo: one synthetic issuer file, from a bank's gpg and sftp to a prepared job.
# Everything lives in a temporary directory that is removed at the end; the
# cardholder data is synthetic (Luhn-valid test PANs from formats/testgen).
set -euo pipefail
bin=$PWD/bin
work=$(mktemp -d /tmp/dataprep-demo.XXXXXX)
export GNUPGHOME=$work/gnupg DATAPREP_HOME=$work/home
mkdir -m 700 "$GNUPGHOME"
daemon_pid=""
cleanup() { [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
secret() { printf '%s\n' "$2" > "$work/pass-$1"; chmod 600 "$work/pass-$1"; }
as() { local u=$1; shift; "$bin/dataprep" --user "$u" --passphrase-file "$work/pass-$u" "$@"; }

say "init: a data room on a development SoftHSM2 token (RSA-3072 keys generated inside it)"
secret admin "demo data room passphrase"
"$bin/dataprep" init --admin admin --dev --admin-passphrase-file "$work/pass-admin"

port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null || echo 22$((RANDOM%90+10)))
say "daemon: SFTP drop on 127.0.0.1:$port, control socket in the home"
"$bin/dataprep" daemon --drop-listen "127.0.0.1:$port" 2> "$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$DATAPREP_HOME/control.sock" ] && break; sleep 0.1; done

say "people: an operator and a supervisor (each must set their own passphrase)"
for who in bob:operator carol:supervisor; do
  n=${who%%:*}; r=${who#*:}
  secret "$n" "first passphrase $RANDOM$RANDOM"
  as admin user add "$n" --role "$r" --initial-passphrase-file "$work/pass-$n"
  printf "own secret phrase %s\n" "$RANDOM$RANDOM" > "$work/new-$n"; chmod 600 "$work/new-$n"
  as "$n" passwd --new-passphrase-file "$work/new-$n"; cp "$work/new-$n" "$work/pass-$n"
done

say "issuer: the bank makes its keys with stock gpg and ssh-keygen; the admin registers them"
gpg --batch --quiet --pinentry-mode loopback --passphrase '' --quick-gen-key 'Demo Bank <test-only-demo-bank@example.invalid>' ed25519 sign never
gpg --batch --armor --export test-only-demo-bank@example.invalid > "$work/bank.asc"
ssh-keygen -q -t ed25519 -N '' -C test-only-demo-bank -f "$work/bank_ssh"
as admin issuer add demo-bank --signing-key "$work/bank.asc" --ssh-key "$work/bank_ssh.pub"

say "machine: an embosser's computer (its OpenPGP key, pinned SSH host key); this demo stops before the push"
gpg --batch --quiet --pinentry-mode loopback --passphrase '' --quick-gen-key 'Demo embosser <test-only-emb1@example.invalid>' ed25519 sign never
mfpr=$(gpg --batch --with-colons --list-keys test-only-emb1@example.invalid | awk -F: '/^fpr/ {print $10; exit}')
gpg --batch --quiet --pinentry-mode loopback --passphrase '' --quick-add-key "$mfpr" cv25519 encr never
gpg --batch --armor --export test-only-emb1@example.invalid > "$work/emb1.asc"
ssh-keygen -q -t ed25519 -N '' -C test-only-emb1-host -f "$work/emb1_host"
ssh-keygen -q -t ed25519 -N '' -C test-only-dataroom-to-emb1 -f "$work/emb1_client"
as admin machine add emb1 --sftp dp@127.0.0.1:2200 --dir /srv/production --host-key "$work/emb1_host.pub" \
  --ssh-key "$work/emb1_client" --pgp-key "$work/emb1.asc"
"$bin/dataprep" profile check default:machine-fixed | tail -n 3

say "key export: the bank imports the data room's certificate"
"$bin/dataprep" key export > "$work/dataroom.asc"
gpg --batch --quiet --import "$work/dataroom.asc"
fpr=$("$bin/dataprep" key export --json | sed -n 's/.*"fingerprint": "\(.*\)".*/\1/p')

say "the bank signs and encrypts 1000 synthetic records with gpg and uploads them with sftp"
"$bin/dataprep-testgen" -n 1000 -seed 7 | gpg --batch --trust-model always --sign --encrypt -u test-only-demo-bank@example.invalid -r "$fpr" > "$work/cards.csv.gpg"
echo "[127.0.0.1]:$port $(ssh-keygen -y -f "$DATAPREP_HOME/keys/drop-host-ed25519")" > "$work/known_hosts"
printf 'cd incoming\nput %s cards.csv.gpg\n' "$work/cards.csv.gpg" > "$work/batch"
sftp -F /dev/null -b "$work/batch" -P "$port" -i "$work/bank_ssh" -o UserKnownHostsFile="$work/known_hosts" \
  -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes demo-bank@127.0.0.1
for _ in $(seq 100); do as bob job list | grep -q J000001 && break; sleep 0.1; done
as bob job list

say "dual control: bob asks to start, carol approves"
req=$(as bob job start J000001 --machine emb1 --json | sed -n 's/.*"id": "\(R[0-9]*\)".*/\1/p')
as bob request list
as carol approve "$req"
for _ in $(seq 300); do as bob job show J000001 | grep -Eq 'state: +(ready|rejected)' && break; sleep 0.2; done
as bob job show J000001

say "the production file is ciphertext for the embosser; only the embosser's key opens it"
gpg --batch --list-packets "$DATAPREP_HOME/spool/production/J000001.pgp" 2>&1 | grep -E '^:pubkey|keyid' | head -n 2 || true
gpg --batch --quiet --decrypt "$DATAPREP_HOME/spool/production/J000001.pgp" 2>/dev/null \
  | awk '{n++; l=length($0)} END {printf "decrypted by the embosser key: %d records of %d characters (not printed: card data)\n", n, l}'

say "the bank fetches its signed processing report and checks it with gpg"
printf 'cd outbox\nget J000001-report.txt.asc %s/report.asc\n' "$work" > "$work/batch"
sftp -F /dev/null -q -b "$work/batch" -P "$port" -i "$work/bank_ssh" -o UserKnownHostsFile="$work/known_hosts" \
  -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes demo-bank@127.0.0.1 >/dev/null
gpg --batch --verify "$work/report.asc" 2>&1 | grep -E 'Good signature|BAD' || true

say "audit: the hash chain, and its last entries"
kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""
"$bin/dataprep" audit verify
tail -n 4 "$DATAPREP_HOME"/audit/*.jsonl | cut -c1-200
say "done (the demo's home was $work and is now removed)"
