package records

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dataprep/dataprep/audit"
)

// testPAN is the well-known synthetic test card number; it passes Luhn.
const testPAN = "4111111111111111"

var at = time.Date(2025, 1, 7, 16, 30, 0, 0, time.UTC)

func goodProduction() Production {
	return Production{
		Job: "J000001", WorkOrder: "WO-2025-0117", Customer: "acme-bank", Product: "ACME-DEBIT",
		IssuedFromVault: 1000, RemainingFromPrevious: 5, HandedOver: 990, ReturnedToVault: 8,
		Rejected: 4, Samples: 3, Equipment: "emb-1", EquipmentLog: "log book 7 p. 42; counter 118502 to 119502",
		Operator: "alice", Reviewer: "sam", At: at, Note: "two feeder jams, cleared",
	}
}

func goodFailure() Failure {
	return Failure{Type: FailureBlockage, Equipment: "emb-1", WorkOrder: "WO-2025-0117", Job: "J000001",
		Cause: "card jam in the magnetic stripe encoder", Operator: "alice", Reviewer: "sam", At: at}
}

func goodDestruction() Destruction {
	return Destruction{WorkOrder: "WO-2025-0117", Job: "J000001", Product: "ACME-DEBIT", Source: SourceProduction,
		Count: 7, Method: "cross-cut shredder S-3", Executor: "alice",
		Witnesses: []Witness{{"Pat Lee", DeptProduction}, {"sam", DeptSecurity}, {"Kim Roe", DeptWarehouse}}, At: at}
}

func goodSpotCheck() SpotCheck {
	return SpotCheck{WorkOrder: "WO-2025-0117", Job: "J000001", SampleSize: 20, Defects: 0, Result: ResultPass,
		Inspector: "quinn", At: at, Note: "emboss depth and chip read checked"}
}

func goodMovement() VaultMovement {
	return VaultMovement{Direction: In, Product: "ACME-DEBIT", Quantity: 10000, Reference: "DN 2025/0042",
		Person: "wendy", CounterSigner: "sam", At: at}
}

func goodCount() VaultCount {
	return VaultCount{Month: "2025-01", Product: "ACME-DEBIT", Counted: 4012, CountedBy: "wendy", WitnessedBy: "sam", At: at}
}

// wantField checks that err is a FieldError for field wrapping ErrInvalid
// (or is nil when field is "").
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("Validate: %v, want nil", err)
		}
		return
	}
	var fe *FieldError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) {
		t.Fatalf("Validate: %v, want a FieldError wrapping ErrInvalid", err)
	}
	if fe.Field != field {
		t.Fatalf("Validate: field %q (%v), want %q", fe.Field, err, field)
	}
	if strings.Contains(err.Error(), testPAN) {
		t.Fatalf("error %q quotes the card number", err)
	}
}

// textCases are the free-text rules every text field shares.
var textCases = []struct {
	name, v string
}{
	{"newline", "a\nb"},
	{"carriage return", "a\rb"},
	{"line separator", "a\u2028b"},
	{"control", "a\x1bb"},
	{"tab", "a\tb"},
	{"bidi override", "a\u202eb"},
	{"invalid utf-8", "a\xffb"},
	{"leading space", " a"},
	{"PAN", "card " + testPAN},
	{"spaced PAN", "4111 1111 1111 1111"},
	{"too long", strings.Repeat("x", MaxText+1)},
}

func TestTextRules(t *testing.T) {
	for _, c := range textCases {
		t.Run(c.name, func(t *testing.T) {
			p := goodProduction()
			p.Note = c.v
			wantField(t, p.Validate(), "note")
		})
	}
	p := goodProduction()
	p.Note = strings.Repeat("é", MaxText) // characters, not bytes
	wantField(t, p.Validate(), "")
	p.Note = "masked 411111******1111 is fine"
	wantField(t, p.Validate(), "")
}

