package records

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dataprep/dataprep/audit"
)

// Report is a report the renderers print: a ControlRecord or a MonthReport.
type Report interface{ report() }

func (ControlRecord) report() {}
func (MonthReport) report()   {}

// RenderJSON writes r as indented JSON.
func RenderJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	switch r := r.(type) {
	case ControlRecord:
		return enc.Encode(withholdPANs(r))
	case *ControlRecord:
		return enc.Encode(withholdPANs(*r))
	case MonthReport:
		return enc.Encode(withholdPANs(r))
	case *MonthReport:
		return enc.Encode(withholdPANs(*r))
	}
	return fmt.Errorf("records: cannot render %T", r)
}

// RenderText writes r as plain text for a terminal or a text file.
func RenderText(w io.Writer, r Report) error {
	switch r := r.(type) {
	case ControlRecord:
		return jobText(w, display(r))
	case *ControlRecord:
		return jobText(w, display(*r))
	case MonthReport:
		return monthText(w, display(r))
	case *MonthReport:
		return monthText(w, display(*r))
	}
	return fmt.Errorf("records: cannot render %T", r)
}

//go:embed report.html.tmpl
var htmlSource string

var htmlPages = template.Must(template.New("").Funcs(template.FuncMap{
	"when":           when,
	"dash":           dash,
	"diff":           func(n int) string { return fmt.Sprintf("%+d", n) },
	"product":        product,
	"yesNo":          yesNo,
	"reconciliation": reconciliation,
}).Parse(htmlSource))

// RenderHTML writes r as a self-contained printable page with signature
// lines. html/template escapes every value, and the page's Content Security
// Policy forbids scripts and anything loaded from elsewhere.
func RenderHTML(w io.Writer, r Report) error {
	switch r := r.(type) {
	case ControlRecord:
		return htmlPages.ExecuteTemplate(w, "job", display(r))
	case *ControlRecord:
		return htmlPages.ExecuteTemplate(w, "job", display(*r))
	case MonthReport:
		return htmlPages.ExecuteTemplate(w, "month", display(r))
	case *MonthReport:
		return htmlPages.ExecuteTemplate(w, "month", display(*r))
	}
	return fmt.Errorf("records: cannot render %T", r)
}

// ---- values made safe to show ----

// withheld replaces a value that looks like a card number. Values in the
// audit log passed the same guard, but a job's file name or a hand-built
// report did not: a report must never show a PAN (invariant 5).
const withheld = "[withheld: looks like a card number]"

func withholdPANs[T any](v T) T {
	return mapStrings(v, func(s string) string {
		if audit.ContainsPAN(s) {
			return withheld
		}
		return s
	})
}

// display is what the text and HTML renderers print: no PAN, and no
// character that could move the cursor, recolour a terminal, break a table
// or reorder a printed line.
func display[T any](v T) T {
	return mapStrings(v, func(s string) string {
		if c := clean(s); !audit.ContainsPAN(s) && !audit.ContainsPAN(c) {
			return c
		}
		return withheld
	})
}

// clean shows control, bidi and line-separator characters as escapes and
// invalid UTF-8 as U+FFFD.
func clean(s string) string {
	ok := utf8.ValidString(s)
	for _, r := range s {
		if unsafeRune(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || isBidiControl(r) || r == '\u2028' || r == '\u2029'
}

// mapStrings returns a deep copy of v with f applied to every string in its
// exported fields, slices and pointers. Shared slices and pointees are
// copied first, so that the caller's value is left as it was.
func mapStrings[T any](v T, f func(string) string) T {
	walkStrings(reflect.ValueOf(&v).Elem(), f)
	return v
}

func walkStrings(v reflect.Value, f func(string) string) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			v.SetString(f(v.String()))
		}
	case reflect.Struct:
		t := v.Type()
		for i := range v.NumField() {
			if t.Field(i).IsExported() {
				walkStrings(v.Field(i), f)
			}
		}
	case reflect.Slice:
		if v.IsNil() || !v.CanSet() {
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		v.Set(c)
		for i := range c.Len() {
			walkStrings(c.Index(i), f)
		}
	case reflect.Pointer:
		if v.IsNil() || !v.CanSet() {
			return
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(v.Elem())
		v.Set(c)
		walkStrings(c.Elem(), f)
	}
}

// when prints a time for people: UTC, to the second.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func product(s string) string {
	if s == "" {
		return "(no production record)"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

// ---- text ----

// textWriter keeps the first write error so that the renderers read as a
// list of lines.
type textWriter struct {
	w   io.Writer
	err error
}

func (t *textWriter) f(format string, a ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, a...)
	}
}

