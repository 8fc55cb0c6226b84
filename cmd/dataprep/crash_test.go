package main

// Crash recovery: the daemon is killed with SIGKILL at named points of a
// job's life (pipeline/failpoint), restarted, checked, and the job finished.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// crashPoints are the places the daemon dies, one job life each. "@N" is
// the N-th hit since the daemon started. Every audit append of a job's life
// is a kill point before and after its fsync.
func crashPoints() []string {
	pts := []string{
		"arrival.hashed", "arrival.recorded", "arrival.audited",
		"request.marked@1", "request.approved@1", "prepare.started",
		"prepare.reading@1", "prepare.reading@2", "prepare.encrypted", "prepare.renamed",
		"prepare.audited", "prepare.reported", "prepare.ready", "report.signed@1",
		"push.gated", "push.uploaded", "push.audited", "counts.audited",
		"request.marked@2", "request.approved@2", "delete.remote", "delete.spool", "delete.audited", "report.signed@2",
	}
	for n := 1; n <= 31; n += 2 { // a job's life is about 33 appends
		pts = append(pts, fmt.Sprintf("audit.before@%d", n), fmt.Sprintf("audit.after@%d", n))
	}
	return pts
}

func TestCrashRecovery(t *testing.T) {
	t.Parallel() // each test owns its world: home, token, ports, sshd
	if testing.Short() {
		t.Skip("the crash harness takes minutes; make test runs it")
	}
	w, acme, fpr := staffed(t)
	srv := w.machines["emb1"]
	var notHit []string
	var all []byte
	points := crashPoints()
	if only := os.Getenv("CRASH_POINTS"); only != "" {
		points = strings.Split(only, ",")
	}
	for i, point := range points {
		plain := syntheticCSV(t, 8, int64(1000+i))
		all = append(all, plain...)
		data := acme.encrypt(plain, fpr)
		name := fmt.Sprintf("crash-%02d.gpg", i)

		w.stop()
		w.daemonEnv = []string{"DATAPREP_FAILPOINT=" + point}
		died := !w.startMayDie() || w.live(acme, name, data)
		if !died {
			notHit = append(notHit, point)
		}
		w.stop()
		w.daemonEnv = nil
		t.Logf("restart after %s (died: %v)", point, died)
		w.start()
		w.checkInvariants(t, point, srv.Dir, name)
		require.False(t, w.live(acme, name, data), "after %s the job must finish without the failpoint", point)
		w.checkInvariants(t, point+" (finished)", srv.Dir, name)
	}
	require.Empty(t, notHit, "failpoints never reached: the harness does not cover them")
	w.stop()
	assertNoPAN(t, w, all)
}

// dead reports whether the daemon process has exited.
func (w *world) dead() bool {
	select {
	case err := <-w.done:
		w.done <- err
		return true
	default:
		return false
	}
}

// live drives the job of file name through its whole life, from wherever it
// is, until it is closed (false) or the daemon died on the way (true).
func (w *world) live(acme *issuer, name string, data []byte) bool {
	t := w.t
	t.Helper()
	var j map[string]any
	for step := 0; step < 200; step++ {
		if w.dead() {
			return true
		}
		j = w.findJob(name)
		if w.dead() {
			return true
		}
		switch {
		case j == nil:
			if _, err := os.Stat(filepath.Join(w.home, "drop", "acme", "incoming", name)); err == nil {
				time.Sleep(50 * time.Millisecond) // the daemon takes it at start or on arrival
				continue
			}
			acme.put(data, name)
		case j["state"] == "received":
			if rid := w.pendingRequest("job.start", j["id"].(string)); rid != "" {
				w.cli("carol", "approve", rid)
			} else {
				w.cli("bob", "job", "start", j["id"].(string), "--machine", "emb1")
			}
		case j["state"] == "preparing":
			time.Sleep(50 * time.Millisecond)
		case j["state"] == "ready":
			w.cli("dave", "job", "release", j["id"].(string), "--machine", "emb1")
		case j["state"] == "pushed":
			id := j["id"].(string)
			if j["reported"] == nil {
				var full map[string]any
				if out, err := w.cli("bob", "job", "show", id, "--json"); err == nil && json.Unmarshal([]byte(out), &full) == nil {
					good := full["counts"].(map[string]any)["accepted"].(float64)
					w.cli("dave", "job", "report", id, "--good", fmt.Sprint(int(good)), "--spoiled", "0", "--samples", "0", "--returned-to-vault", "0")
				}
			} else if rid := w.pendingRequest("job.delete", id); rid != "" {
				w.cli("carol", "approve", rid)
			} else {
				w.cli("dave", "job", "delete", id)
			}
		case j["state"] == "closed":
			return false
		default:
			t.Fatalf("job %v is %v: %v\n%s", j["id"], j["state"], j["reason"], w.stderr.String())
		}
	}
	t.Fatalf("job %s did not finish: %v\n%s", name, j, w.stderr.String()[max(0, len(w.stderr.String())-3000):])
	return false
}

