package pipeline

// The bureau's control records (package records) as the daemon keeps them:
// entered by authenticated people, dual-controlled where the record carries
// a second signature, appended to the audit log as "record.*" entries; and
// the reports built from the log and the state.
//
// A record with two signatures is a request (ask/Approve, one Policies row
// per kind): the requester is the first signer, the approver the second
// (reviewer, counter-signer, witness). Names always come from the
// authenticated callers, never from what was typed; only destruction
// witnesses, who may have no account, are typed. The record is validated
// when asked for, with a placeholder second signer, and again at approval
// with the approver filled in.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/pipeline/people"
	"github.com/dataprep/dataprep/pipeline/records"
	"github.com/dataprep/dataprep/pipeline/state"
)

// What people type for each kind of record. Who signs is not here: the
// daemon takes it from the sessions.
type (
	// ProductionInput is a job's production control record. Customer and
	// equipment come from the job (its issuer and machine).
	ProductionInput struct {
		Job                   string    `json:"job"`
		WorkOrder             string    `json:"work_order,omitempty"` // default: the job id (one job is one work order)
		Product               string    `json:"product"`
		IssuedFromVault       int       `json:"issued_from_vault"`
		RemainingFromPrevious int       `json:"remaining_from_previous"`
		HandedOver            int       `json:"handed_over"`
		ReturnedToVault       int       `json:"returned_to_vault"`
		Rejected              int       `json:"rejected"`
		Samples               int       `json:"samples"`
		EquipmentLog          string    `json:"equipment_log"`
		At                    time.Time `json:"at,omitzero"` // default: now
		Note                  string    `json:"note,omitempty"`
	}
	// FailureInput is an equipment failure or blockage.
	FailureInput struct {
		Type      string    `json:"type"`                // failure or blockage
		Equipment string    `json:"equipment,omitempty"` // default: the job's machine
		WorkOrder string    `json:"work_order,omitempty"`
		Job       string    `json:"job,omitempty"`
		Cause     string    `json:"cause"`
		At        time.Time `json:"at,omitzero"`
		Note      string    `json:"note,omitempty"`
	}
	// DestructionInput is a card destruction; the caller is the executor.
	DestructionInput struct {
		WorkOrder string            `json:"work_order,omitempty"`
		Job       string            `json:"job,omitempty"`
		Product   string            `json:"product"`
		Source    string            `json:"source"` // production or stock
		Count     int               `json:"count"`
		Method    string            `json:"method,omitempty"`
		Witnesses []records.Witness `json:"witnesses"`
		At        time.Time         `json:"at,omitzero"`
		Note      string            `json:"note,omitempty"`
	}
	// SpotCheckInput is a quality spot check; the caller is the inspector.
	SpotCheckInput struct {
		WorkOrder  string    `json:"work_order,omitempty"`
		Job        string    `json:"job,omitempty"`
		SampleSize int       `json:"sample_size"`
		Defects    int       `json:"defects"`
		Result     string    `json:"result"` // pass or fail
		At         time.Time `json:"at,omitzero"`
		Note       string    `json:"note,omitempty"`
	}
	// VaultMovementInput is white cards into or out of the vault stock.
	VaultMovementInput struct {
		Direction string    `json:"direction"` // in or out
		Product   string    `json:"product"`
		Quantity  int       `json:"quantity"`
		Reference string    `json:"reference"`
		At        time.Time `json:"at,omitzero"`
		Note      string    `json:"note,omitempty"`
	}
	// VaultCountInput is the month-end count of one product.
	VaultCountInput struct {
		Month   string    `json:"month"`
		Product string    `json:"product"`
		Counted int       `json:"counted"`
		At      time.Time `json:"at,omitzero"`
		Note    string    `json:"note,omitempty"`
	}
)

// pendingSigner stands in for the second signer while a record waits for
// approval. It cannot be an account name (people.CheckName), so it can be
// neither the requester nor mistaken for a person.
const pendingSigner = "(awaiting approval)"

