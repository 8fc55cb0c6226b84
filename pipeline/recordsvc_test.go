package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/pipeline/people"
	"github.com/dataprep/dataprep/pipeline/records"
	"github.com/dataprep/dataprep/pipeline/state"
)

// pushedJob stores a job that was pushed to machine (setup, not under test).
func pushedJob(t *testing.T, s *Service, issuer, machine string) state.Job {
	t.Helper()
	j := addJob(t, s, issuer)
	j, err := s.Store.UpdateJob(j.ID, func(j *state.Job) error {
		j.State, j.Machine, j.Pushed, j.ReleasedBy = state.Pushed, machine, time.Now(), "machineoperator1"
		j.Counts = state.Counts{Read: 10, Accepted: 10}
		return nil
	})
	require.NoError(t, err)
	return j
}

var threeWitnesses = []records.Witness{{Name: "Pat Lee", Department: records.DeptProduction},
	{Name: "Sam Roe", Department: records.DeptSecurity}, {Name: "Kim Poe", Department: records.DeptWarehouse}}

// recordFixture asks for a valid record of each record action: the
// fixtures of TestDualControlTable (policy_test.go).
func recordFixture(t *testing.T, s *Service, n int, action string, c Caller) (Outcome, error) {
	switch action {
	case ActRecordProduction:
		j := pushedJob(t, s, "bank", "m0")
		return s.RecordProduction(c, ProductionInput{Job: j.ID, Product: "GOLD", IssuedFromVault: 12, HandedOver: 10,
			Rejected: 1, Samples: 1, EquipmentLog: "log book 1 page 4"})
	case ActRecordFailure:
		return s.RecordFailure(c, FailureInput{Type: records.FailureBlockage, Equipment: "m0", WorkOrder: fmt.Sprintf("WO-%d", n), Cause: "card jam in the feed"})
	case ActRecordDestruction:
		return s.RecordDestruction(c, DestructionInput{WorkOrder: fmt.Sprintf("WO-%d", n), Product: "GOLD", Source: records.SourceStock,
			Count: 3, Witnesses: threeWitnesses})
	case ActRecordVault:
		return s.RecordVaultMovement(c, VaultMovementInput{Direction: records.In, Product: "GOLD", Quantity: 500, Reference: fmt.Sprintf("DN-%d", n)})
	case ActRecordVaultCount:
		return s.RecordVaultCount(c, VaultCountInput{Month: "2026-01", Product: "GOLD", Counted: 500})
	}
	return Outcome{}, fmt.Errorf("no record fixture for %s", action)
}

type recordWorld struct {
	s                         *Service
	admin, op, sup, sup2, mop Caller
	aud                       Caller
}

func newRecordWorld(t *testing.T) recordWorld {
	s := newService(t)
	w := recordWorld{s: s,
		admin: addPerson(t, s, "alice", people.Admin), op: addPerson(t, s, "bob", people.Operator),
		sup: addPerson(t, s, "carol", people.Supervisor), sup2: addPerson(t, s, "sue", people.Supervisor),
		mop: addPerson(t, s, "dave", people.MachineOperator), aud: addPerson(t, s, "ann", people.Auditor)}
	w.mop.OSUser = "dave(1001)"
	require.NoError(t, s.Store.AddIssuer(state.Issuer{Name: "bank"}))
	require.NoError(t, s.Store.AddMachine(state.Machine{Name: "emb1", Operators: []string{"dave"}}))
	require.NoError(t, s.Store.AddMachine(state.Machine{Name: "emb2"}))
	return w
}

// lastEntry is the last audit entry with event.
func lastEntry(t *testing.T, s *Service, event string) audit.Entry {
	t.Helper()
	es := events(t, s)
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].Event == event {
			return es[i]
		}
	}
	t.Fatalf("no %s entry", event)
	return audit.Entry{}
}

