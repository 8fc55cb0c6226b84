package records

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/pipeline/state"
)

// ControlRecord is the production control record of one job as a report:
// the job's facts from the daemon's state, who did what and when from the
// audit log, the signed production record if there is one, and every
// disagreement between them. It holds the expected (accepted) card count:
// it is not for machine operators (counts are blind, invariant 9).
type ControlRecord struct {
	Job         string          `json:"job"`
	WorkOrder   string          `json:"work_order,omitempty"` // from the production record
	Issuer      string          `json:"issuer"`
	Product     string          `json:"product,omitempty"` // from the production record
	FileName    string          `json:"file_name"`
	State       string          `json:"state"`
	Reason      string          `json:"reason,omitempty"` // why it was rejected
	Machine     string          `json:"machine,omitempty"`
	Received    time.Time       `json:"received"`
	Input       File            `json:"input"`
	Output      File            `json:"output"`
	Counts      state.Counts    `json:"counts"`             // issuer records read, accepted, rejected
	Reported    *state.Reported `json:"reported,omitempty"` // the machine operator's blind counts
	Reconciled  bool            `json:"reconciled"`         // counts reconcile, or a supervisor resolved the difference
	Resolution  string          `json:"resolution,omitempty"`
	Production  *Production     `json:"production,omitempty"`
	Unaccounted int             `json:"unaccounted"` // Production.Unaccounted(); 0 without a production record
	Steps       []Step          `json:"steps"`
	Problems    []string        `json:"problems"`
	Trail       []TrailEntry    `json:"trail"`
	AuditHead   AuditHead       `json:"audit_head"`
}

// File is a file's digest and size.
type File struct {
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size,omitempty"`
}

// Step is one signed step of a job's life, from the audit log.
type Step struct {
	Step       string    `json:"step"`
	By         string    `json:"by,omitempty"`
	ApprovedBy string    `json:"approved_by,omitempty"`
	At         time.Time `json:"at"` // when it was logged
	Seq        uint64    `json:"seq"`
	Note       string    `json:"note,omitempty"`
}

// TrailEntry is one audit entry of the job, refusals and failures included.
type TrailEntry struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Event    string    `json:"event"`
	Outcome  string    `json:"outcome,omitempty"`
	Actor    string    `json:"actor,omitempty"`
	Approver string    `json:"approver,omitempty"`
	Request  string    `json:"request,omitempty"`
	Machine  string    `json:"machine,omitempty"`
	Note     string    `json:"note,omitempty"` // the entry's reason, if it gives one
}

// AuditHead names the last audit entry a report was built from, so that a
// printed page can be tied to a state of the log (and checked against it).
type AuditHead struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash,omitempty"`
}

// sortedEntries returns the entries in log order without changing the
// caller's slice.
func sortedEntries(entries []audit.Entry) []audit.Entry {
	es := append([]audit.Entry(nil), entries...)
	sort.SliceStable(es, func(a, b int) bool { return es[a].Seq < es[b].Seq })
	return es
}

func head(es []audit.Entry) AuditHead {
	if len(es) == 0 {
		return AuditHead{}
	}
	last := es[len(es)-1]
	return AuditHead{Seq: last.Seq, Hash: last.Hash}
}

// ofJob reports whether e belongs to job j. Issuer reports name the job in
// their file name only (J000001-report.txt.asc).
func ofJob(e audit.Entry, j state.Job) bool {
	if e.Job == j.ID {
		return true
	}
	return e.Event == "report.write" && e.Job == "" && e.Issuer == j.Issuer &&
		strings.HasPrefix(e.Detail["report"], j.ID+"-")
}

