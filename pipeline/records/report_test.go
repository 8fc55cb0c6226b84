package records

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/pipeline/state"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/records")

const goldenDir = "../../testdata/records"

// Synthetic digests: what the files would hash to does not matter here.
var (
	inSHA1  = digest("input J000001")
	outSHA1 = digest("output J000001")
	inSHA2  = digest("input J000002")
	outSHA2 = digest("output J000002")
	inSHA3  = digest("input J000003")
	outSHA3 = digest("output J000003")
)

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// world is a synthetic audit log and the jobs it speaks of: a clean job
// (J000001), a second clean job of another product (J000002) and a job with
// everything wrong with it (J000003).
type world struct {
	entries []audit.Entry
	jobs    map[string]state.Job
}

func d(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func ts(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// add appends e at time t with the next seq and a synthetic hash chain.
func (w *world) add(t string, e audit.Entry) {
	e.Seq = uint64(len(w.entries) + 1)
	e.Time = ts(t)
	e.Prev = audit.GenesisHash
	if len(w.entries) > 0 {
		e.Prev = w.entries[len(w.entries)-1].Hash
	}
	e.Hash = digest(fmt.Sprint(e.Seq, e.Event, e.Prev))
	w.entries = append(w.entries, e)
}

func (w *world) rec(t string, r Record) {
	if err := r.Validate(); err != nil {
		panic(fmt.Sprintf("test record %s: %v", r.Kind(), err))
	}
	e := r.Entry()
	e.OSUser = "dataprep"
	w.add(t, e)
}

// job adds the audit entries of a job that goes all the way, with what
// differs per job given as arguments.
func (w *world) job(id, issuer, machine, day string, read, accepted, rejected int, in, out, startReq string) {
	w.add(day+" 09:00", audit.Entry{Event: "file.received", Outcome: "ok", Issuer: issuer, Job: id,
		Detail: d("file", "cards-"+id+".csv.pgp", "sha256", in, "size", "123456")})
	w.add(day+" 09:05", audit.Entry{Event: "request.create", Outcome: "ok", Actor: "olga", OSUser: "olga", Job: id, Request: startReq,
		Detail: d("action", "job.start", "target", id, "approver_roles", "supervisor")})
	w.add(day+" 09:10", audit.Entry{Event: "request.approve", Outcome: "ok", Actor: "olga", Approver: "sam", OSUser: "sam", Job: id, Request: startReq,
		Detail: d("action", "job.start", "target", id, "requester", "olga")})
	w.add(day+" 09:10", audit.Entry{Event: "job.decrypt.start", Outcome: "ok", Actor: "olga", Approver: "sam", Job: id, Issuer: issuer, Machine: machine, Request: startReq,
		Detail: d("sha256", in)})
	w.add(day+" 09:11", audit.Entry{Event: "job.ready", Outcome: "ok", Actor: "olga", Approver: "sam", Job: id, Issuer: issuer, Machine: machine,
		Detail: d("records_read", fmt.Sprint(read), "records_accepted", fmt.Sprint(accepted), "records_rejected", fmt.Sprint(rejected),
			"output_sha256", out, "output_size", "654321")})
	w.add(day+" 09:11", audit.Entry{Event: "report.write", Outcome: "ok", Issuer: issuer, Detail: d("report", id+"-report.txt.asc")})
	w.add(day+" 10:00", audit.Entry{Event: "job.push.start", Outcome: "ok", Actor: "bob", OSUser: "bob", Job: id, Issuer: issuer, Machine: machine,
		Detail: d("sha256", out, "bytes", "654321")})
	w.add(day+" 10:01", audit.Entry{Event: "job.push", Outcome: "ok", Actor: "bob", OSUser: "bob", Job: id, Machine: machine,
		Detail: d("sha256", out, "bytes", "654321", "remote", id+".dat", "attempts", "1", "recovered", "false")})
}

func (w *world) counts(t, id, machine string, rep state.Reported, expected int) {
	w.add(t, audit.Entry{Event: "job.counts", Outcome: "ok", Actor: rep.By, OSUser: rep.By, Job: id, Machine: machine,
		Detail: d("good", fmt.Sprint(rep.Good), "spoiled", fmt.Sprint(rep.Spoiled), "samples", fmt.Sprint(rep.Samples),
			"returned_to_vault", fmt.Sprint(rep.ReturnedToVault), "expected_good", fmt.Sprint(expected),
			"reconciled", fmt.Sprint(rep.Good == expected))})
}

func (w *world) deletion(day, id, issuer, machine, req string, in, out string) {
	w.add(day+" 17:00", audit.Entry{Event: "request.create", Outcome: "ok", Actor: "olga", OSUser: "olga", Job: id, Request: req,
		Detail: d("action", "job.delete", "target", id, "approver_roles", "supervisor")})
	w.add(day+" 17:05", audit.Entry{Event: "request.approve", Outcome: "ok", Actor: "olga", Approver: "sam", OSUser: "sam", Job: id, Request: req,
		Detail: d("action", "job.delete", "target", id, "requester", "olga")})
	w.add(day+" 17:05", audit.Entry{Event: "job.deleted", Outcome: "ok", Actor: "olga", Approver: "sam", Job: id, Issuer: issuer, Machine: machine, Request: req,
		Detail: d("input_sha256", in, "output_sha256", out, "state_before", "pushed", "remote_was_present", "true",
			"remote_confirmed_gone", "true", "spool_removed", "received/"+id+".pgp,production/"+id+".pgp")})
	w.add(day+" 17:05", audit.Entry{Event: "report.write", Outcome: "ok", Issuer: issuer, Detail: d("report", id+"-deletion-receipt.txt.asc")})
}

func newWorld() *world {
	w := &world{jobs: map[string]state.Job{}}
	// December closes with a count.
	w.rec("2024-12-31 18:00", VaultCount{Month: "2024-12", Product: "ACME-DEBIT", Counted: 5000, CountedBy: "wendy", WitnessedBy: "sam", At: ts("2024-12-31 18:00")})
	w.rec("2025-01-02 08:30", VaultCount{Month: "2024-12", Product: "ACME-CREDIT", Counted: 2000, CountedBy: "wendy", WitnessedBy: "sam", At: ts("2025-01-02 08:00"), Note: "counted the morning after"})
	w.rec("2024-12-20 11:00", VaultMovement{Direction: In, Product: "ACME-DEBIT", Quantity: 777, Reference: "DN 2024/0999", Person: "wendy", CounterSigner: "sam", At: ts("2024-12-20 11:00"), Note: "December, not in January"})
	w.add("2025-01-02 08:45", audit.Entry{Event: "login", Outcome: "ok", Actor: "olga", OSUser: "olga"})

	// January: a delivery, two clean jobs, a return to the issuer.
	w.rec("2025-01-03 14:00", VaultMovement{Direction: In, Product: "ACME-DEBIT", Quantity: 10000, Reference: "DN 2025/0042", Person: "wendy", CounterSigner: "sam", At: ts("2025-01-03 14:00")})
	// A refused attempt is an entry, not a movement.
	w.add("2025-01-03 14:05", audit.Entry{Event: "record.vault_movement", Outcome: "refused", Actor: "wendy", Approver: "wendy",
		Detail: d("reason", "the counter-signer must be another person")})

	rep1 := state.Reported{Good: 998, Spoiled: 1, Samples: 1, ReturnedToVault: 0, By: "bob", At: ts("2025-01-07 16:00")}
	w.job("J000001", "acme-bank", "emb-1", "2025-01-07", 1000, 998, 2, inSHA1, outSHA1, "R000001")
	w.add("2025-01-07 10:02", audit.Entry{Event: "job.push", Outcome: "failed", Actor: "bob", Job: "J000002", Machine: "emb-2",
		Detail: d("sha256", outSHA2, "reason", "connection reset by peer")}) // another job's: not in J000001's trail
	w.counts("2025-01-07 16:00", "J000001", "emb-1", rep1, 998)
	w.rec("2025-01-07 16:30", Production{Job: "J000001", WorkOrder: "WO-2025-0117", Customer: "acme-bank", Product: "ACME-DEBIT",
		IssuedFromVault: 1000, RemainingFromPrevious: 0, HandedOver: 998, ReturnedToVault: 0, Rejected: 1, Samples: 1,
		Equipment: "emb-1", EquipmentLog: "log book 7 p. 42; counter 118502 to 119502", Operator: "bob", Reviewer: "sam",
		At: ts("2025-01-07 16:20")})
	w.rec("2025-01-07 16:40", SpotCheck{WorkOrder: "WO-2025-0117", Job: "J000001", SampleSize: 20, Defects: 0, Result: ResultPass, Inspector: "quinn", At: ts("2025-01-07 16:35")})
	w.rec("2025-01-08 09:00", Destruction{WorkOrder: "WO-2025-0117", Job: "J000001", Product: "ACME-DEBIT", Source: SourceProduction, Count: 2,
		Method: "cross-cut shredder S-3", Executor: "wendy",
		Witnesses: []Witness{{"bob", DeptProduction}, {"sam", DeptSecurity}, {"Kim Roe", DeptWarehouse}}, At: ts("2025-01-08 09:00")})
	w.deletion("2025-01-08", "J000001", "acme-bank", "emb-1", "R000002", inSHA1, outSHA1)
	w.jobs["J000001"] = state.Job{ID: "J000001", Issuer: "acme-bank", FileName: "cards-J000001.csv.pgp", SHA256: inSHA1, Size: 123456,
		Received: ts("2025-01-07 09:00"), State: state.Deleted, Counts: state.Counts{Read: 1000, Accepted: 998, Rejected: 2},
		StartReq: "R000001", StartedBy: "olga", Approver: "sam", Machine: "emb-1", OutputSHA256: outSHA1, OutputSize: 654321,
		Pushed: ts("2025-01-07 10:01"), ReleasedBy: "bob", Reported: &rep1, CountsOK: true, DeletedBy: "olga", DeletionOK: "sam"}

	rep2 := state.Reported{Good: 298, Spoiled: 1, Samples: 1, ReturnedToVault: 20, By: "bob", At: ts("2025-01-15 15:00")}
	w.job("J000002", "acme-bank", "emb-2", "2025-01-15", 298, 298, 0, inSHA2, outSHA2, "R000003")
	w.counts("2025-01-15 15:00", "J000002", "emb-2", rep2, 298)
	w.rec("2025-01-15 15:30", Production{Job: "J000002", WorkOrder: "WO-2025-0121", Customer: "acme-bank", Product: "ACME-CREDIT",
		IssuedFromVault: 320, HandedOver: 298, ReturnedToVault: 20, Rejected: 1, Samples: 1,
		Equipment: "emb-2", EquipmentLog: "log book 3 p. 9", Operator: "bob", Reviewer: "sam", At: ts("2025-01-15 15:20")})
	w.rec("2025-01-16 10:00", Failure{Type: FailureBreakdown, Equipment: "emb-2", WorkOrder: "WO-2025-0121", Cause: "chip encoder head failed self-test",
		Operator: "bob", Reviewer: "sam", At: ts("2025-01-16 09:40")})
	w.jobs["J000002"] = state.Job{ID: "J000002", Issuer: "acme-bank", FileName: "cards-J000002.csv.pgp", SHA256: inSHA2, Size: 123456,
		Received: ts("2025-01-15 09:00"), State: state.Pushed, Counts: state.Counts{Read: 298, Accepted: 298},
		Machine: "emb-2", OutputSHA256: outSHA2, OutputSize: 654321, Pushed: ts("2025-01-15 10:01"), ReleasedBy: "bob",
		Reported: &rep2, CountsOK: true}

	w.rec("2025-01-20 12:00", VaultMovement{Direction: Out, Product: "ACME-CREDIT", Quantity: 500, Reference: "RN 2025/0003", Person: "wendy", CounterSigner: "sam", At: ts("2025-01-20 12:00"), Note: "returned to the issuer"})
	w.rec("2025-01-21 12:00", Destruction{WorkOrder: "STOCK-2025-01", Product: "ACME-CREDIT", Source: SourceStock, Count: 10,
		Executor: "wendy", Witnesses: []Witness{{"bob", DeptProduction}, {"sam", DeptSecurity}, {"Kim Roe", DeptWarehouse}}, At: ts("2025-01-21 12:00"), Note: "water damage"})
	// January closes: 5000 + 10000 - 1000 = 14000 and 2000 - 500 - 300 - 10 = 1190.
	w.rec("2025-01-31 18:00", VaultCount{Month: "2025-01", Product: "ACME-DEBIT", Counted: 14000, CountedBy: "wendy", WitnessedBy: "sam", At: ts("2025-01-31 18:00")})
	w.rec("2025-01-31 18:10", VaultCount{Month: "2025-01", Product: "ACME-CREDIT", Counted: 1190, CountedBy: "wendy", WitnessedBy: "sam", At: ts("2025-01-31 18:10")})

	// February: J000003 goes wrong in every way the report can see.
	rep3 := state.Reported{Good: 495, Spoiled: 4, Samples: 0, ReturnedToVault: 1, By: "bob", At: ts("2025-02-04 16:00")}
	w.job("J000003", "acme-bank", "emb-1", "2025-02-04", 500, 500, 0, inSHA3, outSHA3, "R000004")
	w.entries[len(w.entries)-1].Detail["sha256"] = digest("something else") // the push does not match
	w.counts("2025-02-04 16:00", "J000003", "emb-1", state.Reported{Good: 496, Spoiled: 4, By: "carl"}, 500)
	w.rec("2025-02-04 16:30", Production{Job: "J000003", WorkOrder: "WO-2025-0130", Customer: "acme-bank", Product: "ACME-DEBIT",
		IssuedFromVault: 500, HandedOver: 490, Rejected: 4, Equipment: "emb-1", EquipmentLog: "log book 7 p. 44",
		Operator: "bob", Reviewer: "sam", At: ts("2025-02-04 16:25")})
	w.rec("2025-02-04 16:50", Production{Job: "J000003", WorkOrder: "WO-2025-0130", Customer: "other-bank", Product: "ACME-DEBIT",
		IssuedFromVault: 500, HandedOver: 494, Rejected: 4, Equipment: "emb-9", EquipmentLog: "log book 7 p. 44 <corrected>",
		Operator: "bob", Reviewer: "sam", At: ts("2025-02-04 16:45")})
	bad := goodProduction().Entry() // self-reviewed: never valid, whatever wrote it
	bad.Job, bad.Approver = "J000003", bad.Actor
	w.add("2025-02-04 17:00", bad)
	w.jobs["J000003"] = state.Job{ID: "J000003", Issuer: "acme-bank", FileName: "cards " + testPAN + ".csv.pgp", SHA256: inSHA3, Size: 123456,
		Received: ts("2025-02-04 09:00"), State: state.Deleted, Counts: state.Counts{Read: 500, Accepted: 500},
		Machine: "emb-1", OutputSHA256: outSHA3, OutputSize: 654321, Pushed: ts("2025-02-04 10:01"), ReleasedBy: "bob",
		Reported: &rep3, CountsOK: false}

	// A job pushed in February whose counts never came.
	w.jobs["J000004"] = state.Job{ID: "J000004", Issuer: "acme-bank", State: state.Pushed, Machine: "emb-2", Pushed: ts("2025-02-10 10:00")}
	w.rec("2025-02-11 09:00", VaultMovement{Direction: In, Product: "ACME-PREPAID", Quantity: 3000, Reference: "DN 2025/0077", Person: "wendy", CounterSigner: "sam", At: ts("2025-02-11 09:00")})
	// February closes short: expected 14000 - 499 = 13501.
	w.rec("2025-02-28 18:00", VaultCount{Month: "2025-02", Product: "ACME-DEBIT", Counted: 13400, CountedBy: "wendy", WitnessedBy: "sam", At: ts("2025-02-28 18:00")})
	w.rec("2025-02-28 18:30", VaultCount{Month: "2025-02", Product: "ACME-DEBIT", Counted: 13498, CountedBy: "wendy", WitnessedBy: "sam", At: ts("2025-02-28 18:30"), Note: "recount"})
	w.rec("2025-02-28 18:40", VaultCount{Month: "2025-02", Product: "ACME-PREPAID", Counted: 3000, CountedBy: "wendy", WitnessedBy: "sam", At: ts("2025-02-28 18:40")})
	return w
}

func (w *world) jobList() []state.Job {
	var js []state.Job
	for _, id := range []string{"J000004", "J000003", "J000002", "J000001"} { // out of order on purpose
		js = append(js, w.jobs[id])
	}
	return js
}

// golden compares got with testdata/records/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\n got %q\nwant %q\n(go test -update rewrites it)", name, i+1, g, w)
			}
		}
	}
}