func TestRecordProductionTwoSignatures(t *testing.T) {
	w := newRecordWorld(t)
	s := w.s
	j := pushedJob(t, s, "bank", "emb1")
	in := ProductionInput{Job: j.ID, Product: "GOLD", IssuedFromVault: 12, HandedOver: 10, Rejected: 1, Samples: 1,
		EquipmentLog: "log book 1 page 4", Note: "normal run"}

	out, err := s.RecordProduction(w.mop, in)
	require.NoError(t, err)
	require.NotNil(t, out.Request)
	r := out.Request
	require.Equal(t, ActRecordProduction, r.Action)
	require.Equal(t, j.ID, r.Target)
	require.Equal(t, []people.Role{people.Supervisor}, r.ApproverRoles)

	// One waits per job.
	_, err = s.RecordProduction(w.op, in)
	require.ErrorIs(t, err, ErrBadState)

	// The reviewer sees what they sign; the requester and auditors too; a stranger role not.
	view, err := s.PendingRecord(w.sup, r.ID)
	require.NoError(t, err)
	require.Equal(t, records.KindProduction, view.Kind)
	p := view.Record.(records.Production)
	require.Equal(t, "dave", p.Operator)
	require.Empty(t, p.Reviewer)
	require.Equal(t, "bank", p.Customer)
	require.Equal(t, "emb1", p.Equipment)
	require.Equal(t, j.ID, p.WorkOrder, "the work order defaults to the job id")
	require.Nil(t, view.Request.Params)
	_, err = s.PendingRecord(w.aud, r.ID)
	require.NoError(t, err)
	_, err = s.PendingRecord(w.admin, r.ID)
	require.ErrorIs(t, err, ErrForbidden)

	// Nobody reviews their own record; an operator is no reviewer.
	_, _, err = s.Approve(w.mop, r.ID)
	require.ErrorIs(t, err, ErrSelfApproval)
	_, _, err = s.Approve(w.op, r.ID)
	require.ErrorIs(t, err, ErrForbidden)

	_, res, err := s.Approve(w.sup, r.ID)
	require.NoError(t, err)
	require.Contains(t, res, "reviewer carol")
	e := lastEntry(t, s, "record.production")
	require.Equal(t, "ok", e.Outcome)
	require.Equal(t, "dave", e.Actor)
	require.Equal(t, "carol", e.Approver)
	require.Equal(t, r.ID, e.Request)
	require.Equal(t, "dave(1001)", e.OSUser, "the requester's OS user")
	require.Equal(t, j.ID, e.Job)
	require.Equal(t, "bank", e.Issuer)
	require.Equal(t, "emb1", e.Machine)
	got, err := records.ProductionFromEntry(e)
	require.NoError(t, err)
	require.Equal(t, "carol", got.Reviewer)
	require.Equal(t, 12, got.IssuedFromVault)
	require.Equal(t, "normal run", got.Note)

	// After approval the view shows the reviewer.
	view, err = s.PendingRecord(w.mop, r.ID)
	require.NoError(t, err)
	require.Equal(t, "carol", view.Record.(records.Production).Reviewer)
}

