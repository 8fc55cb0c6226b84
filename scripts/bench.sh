#!/usr/bin/env bash
# make bench: one run, on this machine, of
#   - drop → ready through the real daemon (SoftHSM2 token, stock sftp upload,
#     dual-control start) for BENCH_RECORDS synthetic records (default 1,000,000),
#     twice: for a machine with a gpg 2.2 key (production file SEIPDv1) and,
#     the same records encrypted anew, for a machine whose key advertises
#     RFC 9580 AEAD (SEIPDv2 AES-256-GCM, as design.md asks);
#     the preparation time is taken from the audit log's own timestamps
#     (job.decrypt.start → job.ready), not from CLI polling;
#   - the same file through `gpg --decrypt` alone, and through the shell
#     baseline `gpg -d | awk -f bench-convert.awk | gpg -e -r machine`;
#   - go-crypto's decrypt alone of the same file, through the daemon's own
#     crypto/pgp.Open with the same HSM key (scripts/bench-stages.go), and
#     decrypt+convert, decrypt+convert+encrypt in one process: the stage costs;
#   - memory: the daemon's VmHWM (/proc, reset with clear_refs before the
#     approval), its Go heap during the preparation (GODEBUG=gctrace=1 on the
#     daemon) and the max RSS of the one-process preparation, at BENCH_RECORDS
#     and, with BENCH_BIG=1, at BENCH_BIG_RECORDS (default 10,000,000);
#     and the daemon's VmHWM under 4 concurrent logins (argon2id);
#   - audit: fsynced append rate (go test -bench BenchmarkAppend ./audit),
#     `dataprep audit verify` on the run's log and, with dataprep-auditverify,
#     on a synthetic log of BENCH_AUDIT_ENTRIES entries (default 1,000,000; 0 skips);
# and prints a table with the targets of issue 3 marked PASS/FAIL, plus a
# machine-readable summary (key=value and JSON) in BENCH_OUT (default: a new
# /tmp/dataprep-bench-results.XXXXXX, kept, its path printed at the end).
#
# Other knobs: BENCH_PROFILE=1 writes a CPU profile of the one-process
# preparation and prints its top; BENCH_DAEMON_ENV="GOMEMLIMIT=96MiB" sets
# environment for the daemon only; BENCH_TIMEOUT (s, per job); BENCH_KEEP=1
# keeps the work directory (daemon log with gctrace) for a look afterwards.
#
# The file is encrypted to two recipients, the data room's certificate and a
# throwaway RSA-3072 gpg key, so that the daemon, gpg and go-crypto all
# decrypt the very same bytes. All cardholder data is synthetic (testgen) and
# plaintext only ever travels through pipes, never into a file. Everything
# lives in a temporary directory, removed on exit with the daemon stopped.
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/bin
N=${BENCH_RECORDS:-1000000}
BIG=${BENCH_BIG:-0}
BIG_N=${BENCH_BIG_RECORDS:-10000000}
AUDIT_N=${BENCH_AUDIT_ENTRIES:-1000000}
PROFILE=${BENCH_PROFILE:-0}
TIMEOUT=${BENCH_TIMEOUT:-1800} # seconds to wait for one job

for c in gpg sftp ssh-keygen awk /usr/bin/time; do
  command -v "$c" >/dev/null || { echo "bench: $c is missing (make deps)" >&2; exit 1; }
done
for b in dataprep dataprep-testgen dataprep-auditverify; do
  [ -x "$bin/$b" ] || { echo "bench: $bin/$b is missing (make build)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/dataprep-bench.XXXXXX)
out=${BENCH_OUT:-$(mktemp -d /tmp/dataprep-bench-results.XXXXXX)}
mkdir -p "$out"
res=$out/bench-results.txt
: > "$res"
export GNUPGHOME=$work/gnupg DATAPREP_HOME=$work/home
mkdir -m 700 "$GNUPGHOME"
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ]; then # SIGTERM lets a running preparation finish: give it 10 s
    kill "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  gpgconf --kill all 2>/dev/null || true
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $work (BENCH_KEEP=1)" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
note() { printf '   %s\n' "$*" >&2; }
put() { printf '%s=%s\n' "$1" "$2" >> "$res"; } # one result, key=value
get() { sed -n "s/^$1=//p" "$res" | tail -n 1; }
calc() { awk "BEGIN { x = $1; printf \"%.${2:-3}f\", x }"; }
now() { date +%s.%N; }
secret() { printf '%s\n' "$2" > "$work/pass-$1"; chmod 600 "$work/pass-$1"; }
as() { local u=$1; shift; "$bin/dataprep" --user "$u" --passphrase-file "$work/pass-$u" "$@"; }
gpgb() { gpg --batch --quiet --no-tty --no-auto-check-trustdb --pinentry-mode loopback --passphrase '' --trust-model always "$@"; }
auditlog() { cat "$DATAPREP_HOME"/audit/audit-*.jsonl; }
# audit_time EVENT JOB: the time of the job's last EVENT entry, in epoch seconds.
audit_time() {
  local t
  t=$(auditlog | grep -F "\"event\":\"$1\"" | grep -F "\"job\":\"$2\"" | tail -n 1 | sed -n 's/.*"time":"\([^"]*\)".*/\1/p')
  [ -n "$t" ] && date -u -d "$t" +%s.%N
}
hwm_kib() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$daemon_pid/status"; }
rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$daemon_pid/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$daemon_pid/stat"; }
hz=$(getconf CLK_TCK)
# gc_heap FROM TO: "GCs peak_heap_MiB peak_live_MiB max_goal_MiB" of the daemon's gctrace lines
# between two epoch times (the runtime's @T counts from the process start).
gc_heap() {
  awk -v t0="$daemon_t0" -v from="$1" -v to="$2" '
    /^gc [0-9]+ @/ {
      t = $3; sub(/^@/, "", t); sub(/s$/, "", t); t += t0
      if (t < from || t > to) next
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^[0-9]+->[0-9]+->[0-9]+$/ && $(i + 1) ~ /^MB/) {
          split($i, h, "->"); if (h[1] + 0 > p) p = h[1] + 0; if (h[2] + 0 > p) p = h[2] + 0; if (h[3] + 0 > l) l = h[3] + 0
        }
        if ($(i + 1) == "MB" && $(i + 2) ~ /^goal/) { g0 = $i + 0; if (g0 > g) g = g0 }
      }
      n++
    }
    END { if (n) printf "%d %d %d %d\n", n, p, l, g; else print "0 n/a n/a n/a" }' "$work/daemon.log"
}

