package records

import (
	"fmt"
	"strconv"
	"time"

	"github.com/dataprep/dataprep/audit"
)

// ---- production control record ----

// Production is the production control record of one job (one work order):
// where its cards came from and where every one of them went, signed by the
// operator and by a reviewer. The reviewer's signature is the second one of
// dual control: the daemon makes the record a request that a supervisor
// approves, and sets Operator to the requester and Reviewer to the approver
// from the authenticated sessions, not from what was typed.
type Production struct {
	Job                   string    `json:"job"`        // the daemon's job id
	WorkOrder             string    `json:"work_order"` // the bureau's work order number
	Customer              string    `json:"customer"`   // the issuer
	Product               string    `json:"product"`    // card type
	IssuedFromVault       int       `json:"issued_from_vault"`
	RemainingFromPrevious int       `json:"remaining_from_previous"` // left at the machine from the previous period
	HandedOver            int       `json:"handed_over"`             // good cards handed over for dispatch
	ReturnedToVault       int       `json:"returned_to_vault"`
	Rejected              int       `json:"rejected"` // spoiled by the machine or refused at inspection
	Samples               int       `json:"samples"`  // sample and test cards
	Equipment             string    `json:"equipment"`
	EquipmentLog          string    `json:"equipment_log"` // the equipment's work record: log book page, counter readings
	Operator              string    `json:"operator"`
	Reviewer              string    `json:"reviewer"`
	At                    time.Time `json:"at"`
	Note                  string    `json:"note,omitempty"`
}

func (Production) Kind() string { return KindProduction }

// Unaccounted is how many cards the record does not account for: cards
// issued and left over, less cards handed over, returned, rejected and used
// as samples. Zero when it balances; negative when more cards are accounted
// for than were issued. Validate does not refuse an imbalance — the record
// must be able to state it — the reports flag it.
func (p Production) Unaccounted() int {
	return p.IssuedFromVault + p.RemainingFromPrevious - p.HandedOver - p.ReturnedToVault - p.Rejected - p.Samples
}

func (p Production) Validate() error {
	for _, c := range []struct {
		field, v string
		required bool
	}{{"job", p.Job, true}, {"product", p.Product, true}, {"customer", p.Customer, true}} {
		if err := checkCode(c.field, c.v, c.required); err != nil {
			return err
		}
	}
	if err := checkName("work_order", p.WorkOrder); err != nil {
		return err
	}
	for _, c := range []struct {
		field string
		n     int
	}{{"issued_from_vault", p.IssuedFromVault}, {"remaining_from_previous", p.RemainingFromPrevious},
		{"handed_over", p.HandedOver}, {"returned_to_vault", p.ReturnedToVault},
		{"rejected", p.Rejected}, {"samples", p.Samples}} {
		if err := checkCount(c.field, c.n, 0); err != nil {
			return err
		}
	}
	if err := checkName("equipment", p.Equipment); err != nil {
		return err
	}
	if err := checkText("equipment_log", p.EquipmentLog, MaxText, true); err != nil {
		return err
	}
	if err := checkTwoPeople("operator", p.Operator, "reviewer", p.Reviewer); err != nil {
		return err
	}
	if err := checkTime("at", p.At); err != nil {
		return err
	}
	return checkText("note", p.Note, MaxText, false)
}

func (p Production) Entry() audit.Entry {
	e := entry(KindProduction)
	e.Actor, e.Approver, e.Job, e.Issuer, e.Machine = p.Operator, p.Reviewer, p.Job, p.Customer, p.Equipment
	d := detail(e.Detail)
	d.str("work_order", p.WorkOrder)
	d.str("product", p.Product)
	d.num("issued_from_vault", p.IssuedFromVault)
	d.num("remaining_from_previous", p.RemainingFromPrevious)
	d.num("handed_over", p.HandedOver)
	d.num("returned_to_vault", p.ReturnedToVault)
	d.num("rejected", p.Rejected)
	d.num("samples", p.Samples)
	d.str("equipment_log", p.EquipmentLog)
	d.time("at", p.At)
	d.str("note", p.Note)
	return e
}