// Request parameters of a record request.
const (
	paramRecord = "record"  // the record as JSON, second signer empty
	paramOSUser = "os_user" // the requester's OS user, for the record's entry
)

// recordKind maps a record action to its kind.
func recordKind(action string) string { return strings.TrimPrefix(action, records.EventPrefix) }

// at is when the thing happened: what was typed, or now; to the second, and
// not in the future (a clock minute of slack).
func (s *Service) at(t time.Time) (time.Time, error) {
	now := s.now()
	if t.IsZero() {
		return now.Truncate(time.Second), nil
	}
	if t.After(now.Add(time.Minute)) {
		return time.Time{}, fmt.Errorf("%w: --at is in the future", ErrBadInput)
	}
	return t.UTC().Truncate(time.Second), nil
}

// invalid turns a records refusal into the daemon's input error; the
// records package never quotes the refused value.
func invalid(err error) error { return fmt.Errorf("%w: %v", ErrBadInput, err) }

// recordJob looks up the job a record names (optional unless required).
func (s *Service) recordJob(id string, required bool) (state.Job, error) {
	if id == "" {
		if required {
			return state.Job{}, fmt.Errorf("%w: a job id is required", ErrBadInput)
		}
		return state.Job{}, nil
	}
	if err := checkJobID(id); err != nil {
		return state.Job{}, err
	}
	j, err := s.Store.Job(id)
	if errors.Is(err, state.ErrNotFound) {
		return j, fmt.Errorf("%w: no job %s", ErrBadInput, id)
	}
	return j, err
}

// askRecord validates rec with a placeholder second signer and makes it a
// request. e is the request.create entry audited on refusal.
func (s *Service) askRecord(c Caller, e audit.Entry, action, target string, rec records.Record) (Outcome, error) {
	if err := withSecondSigner(rec, pendingSigner).Validate(); err != nil {
		return Outcome{}, s.refuse(e, invalid(err))
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return Outcome{}, err
	}
	return s.ask(c, action, target, map[string]string{paramRecord: string(raw), paramOSUser: c.OSUser})
}

// withSecondSigner returns rec with its second signature set to name. A
// destruction has none in the record: its approver goes into the entry.
func withSecondSigner(rec records.Record, name string) records.Record {
	switch r := rec.(type) {
	case records.Production:
		r.Reviewer = name
		return r
	case records.Failure:
		r.Reviewer = name
		return r
	case records.VaultMovement:
		r.CounterSigner = name
		return r
	case records.VaultCount:
		r.WitnessedBy = name
		return r
	}
	return rec
}

// firstSigner is the person who asked for rec.
func firstSigner(rec records.Record) string {
	switch r := rec.(type) {
	case records.Production:
		return r.Operator
	case records.Failure:
		return r.Operator
	case records.Destruction:
		return r.Executor
	case records.VaultMovement:
		return r.Person
	case records.VaultCount:
		return r.CountedBy
	case records.SpotCheck:
		return r.Inspector
	}
	return ""
}

// decodeRecord reads the record a request holds.
func decodeRecord(action, raw string) (records.Record, error) {
	dec := func(v any) error {
		d := json.NewDecoder(strings.NewReader(raw))
		d.DisallowUnknownFields()
		return d.Decode(v)
	}
	var (
		rec records.Record
		err error
	)
	switch action {
	case ActRecordProduction:
		rec, err = decodeAs[records.Production](dec)
	case ActRecordFailure:
		rec, err = decodeAs[records.Failure](dec)
	case ActRecordDestruction:
		rec, err = decodeAs[records.Destruction](dec)
	case ActRecordVault:
		rec, err = decodeAs[records.VaultMovement](dec)
	case ActRecordVaultCount:
		rec, err = decodeAs[records.VaultCount](dec)
	default:
		return nil, fmt.Errorf("%w: %s is not a record action", ErrBadInput, action)
	}
	if err != nil {
		return nil, fmt.Errorf("request holds no readable %s record: %v", recordKind(action), err)
	}
	return rec, nil
}