# --- the machine ---------------------------------------------------------------
say "machine"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
gov=$(go version 2>/dev/null | awk '{ print $3 }' || echo none)
gpgv=$(gpg --version | head -n 1 | awk '{ print $3 }')
put host.nproc "$(nproc)"; put host.cpu "$cpu"; put host.mem "$mem"; put host.kernel "$(uname -r)"
put host.go "$gov"; put host.gpg "$gpgv"; put host.date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
put host.loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
put host.commit "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD -- 2>/dev/null || echo -dirty)"
note "$(nproc) CPUs ($cpu), $mem, Linux $(uname -r), $gov, gpg $gpgv, load average $(get host.loadavg_start)"
awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }' &&
  note "warning: the machine is busy (load above half its CPUs): wall times will be inflated; compare the CPU-second figures"

# --- a data room ---------------------------------------------------------------
say "data room: init --dev, daemon, people, issuer, machine"
secret admin "bench data room passphrase $RANDOM$RANDOM"
"$bin/dataprep" init --admin admin --dev --admin-passphrase-file "$work/pass-admin" >/dev/null
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null || echo 2$((RANDOM % 9000 + 1000)))
# gctrace: the Go runtime prints one line per GC (heap sizes) to the daemon's
# stderr; that is how the bench sees the preparation's own heap without any hook.
daemon_t0=$(now)
# BENCH_DAEMON_ENV adds environment for the daemon only (e.g. GOMEMLIMIT=96MiB).
env ${BENCH_DAEMON_ENV:-} GODEBUG=gctrace=1${GODEBUG:+,$GODEBUG} "$bin/dataprep" daemon --drop-listen "127.0.0.1:$port" 2> "$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 200); do [ -S "$DATAPREP_HOME/control.sock" ] && break; sleep 0.05; done
[ -S "$DATAPREP_HOME/control.sock" ] || { cat "$work/daemon.log" >&2; echo "bench: the daemon did not start" >&2; exit 1; }
put daemon.rss_idle_kib "$(rss_kib)"

for who in bob:operator carol:supervisor; do
  n=${who%%:*}; r=${who#*:}
  secret "$n" "first passphrase $RANDOM$RANDOM"
  as admin user add "$n" --role "$r" --initial-passphrase-file "$work/pass-$n" >/dev/null
  printf 'own secret phrase %s\n' "$RANDOM$RANDOM" > "$work/new-$n"; chmod 600 "$work/new-$n"
  as "$n" passwd --new-passphrase-file "$work/new-$n" >/dev/null; cp "$work/new-$n" "$work/pass-$n"
done

bank=test-only-bench-bank@example.invalid
gpgb --quick-gen-key "Bench Bank <$bank>" ed25519 sign never
gpgb --armor --export "$bank" > "$work/bank.asc"
ssh-keygen -q -t ed25519 -N '' -C test-only-bench-bank -f "$work/bank_ssh"
as admin issuer add bench-bank --signing-key "$work/bank.asc" --ssh-key "$work/bank_ssh.pub" >/dev/null

"$bin/dataprep" key export > "$work/dataroom.asc" 2>/dev/null
gpgb --import "$work/dataroom.asc" 2>/dev/null
fpr=$("$bin/dataprep" key export --json | sed -n 's/.*"fingerprint": *"\([0-9A-Fa-f]*\)".*/\1/p')
[ -n "$fpr" ] || { echo "bench: no data room fingerprint from key export --json" >&2; exit 1; }

# gpg's own decryption key (RSA-3072 like the data room's HSM key): the second recipient.
gpguid=test-only-bench-gpg@example.invalid
gpgb --quick-gen-key "Bench gpg side <$gpguid>" rsa3072 sign never
gfpr=$(gpg --batch --with-colons --list-keys "$gpguid" | awk -F: '/^fpr:/ { print $10; exit }')
gpgb --quick-add-key "$gfpr" rsa3072 encr never

# The machine: a gpg-made key (ed25519 + cv25519 subkey), a host key line and
# a throwaway client key. No sshd: the bench stops at ready.
muid=test-only-bench-machine@example.invalid
gpgb --quick-gen-key "Bench machine <$muid>" ed25519 sign never
mfpr=$(gpg --batch --with-colons --list-keys "$muid" | awk -F: '/^fpr:/ { print $10; exit }')
gpgb --quick-add-key "$mfpr" cv25519 encr never
gpgb --armor --export "$muid" > "$work/machine.asc"
ssh-keygen -q -t ed25519 -N '' -C test-only-bench-machine-host -f "$work/machine_host"
ssh-keygen -q -t ed25519 -N '' -C test-only-bench-machine-client -f "$work/machine_client"
as admin machine add bench1 --sftp bench@127.0.0.1:9 --dir /srv/prod \
  --host-key "$(cat "$work/machine_host.pub")" --ssh-key "$work/machine_client" --pgp-key "$work/machine.asc" >/dev/null
# A second machine whose software decrypts RFC 9580 AEAD: its test-only key
# (made by go-crypto; gpg 2.2 cannot) advertises SEIPDv2 with AES-256-GCM,
# so the daemon encrypts its production files as SEIPDv2 (design.md).
"$bin/dataprep-testgen" -machine-key "$work/machine-aead.asc"
as admin machine add bench2 --sftp bench@127.0.0.1:9 --dir /srv/prod \
  --host-key "$(cat "$work/machine_host.pub")" --ssh-key "$work/machine_client" --pgp-key "$work/machine-aead.asc" >/dev/null
note "data room $fpr, drop 127.0.0.1:$port, machine bench1 ($mfpr, SEIPDv1), machine bench2 (SEIPDv2)"

# --- helpers for one job -------------------------------------------------------
# make_file N SEED NAME: testgen | gpg --sign --encrypt to both recipients.
make_file() {
  local n=$1 seed=$2 name=$3 t0 t1
  t0=$(now)
  "$bin/dataprep-testgen" -n "$n" -seed "$seed" |
    gpgb --sign --encrypt -u "$bank" -r "$fpr" -r "$gpguid" -o "$work/$name"
  t1=$(now)
  put "$name.plaintext_bytes" "$("$bin/dataprep-testgen" -n "$n" -seed "$seed" | wc -c)"
  put "$name.ciphertext_bytes" "$(stat -c %s "$work/$name")"
  put "$name.issuer_gpg_sign_encrypt_s" "$(calc "$t1 - $t0")"
  put "$name.packets" "$(gpg --batch --list-packets "$work/$name" 2>/dev/null |
    awk '/^:compressed packet:/ { c = $0 } END { gsub(/^:/, "", c); print (c ? c : "no compression") }')"
}