func TestRecordProductionRefusals(t *testing.T) {
	w := newRecordWorld(t)
	s := w.s
	ready := addJob(t, s, "bank")
	other := pushedJob(t, s, "bank", "emb2")
	good := func(job string) ProductionInput {
		return ProductionInput{Job: job, Product: "GOLD", IssuedFromVault: 1, HandedOver: 1, EquipmentLog: "p. 1"}
	}
	cases := []struct {
		name string
		c    Caller
		in   ProductionInput
		want error
	}{
		{"supervisor may not request", w.sup, good(other.ID), ErrForbidden},
		{"admin may not request", w.admin, good(other.ID), ErrForbidden},
		{"not yet pushed", w.op, good(ready.ID), ErrBadState},
		{"machine operator not on its machine", w.mop, good(other.ID), ErrForbidden},
		{"no such job", w.op, good("J999999"), ErrBadInput},
		{"bad job id", w.op, good("4000001234567899"), ErrBadInput},
		{"negative count", w.op, func() ProductionInput { in := good(other.ID); in.Rejected = -1; return in }(), ErrBadInput},
		{"no product", w.op, func() ProductionInput { in := good(other.ID); in.Product = ""; return in }(), ErrBadInput},
		{"PAN in the note", w.op, func() ProductionInput { in := good(other.ID); in.Note = "card 4000001234567899"; return in }(), ErrBadInput},
		{"in the future", w.op, func() ProductionInput { in := good(other.ID); in.At = time.Now().Add(time.Hour); return in }(), ErrBadInput},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.RecordProduction(c.c, c.in)
			require.ErrorIs(t, err, c.want)
			require.NotErrorIs(t, err, ErrAuditFailed, "the refusal is audited")
			e := lastEntry(t, s, "request.create")
			require.Equal(t, "refused", e.Outcome)
			require.Equal(t, c.c.Name, e.Actor)
			require.Equal(t, ActRecordProduction, e.Detail["action"])
		})
	}
	for _, e := range events(t, s) {
		raw, _ := json.Marshal(e)
		require.False(t, audit.ContainsPAN(string(raw)), "no PAN in the log: %s", raw)
	}
}

func TestRecordDestructionWitnesses(t *testing.T) {
	w := newRecordWorld(t)
	s := w.s
	base := DestructionInput{WorkOrder: "WO-7", Product: "GOLD", Source: records.SourceProduction, Count: 4, Method: "shredder S2"}
	with := func(ws ...records.Witness) DestructionInput { in := base; in.Witnesses = ws; return in }
	for name, in := range map[string]DestructionInput{
		"two witnesses":         with(threeWitnesses[:2]...),
		"two departments":       with(threeWitnesses[0], threeWitnesses[1], records.Witness{Name: "Lou Fay", Department: records.DeptSecurity}),
		"executor as witness":   with(threeWitnesses[0], threeWitnesses[1], records.Witness{Name: "Bob", Department: records.DeptWarehouse}),
		"unknown department":    with(threeWitnesses[0], threeWitnesses[1], records.Witness{Name: "Lou Fay", Department: "canteen"}),
		"same witness twice":    with(threeWitnesses[0], threeWitnesses[1], threeWitnesses[2], threeWitnesses[0]),
		"no cards":              func() DestructionInput { in := with(threeWitnesses...); in.Count = 0; return in }(),
		"source neither":        func() DestructionInput { in := with(threeWitnesses...); in.Source = "vault"; return in }(),
		"witness name with PAN": with(threeWitnesses[0], threeWitnesses[1], records.Witness{Name: "4000001234567899", Department: records.DeptWarehouse}),
	} {
		_, err := s.RecordDestruction(w.op, in)
		require.ErrorIs(t, err, ErrBadInput, name)
		require.NotErrorIs(t, err, ErrAuditFailed, name)
		e := lastEntry(t, s, "request.create")
		require.Equal(t, "refused", e.Outcome, name)
		require.Equal(t, ActRecordDestruction, e.Detail["action"], name)
	}
	_, err := s.RecordDestruction(w.aud, with(threeWitnesses...))
	require.ErrorIs(t, err, ErrForbidden)

	out, err := s.RecordDestruction(w.op, with(threeWitnesses...))
	require.NoError(t, err)
	_, _, err = s.Approve(w.sup, out.Request.ID)
	require.NoError(t, err)
	e := lastEntry(t, s, "record.destruction")
	require.Equal(t, "bob", e.Actor, "the executor is the requester")
	require.Equal(t, "carol", e.Approver, "the approving supervisor is in the entry")
	d, err := records.DestructionFromEntry(e)
	require.NoError(t, err)
	require.Equal(t, threeWitnesses, d.Witnesses)

	// A supervisor may execute; another supervisor approves.
	out, err = s.RecordDestruction(w.sup, with(threeWitnesses...))
	require.NoError(t, err)
	_, _, err = s.Approve(w.sup, out.Request.ID)
	require.ErrorIs(t, err, ErrSelfApproval)
	_, _, err = s.Approve(w.sup2, out.Request.ID)
	require.NoError(t, err)
}