// renderAll renders r in every format into golden files prefix.{txt,json,html}.
func renderAll(t *testing.T, prefix string, r Report) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range []struct {
		ext    string
		render func(*bytes.Buffer, Report) error
	}{
		{"txt", func(b *bytes.Buffer, r Report) error { return RenderText(b, r) }},
		{"json", func(b *bytes.Buffer, r Report) error { return RenderJSON(b, r) }},
		{"html", func(b *bytes.Buffer, r Report) error { return RenderHTML(b, r) }},
	} {
		var b bytes.Buffer
		if err := f.render(&b, r); err != nil {
			t.Fatalf("%s: %v", f.ext, err)
		}
		golden(t, prefix+"."+f.ext, b.Bytes())
		out[f.ext] = b.String()
	}
	return out
}

func TestJobControlRecordGood(t *testing.T) {
	w := newWorld()
	cr, err := JobControlRecord(w.jobs["J000001"], w.entries)
	if err != nil {
		t.Fatal(err)
	}
	if len(cr.Problems) != 0 {
		t.Fatalf("problems in a clean job: %q", cr.Problems)
	}
	if cr.Production == nil || cr.WorkOrder != "WO-2025-0117" || cr.Product != "ACME-DEBIT" || cr.Unaccounted != 0 {
		t.Fatalf("production record not taken: %+v", cr)
	}
	var steps []string
	for _, s := range cr.Steps {
		steps = append(steps, s.Step+"/"+s.By+"/"+s.ApprovedBy)
	}
	want := []string{"received//", "start requested/olga/", "start approved/sam/", "preparation started/olga/sam", "prepared/olga/sam",
		"issuer report written//", "released/bob/", "pushed/bob/", "counted/bob/", "production record/bob/sam", "spot check/quinn/",
		"destruction/wendy/", "deletion requested/olga/", "deletion approved/sam/", "deleted/olga/sam", "issuer report written//"}
	if strings.Join(steps, " ") != strings.Join(want, " ") {
		t.Fatalf("steps:\n got %q\nwant %q", steps, want)
	}
	for _, e := range cr.Trail {
		if e.Note == "connection reset by peer" {
			t.Fatal("another job's entry is in the trail")
		}
	}
	if cr.AuditHead.Seq != uint64(len(w.entries)) || cr.AuditHead.Hash != w.entries[len(w.entries)-1].Hash {
		t.Fatalf("audit head %+v", cr.AuditHead)
	}
	renderAll(t, "good_job", cr)
}

