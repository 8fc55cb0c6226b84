package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataprep/dataprep/audit"
)

// askAndApprove makes a record request as user, checks that --json printed
// it with its id, and has carol (supervisor) approve it.
func (w *world) askAndApprove(user string, args ...string) string {
	w.t.Helper()
	var req map[string]any
	w.jsonOK(user, &req, args...)
	rid, _ := req["id"].(string)
	require.Regexp(w.t, `^R\d{6}$`, rid, "%v", req)
	require.Equal(w.t, "pending", req["state"])
	return w.ok("carol", "approve", rid)
}

// TestRecordsAndReports drives the bureau's control records and reports
// through the real binary around one full job.
func TestRecordsAndReports(t *testing.T) {
	t.Parallel() // each test owns its world: home, token, ports, sshd
	w, acme, fpr := staffed(t)
	month := time.Now().UTC().Format("2006-01")
	first, _ := time.Parse("2006-01", month)
	prev := first.AddDate(0, -1, 0).Format("2006-01")

	plain := syntheticCSV(t, 40, 31)
	j := w.prepareJob(acme, fpr, plain, "records.gpg")
	var job map[string]any
	w.jsonOK("bob", &job, "job", "show", j)
	w.ok("dave", "job", "release", j, "--machine", "emb1")
	w.ok("dave", "job", "report", j, "--good", "40", "--spoiled", "1", "--samples", "2", "--returned-to-vault", "5")

	// Production: the machine operator asks, a supervisor reviews. The
	// customer and the equipment come from the job, the names from the sessions.
	prod := []string{"record", "production", j, "--product", "GOLD-CHIP", "--issued-from-vault", "48", "--handed-over", "40",
		"--returned-to-vault", "5", "--rejected", "1", "--samples", "2", "--equipment-log", "log book 7 page 12, counter 10400-10448"}
	w.fails("carol", "supervisor may not request record.production", prod...)
	w.fails("dave", "--product, --issued-from-vault, --handed-over", "record", "production", j)
	var req map[string]any
	w.jsonOK("dave", &req, prod...)
	rid := req["id"].(string)
	require.Equal(t, "record.production", req["action"])
	require.Equal(t, j, req["target"])
	w.fails("dave", "own request", "approve", rid)
	w.fails("bob", "needs a supervisor", "approve", rid)
	shown := w.ok("carol", "record", "show", rid)
	require.Contains(t, shown, `"operator": "dave"`)
	require.Contains(t, shown, `"customer": "acme"`)
	require.Contains(t, shown, `"equipment": "emb1"`)
	require.Contains(t, w.ok("carol", "approve", rid), "reviewer carol")

	// Equipment failure: the operator asks, a supervisor reviews.
	at := time.Now().Add(-2 * time.Hour).Format("2006-01-02 15:04")
	require.Contains(t, w.askAndApprove("dave", "record", "failure", "--type", "blockage", "--job", j,
		"--cause", "card jam in the embosser feed", "--at", at), "equipment blockage of emb1 recorded")
	w.fails("dave", "type must be failure or blockage", "record", "failure", "--type", "smoke", "--job", j, "--cause", "x")

	// Destruction: at least three witnesses from production, security and
	// the warehouse, none of them the executor.
	destroy := []string{"record", "destruction", "--job", j, "--product", "GOLD-CHIP", "--source", "production", "--count", "1", "--method", "shredder S2"}
	w.fails("bob", "must be at least 3", append(destroy, "--witness", "Pat Lee:production", "--witness", "Sam Roe:security")...)
	w.fails("bob", "no witness from warehouse", append(destroy, "--witness", "Pat Lee:production", "--witness", "Sam Roe:security",
		"--witness", "Lou Fay:security")...)
	w.fails("bob", "is the executor", append(destroy, "--witness", "Pat Lee:production", "--witness", "Sam Roe:security",
		"--witness", "Bob:warehouse")...)
	w.fails("bob", `want "Name:department"`, append(destroy, "--witness", "Pat Lee")...)
	require.Contains(t, w.askAndApprove("bob", append(destroy, "--witness", "Pat Lee:production", "--witness", "Sam Roe:Security",
		"--witness", "Kim Poe:warehouse")...), "executor bob, 3 witnesses, approved by carol")

	// Spot check: one signature, written at once.
	require.Contains(t, w.ok("bob", "record", "spot-check", "--job", j, "--sample-size", "10", "--defects", "0", "--result", "pass"), "inspected by bob")
	w.fails("dave", "operator or a supervisor", "record", "spot-check", "--job", j, "--sample-size", "10", "--defects", "0", "--result", "pass")

	// The vault: last month's closing count, a delivery, a return, this month's count.
	w.askAndApprove("bob", "record", "vault-count", prev, "--product", "GOLD-CHIP", "--counted", "1000")
	w.askAndApprove("dave", "record", "vault-in", "--product", "GOLD-CHIP", "--quantity", "500", "--reference", "DN-2026-118")
	require.Contains(t, w.askAndApprove("bob", "record", "vault-out", "--product", "GOLD-CHIP", "--quantity", "100", "--reference", "RET-7"),
		"counter-signed by carol")
	// 1000 + 500 - 100 - 43 used (40 good, 1 spoiled, 2 samples) = 1357.
	require.Contains(t, w.askAndApprove("bob", "record", "vault-count", month, "--product", "GOLD-CHIP", "--counted", "1357"),
		"witnessed by carol")
	w.fails("bob", "month must be written YYYY-MM", "record", "vault-count", "2026-1", "--product", "GOLD-CHIP", "--counted", "1")

	// The job's production control record.
	txt := w.ok("bob", "report", "job", j)
	for _, want := range []string{"PRODUCTION CONTROL RECORD — job " + j, job["sha256"].(string), job["output_sha256"].(string),
		"GOLD-CHIP", "acme", "emb1", "dave", "carol", "bob", "log book 7 page 12", "destruction", "spot check", "equipment blockage"} {
		require.Contains(t, txt, want)
	}
	require.Contains(t, txt, "Problems\n  none\n", "the job, its counts and its production record agree")
	w.fails("dave", "counts are blind", "report", "job", j)
	w.fails("dave", "machine-operator", "report", "month", month)
	var cr struct {
		Job        string         `json:"job"`
		Reconciled bool           `json:"reconciled"`
		Production map[string]any `json:"production"`
		Problems   []string       `json:"problems"`
		Steps      []struct {
			Step, By, ApprovedBy string
		} `json:"steps"`
		Input struct {
			SHA256 string `json:"sha256"`
		} `json:"input"`
	}
	w.jsonOK("alice", &cr, "report", "job", j)
	require.Equal(t, j, cr.Job)
	require.True(t, cr.Reconciled)
	require.Empty(t, cr.Problems)
	require.Equal(t, "dave", cr.Production["operator"])
	require.Equal(t, "carol", cr.Production["reviewer"])
	require.Equal(t, job["sha256"], cr.Input.SHA256)
	var steps []string
	for _, s := range cr.Steps {
		steps = append(steps, s.Step)
	}
	require.Contains(t, steps, "production record")
	page := w.ok("carol", "report", "job", j, "--html")
	require.True(t, strings.HasPrefix(strings.TrimSpace(page), "<!DOCTYPE html>"), page[:min(200, len(page))])
	require.Contains(t, page, "<h2>Signatures</h2>")
	require.Contains(t, page, "</html>")
	w.fails("carol", "exclude each other", "report", "job", j, "--html", "--json")

	// The month reconciles.
	if time.Now().UTC().Format("2006-01") == month {
		var mr struct {
			Reconciled bool     `json:"reconciled"`
			Problems   []string `json:"problems"`
			Products   []struct {
				Product                      string
				Opening, In, Out, Used       int
				Expected, Closing, Destroyed int
				DestroyedFromProduction      int `json:"destroyed_from_production"`
				Status                       string
			} `json:"products"`
		}
		w.jsonOK("bob", &mr, "report", "month", month)
		require.True(t, mr.Reconciled, "%v", mr.Problems)
		require.Len(t, mr.Products, 1)
		p := mr.Products[0]
		require.Equal(t, "GOLD-CHIP", p.Product)
		require.Equal(t, [7]int{1000, 500, 100, 43, 1357, 1357, 1}, [7]int{p.Opening, p.In, p.Out, p.Used, p.Expected, p.Closing, p.DestroyedFromProduction})
		require.Equal(t, "ok", p.Status)
		require.Contains(t, w.ok("carol", "report", "month", month), "GOLD-CHIP")
		require.Contains(t, w.ok("carol", "report", "month", month, "--html"), "<h2>Signatures</h2>")
	}

	// The job ends as every job does; its report then shows the deletion.
	var del map[string]any
	w.jsonOK("dave", &del, "job", "delete", j)
	w.ok("carol", "approve", del["id"].(string))
	require.Contains(t, w.ok("bob", "report", "job", j), "deleted")

	// Every record is in the one chain, signed by the authenticated people.
	kinds := map[string]audit.Entry{}
	for _, e := range w.auditEntries() {
		if strings.HasPrefix(e.Event, "record.") && e.Outcome == "ok" {
			kinds[e.Event] = e
		}
	}
	require.Equal(t, "dave", kinds["record.production"].Actor)
	require.Equal(t, "carol", kinds["record.production"].Approver)
	require.NotEmpty(t, kinds["record.production"].Request)
	require.NotEmpty(t, kinds["record.production"].OSUser)
	require.Equal(t, "bob", kinds["record.destruction"].Actor)
	require.Equal(t, "carol", kinds["record.destruction"].Approver)
	require.Equal(t, "bob", kinds["record.spot_check"].Actor)
	require.Equal(t, "carol", kinds["record.vault_count"].Approver)
	require.Equal(t, "carol", kinds["record.equipment_failure"].Approver)

	w.stop()
	o, err := w.cli("", "audit", "verify")
	require.NoError(t, err, o)
	assertNoPAN(t, w, plain)
}