func TestProductionValidate(t *testing.T) {
	cases := []struct {
		name  string
		f     func(*Production)
		field string
	}{
		{"good", func(*Production) {}, ""},
		{"no note", func(p *Production) { p.Note = "" }, ""},
		{"imbalance is recorded, not refused", func(p *Production) { p.HandedOver = 0 }, ""},
		{"no job", func(p *Production) { p.Job = "" }, "job"},
		{"job with space", func(p *Production) { p.Job = "J 1" }, "job"},
		{"no work order", func(p *Production) { p.WorkOrder = "" }, "work_order"},
		{"work order PAN", func(p *Production) { p.WorkOrder = testPAN }, "work_order"},
		{"no customer", func(p *Production) { p.Customer = "" }, "customer"},
		{"no product", func(p *Production) { p.Product = "" }, "product"},
		{"product with space", func(p *Production) { p.Product = "ACME DEBIT" }, "product"},
		{"product too long", func(p *Production) { p.Product = strings.Repeat("P", MaxName+1) }, "product"},
		{"negative issued", func(p *Production) { p.IssuedFromVault = -1 }, "issued_from_vault"},
		{"huge issued", func(p *Production) { p.IssuedFromVault = MaxCount + 1 }, "issued_from_vault"},
		{"negative remaining", func(p *Production) { p.RemainingFromPrevious = -1 }, "remaining_from_previous"},
		{"negative handed over", func(p *Production) { p.HandedOver = -1 }, "handed_over"},
		{"negative returned", func(p *Production) { p.ReturnedToVault = -1 }, "returned_to_vault"},
		{"negative rejected", func(p *Production) { p.Rejected = -1 }, "rejected"},
		{"negative samples", func(p *Production) { p.Samples = -5 }, "samples"},
		{"no equipment", func(p *Production) { p.Equipment = "" }, "equipment"},
		{"no equipment log", func(p *Production) { p.EquipmentLog = "" }, "equipment_log"},
		{"no operator", func(p *Production) { p.Operator = "" }, "operator"},
		{"no reviewer", func(p *Production) { p.Reviewer = "" }, "reviewer"},
		{"operator reviews self", func(p *Production) { p.Reviewer = p.Operator }, "reviewer"},
		{"operator reviews self, other case", func(p *Production) { p.Operator, p.Reviewer = "Ann Smith", "ann  SMITH" }, "reviewer"},
		{"name too long", func(p *Production) { p.Operator = strings.Repeat("a", MaxName+1) }, "operator"},
		{"no time", func(p *Production) { p.At = time.Time{} }, "at"},
		{"implausible time", func(p *Production) { p.At = time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC) }, "at"},
		{"far future", func(p *Production) { p.At = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }, "at"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := goodProduction()
			c.f(&p)
			wantField(t, p.Validate(), c.field)
		})
	}
}

func TestFailureValidate(t *testing.T) {
	cases := []struct {
		name  string
		f     func(*Failure)
		field string
	}{
		{"good", func(*Failure) {}, ""},
		{"breakdown without job", func(f *Failure) { f.Type, f.Job = FailureBreakdown, "" }, ""},
		{"bad type", func(f *Failure) { f.Type = "jam" }, "type"},
		{"no type", func(f *Failure) { f.Type = "" }, "type"},
		{"no equipment", func(f *Failure) { f.Equipment = "" }, "equipment"},
		{"no work order", func(f *Failure) { f.WorkOrder = "" }, "work_order"},
		{"bad job", func(f *Failure) { f.Job = "J/1" }, "job"},
		{"no cause", func(f *Failure) { f.Cause = "" }, "cause"},
		{"cause two lines", func(f *Failure) { f.Cause = "jam\nagain" }, "cause"},
		{"cause PAN", func(f *Failure) { f.Cause = "card " + testPAN + " stuck" }, "cause"},
		{"no operator", func(f *Failure) { f.Operator = "" }, "operator"},
		{"no reviewer", func(f *Failure) { f.Reviewer = "" }, "reviewer"},
		{"self review", func(f *Failure) { f.Reviewer = "ALICE" }, "reviewer"},
		{"no time", func(f *Failure) { f.At = time.Time{} }, "at"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := goodFailure()
			c.f(&f)
			wantField(t, f.Validate(), c.field)
		})
	}
}