func TestJobControlRecordProblems(t *testing.T) {
	w := newWorld()
	cr, err := JobControlRecord(w.jobs["J000003"], w.entries)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"the pushed file's SHA-256",
		"the good count in the audit log",
		"the returned to vault count in the audit log",
		"the counts were logged by another person",
		"entry 50 (record.production) is not a valid control record: reviewer must be a different person from the operator",
		"state says it was deleted, but the audit log has no supervised deletion",
		"do not reconcile with the accepted records and no supervisor has resolved them",
		"2 production records for this job (entries 48, 49); the last is shown",
		"does not balance: 2 cards issued are not accounted for",
		"another customer than the job's issuer",
		"other equipment than the machine",
		"handed over vs good (494 recorded, 495 reported)",
		"returned to the vault (0 recorded, 1 reported)",
	}
	all := strings.Join(cr.Problems, "\n")
	for _, p := range want {
		if !strings.Contains(all, p) {
			t.Errorf("no problem %q in:\n%s", p, all)
		}
	}
	if len(cr.Problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(cr.Problems), len(want), all)
	}
	out := renderAll(t, "fail_job", cr)
	for ext, s := range out {
		if strings.Contains(s, testPAN) {
			t.Errorf("%s report shows the card number", ext)
		}
		if !strings.Contains(s, "withheld") {
			t.Errorf("%s report does not say the file name was withheld", ext)
		}
	}
	if strings.Contains(out["html"], "<corrected>") || !strings.Contains(out["html"], "&lt;corrected&gt;") {
		t.Error("HTML report does not escape a value")
	}
}