// JobControlRecord assembles the production control record of job j from
// its state and the audit log. Pass the whole log (or all of it up to now):
// entries of other jobs are skipped, and the last entry names the log state
// the report shows. Where the state and the log disagree, or the production
// record does not balance or match, the report says so in Problems; only a
// job without an id is an error.
func JobControlRecord(j state.Job, entries []audit.Entry) (ControlRecord, error) {
	if j.ID == "" {
		return ControlRecord{}, ErrNoJob
	}
	es := sortedEntries(entries)
	cr := ControlRecord{
		Job: j.ID, Issuer: j.Issuer, FileName: j.FileName, State: string(j.State), Reason: j.Reason,
		Machine: j.Machine, Received: j.Received.UTC(),
		Input:  File{SHA256: j.SHA256, Size: j.Size},
		Output: File{SHA256: j.OutputSHA256, Size: j.OutputSize},
		Counts: j.Counts, Reconciled: j.CountsOK, Resolution: j.Resolution,
		Steps: []Step{}, Problems: []string{}, Trail: []TrailEntry{}, AuditHead: head(es),
	}
	if j.Reported != nil {
		rep := *j.Reported
		rep.At = rep.At.UTC()
		cr.Reported = &rep
	}
	problem := func(f string, a ...any) { cr.Problems = append(cr.Problems, fmt.Sprintf(f, a...)) }

	var (
		productions []uint64 // seqs of the job's production records
		pushedOK    bool
		deletedOK   bool
	)
	for _, e := range es {
		if !ofJob(e, j) {
			continue
		}
		cr.Trail = append(cr.Trail, TrailEntry{Seq: e.Seq, Time: e.Time.UTC(), Event: e.Event, Outcome: e.Outcome,
			Actor: e.Actor, Approver: e.Approver, Request: e.Request, Machine: e.Machine, Note: e.Detail["reason"]})
		ok := e.Outcome == audit.OutcomeOK
		step := func(name, by, approvedBy, note string) {
			cr.Steps = append(cr.Steps, Step{Step: name, By: by, ApprovedBy: approvedBy, At: e.Time.UTC(), Seq: e.Seq, Note: note})
		}
		switch {
		case e.Event == "file.received" && ok:
			step("received", "", "", "")
			if s := e.Detail["sha256"]; s != "" && s != j.SHA256 {
				problem("the input file's SHA-256 in the audit log (entry %d) differs from the job's", e.Seq)
			}
		case e.Event == "request.create" && ok:
			step(requestStep(e.Detail["action"], "requested"), e.Actor, "", "request "+e.Request)
		case e.Event == "request.approve" && ok:
			step(requestStep(e.Detail["action"], "approved"), e.Approver, "", "request "+e.Request)
		case e.Event == "request.deny" && ok:
			step(requestStep(e.Detail["action"], "denied"), e.Actor, "", e.Detail["reason"])
		case e.Event == "job.decrypt.start" && ok:
			step("preparation started", e.Actor, e.Approver, "")
		case e.Event == "job.ready" && ok:
			step("prepared", e.Actor, e.Approver, fmt.Sprintf("records read %s, accepted %s, rejected %s",
				e.Detail["records_read"], e.Detail["records_accepted"], e.Detail["records_rejected"]))
			if s := e.Detail["output_sha256"]; s != j.OutputSHA256 {
				problem("the production file's SHA-256 in the audit log (entry %d) differs from the job's", e.Seq)
			}
		case e.Event == "job.rejected":
			step("rejected", e.Actor, e.Approver, e.Detail["reason"])
		case e.Event == "job.push.start" && ok:
			step("released", e.Actor, "", "to machine "+e.Machine)
		case e.Event == "job.push" && ok:
			pushedOK = true
			step("pushed", e.Actor, "", "to machine "+e.Machine)
			if s := e.Detail["sha256"]; s != j.OutputSHA256 {
				problem("the pushed file's SHA-256 (entry %d) differs from the prepared file's", e.Seq)
			}
		case e.Event == "job.counts" && ok:
			step("counted", e.Actor, "", "")
			checkLoggedCounts(e, j.Reported, problem)
		case e.Event == "job.counts.resolve" && ok:
			step("counts resolved", e.Actor, "", e.Detail["reason"])
		case e.Event == "job.deleted" && ok:
			deletedOK = true
			note := "spool copies removed"
			if e.Detail["remote_confirmed_gone"] == "true" {
				note = "confirmed gone on the machine; " + note
			}
			step("deleted", e.Actor, e.Approver, note)
		case e.Event == "job.recovered" && ok:
			step("recovered after a restart", "", "", e.Detail["why"])
		case e.Event == "report.write" && ok:
			step("issuer report written", "", "", e.Detail["report"])
		case strings.HasPrefix(e.Event, EventPrefix) && ok:
			r, err := FromEntry(e)
			if err != nil {
				problem("audit entry %d (%s) is not a valid control record: %s", e.Seq, e.Event, why(err))
				continue
			}
			switch r := r.(type) {
			case Production:
				productions = append(productions, e.Seq)
				p := r
				cr.Production = &p
				step("production record", r.Operator, r.Reviewer, "")
			case SpotCheck:
				step("spot check", r.Inspector, "", fmt.Sprintf("%s: %d defects in %d cards", r.Result, r.Defects, r.SampleSize))
			case Failure:
				step("equipment "+r.Type, r.Operator, r.Reviewer, r.Cause)
			case Destruction:
				step("destruction", r.Executor, "", fmt.Sprintf("%d cards destroyed", r.Count))
			}
		}
	}

	if len(cr.Trail) == 0 {
		problem("the audit log holds no entry for this job")
	}
	if (!j.Pushed.IsZero() || j.ReleasedBy != "") && !pushedOK {
		problem("the job's state says it was pushed, but the audit log has no successful push")
	}
	if (j.State == state.Deleted || j.State == state.Closed) && !deletedOK {
		problem("the job's state says it was deleted, but the audit log has no supervised deletion")
	}
	if j.Reported != nil && !j.CountsOK {
		problem("the reported counts do not reconcile with the accepted records and no supervisor has resolved them")
	}
	if len(productions) > 1 {
		problem("%d production records for this job (entries %s); the last is shown", len(productions), joinSeqs(productions))
	}
	if p := cr.Production; p != nil {
		cr.WorkOrder, cr.Product, cr.Unaccounted = p.WorkOrder, p.Product, p.Unaccounted()
		checkProduction(*p, j, problem)
	} else if j.Reported != nil {
		problem("no production control record (dataprep record production %s)", j.ID)
	}
	return withholdPANs(cr), nil
}