func TestDestructionValidate(t *testing.T) {
	w := func(ws ...Witness) func(*Destruction) { return func(d *Destruction) { d.Witnesses = ws } }
	prod, sec, ware := Witness{"Pat Lee", DeptProduction}, Witness{"sam", DeptSecurity}, Witness{"Kim Roe", DeptWarehouse}
	many := make([]Witness, MaxWitnesses+1)
	for i := range many {
		many[i] = Witness{"w" + strings.Repeat("x", i), departments[i%3]}
	}
	cases := []struct {
		name  string
		f     func(*Destruction)
		field string
	}{
		{"good", func(*Destruction) {}, ""},
		{"four witnesses", w(prod, sec, ware, Witness{"Lou Ng", DeptSecurity}), ""},
		{"from stock", func(d *Destruction) { d.Source, d.Job = SourceStock, "" }, ""},
		{"no witnesses", w(), "witnesses"},
		{"two witnesses", w(prod, sec), "witnesses"},
		{"three witnesses, two departments", w(prod, sec, Witness{"Lou Ng", DeptSecurity}), "witnesses"},
		{"four witnesses, no warehouse", w(prod, sec, Witness{"Lou Ng", DeptSecurity}, Witness{"Ida Fox", DeptProduction}), "witnesses"},
		{"too many witnesses", w(many...), "witnesses"},
		{"unknown department", w(prod, sec, Witness{"Kim Roe", "finance"}), "witnesses[3].department"},
		{"department case", w(prod, sec, Witness{"Kim Roe", "Warehouse"}), "witnesses[3].department"},
		{"no department", w(prod, sec, Witness{"Kim Roe", ""}), "witnesses[3].department"},
		{"no witness name", w(prod, Witness{"", DeptSecurity}, ware), "witnesses[2].name"},
		{"witness name PAN", w(prod, Witness{testPAN, DeptSecurity}, ware), "witnesses[2].name"},
		{"duplicate witness", w(prod, sec, ware, Witness{"SAM", DeptWarehouse}), "witnesses[4].name"},
		{"duplicate witness, spacing", w(prod, sec, Witness{"pat  lee", DeptWarehouse}), "witnesses[3].name"},
		{"executor as witness", w(prod, sec, Witness{"alice", DeptWarehouse}), "witnesses[3].name"},
		{"executor as witness, case", w(Witness{"Alice", DeptProduction}, sec, ware), "witnesses[1].name"},
		{"no executor", func(d *Destruction) { d.Executor = "" }, "executor"},
		{"zero count", func(d *Destruction) { d.Count = 0 }, "count"},
		{"negative count", func(d *Destruction) { d.Count = -1 }, "count"},
		{"huge count", func(d *Destruction) { d.Count = MaxCount + 1 }, "count"},
		{"no work order", func(d *Destruction) { d.WorkOrder = "" }, "work_order"},
		{"no product", func(d *Destruction) { d.Product = "" }, "product"},
		{"bad source", func(d *Destruction) { d.Source = "vault" }, "source"},
		{"method two lines", func(d *Destruction) { d.Method = "a\nb" }, "method"},
		{"no time", func(d *Destruction) { d.At = time.Time{} }, "at"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := goodDestruction()
			c.f(&d)
			wantField(t, d.Validate(), c.field)
		})
	}
}