func TestJobControlRecordEdges(t *testing.T) {
	if _, err := JobControlRecord(state.Job{}, nil); !errors.Is(err, ErrNoJob) {
		t.Fatalf("job without id: %v", err)
	}
	// A job with no log at all, counted but never recorded.
	j := state.Job{ID: "J000009", Issuer: "acme-bank", State: state.Pushed, Pushed: ts("2025-01-01 10:00"),
		Reported: &state.Reported{Good: 1, By: "bob"}, CountsOK: true}
	cr, err := JobControlRecord(j, nil)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(cr.Problems, "\n")
	for _, p := range []string{"no entry for this job", "no successful push", "no production control record (dataprep record production J000009)"} {
		if !strings.Contains(all, p) {
			t.Errorf("no problem %q in:\n%s", p, all)
		}
	}
	// Resolved counts are reconciled and say by whom.
	w := newWorld()
	j = w.jobs["J000002"]
	j.Reported = &state.Reported{Good: 297, Spoiled: 1, Samples: 1, ReturnedToVault: 20, By: "bob", At: ts("2025-01-15 15:00")}
	j.CountsOK, j.Resolution = true, "one card found under the feeder, destroyed"
	w.add("2025-01-15 15:10", audit.Entry{Event: "job.counts.resolve", Outcome: "ok", Actor: "sam", Job: "J000002",
		Detail: d("reason", j.Resolution, "reported_by", "bob")})
	cr, err = JobControlRecord(j, w.entries)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := RenderText(&buf, &cr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "difference resolved by a supervisor: one card found") ||
		!regexp.MustCompile(`\n  55 .* counts resolved +sam +- +one card found`).MatchString(buf.String()) {
		t.Fatalf("resolution not shown:\n%s", buf.String())
	}
	// The caller's entries are not reordered or changed.
	before := fmt.Sprint(w.entries)
	rev := append([]audit.Entry(nil), w.entries...)
	for i, k := 0, len(rev)-1; i < k; i, k = i+1, k-1 {
		rev[i], rev[k] = rev[k], rev[i]
	}
	cr2, _ := JobControlRecord(w.jobs["J000001"], rev)
	cr1, _ := JobControlRecord(w.jobs["J000001"], w.entries)
	if !reflect.DeepEqual(cr1, cr2) || fmt.Sprint(w.entries) != before {
		t.Fatal("entry order changed the report, or the report changed the entries")
	}
}