// ProductionFromEntry reads a production record back from its entry.
func ProductionFromEntry(e audit.Entry) (Production, error) {
	if err := checkEntry(e, KindProduction); err != nil {
		return Production{}, err
	}
	r := reader{d: e.Detail}
	p := Production{
		Job: e.Job, WorkOrder: r.str("work_order"), Customer: e.Issuer, Product: r.str("product"),
		IssuedFromVault: r.num("issued_from_vault"), RemainingFromPrevious: r.num("remaining_from_previous"),
		HandedOver: r.num("handed_over"), ReturnedToVault: r.num("returned_to_vault"),
		Rejected: r.num("rejected"), Samples: r.num("samples"),
		Equipment: e.Machine, EquipmentLog: r.str("equipment_log"),
		Operator: e.Actor, Reviewer: e.Approver, At: r.time("at"), Note: r.str("note"),
	}
	if r.err != nil {
		return Production{}, r.err
	}
	return p, p.Validate()
}

// ---- equipment failure or blockage ----

// Types of equipment failure record.
const (
	FailureBreakdown = "failure"  // the equipment broke down
	FailureBlockage  = "blockage" // cards jammed or the feed blocked
)

// Failure records a personalization equipment failure or blockage. Kept at
// least 3 months (Retention).
type Failure struct {
	Type      string    `json:"type"` // FailureBreakdown or FailureBlockage
	Equipment string    `json:"equipment"`
	WorkOrder string    `json:"work_order"`
	Job       string    `json:"job,omitempty"`
	Cause     string    `json:"cause"`
	Operator  string    `json:"operator"`
	Reviewer  string    `json:"reviewer"`
	At        time.Time `json:"at"` // when it happened
	Note      string    `json:"note,omitempty"`
}

func (Failure) Kind() string { return KindFailure }

func (f Failure) Validate() error {
	if f.Type != FailureBreakdown && f.Type != FailureBlockage {
		return fieldErr("type", "must be "+FailureBreakdown+" or "+FailureBlockage)
	}
	if err := checkName("equipment", f.Equipment); err != nil {
		return err
	}
	if err := checkName("work_order", f.WorkOrder); err != nil {
		return err
	}
	if err := checkCode("job", f.Job, false); err != nil {
		return err
	}
	if err := checkText("cause", f.Cause, MaxText, true); err != nil {
		return err
	}
	if err := checkTwoPeople("operator", f.Operator, "reviewer", f.Reviewer); err != nil {
		return err
	}
	if err := checkTime("at", f.At); err != nil {
		return err
	}
	return checkText("note", f.Note, MaxText, false)
}

func (f Failure) Entry() audit.Entry {
	e := entry(KindFailure)
	e.Actor, e.Approver, e.Job, e.Machine = f.Operator, f.Reviewer, f.Job, f.Equipment
	d := detail(e.Detail)
	d.str("type", f.Type)
	d.str("work_order", f.WorkOrder)
	d.str("cause", f.Cause)
	d.time("at", f.At)
	d.str("note", f.Note)
	return e
}

// FailureFromEntry reads a failure record back from its entry.
func FailureFromEntry(e audit.Entry) (Failure, error) {
	if err := checkEntry(e, KindFailure); err != nil {
		return Failure{}, err
	}
	r := reader{d: e.Detail}
	f := Failure{
		Type: r.str("type"), Equipment: e.Machine, WorkOrder: r.str("work_order"), Job: e.Job,
		Cause: r.str("cause"), Operator: e.Actor, Reviewer: e.Approver, At: r.time("at"), Note: r.str("note"),
	}
	if r.err != nil {
		return Failure{}, r.err
	}
	return f, f.Validate()
}

// ---- card destruction ----

// Departments a destruction witness comes from. The bureau's rule asks for
// one witness from each: the people who made the cards, who guard them, and
// who keep the stock.
const (
	DeptProduction = "production"
	DeptSecurity   = "security"
	DeptWarehouse  = "warehouse"
)

var departments = []string{DeptProduction, DeptSecurity, DeptWarehouse}

// Sources of destroyed cards; they decide whether a destruction lowers the
// vault stock in the month report.
const (
	// SourceProduction: spoiled, rejected or sample cards of jobs. They
	// already left the stock as the job's used cards.
	SourceProduction = "production"
	// SourceStock: white cards taken from the vault stock (damaged,
	// obsolete). They lower the stock.
	SourceStock = "stock"
)