# run_job NAME MACHINE: upload NAME, start it for MACHINE, wait for ready;
# record times, counts, RSS. With a third argument "login", someone logs in
# (argon2id) two seconds into the preparation, so that the peak RSS covers
# a login during a preparation; the times then carry that login's CPU too.
run_job() {
  local name=$1 machine=$2 login=${3:-} t0 t1 job req t_ap0 t_ready_seen st hwm_up cpu0 cpu1 d_start d_ready d_recv waited=0
  printf 'cd incoming\nput %s %s\n' "$work/$name" "$name" > "$work/batch"
  echo "[127.0.0.1]:$port $(ssh-keygen -y -f "$DATAPREP_HOME/keys/drop-host-ed25519")" > "$work/known_hosts"
  t0=$(now)
  sftp -F /dev/null -q -b "$work/batch" -P "$port" -i "$work/bank_ssh" -o UserKnownHostsFile="$work/known_hosts" \
    -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes bench-bank@127.0.0.1 >/dev/null
  t1=$(now)
  put "$name.upload_s" "$(calc "$t1 - $t0")"
  job=""
  for _ in $(seq 2000); do
    job=$(auditlog | grep -F '"event":"file.received"' | grep -F "\"$name\"" | sed -n 's/.*"job":"\(J[0-9]*\)".*/\1/p' | tail -n 1)
    [ -n "$job" ] && break
    sleep 0.02
  done
  [ -n "$job" ] || { tail -n 20 "$work/daemon.log" >&2; echo "bench: $name did not arrive" >&2; exit 1; }
  d_recv=$(audit_time file.received "$job")
  put "$name.job" "$job"
  put "$name.close_to_received_s" "$(calc "$d_recv - $t1")"
  hwm_up=$(hwm_kib)
  put "$name.rss_hwm_through_upload_kib" "$hwm_up"

  req=$(as bob job start "$job" --machine "$machine" --json | sed -n 's/.*"id": *"\(R[0-9]*\)".*/\1/p')
  [ -n "$req" ] || { echo "bench: job start gave no request id" >&2; exit 1; }
  # What one CLI login costs the daemon (argon2id), to take out of the CPU figure.
  cpu0=$(cpu_ticks); as carol request list >/dev/null; cpu1=$(cpu_ticks)
  put "$name.daemon_login_cpu_s" "$(calc "($cpu1 - $cpu0) / $hz" 2)"
  # Reset the peak-RSS counter: the next reading covers the approval (one
  # login) and the preparation.
  put "$name.rss_before_approve_kib" "$(rss_kib)"
  if echo 5 > "/proc/$daemon_pid/clear_refs" 2>/dev/null; then put "$name.hwm_reset" yes; else put "$name.hwm_reset" no; fi
  cpu0=$(cpu_ticks)
  t_ap0=$(now)
  as carol approve "$req" >/dev/null
  local login_pid=""
  if [ "$login" = login ]; then (sleep 2; as bob request list >/dev/null) & login_pid=$!; fi
  # Watch the audit log instead of polling `job show` (an argon2id login
  # each), and seldom: the preparation's times come from the log's own
  # timestamps, and every poll's processes take CPU from the daemon on a
  # small machine (polling every 20 ms with five processes cost it a
  # tenth of its wall time on 2 vCPUs).
  st=""
  while :; do
    case "$(auditlog | grep -F "\"job\":\"$job\"" | grep -oE '"event":"job\.(ready|rejected|decrypt\.result)"' | tail -n 1)" in
      *ready*) st=ready; break ;;
      *rejected*|*result*) st=failed; break ;;
    esac
    kill -0 "$daemon_pid" 2>/dev/null || { tail -n 20 "$work/daemon.log" >&2; echo "bench: the daemon died" >&2; exit 1; }
    sleep 0.25; waited=$((waited + 1))
    [ "$waited" -lt $((TIMEOUT * 4)) ] || { echo "bench: $job not ready after ${TIMEOUT}s" >&2; exit 1; }
  done
  t_ready_seen=$(now)
  cpu1=$(cpu_ticks)
  put "$name.rss_hwm_prepare_kib" "$(hwm_kib)"
  if [ "$st" != ready ]; then
    as bob job show "$job" >&2 || true
    auditlog | grep -F "\"job\":\"$job\"" | tail -n 3 >&2
    echo "bench: $job was not prepared" >&2; exit 1
  fi
  d_start=$(audit_time job.decrypt.start "$job")
  d_ready=$(audit_time job.ready "$job")
  put "$name.prepare_s" "$(calc "$d_ready - $d_start")"
  if [ -n "$login_pid" ]; then
    wait "$login_pid" || true
    # Only a preparation that outlasted the two seconds had the login in it.
    if awk "BEGIN { exit !($(get "$name.prepare_s") > 2.5) }"; then put "$name.login_during" yes; else put "$name.login_during" "no (the preparation ended first)"; fi
  else
    put "$name.login_during" no
  fi
  read -r gcs gcpeak gclive gcgoal < <(gc_heap "$d_start" "$d_ready")
  put "$name.prepare_gcs" "$gcs"; put "$name.prepare_heap_peak_mib" "$gcpeak"
  put "$name.prepare_heap_live_max_mib" "$gclive"; put "$name.prepare_heap_goal_max_mib" "$gcgoal"
  put "$name.approve_to_ready_s" "$(calc "$t_ready_seen - $t_ap0")"
  put "$name.daemon_cpu_s" "$(calc "($cpu1 - $cpu0) / $hz - $(get "$name.daemon_login_cpu_s")" 2)"
  as bob job show "$job" --json > "$work/$name.show.json"
  put "$name.state" "$(sed -n 's/^  "state": *"\([a-z]*\)".*/\1/p' "$work/$name.show.json")"
  put "$name.records_read" "$(sed -n 's/.*"read": *\([0-9]*\).*/\1/p' "$work/$name.show.json" | head -n 1)"
  put "$name.records_accepted" "$(sed -n 's/.*"accepted": *\([0-9]*\).*/\1/p' "$work/$name.show.json" | head -n 1)"
  put "$name.records_rejected" "$(sed -n 's/.*"rejected": *\([0-9]*\).*/\1/p' "$work/$name.show.json" | head -n 1)"
  put "$name.output_bytes" "$(sed -n 's/.*"output_size": *\([0-9]*\).*/\1/p' "$work/$name.show.json")"
  put "$name.cipher_in" "$(sed -n 's/.*"cipher": *"\([^"]*\)".*/\1/p' "$work/$name.show.json")"
  put "$name.cipher_out" "$(auditlog | grep -F "\"job\":\"$job\"" | grep -F '"event":"job.ready"' | sed -n 's/.*"output_cipher":"\([^"]*\)".*/\1/p' | tail -n 1)"
}