func TestMonthGood(t *testing.T) {
	w := newWorld()
	m, err := Month("2025-01", w.jobList(), w.entries)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Reconciled || len(m.Problems) != 0 {
		t.Fatalf("January does not reconcile: %q", m.Problems)
	}
	want := []ProductBalance{
		{Product: "ACME-CREDIT", Opening: 2000, OpeningCounted: true, Out: 500, Used: 300, Destroyed: 10, Expected: 1190,
			Closing: 1190, ClosingCounted: true, CountedBy: "wendy", WitnessedBy: "sam", Status: "ok", OK: true},
		{Product: "ACME-DEBIT", Opening: 5000, OpeningCounted: true, In: 10000, Used: 1000, DestroyedFromProduction: 2, Expected: 14000,
			Closing: 14000, ClosingCounted: true, CountedBy: "wendy", WitnessedBy: "sam", Status: "ok", OK: true},
	}
	if fmt.Sprintf("%+v", m.Products) != fmt.Sprintf("%+v", want) {
		t.Fatalf("products:\n got %+v\nwant %+v", m.Products, want)
	}
	if len(m.Jobs) != 2 || len(m.Movements) != 2 || len(m.Destructions) != 2 {
		t.Fatalf("jobs %d, movements %d, destructions %d", len(m.Jobs), len(m.Movements), len(m.Destructions))
	}
	renderAll(t, "good_month", m)
}