// RecordProduction asks for a job's production control record. The caller
// is the operator; the approving supervisor is the reviewer.
func (s *Service) RecordProduction(c Caller, in ProductionInput) (Outcome, error) {
	e := audit.Entry{Event: "request.create", Actor: c.Name, OSUser: c.OSUser, Job: jobIDOrEmpty(in.Job),
		Detail: map[string]string{"action": ActRecordProduction, "target": jobIDOrEmpty(in.Job)}}
	if err := mayRequest(c, ActRecordProduction); err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	j, err := s.recordJob(in.Job, true)
	if err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	e.Issuer, e.Machine = j.Issuer, j.Machine
	switch j.State {
	case state.Pushed, state.Deleted, state.Closed:
	default:
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: job %s is %s; its production is recorded after it was pushed to a machine", ErrBadState, j.ID, j.State))
	}
	if j.Machine == "" {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: job %s names no machine", ErrBadState, j.ID))
	}
	if c.Role == people.MachineOperator {
		m, err := s.Store.Machine(j.Machine)
		if err != nil || !slices.Contains(m.Operators, c.Name) {
			return Outcome{}, s.refuse(e, fmt.Errorf("%w: %s is not authorized on machine %s", ErrForbidden, c.Name, j.Machine))
		}
	}
	if id, ok := s.pendingFor(ActRecordProduction, j.ID); ok {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: request %s already waits to record the production of %s", ErrBadState, id, j.ID))
	}
	at, err := s.at(in.At)
	if err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	wo := in.WorkOrder
	if wo == "" {
		wo = j.ID
	}
	rec := records.Production{Job: j.ID, WorkOrder: wo, Customer: j.Issuer, Product: in.Product,
		IssuedFromVault: in.IssuedFromVault, RemainingFromPrevious: in.RemainingFromPrevious, HandedOver: in.HandedOver,
		ReturnedToVault: in.ReturnedToVault, Rejected: in.Rejected, Samples: in.Samples,
		Equipment: j.Machine, EquipmentLog: in.EquipmentLog, Operator: c.Name, At: at, Note: in.Note}
	return s.askRecord(c, e, ActRecordProduction, j.ID, rec)
}

// RecordFailure asks for an equipment failure or blockage record. The
// caller is the operator; the approving supervisor is the reviewer.
func (s *Service) RecordFailure(c Caller, in FailureInput) (Outcome, error) {
	e := audit.Entry{Event: "request.create", Actor: c.Name, OSUser: c.OSUser, Job: jobIDOrEmpty(in.Job),
		Detail: map[string]string{"action": ActRecordFailure}}
	if err := mayRequest(c, ActRecordFailure); err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	j, err := s.recordJob(in.Job, false)
	if err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	e.Issuer = j.Issuer
	equipment, wo := in.Equipment, in.WorkOrder
	if equipment == "" {
		equipment = j.Machine
	}
	if wo == "" {
		wo = j.ID
	}
	at, err := s.at(in.At)
	if err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	rec := records.Failure{Type: in.Type, Equipment: equipment, WorkOrder: wo, Job: j.ID, Cause: in.Cause,
		Operator: c.Name, At: at, Note: in.Note}
	target := equipment // only logged once the record is valid: it was typed
	if j.ID != "" {
		target = j.ID
	}
	return s.askRecord(c, e, ActRecordFailure, target, rec)
}

// RecordDestruction asks for a card destruction record. The caller is the
// executor; the witnesses are named; a supervisor approves.
func (s *Service) RecordDestruction(c Caller, in DestructionInput) (Outcome, error) {
	e := audit.Entry{Event: "request.create", Actor: c.Name, OSUser: c.OSUser, Job: jobIDOrEmpty(in.Job),
		Detail: map[string]string{"action": ActRecordDestruction}}
	if err := mayRequest(c, ActRecordDestruction); err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	j, err := s.recordJob(in.Job, false)
	if err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	e.Issuer = j.Issuer
	at, err := s.at(in.At)
	if err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	wo := in.WorkOrder
	if wo == "" {
		wo = j.ID
	}
	rec := records.Destruction{WorkOrder: wo, Job: j.ID, Product: in.Product, Source: in.Source, Count: in.Count,
		Method: in.Method, Executor: c.Name, Witnesses: in.Witnesses, At: at, Note: in.Note}
	target := wo // only logged once the record is valid: it was typed
	if j.ID != "" {
		target = j.ID
	}
	return s.askRecord(c, e, ActRecordDestruction, target, rec)
}

