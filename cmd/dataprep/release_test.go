package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataprep/dataprep/formats"
	"github.com/dataprep/dataprep/formats/profile"
)

// expectedOutput is what the default machine layout makes of plain: the
// golden production output, computed by the formats package itself.
func expectedOutput(t *testing.T, plain []byte) []byte {
	ml, err := profile.DefaultMachine("machine-fixed")
	require.NoError(t, err)
	var out bytes.Buffer
	_, err = formats.Prepare(bytes.NewReader(plain), profile.DefaultIssuer(), ml, formats.Options{JobDate: time.Now()}, &out, nil)
	require.NoError(t, err)
	return out.Bytes()
}

// prepareJob drops plain as name, starts it and waits until it is ready.
func (w *world) prepareJob(acme *issuer, fpr string, plain []byte, name string) string {
	return w.prepareJobFor(acme, fpr, plain, name, "emb1")
}

func (w *world) prepareJobFor(acme *issuer, fpr string, plain []byte, name, machine string) string {
	w.t.Helper()
	out, err := acme.put(acme.encrypt(plain, fpr), name)
	require.NoError(w.t, err, out)
	id := w.waitArrival(name)
	var req map[string]any
	w.jsonOK("bob", &req, "job", "start", id, "--machine", machine)
	w.ok("carol", "approve", req["id"].(string))
	j := w.waitJob("bob", id, "ready", "rejected")
	require.Equal(w.t, "ready", j["state"], "%v", j)
	return id
}

func TestReleaseCountsAndSupervisedDeletion(t *testing.T) {
	t.Parallel() // each test owns its world: home, token, ports, sshd
	w, acme, fpr := staffed(t)
	srv := w.machines["emb1"]
	plain1 := syntheticCSV(t, 40, 11)
	j1 := w.prepareJob(acme, fpr, plain1, "batch1.gpg")

	// Only an authorized machine operator releases (invariant 8).
	w.fails("bob", "only a machine-operator", "job", "release", j1, "--machine", "emb1")
	w.person("erin", "machine-operator")
	w.fails("erin", "not authorized on machine emb1", "job", "release", j1, "--machine", "emb1")

	from := w.auditHead()
	w.ok("dave", "job", "release", j1, "--machine", "emb1")
	e := w.audited(from, "job.push", "ok", j1)
	require.Equal(t, "dave", e.Actor)
	require.NotEmpty(t, e.Detail["sha256"])
	remote := srv.LocalPath("dp-" + j1 + ".pgp")
	enc, err := os.ReadFile(remote)
	require.NoError(t, err)
	// The machine's key decrypts it to the golden production output.
	require.Equal(t, string(expectedOutput(t, plain1)), string(w.gpg(enc, "--decrypt")))

	// The gate holds: a second job cannot go to emb1 before j1's supervised deletion.
	plain2 := syntheticCSV(t, 30, 12)
	j2 := w.prepareJob(acme, fpr, plain2, "batch2.gpg")
	w.fails("dave", "still holds job "+j1, "job", "release", j2, "--machine", "emb1")

	// Deletion needs counts first; counts are blind and a difference blocks.
	w.fails("dave", "reports counts first", "job", "delete", j1)
	w.fails("bob", "machine operator", "job", "report", j1, "--good", "40", "--spoiled", "0", "--samples", "0", "--returned-to-vault", "0")
	out := w.ok("dave", "job", "report", j1, "--good", "39", "--spoiled", "1", "--samples", "2", "--returned-to-vault", "5")
	require.Contains(t, out, "do not reconcile")
	require.NotContains(t, out, "40", "the expected count stays hidden")
	w.fails("dave", "already reported", "job", "report", j1, "--good", "40", "--spoiled", "0", "--samples", "0", "--returned-to-vault", "0")
	w.fails("dave", "do not reconcile", "job", "delete", j1)
	w.fails("bob", "a supervisor resolves", "job", "resolve", j1, "--reason", "recounted")
	w.ok("carol", "job", "resolve", j1, "--reason", "one card found in the reject bin, recounted with security")

	var req map[string]any
	w.jsonOK("dave", &req, "job", "delete", j1)
	rid := req["id"].(string)
	w.fails("dave", "own request", "approve", rid)
	w.fails("bob", "needs a supervisor", "approve", rid)
	require.FileExists(t, remote, "nothing deleted before a supervisor approves")
	from = w.auditHead()
	w.ok("carol", "approve", rid)
	require.NoFileExists(t, remote)
	e = w.audited(from, "job.deleted", "ok", j1)
	require.Equal(t, "dave", e.Actor)
	require.Equal(t, "carol", e.Approver)
	require.Equal(t, "emb1", e.Machine)
	require.Equal(t, "true", e.Detail["remote_confirmed_gone"])
	require.NoFileExists(t, filepath.Join(w.home, "spool", "production", j1+".pgp"))
	require.NoFileExists(t, filepath.Join(w.home, "spool", "received", j1+".pgp"))
	rcpt, err := os.ReadFile(filepath.Join(w.home, "drop", "acme", "outbox", j1+"-deletion-receipt.txt.asc"))
	require.NoError(t, err)
	w.gpg(rcpt, "--verify") // the bank's auditor checks it with stock gpg
	require.Contains(t, string(rcpt), "approved by:   carol")

	// A file put back on the machine by hand blocks the next release.
	require.NoError(t, os.WriteFile(srv.LocalPath("dp-J999999.pgp"), []byte("left by hand"), 0o644))
	w.fails("dave", "dp-J999999.pgp is on the machine", "job", "release", j2, "--machine", "emb1")
	require.NoError(t, os.Remove(srv.LocalPath("dp-J999999.pgp")))

	// Now the next job goes.
	w.ok("dave", "job", "release", j2, "--machine", "emb1")
	enc2, err := os.ReadFile(srv.LocalPath("dp-" + j2 + ".pgp"))
	require.NoError(t, err)
	require.Equal(t, string(expectedOutput(t, plain2)), string(w.gpg(enc2, "--decrypt")))
	w.fails("dave", "is pushed", "job", "release", j2, "--machine", "emb1") // never doubled

	// A rejected job is deleted the same way (no machine involved).
	out2, err := acme.put([]byte("garbage, not openpgp"), "junk.gpg")
	require.NoError(t, err, out2)
	j3 := w.waitArrival("junk.gpg")
	w.startJob(j3)
	w.waitJob("bob", j3, "rejected")
	w.jsonOK("bob", &req, "job", "delete", j3)
	w.ok("carol", "approve", req["id"].(string))
	require.NoFileExists(t, filepath.Join(w.home, "quarantine", j3+".pgp"))

	w.stop()
	o, err := w.cli("", "audit", "verify")
	require.NoError(t, err, o)
	assertNoPAN(t, w, append(plain1, plain2...))
}