func TestSpotCheckValidate(t *testing.T) {
	cases := []struct {
		name  string
		f     func(*SpotCheck)
		field string
	}{
		{"good", func(*SpotCheck) {}, ""},
		{"fail with defects", func(s *SpotCheck) { s.Result, s.Defects = ResultFail, 3 }, ""},
		{"all defective", func(s *SpotCheck) { s.Result, s.Defects = ResultFail, s.SampleSize }, ""},
		{"no work order", func(s *SpotCheck) { s.WorkOrder = "" }, "work_order"},
		{"bad job", func(s *SpotCheck) { s.Job = "J 1" }, "job"},
		{"zero sample", func(s *SpotCheck) { s.SampleSize = 0 }, "sample_size"},
		{"huge sample", func(s *SpotCheck) { s.SampleSize = MaxCount + 1 }, "sample_size"},
		{"negative defects", func(s *SpotCheck) { s.Defects = -1 }, "defects"},
		{"more defects than sample", func(s *SpotCheck) { s.Defects = s.SampleSize + 1 }, "defects"},
		{"no result", func(s *SpotCheck) { s.Result = "" }, "result"},
		{"bad result", func(s *SpotCheck) { s.Result = "PASS" }, "result"},
		{"no inspector", func(s *SpotCheck) { s.Inspector = "" }, "inspector"},
		{"no time", func(s *SpotCheck) { s.At = time.Time{} }, "at"},
		{"note control", func(s *SpotCheck) { s.Note = "\x00" }, "note"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := goodSpotCheck()
			c.f(&s)
			wantField(t, s.Validate(), c.field)
		})
	}
}

func TestVaultMovementValidate(t *testing.T) {
	cases := []struct {
		name  string
		f     func(*VaultMovement)
		field string
	}{
		{"good", func(*VaultMovement) {}, ""},
		{"out", func(v *VaultMovement) { v.Direction = Out }, ""},
		{"bad direction", func(v *VaultMovement) { v.Direction = "IN" }, "direction"},
		{"no product", func(v *VaultMovement) { v.Product = "" }, "product"},
		{"zero quantity", func(v *VaultMovement) { v.Quantity = 0 }, "quantity"},
		{"negative quantity", func(v *VaultMovement) { v.Quantity = -10 }, "quantity"},
		{"huge quantity", func(v *VaultMovement) { v.Quantity = MaxCount + 1 }, "quantity"},
		{"no reference", func(v *VaultMovement) { v.Reference = "" }, "reference"},
		{"reference PAN", func(v *VaultMovement) { v.Reference = testPAN }, "reference"},
		{"no person", func(v *VaultMovement) { v.Person = "" }, "person"},
		{"no counter-signer", func(v *VaultMovement) { v.CounterSigner = "" }, "counter_signer"},
		{"counter-signs self", func(v *VaultMovement) { v.CounterSigner = "Wendy" }, "counter_signer"},
		{"no time", func(v *VaultMovement) { v.At = time.Time{} }, "at"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := goodMovement()
			c.f(&v)
			wantField(t, v.Validate(), c.field)
		})
	}
}

func TestVaultCountValidate(t *testing.T) {
	cases := []struct {
		name  string
		f     func(*VaultCount)
		field string
	}{
		{"good", func(*VaultCount) {}, ""},
		{"empty stock", func(v *VaultCount) { v.Counted = 0 }, ""},
		{"no month", func(v *VaultCount) { v.Month = "" }, "month"},
		{"bad month", func(v *VaultCount) { v.Month = "2025-13" }, "month"},
		{"short month", func(v *VaultCount) { v.Month = "2025-1" }, "month"},
		{"no product", func(v *VaultCount) { v.Product = "" }, "product"},
		{"negative", func(v *VaultCount) { v.Counted = -1 }, "counted"},
		{"huge", func(v *VaultCount) { v.Counted = MaxCount + 1 }, "counted"},
		{"no counter", func(v *VaultCount) { v.CountedBy = "" }, "counted_by"},
		{"no witness", func(v *VaultCount) { v.WitnessedBy = "" }, "witnessed_by"},
		{"witnesses self", func(v *VaultCount) { v.WitnessedBy = v.CountedBy }, "witnessed_by"},
		{"no time", func(v *VaultCount) { v.At = time.Time{} }, "at"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := goodCount()
			c.f(&v)
			wantField(t, v.Validate(), c.field)
		})
	}
}

func goodRecords() []Record {
	return []Record{goodProduction(), goodFailure(), goodDestruction(), goodSpotCheck(), goodMovement(), goodCount()}
}