// RecordVaultMovement asks for a vault stock movement record. The caller
// counted the cards; the approving supervisor counter-signs.
func (s *Service) RecordVaultMovement(c Caller, in VaultMovementInput) (Outcome, error) {
	target := fmt.Sprintf("%s %d %s", in.Direction, in.Quantity, in.Product)
	e := audit.Entry{Event: "request.create", Actor: c.Name, OSUser: c.OSUser,
		Detail: map[string]string{"action": ActRecordVault}}
	if err := mayRequest(c, ActRecordVault); err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	at, err := s.at(in.At)
	if err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	rec := records.VaultMovement{Direction: in.Direction, Product: in.Product, Quantity: in.Quantity,
		Reference: in.Reference, Person: c.Name, At: at, Note: in.Note}
	return s.askRecord(c, e, ActRecordVault, target, rec) // the target, built from what was typed, is logged once valid
}

// RecordVaultCount asks for a month-end vault count record. The caller
// counted; the approving supervisor witnessed.
func (s *Service) RecordVaultCount(c Caller, in VaultCountInput) (Outcome, error) {
	e := audit.Entry{Event: "request.create", Actor: c.Name, OSUser: c.OSUser,
		Detail: map[string]string{"action": ActRecordVaultCount}}
	if err := mayRequest(c, ActRecordVaultCount); err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	at, err := s.at(in.At)
	if err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	rec := records.VaultCount{Month: in.Month, Product: in.Product, Counted: in.Counted, CountedBy: c.Name, At: at, Note: in.Note}
	return s.askRecord(c, e, ActRecordVaultCount, in.Month+" "+in.Product, rec)
}

// RecordSpotCheck writes a quality spot-check record at once: it carries
// one signature, the caller's (an operator or a supervisor).
func (s *Service) RecordSpotCheck(c Caller, in SpotCheckInput) (string, error) {
	e := audit.Entry{Event: records.EventPrefix + records.KindSpotCheck, Actor: c.Name, OSUser: c.OSUser, Job: jobIDOrEmpty(in.Job)}
	if c.Role != people.Operator && c.Role != people.Supervisor {
		return "", s.refuse(e, fmt.Errorf("%w: a spot check is recorded by an operator or a supervisor, you are %s", ErrForbidden, c.Role))
	}
	j, err := s.recordJob(in.Job, false)
	if err != nil {
		return "", s.refuse(e, err)
	}
	e.Issuer, e.Machine = j.Issuer, j.Machine
	at, err := s.at(in.At)
	if err != nil {
		return "", s.refuse(e, err)
	}
	wo := in.WorkOrder
	if wo == "" {
		wo = j.ID
	}
	rec := records.SpotCheck{WorkOrder: wo, Job: j.ID, SampleSize: in.SampleSize, Defects: in.Defects,
		Result: in.Result, Inspector: c.Name, At: at, Note: in.Note}
	if err := rec.Validate(); err != nil {
		return "", s.refuse(e, invalid(err))
	}
	re := rec.Entry()
	re.OSUser, re.Issuer, re.Machine = c.OSUser, j.Issuer, j.Machine
	if err := s.record(re); err != nil {
		return "", err
	}
	return fmt.Sprintf("spot check of work order %s recorded: %s, %d defects in %d cards, inspected by %s", wo, rec.Result, rec.Defects, rec.SampleSize, c.Name), nil
}