func TestMonthProblems(t *testing.T) {
	w := newWorld()
	m, err := Month("2025-02", w.jobList(), w.entries)
	if err != nil {
		t.Fatal(err)
	}
	if m.Reconciled {
		t.Fatal("February reconciles")
	}
	want := []string{
		"audit entry 50 (record.production) is not a valid control record",
		"job J000004 was pushed in 2025-02 but its counts are not reported",
		"the counts of job J000003 do not reconcile",
		"job J000003: the state store's counts differ from the audit log's", // the log's 500 used cards count, not the store's 499
		"ACME-CREDIT: no month-end count for 2025-02",
		"ACME-DEBIT: counted 13498, expected 13500: difference -2",
		"ACME-PREPAID: no month-end count for 2025-01; the opening balance is taken as 0",
	}
	all := strings.Join(m.Problems, "\n")
	for _, p := range want {
		if !strings.Contains(all, p) {
			t.Errorf("no problem %q in:\n%s", p, all)
		}
	}
	if len(m.Problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(m.Problems), len(want), all)
	}
	renderAll(t, "fail_month", m)

	// Without J000003's production records its cards are under no product.
	var es []audit.Entry
	for _, e := range w.entries {
		if !(e.Event == "record.production" && e.Job == "J000003") {
			es = append(es, e)
		}
	}
	m, _ = Month("2025-02", w.jobList(), es)
	last := m.Products[len(m.Products)-1]
	if last.Product != "" || last.Used != 500 || !strings.Contains(strings.Join(m.Problems, "\n"), "job J000003 has no production control record") {
		t.Fatalf("unknown product line %+v, problems %q", last, m.Problems)
	}
}