func TestRoundTrip(t *testing.T) {
	for _, r := range goodRecords() {
		t.Run(r.Kind(), func(t *testing.T) {
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
			e := r.Entry()
			if e.Event != EventPrefix+r.Kind() || e.Outcome != audit.OutcomeOK {
				t.Fatalf("entry %s/%s", e.Event, e.Outcome)
			}
			checkAppendable(t, e)
			// What the daemon and audit.Append add must not matter.
			e.Seq, e.Time, e.OSUser, e.Request = 42, at.Add(time.Hour), "root", "R000007"
			got, err := FromEntry(e)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, r)
			}
		})
	}
}

// A record's time is kept in UTC to the second.
func TestRoundTripTime(t *testing.T) {
	p := goodProduction()
	p.At = time.Date(2025, 1, 7, 17, 30, 0, 999, time.FixedZone("CET", 3600))
	got, err := ProductionFromEntry(p.Entry())
	if err != nil {
		t.Fatal(err)
	}
	if !got.At.Equal(at) || got.At.Location() != time.UTC {
		t.Fatalf("at %v, want %v", got.At, at)
	}
}

// checkAppendable checks what audit.Append checks: a dotted lower-case
// event, detail keys of [A-Za-z0-9_.-]{1,64}, and no PAN anywhere.
func checkAppendable(t *testing.T, e audit.Entry) {
	t.Helper()
	for _, seg := range strings.Split(e.Event, ".") {
		if seg == "" || seg[0] < 'a' || seg[0] > 'z' || strings.Trim(seg, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			t.Fatalf("event %q is not dotted lower case", e.Event)
		}
	}
	vals := []string{e.Actor, e.Approver, e.Job, e.Issuer, e.Machine}
	for k, v := range e.Detail {
		if len(k) == 0 || len(k) > 64 || strings.Trim(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != "" {
			t.Fatalf("detail key %q", k)
		}
		vals = append(vals, k, v)
	}
	for _, v := range vals {
		if audit.ContainsPAN(v) {
			t.Fatalf("entry value %q looks like a PAN", v)
		}
	}
}

func TestFromEntryRefuses(t *testing.T) {
	base := func() audit.Entry { return goodDestruction().Entry() }
	set := func(k, v string) func(*audit.Entry) {
		return func(e *audit.Entry) {
			if v == "\x00delete" {
				delete(e.Detail, k)
			} else {
				e.Detail[k] = v
			}
		}
	}
	cases := []struct {
		name  string
		f     func(*audit.Entry)
		want  error
		field string
	}{
		{"other event", func(e *audit.Entry) { e.Event = "job.counts" }, ErrNotRecord, ""},
		{"unknown record", func(e *audit.Entry) { e.Event = "record.lunch" }, ErrNotRecord, ""},
		{"refused attempt", func(e *audit.Entry) { e.Outcome = audit.OutcomeRefused }, ErrNotOK, ""},
		{"failed attempt", func(e *audit.Entry) { e.Outcome = audit.OutcomeFailed }, ErrNotOK, ""},
		{"no outcome", func(e *audit.Entry) { e.Outcome = "" }, ErrNotOK, ""},
		{"no detail", func(e *audit.Entry) { e.Detail = nil }, ErrInvalid, "count"},
		{"count missing", set("count", "\x00delete"), ErrInvalid, "count"},
		{"count negative", set("count", "-1"), ErrInvalid, "count"},
		{"count plus", set("count", "+7"), ErrInvalid, "count"},
		{"count leading zero", set("count", "07"), ErrInvalid, "count"},
		{"count space", set("count", "7 "), ErrInvalid, "count"},
		{"count overflow", set("count", "99999999999999999999"), ErrInvalid, "count"},
		{"count too big", set("count", "999999999"), ErrInvalid, "count"},
		{"count empty", set("count", ""), ErrInvalid, "count"},
		{"at missing", set("at", "\x00delete"), ErrInvalid, "at"},
		{"at with offset", set("at", "2025-01-07T17:30:00+01:00"), ErrInvalid, "at"},
		{"at with fraction", set("at", "2025-01-07T16:30:00.5Z"), ErrInvalid, "at"},
		{"at not a time", set("at", "yesterday"), ErrInvalid, "at"},
		{"witnesses missing", set("witnesses", "\x00delete"), ErrInvalid, "witnesses"},
		{"witnesses huge", set("witnesses", "100000000"), ErrInvalid, "witnesses"},
		{"fewer witnesses", set("witnesses", "2"), ErrInvalid, "witnesses"},
		{"witness missing", set("witness_2", "\x00delete"), ErrInvalid, "witnesses[2].name"},
		{"witness department missing", set("witness_3_department", "\x00delete"), ErrInvalid, "witnesses[3].department"},
		{"executor is witness", func(e *audit.Entry) { e.Actor = "sam" }, ErrInvalid, "witnesses[2].name"},
		{"no executor", func(e *audit.Entry) { e.Actor = "" }, ErrInvalid, "executor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := base()
			c.f(&e)
			_, err := FromEntry(e)
			if !errors.Is(err, c.want) {
				t.Fatalf("FromEntry: %v, want %v", err, c.want)
			}
			if c.field != "" {
				wantField(t, err, c.field)
			}
			if _, err2 := DestructionFromEntry(e); !errors.Is(err2, c.want) {
				t.Fatalf("DestructionFromEntry: %v, want %v", err2, c.want)
			}
		})
	}
}