// jobIDOrEmpty is id if it is a job id, else "": what was typed goes into
// a refusal's entry only once it is known to be harmless.
func jobIDOrEmpty(id string) string {
	if !jobIDRE.MatchString(id) {
		return ""
	}
	return id
}

// pendingFor finds a pending, unexpired request for action on target.
func (s *Service) pendingFor(action, target string) (string, bool) {
	rs, err := s.Store.Requests()
	if err != nil {
		return "", false
	}
	for _, r := range rs {
		if r.Action == action && r.Target == target && r.State == state.Pending && s.now().Before(r.Expires) {
			return r.ID, true
		}
	}
	return "", false
}

// doRecord runs an approved record request: the approver is the second
// signer; the record is checked again with their name and appended.
func (s *Service) doRecord(r state.Request, approver string) (string, error) {
	e := audit.Entry{Event: records.EventPrefix + recordKind(r.Action), Actor: r.Requester, Approver: approver,
		OSUser: r.Params[paramOSUser], Request: r.ID}
	if approver == "" {
		// Records never take the bootstrap path: the second signature is the record.
		return "", s.refuse(e, fmt.Errorf("%w: a %s record needs a second signature", ErrForbidden, recordKind(r.Action)))
	}
	rec, err := decodeRecord(r.Action, r.Params[paramRecord])
	if err != nil {
		return "", s.refuse(e, err)
	}
	if firstSigner(rec) != r.Requester {
		return "", s.refuse(e, fmt.Errorf("%w: the record's first signer is not the requester", ErrBadInput))
	}
	rec = withSecondSigner(rec, approver)
	if err := rec.Validate(); err != nil {
		return "", s.refuse(e, invalid(err))
	}
	re := rec.Entry()
	re.Request, re.OSUser = r.ID, r.Params[paramOSUser]
	if rec.Kind() == records.KindDestruction {
		re.Approver = approver // the supervisor who approved; the witnesses are in the detail
	}
	if j := re.Job; j != "" && re.Issuer == "" {
		if job, err := s.Store.Job(j); err == nil {
			re.Issuer = job.Issuer
		}
	}
	if err := s.record(re); err != nil {
		return "", err
	}
	return recordDone(rec, r.Requester, approver), nil
}

// recordDone is the one line that tells both signers what was recorded.
func recordDone(rec records.Record, requester, approver string) string {
	switch r := rec.(type) {
	case records.Production:
		return fmt.Sprintf("production control record of %s recorded: operator %s, reviewer %s", r.Job, requester, approver)
	case records.Failure:
		return fmt.Sprintf("equipment %s of %s recorded: operator %s, reviewer %s", r.Type, r.Equipment, requester, approver)
	case records.Destruction:
		return fmt.Sprintf("destruction of %d %s cards recorded: executor %s, %d witnesses, approved by %s", r.Count, r.Product, requester, len(r.Witnesses), approver)
	case records.VaultMovement:
		return fmt.Sprintf("vault %s of %d %s recorded: by %s, counter-signed by %s", r.Direction, r.Quantity, r.Product, requester, approver)
	case records.VaultCount:
		return fmt.Sprintf("vault count %s of %s recorded: %d counted by %s, witnessed by %s", r.Month, r.Product, r.Counted, requester, approver)
	}
	return rec.Kind() + " record recorded"
}

// RecordRequest is a record waiting for its second signature, as the
// reviewer sees it before approving.
type RecordRequest struct {
	Request state.Request  `json:"request"`
	Kind    string         `json:"kind"`
	Record  records.Record `json:"record"`
}