func TestReleaseFaults(t *testing.T) {
	t.Parallel() // each test owns its world: home, token, ports, sshd
	w, acme, fpr := staffed(t)
	srv := w.machines["emb1"]
	j1 := w.prepareJob(acme, fpr, syntheticCSV(t, 10, 21), "f1.gpg")

	// Machine unreachable: a clear error, an audit entry, the job stays ready.
	srv.Stop()
	from := w.auditHead()
	w.fails("dave", "unreachable", "job", "release", j1, "--machine", "emb1")
	w.audited(from, "job.push", "failed", "unreachable")
	require.Equal(t, "ready", w.waitJob("bob", j1, "ready")["state"])
	srv.Restart()

	// A production file changed in the spool after preparation is not pushed (invariant 6).
	prod := filepath.Join(w.home, "spool", "production", j1+".pgp")
	orig, err := os.ReadFile(prod)
	require.NoError(t, err)
	bad := append([]byte(nil), orig...)
	bad[len(bad)/2] ^= 1
	require.NoError(t, os.WriteFile(prod, bad, 0o600))
	w.fails("dave", "changed since preparation", "job", "release", j1, "--machine", "emb1")
	require.NoError(t, os.WriteFile(prod, orig, 0o600))

	// Wrong pinned host key: emb2 is registered at emb1's address with
	// another key pinned. The release is refused, says so, writes nothing.
	kf := filepath.Join(w.dir, "other-host-key")
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", kf).CombinedOutput()
	require.NoError(t, err, string(out))
	otherKey, err := os.ReadFile(kf + ".pub")
	require.NoError(t, err)
	w.registerMachine("emb2", srv, string(otherKey))
	w.ok("alice", "machine", "authorize", "emb2", "--operator", "dave")
	j2 := w.prepareJobFor(acme, fpr, syntheticCSV(t, 10, 22), "f2.gpg", "emb2")
	from = w.auditHead()
	w.fails("dave", "host key changed", "job", "release", j2, "--machine", "emb2")
	w.audited(from, "job.push", "failed", "host key")
	require.NoFileExists(t, srv.LocalPath("dp-"+j2+".pgp"))

	// After the faults, the good path still works.
	w.ok("dave", "job", "release", j1, "--machine", "emb1")
	require.FileExists(t, srv.LocalPath("dp-"+j1+".pgp"))
	o, err := w.cli("", "audit", "verify")
	require.NoError(t, err, o)
}