// The record is validated again at approval, with the approver filled in:
// a request whose stored record went bad is refused, audited, not recorded.
func TestRecordValidatedAgainAtApproval(t *testing.T) {
	w := newRecordWorld(t)
	s := w.s
	out, err := s.RecordVaultMovement(w.op, VaultMovementInput{Direction: records.Out, Product: "GOLD", Quantity: 20, Reference: "RET-1"})
	require.NoError(t, err)
	_, err = s.Store.UpdateRequest(out.Request.ID, func(r *state.Request) error {
		r.Params[paramRecord] = strings.Replace(r.Params[paramRecord], `"quantity":20`, `"quantity":-20`, 1)
		return nil
	})
	require.NoError(t, err)
	_, _, err = s.Approve(w.sup, out.Request.ID)
	require.ErrorIs(t, err, ErrBadInput)
	e := lastEntry(t, s, "record.vault_movement")
	require.Equal(t, "refused", e.Outcome)
	require.Equal(t, out.Request.ID, e.Request)
	require.Equal(t, "carol", e.Approver)

	// A record whose first signer is not the requester is refused too.
	out, err = s.RecordVaultCount(w.op, VaultCountInput{Month: "2026-01", Product: "GOLD", Counted: 480})
	require.NoError(t, err)
	_, err = s.Store.UpdateRequest(out.Request.ID, func(r *state.Request) error {
		r.Params[paramRecord] = strings.Replace(r.Params[paramRecord], `"counted_by":"bob"`, `"counted_by":"mallory"`, 1)
		return nil
	})
	require.NoError(t, err)
	_, _, err = s.Approve(w.sup, out.Request.ID)
	require.ErrorIs(t, err, ErrBadInput)
	for _, e := range events(t, s) {
		if strings.HasPrefix(e.Event, "record.") {
			require.NotEqual(t, "ok", e.Outcome, "nothing was recorded: %+v", e)
		}
	}
}

func TestRecordSpotCheckOneSignature(t *testing.T) {
	w := newRecordWorld(t)
	s := w.s
	j := pushedJob(t, s, "bank", "emb1")
	_, err := s.RecordSpotCheck(w.mop, SpotCheckInput{Job: j.ID, SampleSize: 10, Result: records.ResultPass})
	require.ErrorIs(t, err, ErrForbidden)
	_, err = s.RecordSpotCheck(w.op, SpotCheckInput{Job: j.ID, SampleSize: 10, Defects: 11, Result: records.ResultFail})
	require.ErrorIs(t, err, ErrBadInput)
	require.Equal(t, "refused", lastEntry(t, s, "record.spot_check").Outcome)
	res, err := s.RecordSpotCheck(w.sup, SpotCheckInput{Job: j.ID, SampleSize: 10, Defects: 1, Result: records.ResultFail, Note: "emboss faint"})
	require.NoError(t, err)
	require.Contains(t, res, "inspected by carol")
	e := lastEntry(t, s, "record.spot_check")
	require.Equal(t, "ok", e.Outcome)
	sc, err := records.SpotCheckFromEntry(e)
	require.NoError(t, err)
	require.Equal(t, "carol", sc.Inspector)
	require.Equal(t, j.ID, sc.WorkOrder)
	require.Equal(t, "bank", e.Issuer)
}