func TestMonthBad(t *testing.T) {
	for _, s := range []string{"", "2025-1", "2025-13", "January", "2025-01-01"} {
		if _, err := Month(s, nil, nil); !errors.Is(err, ErrBadMonth) {
			t.Errorf("Month(%q): %v", s, err)
		}
	}
	m, err := Month("2030-06", nil, nil)
	if err != nil || !m.Reconciled || m.Products == nil || m.Problems == nil {
		t.Fatalf("empty month: %+v, %v", m, err)
	}
	var b bytes.Buffer
	if err := RenderJSON(&b, m); err != nil || strings.Contains(b.String(), "null") {
		t.Fatalf("empty month JSON has nulls: %s %v", b.String(), err)
	}
}

// Hostile values reach the page escaped, and the terminal as escapes.
func TestRenderHostileValues(t *testing.T) {
	w := newWorld()
	j := w.jobs["J000001"]
	j.FileName = "evil\x1b[2J<script>alert(1)</script>\u202egnp.exe\n"
	j.Reason = "a\tb"
	cr, err := JobControlRecord(j, w.entries)
	if err != nil {
		t.Fatal(err)
	}
	var txt, page, js bytes.Buffer
	if err := RenderText(&txt, cr); err != nil {
		t.Fatal(err)
	}
	if err := RenderHTML(&page, cr); err != nil {
		t.Fatal(err)
	}
	if err := RenderJSON(&js, cr); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{"text": txt.String(), "html": page.String()} {
		if strings.ContainsAny(s, "\x1b\u202e\t") {
			t.Errorf("%s output holds a raw control character", name)
		}
		if !strings.Contains(s, `\x1b[2J`) || !strings.Contains(s, `\u202e`) {
			t.Errorf("%s output does not show the escapes", name)
		}
	}
	if strings.Contains(page.String(), "<script>") {
		t.Error("HTML holds a script element")
	}
	// JSON keeps the value as it is (encoding/json escapes it).
	var back ControlRecord
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.FileName != j.FileName {
		t.Fatalf("JSON round trip: %q, %v", back.FileName, err)
	}
	// The page loads nothing from anywhere.
	for _, s := range []string{"<script", "src=", "href=", "@import", "url("} {
		if strings.Contains(page.String(), s) {
			t.Errorf("HTML contains %q", s)
		}
	}
}

func TestRenderUnknown(t *testing.T) {
	var b bytes.Buffer
	for _, f := range []func() error{
		func() error { return RenderText(&b, nil) },
		func() error { return RenderJSON(&b, nil) },
		func() error { return RenderHTML(&b, nil) },
	} {
		if f() == nil {
			t.Error("rendering nil did not fail")
		}
	}
}