// Witness is one person who watched a destruction.
type Witness struct {
	Name       string `json:"name"`
	Department string `json:"department"` // DeptProduction, DeptSecurity or DeptWarehouse
}

// Destruction records the destruction of cards, done by an executor in
// front of at least three witnesses from production, security and the
// warehouse. Kept at least 18 months (Retention).
type Destruction struct {
	WorkOrder string    `json:"work_order"`
	Job       string    `json:"job,omitempty"`
	Product   string    `json:"product"`
	Source    string    `json:"source"` // SourceProduction or SourceStock
	Count     int       `json:"count"`
	Method    string    `json:"method,omitempty"` // e.g. the shredder used
	Executor  string    `json:"executor"`
	Witnesses []Witness `json:"witnesses"`
	At        time.Time `json:"at"`
	Note      string    `json:"note,omitempty"`
}

func (Destruction) Kind() string { return KindDestruction }

func (d Destruction) Validate() error {
	if err := checkName("work_order", d.WorkOrder); err != nil {
		return err
	}
	if err := checkCode("job", d.Job, false); err != nil {
		return err
	}
	if err := checkCode("product", d.Product, true); err != nil {
		return err
	}
	if d.Source != SourceProduction && d.Source != SourceStock {
		return fieldErr("source", "must be "+SourceProduction+" or "+SourceStock)
	}
	if err := checkCount("count", d.Count, 1); err != nil {
		return err
	}
	if err := checkText("method", d.Method, MaxText, false); err != nil {
		return err
	}
	if err := checkName("executor", d.Executor); err != nil {
		return err
	}
	if len(d.Witnesses) < 3 {
		return fieldErr("witnesses", "must be at least 3 (one each from production, security and warehouse)")
	}
	if len(d.Witnesses) > MaxWitnesses {
		return fieldErr("witnesses", fmt.Sprintf("must be at most %d", MaxWitnesses))
	}
	seen := map[string]bool{}
	for i, w := range d.Witnesses {
		field := fmt.Sprintf("witnesses[%d]", i+1)
		if err := checkName(field+".name", w.Name); err != nil {
			return err
		}
		if !validDepartment(w.Department) {
			return fieldErr(field+".department", "must be production, security or warehouse")
		}
		if samePerson(w.Name, d.Executor) {
			return fieldErr(field+".name", "is the executor; a witness must be someone else")
		}
		for j := range i {
			if samePerson(w.Name, d.Witnesses[j].Name) {
				return fieldErr(field+".name", fmt.Sprintf("is the same person as witnesses[%d]", j+1))
			}
		}
		seen[w.Department] = true
	}
	for _, dep := range departments {
		if !seen[dep] {
			return fieldErr("witnesses", "need at least three departments: no witness from "+dep)
		}
	}
	if err := checkTime("at", d.At); err != nil {
		return err
	}
	return checkText("note", d.Note, MaxText, false)
}

func validDepartment(s string) bool {
	for _, d := range departments {
		if s == d {
			return true
		}
	}
	return false
}

func (d Destruction) Entry() audit.Entry {
	e := entry(KindDestruction)
	e.Actor, e.Job = d.Executor, d.Job
	m := detail(e.Detail)
	m.str("work_order", d.WorkOrder)
	m.str("product", d.Product)
	m.str("source", d.Source)
	m.num("count", d.Count)
	m.str("method", d.Method)
	m.num("witnesses", len(d.Witnesses))
	for i, w := range d.Witnesses {
		k := "witness_" + strconv.Itoa(i+1)
		m.str(k, w.Name)
		m.str(k+"_department", w.Department)
	}
	m.time("at", d.At)
	m.str("note", d.Note)
	return e
}