// TestAuditSequenceOfAJob (issue 5, part 3): one full life of a job, and
// the exact sequence of its audit entries; no entry holds a PAN, a
// cardholder name or key material.
func TestAuditSequenceOfAJob(t *testing.T) {
	t.Parallel() // each test owns its world: home, token, ports, sshd
	w, acme, fpr := staffed(t)
	from := w.auditHead()
	plain := syntheticCSV(t, 25, 41)
	j := w.prepareJob(acme, fpr, plain, "sequence.gpg")
	w.ok("dave", "job", "release", j, "--machine", "emb1")
	w.ok("dave", "job", "report", j, "--good", "25", "--spoiled", "0", "--samples", "1", "--returned-to-vault", "2")
	var req map[string]any
	w.jsonOK("dave", &req, "job", "delete", j)
	w.ok("carol", "approve", req["id"].(string))
	w.stop()
	o, err := w.cli("", "audit", "verify")
	require.NoError(t, err, o)

	all := w.auditEntries()
	var got []string
	for _, e := range all {
		if e.Seq <= from {
			continue
		}
		if e.Job == j || (e.Event == "report.write" && strings.HasPrefix(e.Detail["report"], j+"-")) {
			got = append(got, fmt.Sprintf("%s %s actor=%s approver=%s job=%s", e.Event, e.Outcome, e.Actor, e.Approver, e.Job))
		}
	}
	want := []string{
		"file.received ok actor= approver= job=" + j,
		"request.create ok actor=bob approver= job=" + j,
		"request.approve ok actor=bob approver=carol job=" + j,
		"job.decrypt.start ok actor=bob approver=carol job=" + j,
		"job.ready ok actor=bob approver=carol job=" + j, // the decrypt's result: hashes and counts
		"report.write ok actor= approver= job=",
		"job.push.start ok actor=dave approver= job=" + j,
		"job.push ok actor=dave approver= job=" + j,
		"job.counts ok actor=dave approver= job=" + j,
		"request.create ok actor=dave approver= job=" + j,
		"request.approve ok actor=dave approver=carol job=" + j,
		"job.deleted ok actor=dave approver=carol job=" + j,
		"report.write ok actor= approver= job=",
	}
	require.Equal(t, want, got, "the audit entries of one job's life")

	// Nothing in the log is cardholder data or a secret.
	raw, err := os.ReadFile(filepath.Join(w.home, "audit", "audit-000001.jsonl"))
	require.NoError(t, err)
	segs, _ := filepath.Glob(filepath.Join(w.home, "audit", "*.jsonl"))
	for _, f := range segs[1:] {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		raw = append(raw, b...)
	}
	log := string(raw)
	require.Len(t, all, strings.Count(log, "\n"))
	for _, e := range all {
		line, _ := json.Marshal(e)
		require.False(t, audit.ContainsPAN(string(line)), "entry %d looks like it holds a PAN", e.Seq)
	}
	rows, err := csv.NewReader(strings.NewReader(string(plain))).ReadAll()
	require.NoError(t, err)
	head := map[string]int{}
	for i, h := range rows[0] {
		head[h] = i
	}
	var secrets []string
	for _, r := range rows[1:] {
		secrets = append(secrets, r[head["PAN"]], r[head["TRACK_NAME"]], r[head["EMBOSS_NAME"]], r[head["CARRIER1"]])
	}
	for _, f := range []string{"user-pin.DEV-ONLY", "so-pin.DEV-ONLY"} {
		b, err := os.ReadFile(filepath.Join(w.home, "hsm-dev", f))
		require.NoError(t, err)
		secrets = append(secrets, strings.TrimSpace(string(b)))
	}
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		b, err := os.ReadFile(w.passFile(u))
		require.NoError(t, err)
		secrets = append(secrets, strings.TrimSpace(string(b)))
	}
	secrets = append(secrets, "-----BEGIN", "PRIVATE KEY", "OPENSSH PRIVATE")
	for _, s := range secrets {
		require.NotEmpty(t, s)
		require.NotContains(t, log, s)
	}
}