// Each kind's reader refuses another kind's entry.
func TestFromEntryWrongKind(t *testing.T) {
	readers := map[string]func(audit.Entry) error{
		KindProduction:    func(e audit.Entry) error { _, err := ProductionFromEntry(e); return err },
		KindFailure:       func(e audit.Entry) error { _, err := FailureFromEntry(e); return err },
		KindDestruction:   func(e audit.Entry) error { _, err := DestructionFromEntry(e); return err },
		KindSpotCheck:     func(e audit.Entry) error { _, err := SpotCheckFromEntry(e); return err },
		KindVaultMovement: func(e audit.Entry) error { _, err := VaultMovementFromEntry(e); return err },
		KindVaultCount:    func(e audit.Entry) error { _, err := VaultCountFromEntry(e); return err },
	}
	for _, r := range goodRecords() {
		for kind, read := range readers {
			err := read(r.Entry())
			if kind == r.Kind() && err != nil {
				t.Errorf("%s reader on its own entry: %v", kind, err)
			}
			if kind != r.Kind() && !errors.Is(err, ErrNotRecord) {
				t.Errorf("%s reader on a %s entry: %v, want ErrNotRecord", kind, r.Kind(), err)
			}
		}
	}
}

// Validation applies on the way back in too: an entry the daemon did not
// write through Validate does not become a record.
func TestFromEntryValidates(t *testing.T) {
	e := goodProduction().Entry()
	e.Approver = e.Actor
	if _, err := FromEntry(e); !errors.Is(err, ErrInvalid) {
		t.Fatalf("self-reviewed entry: %v", err)
	}
	e = goodMovement().Entry()
	e.Detail["direction"] = "sideways"
	wantField(t, func() error { _, err := FromEntry(e); return err }(), "direction")
}

func TestParseMonth(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2025-01", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"2024-12", time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC), true},
		{"2000-02", time.Date(2000, 2, 1, 0, 0, 0, 0, time.UTC), true},
		{"", time.Time{}, false},
		{"2025-1", time.Time{}, false},
		{"2025-13", time.Time{}, false},
		{"2025-00", time.Time{}, false},
		{"1999-12", time.Time{}, false},
		{"2025/01", time.Time{}, false},
		{"2025-01-01", time.Time{}, false},
		{" 2025-01", time.Time{}, false},
		{"2025-0a", time.Time{}, false},
		{"２０２５-01", time.Time{}, false},
		{"+025-01", time.Time{}, false},
	}
	for _, c := range cases {
		got, err := ParseMonth(c.in)
		if c.ok != (err == nil) || !got.Equal(c.want) {
			t.Errorf("ParseMonth(%q) = %v, %v", c.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrBadMonth) {
			t.Errorf("ParseMonth(%q): %v, want ErrBadMonth", c.in, err)
		}
	}
}