// DestructionFromEntry reads a destruction record back from its entry.
func DestructionFromEntry(e audit.Entry) (Destruction, error) {
	if err := checkEntry(e, KindDestruction); err != nil {
		return Destruction{}, err
	}
	r := reader{d: e.Detail}
	d := Destruction{
		WorkOrder: r.str("work_order"), Job: e.Job, Product: r.str("product"), Source: r.str("source"),
		Count: r.num("count"), Method: r.str("method"), Executor: e.Actor, At: r.time("at"), Note: r.str("note"),
	}
	n := r.num("witnesses")
	if r.err == nil && n > MaxWitnesses {
		r.fail("witnesses", fmt.Sprintf("must be at most %d", MaxWitnesses))
	}
	if r.err != nil {
		return Destruction{}, r.err
	}
	for i := 1; i <= n; i++ {
		k := "witness_" + strconv.Itoa(i)
		d.Witnesses = append(d.Witnesses, Witness{Name: r.str(k), Department: r.str(k + "_department")})
	}
	return d, d.Validate()
}

// ---- quality spot check ----

// Results of a spot check.
const (
	ResultPass = "pass"
	ResultFail = "fail"
)

// SpotCheck records a quality inspection of a sample of a job's cards.
type SpotCheck struct {
	WorkOrder  string    `json:"work_order"`
	Job        string    `json:"job,omitempty"`
	SampleSize int       `json:"sample_size"`
	Defects    int       `json:"defects"`
	Result     string    `json:"result"` // ResultPass or ResultFail
	Inspector  string    `json:"inspector"`
	At         time.Time `json:"at"`
	Note       string    `json:"note,omitempty"`
}

func (SpotCheck) Kind() string { return KindSpotCheck }

func (s SpotCheck) Validate() error {
	if err := checkName("work_order", s.WorkOrder); err != nil {
		return err
	}
	if err := checkCode("job", s.Job, false); err != nil {
		return err
	}
	if err := checkCount("sample_size", s.SampleSize, 1); err != nil {
		return err
	}
	if err := checkCount("defects", s.Defects, 0); err != nil {
		return err
	}
	if s.Defects > s.SampleSize {
		return fieldErr("defects", "must not exceed sample_size")
	}
	if s.Result != ResultPass && s.Result != ResultFail {
		return fieldErr("result", "must be "+ResultPass+" or "+ResultFail)
	}
	if err := checkName("inspector", s.Inspector); err != nil {
		return err
	}
	if err := checkTime("at", s.At); err != nil {
		return err
	}
	return checkText("note", s.Note, MaxText, false)
}

func (s SpotCheck) Entry() audit.Entry {
	e := entry(KindSpotCheck)
	e.Actor, e.Job = s.Inspector, s.Job
	d := detail(e.Detail)
	d.str("work_order", s.WorkOrder)
	d.num("sample_size", s.SampleSize)
	d.num("defects", s.Defects)
	d.str("result", s.Result)
	d.time("at", s.At)
	d.str("note", s.Note)
	return e
}

// SpotCheckFromEntry reads a spot-check record back from its entry.
func SpotCheckFromEntry(e audit.Entry) (SpotCheck, error) {
	if err := checkEntry(e, KindSpotCheck); err != nil {
		return SpotCheck{}, err
	}
	r := reader{d: e.Detail}
	s := SpotCheck{
		WorkOrder: r.str("work_order"), Job: e.Job, SampleSize: r.num("sample_size"), Defects: r.num("defects"),
		Result: r.str("result"), Inspector: e.Actor, At: r.time("at"), Note: r.str("note"),
	}
	if r.err != nil {
		return SpotCheck{}, r.err
	}
	return s, s.Validate()
}

// ---- vault stock ----

// Directions of a vault movement.
const (
	In  = "in"
	Out = "out"
)

// VaultMovement records white cards entering or leaving the bureau's stock
// of one product, counted by one person and counter-signed by another.
//
// Cards taken to a machine for a job are not vault movements: the job's
// reported counts account for them (good + spoiled + samples are used), and
// cards returned to the vault after production never left the stock. A
// movement is a delivery received ("in"), or stock leaving the bureau other
// than through production ("out": returned to the issuer, sent elsewhere).
// Recording both would count a job's cards twice in the month report.
type VaultMovement struct {
	Direction     string    `json:"direction"` // In or Out
	Product       string    `json:"product"`
	Quantity      int       `json:"quantity"`
	Reference     string    `json:"reference"` // delivery note, consignment or return number
	Person        string    `json:"person"`
	CounterSigner string    `json:"counter_signer"`
	At            time.Time `json:"at"`
	Note          string    `json:"note,omitempty"`
}