# --- the file, through the daemon ----------------------------------------------
main=cards-$N.csv.gpg
say "issuer file: $N synthetic records, gpg --sign --encrypt (to the data room and a gpg key)"
make_file "$N" 42 "$main"
note "plaintext $(get "$main.plaintext_bytes") B, ciphertext $(get "$main.ciphertext_bytes") B ($(get "$main.packets")), gpg took $(get "$main.issuer_gpg_sign_encrypt_s") s"

# The same records again, encrypted anew (a different file to the drop's
# duplicate check), for the SEIPDv2 machine.
aead=cards-$N-aead.csv.gpg
make_file "$N" 42 "$aead"

say "drop → ready through the daemon, machine bench1 (SEIPDv1, gpg 2.2)"
run_job "$main" bench1
note "upload $(get "$main.upload_s") s, prepare $(get "$main.prepare_s") s, $(get "$main.records_accepted") records accepted, peak RSS $(get "$main.rss_hwm_prepare_kib") KiB"

say "drop → ready through the daemon, machine bench2 (SEIPDv2 AES-256-GCM)"
run_job "$aead" bench2
note "upload $(get "$aead.upload_s") s, prepare $(get "$aead.prepare_s") s, $(get "$aead.records_accepted") records accepted, peak RSS $(get "$aead.rss_hwm_prepare_kib") KiB"

# --- the same file through gpg, the shell baseline and go-crypto ---------------
say "the same file through gpg --decrypt alone"
/usr/bin/time -f '%e %U %S %M' -o "$work/time.gpg" gpg --batch --quiet --no-tty --decrypt "$work/$main" > /dev/null 2> "$work/gpg.err" ||
  { cat "$work/gpg.err" >&2; exit 1; }
read -r e u s m < "$work/time.gpg"
put gpg_decrypt_s "$e"; put gpg_decrypt_cpu_s "$(calc "$u + $s" 2)"; put gpg_decrypt_rss_kib "$m"
note "gpg --decrypt: $e s"

say "shell baseline: gpg -d | awk | gpg -e -r machine"
export BENCH_AWK=$root/scripts/bench-convert.awk BENCH_IN=$work/$main BENCH_SHELL_OUT=$work/shell-out.gpg BENCH_MUID=$muid
/usr/bin/time -f '%e %U %S %M' -o "$work/time.shell" bash -c 'set -o pipefail
  gpg --batch --quiet --no-tty --decrypt "$BENCH_IN" 2>/dev/null |
  awk -f "$BENCH_AWK" |
  gpg --batch --quiet --no-tty --trust-model always --encrypt -r "$BENCH_MUID" -o "$BENCH_SHELL_OUT"' ||
  { echo "bench: the shell baseline failed" >&2; exit 1; }
read -r e u s m < "$work/time.shell"
put shell_s "$e"; put shell_cpu_s "$(calc "$u + $s" 2)"
put shell_output_bytes "$(stat -c %s "$work/shell-out.gpg")"
note "shell baseline: $e s"