// PendingRecord shows the record a request holds to the requester, to the
// people who may approve it and to auditors: a reviewer signs what they saw.
func (s *Service) PendingRecord(c Caller, id string) (RecordRequest, error) {
	r, err := s.Store.Request(id)
	if errors.Is(err, state.ErrNotFound) {
		return RecordRequest{}, fmt.Errorf("%w: no request %s", ErrBadInput, shown(id))
	} else if err != nil {
		return RecordRequest{}, err
	}
	if !strings.HasPrefix(r.Action, records.EventPrefix) {
		return RecordRequest{}, fmt.Errorf("%w: %s is a %s request, not a control record", ErrBadInput, id, r.Action)
	}
	if c.Name != r.Requester && c.Role != people.Auditor && !slices.Contains(r.ApproverRoles, c.Role) {
		return RecordRequest{}, fmt.Errorf("%w: only the requester, a %s or an auditor sees request %s", ErrForbidden, roles(r.ApproverRoles), id)
	}
	rec, err := decodeRecord(r.Action, r.Params[paramRecord])
	if err != nil {
		return RecordRequest{}, err
	}
	if r.State == state.Approved && r.Decider != "" {
		rec = withSecondSigner(rec, r.Decider)
	}
	r.Params = nil
	return RecordRequest{Request: r, Kind: rec.Kind(), Record: rec}, nil
}

// ---- reports ----

// Report formats.
const (
	FormatText = "text"
	FormatJSON = "json"
	FormatHTML = "html"
)

// ErrAuditBroken: a report is refused because the audit log does not verify.
var ErrAuditBroken = errors.New("the audit log does not verify: no report is made from a broken log (run 'dataprep audit verify')")

// mayReadReports: auditors, supervisors, operators and administrators.
// Machine operators may not: a job's report shows its expected card count
// (counts are blind, invariant 9).
func mayReadReports(r people.Role) bool {
	return r == people.Auditor || r == people.Supervisor || r == people.Operator || r == people.Admin
}

func render(format string, rep records.Report) (string, error) {
	var b bytes.Buffer
	var err error
	switch format {
	case FormatText:
		err = records.RenderText(&b, rep)
	case FormatJSON:
		err = records.RenderJSON(&b, rep)
	case FormatHTML:
		err = records.RenderHTML(&b, rep)
	default:
		return "", fmt.Errorf("%w: format %s: want text, json or html", ErrBadInput, shown(format))
	}
	return b.String(), err
}

func checkFormat(format string) error {
	switch format {
	case "", FormatText, FormatJSON, FormatHTML:
		return nil
	}
	return fmt.Errorf("%w: format must be text, json or html", ErrBadInput)
}

// JobReport renders a job's production control record from its state and
// the verified audit log.
func (s *Service) JobReport(c Caller, id, format string) (string, error) {
	e := audit.Entry{Event: "report.job", Actor: c.Name, OSUser: c.OSUser, Job: jobIDOrEmpty(id), Detail: map[string]string{}}
	if !mayReadReports(c.Role) {
		return "", s.refuse(e, fmt.Errorf("%w: a job's control record shows its expected card count, which machine operators do not see (counts are blind); you are %s", ErrForbidden, c.Role))
	}
	if err := checkFormat(format); err != nil {
		return "", s.refuse(e, err)
	}
	if format == "" {
		format = FormatText
	}
	e.Detail["format"] = format
	if err := checkJobID(id); err != nil {
		return "", s.refuse(e, err)
	}
	// State first, then the log: every step is audited before the state
	// changes, so the log read after the state covers all it says.
	j, err := s.Store.Job(id)
	if errors.Is(err, state.ErrNotFound) {
		return "", s.refuse(e, fmt.Errorf("%w: no job %s", ErrBadInput, id))
	} else if err != nil {
		return "", err
	}
	e.Issuer, e.Machine = j.Issuer, j.Machine
	entries, err := s.readAudit(mentionsJob(j.ID))
	if err != nil {
		return "", s.refuse(e, err)
	}
	cr, err := records.JobControlRecord(j, entries)
	if err != nil {
		return "", err
	}
	out, err := render(format, cr)
	if err != nil {
		return "", err
	}
	e.Outcome = audit.OutcomeOK
	e.Detail["audit_head"] = strconv.FormatUint(cr.AuditHead.Seq, 10)
	if err := s.record(e); err != nil {
		return "", err
	}
	return out, nil
}

