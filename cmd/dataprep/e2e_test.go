package main

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/formats/testgen"
	"github.com/dataprep/dataprep/transport/machine/sshdtest"
)

// syntheticCSV is an issuer file of n synthetic, Luhn-valid test records.
func syntheticCSV(t *testing.T, n int, seed int64) []byte {
	var b bytes.Buffer
	require.NoError(t, testgen.CSV(&b, n, seed))
	return b.Bytes()
}

// waitArrival polls until a job for file name exists and returns its id.
func (w *world) waitArrival(name string) string {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var js []map[string]any
		w.jsonOK("bob", &js, "job", "list")
		for _, j := range js {
			if j["file_name"] == name {
				return j["id"].(string)
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no job for %s\n%s", name, w.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startJob runs the two-person start: bob asks, carol approves.
func (w *world) startJob(id string) {
	w.t.Helper()
	var req map[string]any
	w.jsonOK("bob", &req, "job", "start", id, "--machine", "emb1")
	rid, _ := req["id"].(string)
	require.Regexp(w.t, `^R\d{6}$`, rid)
	w.ok("carol", "approve", rid)
}

// staffed is a world with the bureau's people, one registered issuer and
// one machine (a real sshd) on which dave is authorized.
func staffed(t *testing.T) (*world, *issuer, string) {
	w := newWorld(t)
	w.person("bob", "operator")
	w.person("carol", "supervisor")
	w.person("dave", "machine-operator")
	acme := w.newIssuer("acme")
	acme.register()
	w.addMachine("emb1")
	w.ok("alice", "machine", "authorize", "emb1", "--operator", "dave")
	return w, acme, w.dataRoomCert()
}

// addMachine starts a real sshd as the machine's computer, makes the
// machine's OpenPGP key in gpg, and registers it.
func (w *world) addMachine(name string) *sshdtest.Server {
	w.t.Helper()
	srv := sshdtest.Start(w.t)
	w.registerMachine(name, srv, srv.HostKeyLine())
	return srv
}

// registerMachine registers srv as machine name, pinning hostKey.
func (w *world) registerMachine(name string, srv *sshdtest.Server, hostKey string) {
	w.t.Helper()
	uid := "test-only-machine-" + name + "@example.invalid"
	w.gpg(nil, "--quick-gen-key", "Test machine "+name+" <"+uid+">", "ed25519", "sign", "never")
	fpr := w.fingerprint(uid)
	w.gpg(nil, "--quick-add-key", fpr, "cv25519", "encr", "never")
	cert := filepath.Join(w.dir, name+"-machine.asc")
	require.NoError(w.t, os.WriteFile(cert, w.gpg(nil, "--armor", "--export", uid), 0o644))
	w.ok("alice", "machine", "add", name, "--sftp", srv.User+"@"+srv.Addr, "--dir", srv.Dir,
		"--host-key", hostKey, "--ssh-key", srv.ClientKeyFile, "--pgp-key", cert)
	if w.machines == nil {
		w.machines = map[string]*sshdtest.Server{}
	}
	w.machines[name] = srv
}

// fingerprint is the primary key fingerprint of a gpg key.
func (w *world) fingerprint(uid string) string {
	out := string(w.gpg(nil, "--with-colons", "--list-keys", uid))
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "fpr:") {
			f := strings.Split(l, ":")
			return f[9]
		}
	}
	w.t.Fatalf("no fingerprint for %s", uid)
	return ""
}

func TestEndToEndFoundation(t *testing.T) {
	t.Parallel() // each test owns its world: home, token, ports, sshd
	w, acme, fpr := staffed(t)
	plain := syntheticCSV(t, 250, 1)
	out, err := acme.put(acme.encrypt(plain, fpr), "cards-0001.csv.gpg")
	require.NoError(t, err, out)
	id := w.waitArrival("cards-0001.csv.gpg")
	w.waitJob("bob", id, "received")

	// Dual control: bob asks, bob may not approve, dave (machine operator) may not, carol may.
	var req map[string]any
	w.jsonOK("bob", &req, "job", "start", id)
	rid := req["id"].(string)
	w.fails("bob", "own request", "approve", rid)
	w.fails("dave", "not allowed", "approve", rid)
	require.Contains(t, w.ok("carol", "request", "list"), rid)
	w.ok("carol", "approve", rid)
	j := w.waitJob("bob", id, "ready", "rejected")
	require.Equal(t, "ready", j["state"], "%v\n%s", j, w.stderr.String())
	counts := j["counts"].(map[string]any)
	require.EqualValues(t, 250, counts["read"])

	// Counts are blind for the machine operator (invariant 9).
	var dj map[string]any
	w.jsonOK("dave", &dj, "job", "show", id)
	require.NotContains(t, dj, "counts")
	require.NotContains(t, dj, "output_size", "a size is a count in disguise")
	require.NotContains(t, w.ok("dave", "job", "show", id), "records")

	// The issuer finds a signed report in its outbox and gpg verifies it.
	out, err = acme.sftp("cd outbox\nls\n")
	require.NoError(t, err, out)
	require.Contains(t, out, id+"-report.txt.asc")
	rep, err := os.ReadFile(filepath.Join(w.home, "drop", "acme", "outbox", id+"-report.txt.asc"))
	require.NoError(t, err)
	w.gpg(rep, "--verify")

	// The production file decrypts, with the machine's key, to the golden output.
	enc, err := os.ReadFile(filepath.Join(w.home, "spool", "production", id+".pgp"))
	require.NoError(t, err)
	require.Equal(t, string(expectedOutput(t, plain)), string(w.gpg(enc, "--decrypt")))

	// Operations: watch, status and metrics.
	require.Contains(t, w.ok("bob", "job", "watch", id), id+" ready")
	st := w.ok("bob", "status")
	require.Contains(t, st, "hsm:       ok")
	require.Contains(t, st, "emb1 reachable")
	resp, err := http.Get("http://" + w.metrics + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), `dataprep_jobs{state="ready"} 1`)
	require.Contains(t, string(body), "dataprep_records_prepared_total 250")

	w.stop()
	out, err = w.cli("", "audit", "verify")
	require.NoError(t, err, out)
	require.Contains(t, out, "ok: ")
	require.Contains(t, out, "signed checkpoints verified")
	assertNoPAN(t, w, plain)
	checkAuditTamperEvidence(t, w)
}