// table writes rows of tab-separated cells aligned in columns.
func (t *textWriter) table(header string, rows []string) {
	if len(rows) == 0 {
		t.f("  none\n")
	}
	if t.err != nil || len(rows) == 0 {
		return
	}
	tw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  "+header)
	for _, r := range rows {
		fmt.Fprintln(tw, "  "+r)
	}
	t.err = tw.Flush()
}

func row(cells ...any) string {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = fmt.Sprint(c)
	}
	return strings.Join(s, "\t")
}

func jobText(w io.Writer, cr ControlRecord) error {
	t := &textWriter{w: w}
	t.f("PRODUCTION CONTROL RECORD — job %s\n\n", cr.Job)
	facts := [][2]string{
		{"Work order", dash(cr.WorkOrder)},
		{"Customer (issuer)", dash(cr.Issuer)},
		{"Card type (product)", dash(cr.Product)},
		{"Input file", dash(cr.FileName)},
		{"  SHA-256", dash(cr.Input.SHA256)},
		{"  size", fmt.Sprintf("%d bytes", cr.Input.Size)},
		{"Production file SHA-256", dash(cr.Output.SHA256)},
		{"  size", fmt.Sprintf("%d bytes", cr.Output.Size)},
		{"Machine", dash(cr.Machine)},
		{"State", dash(cr.State)},
		{"Received", when(cr.Received)},
	}
	if cr.Reason != "" {
		facts = append(facts, [2]string{"Reason", cr.Reason})
	}
	facts = append(facts, [2]string{"Issuer records", fmt.Sprintf("read %d, accepted %d, rejected %d", cr.Counts.Read, cr.Counts.Accepted, cr.Counts.Rejected)})
	if r := cr.Reported; r != nil {
		facts = append(facts,
			[2]string{"Reported counts", fmt.Sprintf("good %d, spoiled %d, samples %d, returned to the vault %d", r.Good, r.Spoiled, r.Samples, r.ReturnedToVault)},
			[2]string{"  by", fmt.Sprintf("%s at %s", dash(r.By), when(r.At))})
	} else {
		facts = append(facts, [2]string{"Reported counts", "not yet reported"})
	}
	facts = append(facts, [2]string{"Reconciliation", reconciliation(cr)})
	t.pairs(facts)

	t.f("\nProduction control record\n")
	if p := cr.Production; p != nil {
		t.pairs([][2]string{
			{"  Cards issued from the vault", strconv.Itoa(p.IssuedFromVault)},
			{"  Remaining from the previous period", strconv.Itoa(p.RemainingFromPrevious)},
			{"  Handed over", strconv.Itoa(p.HandedOver)},
			{"  Returned to the vault", strconv.Itoa(p.ReturnedToVault)},
			{"  Rejected", strconv.Itoa(p.Rejected)},
			{"  Sample / test cards", strconv.Itoa(p.Samples)},
			{"  Unaccounted", strconv.Itoa(cr.Unaccounted)},
			{"  Equipment", p.Equipment},
			{"  Equipment work record", p.EquipmentLog},
			{"  Date and time", when(p.At)},
			{"  Operator", p.Operator},
			{"  Reviewer", p.Reviewer},
			{"  Note", dash(p.Note)},
		})
	} else {
		t.f("  none recorded\n")
	}

	t.f("\nSteps (from the audit log)\n")
	rows := make([]string, len(cr.Steps))
	for i, s := range cr.Steps {
		rows[i] = row(s.Seq, when(s.At), s.Step, dash(s.By), dash(s.ApprovedBy), dash(s.Note))
	}
	t.table("SEQ\tLOGGED\tSTEP\tBY\tAPPROVED BY\tNOTE", rows)

	t.problems(cr.Problems)

	t.f("\nAudit trail\n")
	rows = make([]string, len(cr.Trail))
	for i, e := range cr.Trail {
		rows[i] = row(e.Seq, when(e.Time), e.Event, dash(e.Outcome), dash(e.Actor), dash(e.Approver), dash(e.Request), dash(e.Note))
	}
	t.table("SEQ\tTIME\tEVENT\tOUTCOME\tACTOR\tAPPROVER\tREQUEST\tREASON", rows)

	t.f("\nAudit log up to entry %d, hash %s\n", cr.AuditHead.Seq, dash(cr.AuditHead.Hash))
	return t.err
}