func (VaultMovement) Kind() string { return KindVaultMovement }

func (v VaultMovement) Validate() error {
	if v.Direction != In && v.Direction != Out {
		return fieldErr("direction", "must be in or out")
	}
	if err := checkCode("product", v.Product, true); err != nil {
		return err
	}
	if err := checkCount("quantity", v.Quantity, 1); err != nil {
		return err
	}
	if err := checkText("reference", v.Reference, MaxName, true); err != nil {
		return err
	}
	if err := checkTwoPeople("person", v.Person, "counter_signer", v.CounterSigner); err != nil {
		return err
	}
	if err := checkTime("at", v.At); err != nil {
		return err
	}
	return checkText("note", v.Note, MaxText, false)
}

func (v VaultMovement) Entry() audit.Entry {
	e := entry(KindVaultMovement)
	e.Actor, e.Approver = v.Person, v.CounterSigner
	d := detail(e.Detail)
	d.str("direction", v.Direction)
	d.str("product", v.Product)
	d.num("quantity", v.Quantity)
	d.str("reference", v.Reference)
	d.time("at", v.At)
	d.str("note", v.Note)
	return e
}

// VaultMovementFromEntry reads a vault movement back from its entry.
func VaultMovementFromEntry(e audit.Entry) (VaultMovement, error) {
	if err := checkEntry(e, KindVaultMovement); err != nil {
		return VaultMovement{}, err
	}
	r := reader{d: e.Detail}
	v := VaultMovement{
		Direction: r.str("direction"), Product: r.str("product"), Quantity: r.num("quantity"),
		Reference: r.str("reference"), Person: e.Actor, CounterSigner: e.Approver, At: r.time("at"), Note: r.str("note"),
	}
	if r.err != nil {
		return VaultMovement{}, r.err
	}
	return v, v.Validate()
}

// VaultCount is the month-end physical count of one product's stock,
// counted by one person in front of a witness. Month names the month the
// count closes, which need not be the month of At (a count on the morning of
// the 1st closes the month before).
type VaultCount struct {
	Month       string    `json:"month"` // YYYY-MM
	Product     string    `json:"product"`
	Counted     int       `json:"counted"`
	CountedBy   string    `json:"counted_by"`
	WitnessedBy string    `json:"witnessed_by"`
	At          time.Time `json:"at"`
	Note        string    `json:"note,omitempty"`
}

func (VaultCount) Kind() string { return KindVaultCount }

func (v VaultCount) Validate() error {
	if _, err := ParseMonth(v.Month); err != nil {
		return fieldErr("month", "must be written YYYY-MM")
	}
	if err := checkCode("product", v.Product, true); err != nil {
		return err
	}
	if err := checkCount("counted", v.Counted, 0); err != nil {
		return err
	}
	if err := checkTwoPeople("counted_by", v.CountedBy, "witnessed_by", v.WitnessedBy); err != nil {
		return err
	}
	if err := checkTime("at", v.At); err != nil {
		return err
	}
	return checkText("note", v.Note, MaxText, false)
}

func (v VaultCount) Entry() audit.Entry {
	e := entry(KindVaultCount)
	e.Actor, e.Approver = v.CountedBy, v.WitnessedBy
	d := detail(e.Detail)
	d.str("month", v.Month)
	d.str("product", v.Product)
	d.num("counted", v.Counted)
	d.time("at", v.At)
	d.str("note", v.Note)
	return e
}

// VaultCountFromEntry reads a month-end count back from its entry.
func VaultCountFromEntry(e audit.Entry) (VaultCount, error) {
	if err := checkEntry(e, KindVaultCount); err != nil {
		return VaultCount{}, err
	}
	r := reader{d: e.Detail}
	v := VaultCount{
		Month: r.str("month"), Product: r.str("product"), Counted: r.num("counted"),
		CountedBy: e.Actor, WitnessedBy: e.Approver, At: r.time("at"), Note: r.str("note"),
	}
	if r.err != nil {
		return VaultCount{}, r.err
	}
	return v, v.Validate()
}