// checkAuditTamperEvidence works on copies of the daemon's log, as an
// auditor would: a changed entry, and a tail cut off after a checkpoint kept
// elsewhere, are both caught (invariant 10).
func checkAuditTamperEvidence(t *testing.T, w *world) {
	ckpt := filepath.Join(w.dir, "kept-elsewhere.checkpoint")
	w.ok("", "audit", "checkpoint", "export", "--out", ckpt)
	out := w.ok("", "audit", "verify", "--against", ckpt)
	require.Contains(t, out, "extends the checkpoint")

	files, _ := filepath.Glob(filepath.Join(w.home, "audit", "*.jsonl"))
	require.NotEmpty(t, files)
	last := files[len(files)-1]
	raw, err := os.ReadFile(last)
	require.NoError(t, err)
	lines := bytes.SplitAfter(raw, []byte("\n"))
	copyWith := func(name string, data []byte) string {
		dir := filepath.Join(w.dir, name)
		require.NoError(t, os.MkdirAll(dir, 0o700))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600))
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(last)), data, 0o600))
		return dir
	}
	// A changed entry in the middle: "actor":"bob" becomes "actor":"eve".
	changed := bytes.Replace(raw, []byte(`"actor":"bob"`), []byte(`"actor":"eve"`), 1)
	require.NotEqual(t, raw, changed)
	w.fails("", "audit log broken at", "audit", "verify", "--dir", copyWith("changed", changed))
	// A removed entry.
	removed := bytes.Join(append(append([][]byte{}, lines[:5]...), lines[6:]...), nil)
	w.fails("", "audit log broken at", "audit", "verify", "--dir", copyWith("removed", removed))
	// Two entries swapped.
	swapped := append([][]byte{}, lines...)
	swapped[5], swapped[6] = swapped[6], swapped[5]
	w.fails("", "audit log broken at", "audit", "verify", "--dir", copyWith("swapped", bytes.Join(swapped, nil)))
	// The tail cut off: caught against the checkpoint kept elsewhere.
	cut := bytes.Join(lines[:len(lines)/2], nil)
	w.fails("", "", "audit", "verify", "--dir", copyWith("cut", cut), "--against", ckpt)
}

// assertNoPAN fails if any test PAN from plain appears in any file under the
// world (home, TMPDIR, logs) or in anything the CLI or daemon printed.
func assertNoPAN(t *testing.T, w *world, plain []byte) {
	t.Helper()
	pans := map[string]bool{}
	for _, m := range regexp.MustCompile(`\b\d{12,19}\b`).FindAll(plain, -1) {
		if audit.ContainsPAN(string(m)) {
			pans[string(m)] = true
		}
	}
	require.NotEmpty(t, pans)
	check := func(where string, data []byte) {
		for p := range pans {
			if bytes.Contains(data, []byte(p)) {
				t.Fatalf("test PAN %s…%s found in %s", p[:6], p[len(p)-4:], where)
			}
		}
	}
	check("CLI output", []byte(w.outputs.String()))
	check("daemon log", []byte(w.stderr.String()))
	filepath.WalkDir(w.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(filepath.Base(path), "upload-") {
			return nil
		}
		if d.Type().IsRegular() {
			data, _ := os.ReadFile(path)
			check(path, data)
		}
		return nil
	})
}

// TestWatchedDropDirectory: for bureaus that keep OpenSSH in front, a plain
// directory per issuer is watched (fsnotify) instead of the built-in drop.
func TestWatchedDropDirectory(t *testing.T) {
	t.Parallel()
	w, acme, fpr := staffed(t)
	watch := filepath.Join(w.dir, "openssh-drop")
	require.NoError(t, os.MkdirAll(filepath.Join(watch, "acme"), 0o700))
	w.stop()
	w.editConfig("[drop]\n", "[drop]\nwatch_dir = '"+watch+"'\n")
	// A file already there when the daemon starts is taken too.
	early := acme.encrypt(syntheticCSV(t, 3, 31), fpr)
	require.NoError(t, os.WriteFile(filepath.Join(watch, "acme", "early.gpg"), early, 0o600))
	w.start()
	id := w.waitArrival("early.gpg")
	// One renamed into the directory, as OpenSSH's sftp-server with a temp name does.
	tmp := filepath.Join(watch, "acme", ".upload.tmp")
	require.NoError(t, os.WriteFile(tmp, acme.encrypt(syntheticCSV(t, 4, 32), fpr), 0o600))
	require.NoError(t, os.Rename(tmp, filepath.Join(watch, "acme", "renamed.gpg")))
	w.waitArrival("renamed.gpg")
	w.startJob(id)
	require.Equal(t, "ready", w.waitJob("bob", id, "ready", "rejected")["state"])
	require.NoFileExists(t, filepath.Join(watch, "acme", "early.gpg"), "the file moved into the spool")
}