// MonthReport renders the month-end vault reconciliation of month (YYYY-MM)
// from the jobs and the verified audit log.
func (s *Service) MonthReport(c Caller, month, format string) (string, error) {
	e := audit.Entry{Event: "report.month", Actor: c.Name, OSUser: c.OSUser, Detail: map[string]string{}}
	if !mayReadReports(c.Role) {
		return "", s.refuse(e, fmt.Errorf("%w: reports are read by auditors, supervisors, operators and administrators; you are %s", ErrForbidden, c.Role))
	}
	if err := checkFormat(format); err != nil {
		return "", s.refuse(e, err)
	}
	if format == "" {
		format = FormatText
	}
	e.Detail["format"] = format
	if _, err := records.ParseMonth(month); err != nil {
		return "", s.refuse(e, fmt.Errorf("%w: month must be written YYYY-MM", ErrBadInput))
	}
	e.Detail["month"] = month
	jobs, err := s.Store.Jobs()
	if err != nil {
		return "", err
	}
	// Control records, and the logged counts the month is checked against.
	entries, err := s.readAudit(func(e *audit.Entry) bool {
		return strings.HasPrefix(e.Event, records.EventPrefix) || e.Event == "job.counts"
	})
	if err != nil {
		return "", s.refuse(e, err)
	}
	mr, err := records.Month(month, jobs, entries)
	if err != nil {
		return "", err
	}
	out, err := render(format, mr)
	if err != nil {
		return "", err
	}
	e.Outcome = audit.OutcomeOK
	e.Detail["audit_head"] = strconv.FormatUint(mr.AuditHead.Seq, 10)
	e.Detail["reconciled"] = strconv.FormatBool(mr.Reconciled)
	if err := s.record(e); err != nil {
		return "", err
	}
	return out, nil
}

// readAudit verifies the whole audit log (links and signed checkpoints) and
// returns, from that same pass, the entries want accepts (the records
// package filters them again) and always the last entry, which names the
// state of the log a report shows. Nothing is read twice, so nothing can
// change between the check and the report. A log that does not verify
// gives ErrAuditBroken. Only the kept entries are held in memory.
func (s *Service) readAudit(want func(*audit.Entry) bool) ([]audit.Entry, error) {
	// As 'dataprep audit verify' does: every link, and every checkpoint's
	// signature with the data room's checkpoint key when the home has one.
	keys, err := checkpointKeys(s.Home)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAuditBroken, err)
	}
	var (
		out  []audit.Entry
		last audit.Entry
	)
	o := audit.VerifyOptions{PublicKeys: keys, RequireCheckpoint: len(keys) > 0, Each: func(e *audit.Entry) {
		if want(e) {
			out = append(out, *e)
		}
		last = *e
	}}
	// A verifier reading a live log can catch the line being appended and
	// call it torn; a moment later it is whole.
	for try := 0; try < 5; try++ {
		out, last = out[:0], audit.Entry{}
		_, err = audit.VerifyWith(s.Home.Audit(), o)
		if !errors.Is(err, audit.ErrTorn) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.Log.Error().Err(err).Msg("report refused: audit log does not verify")
		return nil, fmt.Errorf("%w: %v", ErrAuditBroken, err)
	}
	if last.Seq != 0 && (len(out) == 0 || out[len(out)-1].Seq != last.Seq) {
		out = append(out, last)
	}
	return out, nil
}

// mentionsJob is readAudit's filter for one job's entries: its own, and
// those that name it in a detail (the issuer's report file, J…-report.txt.asc).
func mentionsJob(id string) func(*audit.Entry) bool {
	return func(e *audit.Entry) bool {
		if e.Job == id {
			return true
		}
		for _, v := range e.Detail {
			if strings.Contains(v, id) {
				return true
			}
		}
		return false
	}
}

// decodeAs decodes a request's stored record into its kind.
func decodeAs[T records.Record](dec func(any) error) (records.Record, error) {
	var r T
	err := dec(&r)
	return r, err
}