say "go-crypto in one process, the daemon's crypto/pgp and formats with the same HSM key"
stages=$work/bench-stages
have_stages=0
if (cd "$root" && go build -o "$stages" scripts/bench-stages.go) 2> "$work/stages.err"; then have_stages=1; else cat "$work/stages.err" >&2; fi
# stage NAME MODE [ARGS]: one bench-stages run on file NAME, results under
# NAME.go_MODE.*; STAGE_MACHINE names the machine certificate (mode full).
stage() {
  local name=$1 mode=$2 secs e u s m; shift 2
  /usr/bin/time -f '%e %U %S %M' -o "$work/time.$mode" "$stages" -home "$DATAPREP_HOME" -file "$work/$name" \
    -issuer-key "$work/bank.asc" -machine-key "$work/${STAGE_MACHINE:-machine.asc}" -mode "$mode" "$@" > "$work/stages.$mode"
  secs=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' "$work/stages.$mode")
  read -r e u s m < "$work/time.$mode"
  put "$name.go_$mode.s" "$secs"; put "$name.go_$mode.cpu_s" "$(calc "$u + $s" 2)"; put "$name.go_$mode.rss_kib" "$m"
  note "$mode: $secs s, max RSS $m KiB ($(cat "$work/stages.$mode"))"
}
if [ "$have_stages" = 1 ]; then
  stage "$main" decrypt
  stage "$main" convert
  stage "$main" full
  stage "$aead" decrypt
  if [ "$PROFILE" = 1 ]; then
    STAGE_MACHINE=machine-aead.asc stage "$aead" full -cpuprofile "$out/prepare.cpu.pprof"
  else
    STAGE_MACHINE=machine-aead.asc stage "$aead" full
  fi
  put gocrypto_source "scripts/bench-stages.go: crypto/pgp.Open with the home's HSM key, on the same file"
else
  note "bench-stages did not build; using go test -bench BenchmarkOpen ./crypto/pgp instead (64 MiB, not the same file)"
  (cd "$root" && go test -run '^$' -bench 'BenchmarkOpen/SEIPDv1' -benchtime 3x ./crypto/pgp) > "$work/benchopen.txt"
  mbs=$(awk '{ for (i = 1; i < NF; i++) if ($(i + 1) == "MB/s") { print $i; exit } }' "$work/benchopen.txt")
  put "$main.go_decrypt.s" "$(calc "$(get "$main.plaintext_bytes") / ($mbs * 1e6)")"
  put gocrypto_source "go test -bench BenchmarkOpen/SEIPDv1: $mbs MB/s, scaled to this file's plaintext"
fi
if [ "$PROFILE" = 1 ] && [ -s "$out/prepare.cpu.pprof" ]; then
  cp "$stages" "$out/bench-stages.bin"
  (cd "$root" && go tool pprof -top -cum -nodecount=40 "$stages" "$out/prepare.cpu.pprof" 2>/dev/null) > "$out/prepare.cpu.top.txt" || true
fi

say "disk: write + fsync of a file the size of the production file (the daemon's spool write)"
mibs=$(( ($(get "$main.output_bytes") + 1048575) / 1048576 ))
t0=$(now); dd if=/dev/zero of="$work/fsync.test" bs=1M count="$mibs" conv=fsync status=none; t1=$(now)
rm -f "$work/fsync.test"
put disk_write_fsync_s "$(calc "$t1 - $t0")"; put disk_write_fsync_mib "$mibs"
note "$mibs MiB in $(get disk_write_fsync_s) s"

# --- 10M records (BENCH_BIG=1) -------------------------------------------------
if [ "$BIG" = 1 ]; then
  big=cards-$BIG_N.csv.gpg
  say "BENCH_BIG: $BIG_N records through the daemon and the one-process path (memory)"
  make_file "$BIG_N" 4242 "$big"
  run_job "$big" bench1 login
  note "prepare $(get "$big.prepare_s") s, daemon heap peak $(get "$big.prepare_heap_peak_mib") MiB"
  [ "$have_stages" = 1 ] && stage "$big" full
  rm -f "$work/$big"
fi

# --- memory of logins ----------------------------------------------------------
say "daemon memory under 4 concurrent logins (argon2id)"
put logins.rss_before_kib "$(rss_kib)"
echo 5 > "/proc/$daemon_pid/clear_refs" 2>/dev/null || true
pids=""
for i in 1 2 3 4; do as bob request list >/dev/null & pids="$pids $!"; done
for p in $pids; do wait "$p" || true; done
put logins.concurrent4_hwm_kib "$(hwm_kib)"
note "VmHWM $(get logins.concurrent4_hwm_kib) KiB"

# --- audit ---------------------------------------------------------------------
say "audit: append (fsync) and verify rates"
if (cd "$root" && go test -run '^$' -bench '^BenchmarkAppend$' -benchtime 2s ./audit) > "$work/auditbench.txt" 2>&1; then
  ns=$(awk '$1 ~ /^BenchmarkAppend/ { print $3; exit }' "$work/auditbench.txt")
  put audit_append_ns_per_entry "$ns"
  put audit_append_per_s "$(calc "1e9 / $ns" 0)"
else
  put audit_append_per_s "n/a: $(grep -m 1 -E 'error|FAIL|cannot|undefined|not enough' "$work/auditbench.txt" | cut -c1-120)"
