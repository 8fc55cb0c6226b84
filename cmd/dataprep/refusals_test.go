package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataprep/dataprep/audit"
)

// auditEntries reads the world's audit log as an auditor would.
func (w *world) auditEntries() []audit.Entry {
	w.t.Helper()
	files, _ := filepath.Glob(filepath.Join(w.home, "audit", "*.jsonl"))
	sort.Strings(files)
	var out []audit.Entry
	for _, f := range files {
		fh, err := os.Open(f)
		require.NoError(w.t, err)
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e audit.Entry
			require.NoError(w.t, json.Unmarshal(sc.Bytes(), &e))
			out = append(out, e)
		}
		fh.Close()
	}
	return out
}

// audited asserts that an entry with event and outcome exists after seq from
// and whose detail/reason mentions want; it returns the entry.
func (w *world) audited(from uint64, event, outcome, want string) audit.Entry {
	w.t.Helper()
	es := w.auditEntries()
	for _, e := range es {
		if e.Seq <= from || e.Event != event || e.Outcome != outcome {
			continue
		}
		raw, _ := json.Marshal(e)
		if strings.Contains(string(raw), want) {
			return e
		}
	}
	w.t.Fatalf("no audit entry %s/%s mentioning %q after seq %d", event, outcome, want, from)
	return audit.Entry{}
}

func (w *world) auditHead() uint64 {
	es := w.auditEntries()
	if len(es) == 0 {
		return 0
	}
	return es[len(es)-1].Seq
}

// TestRefusedFiles: every bad file ends rejected with a clear reason, in
// quarantine, with an audit entry and a signed report, and the daemon serves on.
func TestRefusedFiles(t *testing.T) {
	t.Parallel() // each test owns its world: home, token, ports, sshd
	w, acme, fpr := staffed(t)
	other := w.newIssuer("other-bank") // has keys but is not registered
	stranger := w.gpg(nil, "--quick-gen-key", "Not the data room <test-only-stranger@example.invalid>", "rsa2048", "encrypt", "never")
	_ = stranger
	plain := syntheticCSV(t, 20, 2)
	good := acme.encrypt(plain, fpr)

	flipped := append([]byte(nil), good...)
	flipped[len(flipped)*2/3] ^= 0x40

	cases := []struct {
		name, file, want string
		data             []byte
	}{
		{"wrong recipient", "wrong-recipient.gpg", "not encrypted to this data room's key",
			acme.w.gpg(plain, "--sign", "--encrypt", "-u", acme.email, "-r", "test-only-stranger@example.invalid", "--output", "-")},
		{"unsigned", "unsigned.gpg", "not signed", w.gpg(plain, "--encrypt", "-r", fpr, "--output", "-")},
		{"signed by another issuer", "other-signer.gpg", "not this issuer's registered signing key", other.encrypt(plain, fpr)},
		{"flipped ciphertext byte", "flipped.gpg", "corrupt, truncated or was changed", flipped},
		{"truncated", "truncated.gpg", "corrupt, truncated or was changed", good[:len(good)/2]},
		{"garbage", "garbage.gpg", "corrupt, truncated or was changed", []byte(strings.Repeat("not openpgp at all\n", 50))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			from := w.auditHead()
			out, err := acme.put(c.data, c.file)
			require.NoError(t, err, out)
			id := w.waitArrival(c.file)
			w.startJob(id)
			j := w.waitJob("bob", id, "rejected", "ready")
			require.Equal(t, "rejected", j["state"])
			require.Contains(t, j["reason"], c.want)
			require.NotContains(t, j["reason"], "padding", "no crypto internals in reasons")
			if c.name == "truncated" {
				// A transfer cut short is said to be one, and does not count
				// towards the hold on an issuer's starts.
				require.Contains(t, j["reason"], "cut short")
				require.NotContains(t, j, "crypto_failure")
			}
			e := w.audited(from, "job.rejected", "failed", c.want)
			require.Equal(t, id, e.Job)
			require.FileExists(t, filepath.Join(w.home, "quarantine", id+".pgp"))
			require.NoFileExists(t, filepath.Join(w.home, "spool", "received", id+".pgp"))
			rep, err := os.ReadFile(filepath.Join(w.home, "drop", "acme", "outbox", id+"-report.txt.asc"))
			require.NoError(t, err)
			require.Contains(t, string(rep), c.want)
			w.gpg(rep, "--verify")
		})
	}

	t.Run("duplicate", func(t *testing.T) {
		from := w.auditHead()
		out, err := acme.put(good, "first.gpg")
		require.NoError(t, err, out)
		w.waitArrival("first.gpg")
		out, err = acme.put(good, "again.gpg")
		require.NoError(t, err, out)
		e := w.audited(from, "file.duplicate", "refused", "again.gpg")
		require.Contains(t, e.Detail["reason"], "duplicate")
		var js []map[string]any
		w.jsonOK("bob", &js, "job", "list")
		for _, j := range js {
			require.NotEqual(t, "again.gpg", j["file_name"], "a duplicate must not become a job")
		}
	})

	t.Run("unknown ssh key", func(t *testing.T) {
		from := w.auditHead()
		out, err := other.put(good, "x.gpg")
		require.Error(t, err, out)
		w.audited(from, "drop.refused", "refused", "")
	})

	t.Run("path escape and symlink over sftp", func(t *testing.T) {
		from := w.auditHead()
		local := filepath.Join(w.dir, "escape")
		require.NoError(t, os.WriteFile(local, good, 0o600))
		for _, batch := range []string{
			"put " + local + " ../../escape.gpg\n",
			"put " + local + " /etc/escape.gpg\n",
			"cd incoming\nsymlink /etc/passwd link\n",
			"cd ..\ncd ..\nls\n",
		} {
			out, err := acme.sftp(batch)
			require.Error(t, err, "%s\n%s", batch, out)
		}
		require.NoFileExists(t, filepath.Join(w.home, "escape.gpg"))
		require.NoFileExists(t, filepath.Join(w.home, "drop", "escape.gpg"))
		w.audited(from, "drop.refused", "refused", "acme")
	})

	// After all of it the daemon still serves a good file.
	t.Run("still serving", func(t *testing.T) {
		plain2 := syntheticCSV(t, 5, 3)
		out, err := acme.put(acme.encrypt(plain2, fpr), "after.gpg")
		require.NoError(t, err, out)
		id := w.waitArrival("after.gpg")
		w.startJob(id)
		require.Equal(t, "ready", w.waitJob("bob", id, "ready", "rejected")["state"])
	})
	out, err := w.cli("", "audit", "verify")
	require.NoError(t, err, out)
}