// findJob is the job of file name, or nil.
func (w *world) findJob(name string) map[string]any {
	out, err := w.cli("bob", "job", "list", "--json")
	if err != nil {
		return nil
	}
	var js []map[string]any
	if json.Unmarshal([]byte(out), &js) != nil {
		return nil
	}
	var found map[string]any
	for _, j := range js {
		if j["file_name"] == name {
			require.Nil(w.t, found, "two jobs for %s: a job was duplicated", name)
			found = j
		}
	}
	return found
}

func (w *world) pendingRequest(action, target string) string {
	out, err := w.cli("carol", "request", "list", "--json")
	if err != nil {
		return ""
	}
	var rs []map[string]any
	json.Unmarshal([]byte(out), &rs)
	for _, r := range rs {
		if r["action"] == action && r["target"] == target {
			return r["id"].(string)
		}
	}
	return ""
}

// checkInvariants: the audit log verifies; no job is lost or duplicated;
// the machine holds at most one of our files, never a half one under a final
// name, and only one the state knows about; nothing in the home is plaintext.
func (w *world) checkInvariants(t *testing.T, when, remoteDir, name string) {
	t.Helper()
	out, err := w.cli("", "audit", "verify")
	require.NoError(t, err, "after %s: %s", when, out)
	var js []map[string]any
	w.jsonOK("bob", &js, "job", "list")
	seen := map[string]bool{}
	byID := map[string]map[string]any{}
	for _, j := range js {
		sum := j["sha256"].(string)
		require.False(t, seen[sum], "after %s: two jobs with one file", when)
		seen[sum] = true
		byID[j["id"].(string)] = j
		if j["file_name"] != name {
			require.Equal(t, "closed", j["state"], "after %s: an earlier job %v is not closed", when, j["id"])
		}
	}
	ents, err := os.ReadDir(remoteDir)
	require.NoError(t, err)
	finals := 0
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "dp-") {
			continue
		}
		finals++
		id := strings.TrimSuffix(strings.TrimPrefix(e.Name(), "dp-"), ".pgp")
		j := byID[id]
		require.NotNil(t, j, "after %s: %s on the machine belongs to no job", when, e.Name())
		require.Contains(t, []string{"ready", "pushed"}, j["state"], "after %s: %s on the machine but the job is %v", when, e.Name(), j["state"])
		raw, err := os.ReadFile(filepath.Join(remoteDir, e.Name()))
		require.NoError(t, err)
		h := sha256.Sum256(raw)
		require.Equal(t, j["output_sha256"], hex.EncodeToString(h[:]), "after %s: a file under a final name that is not the prepared one", when)
	}
	require.LessOrEqual(t, finals, 1, "after %s: more than one production file on the machine", when)
	var ms []map[string]any
	w.jsonOK("bob", &ms, "machine", "list")
	for _, m := range ms {
		if cur, _ := m["current_job"].(string); cur != "" {
			require.Equal(t, "pushed", byID[cur]["state"], "after %s: the machine holds %s, which is not pushed", when, cur)
		}
	}
}