func reconciliation(cr ControlRecord) string {
	switch {
	case cr.Reported == nil:
		return "counts not reported"
	case !cr.Reconciled:
		return "NOT RECONCILED"
	case cr.Resolution != "":
		return "difference resolved by a supervisor: " + cr.Resolution
	}
	return "reconciled"
}

// pairs writes label/value lines aligned on the values.
func (t *textWriter) pairs(ps [][2]string) {
	if t.err != nil {
		return
	}
	tw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\n", p[0], p[1])
	}
	t.err = tw.Flush()
}

func (t *textWriter) problems(ps []string) {
	t.f("\nProblems\n")
	if len(ps) == 0 {
		t.f("  none\n")
	}
	for _, p := range ps {
		t.f("  ! %s\n", p)
	}
}

func monthText(w io.Writer, m MonthReport) error {
	t := &textWriter{w: w}
	t.f("MONTH-END VAULT RECONCILIATION — %s\n", m.Month)
	t.f("From %s to %s (exclusive)\n", when(m.From), when(m.To))
	if m.Reconciled {
		t.f("Result: reconciled\n")
	} else {
		t.f("Result: NOT RECONCILED, see the problems below\n")
	}
	t.f("\nStock by product (expected = opening + in - out - used - destroyed)\n")
	rows := make([]string, len(m.Products))
	for i, p := range m.Products {
		opening, closing, diff := "-", "-", "-"
		if p.OpeningCounted {
			opening = strconv.Itoa(p.Opening)
		}
		if p.ClosingCounted {
			closing, diff = strconv.Itoa(p.Closing), fmt.Sprintf("%+d", p.Difference)
		}
		status := p.Status
		if !p.OK {
			status = strings.ToUpper(status)
		}
		rows[i] = row(product(p.Product), opening, p.In, p.Out, p.Used, p.Destroyed, p.Expected, closing, diff, status,
			dash(p.CountedBy), dash(p.WitnessedBy))
	}
	t.table("PRODUCT\tOPENING\tIN\tOUT\tUSED\tDESTROYED\tEXPECTED\tCOUNTED\tDIFFERENCE\tSTATUS\tCOUNTED BY\tWITNESSED BY", rows)

	t.f("\nJobs counted in the month\n")
	rows = make([]string, len(m.Jobs))
	for i, j := range m.Jobs {
		rows[i] = row(j.Job, j.Issuer, product(j.Product), dash(j.WorkOrder), j.Good, j.Spoiled, j.Samples, j.ReturnedToVault, j.Used,
			dash(j.CountedBy), when(j.CountedAt), yesNo(j.Reconciled))
	}
	t.table("JOB\tISSUER\tPRODUCT\tWORK ORDER\tGOOD\tSPOILED\tSAMPLES\tRETURNED\tUSED\tCOUNTED BY\tCOUNTED AT\tRECONCILED", rows)

	t.f("\nVault movements\n")
	rows = make([]string, len(m.Movements))
	for i, v := range m.Movements {
		rows[i] = row(when(v.At), v.Direction, v.Product, v.Quantity, v.Reference, v.Person, v.CounterSigner, dash(v.Note))
	}
	t.table("AT\tDIRECTION\tPRODUCT\tQUANTITY\tREFERENCE\tBY\tCOUNTER-SIGNED\tNOTE", rows)

	t.f("\nDestructions (source stock lowers the stock; source production was already used)\n")
	rows = make([]string, len(m.Destructions))
	for i, d := range m.Destructions {
		rows[i] = row(when(d.At), d.Product, d.Source, d.Count, d.WorkOrder, d.Executor, witnesses(d.Witnesses))
	}
	t.table("AT\tPRODUCT\tSOURCE\tCOUNT\tWORK ORDER\tEXECUTOR\tWITNESSES", rows)

	t.problems(m.Problems)
	t.f("\nAudit log up to entry %d, hash %s\n", m.AuditHead.Seq, dash(m.AuditHead.Hash))
	return t.err
}

func witnesses(ws []Witness) string {
	s := make([]string, len(ws))
	for i, w := range ws {
		s[i] = w.Name + " (" + w.Department + ")"
	}
	return strings.Join(s, ", ")
}