fi
run_entries=$(auditlog | wc -l)
t0=$(now); "$bin/dataprep" audit verify > "$work/verify.run" 2>&1 || true; t1=$(now)
put audit_run_entries "$run_entries"
put audit_run_verify_s "$(calc "$t1 - $t0")"
put audit_run_verify_result "$(cut -d, -f1 "$work/verify.run" | head -n 1)"
first=$(auditlog | head -n 1 | sed -n 's/.*"time":"\([^"]*\)".*/\1/p')
last=$(auditlog | tail -n 1 | sed -n 's/.*"time":"\([^"]*\)".*/\1/p')
put audit_run_span_s "$(calc "$(date -u -d "$last" +%s.%N) - $(date -u -d "$first" +%s.%N)")"
if [ "$AUDIT_N" -gt 0 ] && command -v python3 >/dev/null; then
  python3 "$root/scripts/bench-auditlog.py" "$work/synthaudit" "$AUDIT_N"
  put audit_synth_entries "$AUDIT_N"
  put audit_synth_bytes "$(stat -c %s "$work/synthaudit/audit-000001.jsonl")"
  # The synthetic log has no HSM-signed checkpoints: a verifier that requires
  # one refuses it after walking the chain; the time is reported either way.
  if /usr/bin/time -f '%e %M' -o "$work/time.verify" "$bin/dataprep" audit verify --dir "$work/synthaudit" > "$work/verify.synth" 2>&1; then
    put audit_synth_verify_result "$(head -n 1 "$work/verify.synth" | cut -d, -f1)"
  else
    put audit_synth_verify_result "refused: $(head -n 1 "$work/verify.synth" | sed 's/.*: //')"
  fi
  read -r e m < <(tail -n 1 "$work/time.verify")
  put audit_synth_verify_s "$e"; put audit_synth_verify_rss_kib "$m"
  if /usr/bin/time -f '%e %M' -o "$work/time.verify2" "$bin/dataprep-auditverify" "$work/synthaudit" > "$work/verify.synth2" 2>&1; then
    put audit_synth_auditverify_result ok
  else
    put audit_synth_auditverify_result "refused: $(head -n 1 "$work/verify.synth2" | sed 's/.*: //')"
  fi
  read -r e m < <(tail -n 1 "$work/time.verify2")
  put audit_synth_auditverify_s "$e"; put audit_synth_auditverify_rss_kib "$m"
  rm -rf "$work/synthaudit"
fi

put host.loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
say "stopping the daemon (SIGTERM)"
t0=$(now); kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; t1=$(now); daemon_pid=""
put daemon_stop_s "$(calc "$t1 - $t0")"
if "$bin/dataprep" audit verify > "$work/verify.final" 2>&1; then put audit_final_verify ok; else put audit_final_verify "FAILED: $(head -n 1 "$work/verify.final")"; fi
auditlog | tail -n 4 | grep -qF '"event":"daemon.stop"' && put daemon_stop_audited yes || put daemon_stop_audited no

# --- report --------------------------------------------------------------------
pt=$(get "$main.plaintext_bytes"); ct=$(get "$main.ciphertext_bytes"); recs=$(get "$main.records_accepted")
prep=$(get "$main.prepare_s"); gpgd=$(get gpg_decrypt_s); shell=$(get shell_s); god=$(get "$main.go_decrypt.s")
mib=1048576
r_go=$(calc "$prep / $god" 2); r_gpg=$(calc "$prep / $gpgd" 2)
put ratio_prepare_over_gocrypto_decrypt "$r_go"
put ratio_prepare_over_gpg_decrypt "$r_gpg"
put ratio_prepare_over_shell "$(calc "$prep / $shell" 2)"
# The same ratios in CPU seconds: less sensitive to other load on the machine.
r_go_cpu=$(calc "$(get "$main.daemon_cpu_s") / $(get "$main.go_decrypt.cpu_s")" 2)
r_gpg_cpu=$(calc "$(get "$main.daemon_cpu_s") / $(get gpg_decrypt_cpu_s)" 2)
put ratio_prepare_cpu_over_gocrypto_decrypt_cpu "$r_go_cpu"
put ratio_prepare_cpu_over_gpg_decrypt_cpu "$r_gpg_cpu"
pf() { awk "BEGIN { exit !($1) }" && echo PASS || echo FAIL; }
maxk() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 > b + 0 ? a : b) }'; }
put target.prepare_le_1.5x_gocrypto_decrypt "$(pf "$r_go <= 1.5")"
# The SEIPDv2 machine: the same records, its own file, its own decrypt baseline.
prep2=$(get "$aead.prepare_s"); god2=$(get "$aead.go_decrypt.s")
[ -n "$god2" ] || god2=$god
r_go2=$(calc "$prep2 / $god2" 2)
r_go2_cpu=$(calc "$(get "$aead.daemon_cpu_s") / $(get "$aead.go_decrypt.cpu_s" || echo 1)" 2)
put ratio_prepare_over_gocrypto_decrypt.seipdv2_machine "$r_go2"
put ratio_prepare_cpu_over_gocrypto_decrypt_cpu.seipdv2_machine "$r_go2_cpu"
put target.prepare_le_1.5x_gocrypto_decrypt.seipdv2_machine "$(pf "$r_go2 <= 1.5")"
put target.prepare_le_1.5x_gpg_decrypt "$(pf "$r_gpg <= 1.5")"
# RSS: the daemon process as a whole, and the preparation path alone.
for f in "$main" ${big:+"$big"}; do
  [ -n "$(get "$f.rss_hwm_prepare_kib")" ] || continue
  peak=$(maxk "$(get "$f.rss_hwm_through_upload_kib")" "$(get "$f.rss_hwm_prepare_kib")")
  put "$f.daemon_rss_peak_kib" "$peak"
  put "target.daemon_rss_lt_64MiB.$f" "$(pf "$peak < 65536")"
  [ -n "$(get "$f.go_full.rss_kib")" ] && put "target.prepare_path_rss_lt_64MiB.$f" "$(pf "$(get "$f.go_full.rss_kib") < 65536")"
done