// TestPeopleRefusals: self-approval, wrong roles, wrong passphrase and lockout.
func TestPeopleRefusals(t *testing.T) {
	t.Parallel() // each test owns its world: home, token, ports, sshd
	w, acme, fpr := staffed(t)
	out, err := acme.put(acme.encrypt(syntheticCSV(t, 3, 4), fpr), "p.gpg")
	require.NoError(t, err, out)
	id := w.waitArrival("p.gpg")

	from := w.auditHead()
	w.fails("carol", "may not request job.start", "job", "start", id) // a supervisor approves, does not ask
	w.audited(from, "request.create", "refused", "may not request")
	w.fails("dave", "may not request job.start", "job", "start", id)

	var req map[string]any
	w.jsonOK("bob", &req, "job", "start", id)
	rid := req["id"].(string)
	w.fails("bob", "already waits", "job", "start", id) // one pending start per job
	from = w.auditHead()
	w.fails("bob", "nobody approves their own request", "approve", rid)
	w.audited(from, "request.approve", "refused", "own request")
	w.fails("dave", "needs a operator or supervisor", "approve", rid)
	w.fails("alice", "needs a operator or supervisor", "approve", rid)
	w.fails("bob", "--reason", "deny", rid)
	w.ok("carol", "deny", rid, "--reason", "wrong batch, wait for the corrected file")
	w.fails("carol", "not pending", "approve", rid)
	w.audited(from, "request.deny", "ok", "wrong batch")

	// Wrong passphrase: one line, same text as an unknown user, audited; lockout after 5.
	w.secret("mallory", "not a real account at all")
	w.fails("mallory", "authentication failed", "job", "list")
	from = w.auditHead()
	w.secret("bob-wrong", "bob's wrong passphrase")
	for i := 0; i < 5; i++ {
		out, err := w.cli("", "job", "list", "--user", "bob", "--passphrase-file", w.passFile("bob-wrong"))
		require.Error(t, err, out)
		require.Contains(t, out, "authentication failed")
	}
	w.audited(from, "account.locked", "ok", "until")
	w.fails("bob", "account locked", "job", "list") // even the right passphrase is refused now
	w.audited(from, "login", "refused", "locked")

	// Bootstrap ends once two administrators exist.
	w.person("erin", "admin")
	var o map[string]any
	w.secret("frank", "an auditor's first passphrase")
	w.jsonOK("alice", &o, "user", "add", "frank", "--role", "auditor", "--initial-passphrase-file", w.passFile("frank"))
	require.Regexp(t, `^R\d{6}$`, o["id"], "with two admins, user add is a request")
	w.fails("alice", "own request", "approve", o["id"].(string))
	w.ok("erin", "approve", o["id"].(string))

	// A leaver: disabling dave (dual-controlled now) stops his sign-in and
	// withdraws him from emb1.
	w.jsonOK("alice", &o, "user", "disable", "dave")
	w.fails("alice", "own request", "approve", o["id"].(string))
	w.ok("erin", "approve", o["id"].(string))
	w.fails("dave", "disabled", "job", "list")
	require.NotContains(t, w.ok("alice", "machine", "list"), "dave")
	out, err = w.cli("", "audit", "verify")
	require.NoError(t, err, out)
}