func TestReportsFromTheVerifiedLog(t *testing.T) {
	w := newRecordWorld(t)
	s := w.s
	j := pushedJob(t, s, "bank", "emb1")
	require.NoError(t, s.record(audit.Entry{Event: "job.push", Outcome: "ok", Actor: "dave", Job: j.ID, Issuer: "bank", Machine: "emb1",
		Detail: map[string]string{"sha256": j.OutputSHA256}}))

	// Machine operators never read reports (counts are blind); refused and audited.
	_, err := s.JobReport(w.mop, j.ID, "")
	require.ErrorIs(t, err, ErrForbidden)
	require.Equal(t, "refused", lastEntry(t, s, "report.job").Outcome)
	_, err = s.MonthReport(w.mop, "2026-01", "")
	require.ErrorIs(t, err, ErrForbidden)
	_, err = s.JobReport(w.op, j.ID, "pdf")
	require.ErrorIs(t, err, ErrBadInput)
	_, err = s.MonthReport(w.op, "2026-1", "")
	require.ErrorIs(t, err, ErrBadInput)

	for _, c := range []Caller{w.op, w.sup, w.aud, w.admin} {
		txt, err := s.JobReport(c, j.ID, FormatText)
		require.NoError(t, err, c.Role)
		require.Contains(t, txt, "PRODUCTION CONTROL RECORD — job "+j.ID)
	}
	raw, err := s.JobReport(w.aud, j.ID, FormatJSON)
	require.NoError(t, err)
	var cr records.ControlRecord
	require.NoError(t, json.Unmarshal([]byte(raw), &cr))
	require.Equal(t, j.ID, cr.Job)
	require.NotZero(t, cr.AuditHead.Seq)
	page, err := s.JobReport(w.aud, j.ID, FormatHTML)
	require.NoError(t, err)
	require.Contains(t, page, "<html")
	e := lastEntry(t, s, "report.job")
	require.Equal(t, "ok", e.Outcome)
	require.Equal(t, "ann", e.Actor)
	require.Equal(t, "html", e.Detail["format"])

	month := time.Now().UTC().Format("2006-01")
	raw, err = s.MonthReport(w.sup, month, FormatJSON)
	require.NoError(t, err)
	var mr records.MonthReport
	require.NoError(t, json.Unmarshal([]byte(raw), &mr))
	require.Equal(t, month, mr.Month)

	// A changed byte anywhere in the log: no report, and the refusal is audited.
	files, _ := filepath.Glob(filepath.Join(s.Home.Audit(), "*.jsonl"))
	require.NotEmpty(t, files)
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	i := strings.Index(string(b), `"actor":"dave"`)
	require.Positive(t, i)
	b[i+len(`"actor":"`)] = 'D'
	require.NoError(t, os.WriteFile(files[0], b, 0o600))
	_, err = s.JobReport(w.op, j.ID, "")
	require.ErrorIs(t, err, ErrAuditBroken)
	_, err = s.MonthReport(w.op, month, "")
	require.ErrorIs(t, err, ErrAuditBroken)
	b, _ = os.ReadFile(files[0])
	require.Contains(t, string(b), `"event":"report.month","outcome":"refused"`)
}

// readAudit reads only entries up to the verified head, and always the last.
func TestReadAuditKeepsTheHead(t *testing.T) {
	w := newRecordWorld(t)
	s := w.s
	for i := range 5 {
		require.NoError(t, s.record(audit.Entry{Event: "test.filler", Outcome: "ok", Actor: fmt.Sprint("p", i)}))
	}
	es, err := s.readAudit(func(*audit.Entry) bool { return false })
	require.NoError(t, err)
	require.Len(t, es, 1)
	seq, hash := s.Audit.Head()
	require.Equal(t, seq, es[0].Seq)
	require.Equal(t, hash, es[0].Hash)
	es, err = s.readAudit(func(e *audit.Entry) bool { return e.Actor == "p2" })
	require.NoError(t, err)
	require.Len(t, es, 2)
	require.Equal(t, "p2", es[0].Actor)
	require.Equal(t, seq, es[1].Seq)
}