row() { printf '%-50s %12s %11s %11s %11s\n' "$@"; }
rate() { # LABEL SECONDS: records/s, MB/s of plaintext and of the issuer's ciphertext
  row "$1" "$2 s" "$(calc "$recs / $2" 0)" "$(calc "$pt / $2 / 1e6" 1)" "$(calc "$ct / $2 / 1e6" 1)"
}
kib() { printf '%s KiB = %s MiB' "$1" "$(calc "$1 / 1024" 1)"; }
{
  echo
  echo "dataprep bench — $(get host.date), commit $(get host.commit)"
  echo "machine: $(get host.nproc) CPUs ($(get host.cpu)), $(get host.mem), Linux $(get host.kernel), $(get host.go), gpg $(get host.gpg); load average $(get host.loadavg_start) at start, $(get host.loadavg_end) at end${BENCH_DAEMON_ENV:+; daemon env: $BENCH_DAEMON_ENV}"
  echo "file: $N synthetic records, plaintext $(calc "$pt / $mib" 1) MiB, issuer file $(calc "$ct / $mib" 1) MiB ($(get "$main.packets"); $(get "$main.cipher_in"), signed ed25519); issuer's gpg --sign --encrypt took $(get "$main.issuer_gpg_sign_encrypt_s") s"
  echo "production file: $(calc "$(get "$main.output_bytes") / $mib" 1) MiB (fixed-width layout, signed by the data room); machine bench1 (gpg 2.2 key) gets $(get "$main.cipher_out"), bench2 (RFC 9580 key) $(get "$aead.cipher_out")"
  echo
  row "stage (the same file)" "time" "records/s" "MB/s plain" "MB/s file"
  row "--------------------------------------------------" "------------" "-----------" "-----------" "-----------"
  row "sftp upload (stock client → built-in drop)" "$(get "$main.upload_s") s" "" "" "$(calc "$ct / $(get "$main.upload_s") / 1e6" 1)"
  row "sftp exit → file.received in audit (<0: before)" "$(get "$main.close_to_received_s") s" "" "" ""
  rate "DAEMON job.decrypt.start → job.ready, SEIPDv1" "$prep"
  rate "DAEMON the same records → ready, SEIPDv2" "$prep2"
  rate "daemon, approve command → ready seen (±0.25 s)" "$(get "$main.approve_to_ready_s")"
  rate "drop → ready (upload + preparation)" "$(calc "$(get "$main.upload_s") + $prep")"
  rate "gpg --decrypt > /dev/null" "$gpgd"
  rate "shell: gpg -d | awk | gpg -e -r machine" "$shell"
  rate "go-crypto decrypt alone (crypto/pgp.Open)" "$god"
  if [ -n "$(get "$main.go_convert.s")" ]; then
    rate "  + parse, validate, convert (one process)" "$(get "$main.go_convert.s")"
    rate "  + encrypt, sign, SHA-256 (one process, no spool)" "$(get "$main.go_full.s")"
  fi
  if [ -n "$(get "$aead.go_full.s")" ]; then
    rate "go-crypto decrypt alone, the SEIPDv2 job's file" "$god2"
    rate "  + convert + encrypt SEIPDv2 (one process)" "$(get "$aead.go_full.s")"
  fi
  row "write + fsync $(get disk_write_fsync_mib) MiB (dd, the spool's share)" "$(get disk_write_fsync_s) s" "" "" ""
  echo
  echo "daemon CPU during preparation, SEIPDv2 machine: $(get "$aead.daemon_cpu_s") s in $prep2 s ($(calc "$(get "$aead.daemon_cpu_s") / $prep2" 2) cores busy)"
  echo "daemon CPU during preparation, SEIPDv1 machine: $(get "$main.daemon_cpu_s") s in $prep s ($(calc "$(get "$main.daemon_cpu_s") / $prep" 2) cores busy; the approve login's $(get "$main.daemon_login_cpu_s") s taken out)"
  echo "CPU: gpg --decrypt $(get gpg_decrypt_cpu_s) s; shell baseline $(get shell_cpu_s) s (3 processes); one-process decrypt / +convert / +encrypt $(get "$main.go_decrypt.cpu_s") / $(get "$main.go_convert.cpu_s") / $(get "$main.go_full.cpu_s") s"
  [ -n "$(get "$aead.go_full.cpu_s")" ] && echo "stage CPU, SEIPDv2: encrypt+sign+hash $(calc "$(get "$aead.go_full.cpu_s") - $(get "$aead.go_decrypt.cpu_s") - $(get "$main.go_convert.cpu_s") + $(get "$main.go_decrypt.cpu_s")" 2) s"
  [ -n "$(get "$main.go_convert.cpu_s")" ] && echo "stage CPU, SEIPDv1 (differences of the one-process runs): decrypt $(get "$main.go_decrypt.cpu_s") s, parse+validate+convert $(calc "$(get "$main.go_convert.cpu_s") - $(get "$main.go_decrypt.cpu_s")" 2) s, encrypt+sign+hash $(calc "$(get "$main.go_full.cpu_s") - $(get "$main.go_convert.cpu_s")" 2) s; the daemon's overlapped stages can at best take the largest of these, or total/$(get host.nproc) CPUs"
  echo "records: read $(get "$main.records_read"), accepted $recs, rejected $(get "$main.records_rejected")"
  echo
  echo "memory:"
  echo "  daemon idle after start                  VmRSS $(kib "$(get daemon.rss_idle_kib)")"
  for f in "$main" ${big:+"$big"}; do
    n=${f#cards-}; n=${n%%.*}
    echo "  $n records:"
    echo "    daemon, start → after upload           VmHWM $(kib "$(get "$f.rss_hwm_through_upload_kib")")"
    echo "    daemon, when approve was sent          VmRSS $(kib "$(get "$f.rss_before_approve_kib")")"
    echo "    daemon, approve → ready (HWM reset: $(get "$f.hwm_reset"); a login during it: $(get "$f.login_during")) VmHWM $(kib "$(get "$f.rss_hwm_prepare_kib")")"
    echo "    daemon Go heap during preparation      peak $(get "$f.prepare_heap_peak_mib") MiB, live after GC ≤ $(get "$f.prepare_heap_live_max_mib") MiB, goal ≤ $(get "$f.prepare_heap_goal_max_mib") MiB, $(get "$f.prepare_gcs") GCs (gctrace)"
    [ -n "$(get "$f.go_full.rss_kib")" ] && echo "    preparation path alone (bench-stages full, no logins) max RSS $(kib "$(get "$f.go_full.rss_kib")")"
  done
  [ "$BIG" = 1 ] || echo "  $BIG_N records: not run (BENCH_BIG=1)"
  echo "  daemon, 4 concurrent logins              VmHWM $(kib "$(get logins.concurrent4_hwm_kib)") (from VmRSS $(get logins.rss_before_kib) KiB)"
  echo "  gpg --decrypt max RSS $(get gpg_decrypt_rss_kib) KiB; go-crypto decrypt alone max RSS $(get "$main.go_decrypt.rss_kib") KiB"
  echo
  echo "targets (issue 3):"
  echo "  preparation / go-crypto decrypt alone, SEIPDv2 machine = $r_go2  (≤ 1.5)  $(get target.prepare_le_1.5x_gocrypto_decrypt.seipdv2_machine)"
  echo "  preparation / go-crypto decrypt alone, SEIPDv1 machine = $r_go  (≤ 1.5)  $(get target.prepare_le_1.5x_gocrypto_decrypt)"
  echo "  preparation / gpg --decrypt, SEIPDv1 machine          = $r_gpg  (≤ 1.5)  $(get target.prepare_le_1.5x_gpg_decrypt)"
  echo "  preparation / shell baseline, SEIPDv1 machine         = $(get ratio_prepare_over_shell)"
  echo "  in CPU seconds: preparation / go-crypto decrypt = $r_go2_cpu (SEIPDv2), $r_go_cpu (SEIPDv1); SEIPDv1 / gpg --decrypt = $r_gpg_cpu"
  for f in "$main" ${big:+"$big"}; do
    n=${f#cards-}; n=${n%%.*}
    echo "  $n records, daemon peak RSS (whole life) = $(calc "$(get "$f.daemon_rss_peak_kib") / 1024" 1) MiB  (< 64 MiB)  $(get "target.daemon_rss_lt_64MiB.$f")"
    [ -n "$(get "target.prepare_path_rss_lt_64MiB.$f")" ] &&
      echo "  $n records, preparation path RSS        = $(calc "$(get "$f.go_full.rss_kib") / 1024" 1) MiB  (< 64 MiB)  $(get "target.prepare_path_rss_lt_64MiB.$f")"
  done
  if [ "$BIG" = 1 ]; then
    echo "  $BIG_N records: prepare $(get "$big.prepare_s") s = $(calc "$(get "$big.records_accepted") / $(get "$big.prepare_s")" 0) records/s, $(calc "$(get "$big.plaintext_bytes") / $(get "$big.prepare_s") / 1e6" 1) MB/s plaintext; upload $(get "$big.upload_s") s"
  fi
  echo
  echo "audit:"
  if [ -n "$(get audit_append_ns_per_entry)" ]; then
    echo "  append, fsynced (go test -bench BenchmarkAppend ./audit): $(get audit_append_per_s) entries/s ($(get audit_append_ns_per_entry) ns each)"
  else
    echo "  append, fsynced (go test -bench BenchmarkAppend ./audit): $(get audit_append_per_s)"
  fi
  echo "  this run's log: $(get audit_run_entries) entries over $(get audit_run_span_s) s; dataprep audit verify $(get audit_run_verify_s) s ($(get audit_run_verify_result))"
  if [ -n "$(get audit_synth_entries)" ]; then
    echo "  synthetic log of $(get audit_synth_entries) entries ($(calc "$(get audit_synth_bytes) / $mib" 1) MiB):"
    echo "    dataprep audit verify   $(get audit_synth_verify_s) s = $(calc "$(get audit_synth_entries) / $(get audit_synth_verify_s)" 0) entries/s, $(calc "$(get audit_synth_bytes) / $(get audit_synth_verify_s) / 1e6" 1) MB/s, max RSS $(get audit_synth_verify_rss_kib) KiB ($(get audit_synth_verify_result))"
    echo "    dataprep-auditverify    $(get audit_synth_auditverify_s) s = $(calc "$(get audit_synth_entries) / $(get audit_synth_auditverify_s)" 0) entries/s, max RSS $(get audit_synth_auditverify_rss_kib) KiB ($(get audit_synth_auditverify_result))"
  fi
  echo "  SIGTERM → daemon exit $(get daemon_stop_s) s, daemon.stop audited: $(get daemon_stop_audited); audit verify afterwards: $(get audit_final_verify)"
  if [ -s "$out/prepare.cpu.top.txt" ]; then
    echo
    echo "CPU profile of the one-process preparation (go tool pprof -top -cum $out/bench-stages.bin $out/prepare.cpu.pprof):"
    sed -n '6,46p' "$out/prepare.cpu.top.txt"
  fi
} | tee "$out/bench-report.txt"

# key=value → JSON (numbers stay numbers)
awk 'BEGIN { print "{" } {
  i = index($0, "="); k = substr($0, 1, i - 1); v = substr($0, i + 1)
  gsub(/\\/, "\\\\", v); gsub(/"/, "\\\"", v)
  if (v !~ /^-?[0-9]+(\.[0-9]+)?$/) v = "\"" v "\""
  printf "%s  \"%s\": %s", (NR > 1 ? ",\n" : ""), k, v
} END { print "\n}" }' "$res" > "$out/bench-results.json"
echo
echo "results: $res (key=value), $out/bench-results.json, $out/bench-report.txt"