// requestStep names a request's step after its action.
func requestStep(action, what string) string {
	switch action {
	case "job.start":
		return "start " + what
	case "job.delete":
		return "deletion " + what
	}
	return action + " " + what
}

// checkLoggedCounts compares the counts in a job.counts entry with the
// job's state: they are written together, so a difference means one of
// them was changed.
func checkLoggedCounts(e audit.Entry, rep *state.Reported, problem func(string, ...any)) {
	if rep == nil {
		problem("the audit log has counts (entry %d) but the job's state has none", e.Seq)
		return
	}
	for _, c := range []struct {
		key string
		v   int
	}{{"good", rep.Good}, {"spoiled", rep.Spoiled}, {"samples", rep.Samples}, {"returned_to_vault", rep.ReturnedToVault}} {
		if e.Detail[c.key] != strconv.Itoa(c.v) {
			problem("the %s count in the audit log (entry %d) differs from the job's state", strings.ReplaceAll(c.key, "_", " "), e.Seq)
		}
	}
	if e.Actor != rep.By {
		problem("the counts were logged by another person (entry %d) than the job's state names", e.Seq)
	}
}

// checkProduction compares the signed production record with the job.
func checkProduction(p Production, j state.Job, problem func(string, ...any)) {
	switch u := p.Unaccounted(); {
	case u > 0:
		problem("the production record does not balance: %d cards issued are not accounted for", u)
	case u < 0:
		problem("the production record does not balance: %d more cards accounted for than issued", -u)
	}
	if p.Customer != j.Issuer {
		problem("the production record names another customer than the job's issuer")
	}
	if j.Machine != "" && p.Equipment != j.Machine {
		problem("the production record names other equipment than the machine the job was prepared for")
	}
	if r := j.Reported; r != nil {
		for _, c := range []struct {
			what      string
			rec, repd int
		}{{"handed over vs good", p.HandedOver, r.Good}, {"rejected vs spoiled", p.Rejected, r.Spoiled},
			{"samples", p.Samples, r.Samples}, {"returned to the vault", p.ReturnedToVault, r.ReturnedToVault}} {
			if c.rec != c.repd {
				problem("production record and reported counts differ: %s (%d recorded, %d reported)", c.what, c.rec, c.repd)
			}
		}
	}
}

// why is err without the "invalid control record" its context already says.
func why(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field + " " + fe.Problem
	}
	return err.Error()
}

func joinSeqs(seqs []uint64) string {
	s := make([]string, len(seqs))
	for i, q := range seqs {
		s[i] = strconv.FormatUint(q, 10)
	}
	return strings.Join(s, ", ")
}
