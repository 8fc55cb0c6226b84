package records

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/pipeline/state"
)

// MonthReport reconciles the white card stock of one month, product by
// product, for the month-end count with the finance department. Months run
// from the first instant of the month to the first of the next, in UTC.
//
// The stock of a product moves like this:
//
//	expected closing = opening + in - out - used - destroyed
//
// where opening is the count that closed the month before, in and out are
// the vault movements of the month, used is good + spoiled + samples of the
// jobs whose counts were reported in the month (their product is the one in
// the job's production record), and destroyed counts white cards destroyed
// from stock (spoiled cards destroyed after production are already used).
// The counted closing is the count that closes this month; a recount
// replaces an earlier count.
type MonthReport struct {
	Month        string           `json:"month"` // YYYY-MM
	From         time.Time        `json:"from"`
	To           time.Time        `json:"to"` // first instant after the month
	Products     []ProductBalance `json:"products"`
	Jobs         []JobUsage       `json:"jobs"`
	Movements    []VaultMovement  `json:"movements"`
	Destructions []Destruction    `json:"destructions"`
	Problems     []string         `json:"problems"`
	Reconciled   bool             `json:"reconciled"` // no problems
	AuditHead    AuditHead        `json:"audit_head"`
}

// ProductBalance is one product's line of the month report.
type ProductBalance struct {
	Product                 string `json:"product"` // "" for cards of jobs without a production record
	Opening                 int    `json:"opening"`
	OpeningCounted          bool   `json:"opening_counted"` // false: no count closed the month before; Opening is 0
	In                      int    `json:"in"`
	Out                     int    `json:"out"`
	Used                    int    `json:"used"`
	Destroyed               int    `json:"destroyed"`                 // white cards destroyed from stock
	DestroyedFromProduction int    `json:"destroyed_from_production"` // for information: already part of used
	Expected                int    `json:"expected"`
	Closing                 int    `json:"closing"`
	ClosingCounted          bool   `json:"closing_counted"`
	CountedBy               string `json:"counted_by,omitempty"`
	WitnessedBy             string `json:"witnessed_by,omitempty"`
	Difference              int    `json:"difference"` // Closing - Expected: positive, more cards than expected
	// Status is "ok", "not counted" (no count closes the month),
	// "difference" (counted and expected differ) or "no opening count"
	// (it balances from an opening of 0, which nobody counted).
	Status string `json:"status"`
	OK     bool   `json:"ok"` // Status is "ok"
}

// JobUsage is one job whose counts were reported in the month.
type JobUsage struct {
	Job             string    `json:"job"`
	Issuer          string    `json:"issuer"`
	Product         string    `json:"product"`
	WorkOrder       string    `json:"work_order,omitempty"`
	Good            int       `json:"good"`
	Spoiled         int       `json:"spoiled"`
	Samples         int       `json:"samples"`
	ReturnedToVault int       `json:"returned_to_vault"`
	Used            int       `json:"used"` // good + spoiled + samples
	CountedBy       string    `json:"counted_by"`
	CountedAt       time.Time `json:"counted_at"`
	Reconciled      bool      `json:"reconciled"`
}

// Month builds the month report for month (YYYY-MM) from the jobs in the
// daemon's state and the audit log (pass all of it: the opening count is in
// the month before, a job's production record may be older than its
// counts). Invalid record entries, jobs without a production record and
// every difference are reported in Problems; only a bad month is an error.
func Month(month string, jobs []state.Job, entries []audit.Entry) (MonthReport, error) {
	from, err := ParseMonth(month)
	if err != nil {
		return MonthReport{}, err
	}
	to := from.AddDate(0, 1, 0)
	prev := from.AddDate(0, -1, 0).Format("2006-01")
	in := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }
	es := sortedEntries(entries)
	mr := MonthReport{
		Month: month, From: from, To: to, Products: []ProductBalance{}, Jobs: []JobUsage{},
		Movements: []VaultMovement{}, Destructions: []Destruction{}, Problems: []string{}, AuditHead: head(es),
	}
	problem := func(f string, a ...any) { mr.Problems = append(mr.Problems, fmt.Sprintf(f, a...)) }

	lines := map[string]*ProductBalance{}
	line := func(product string) *ProductBalance {
		if lines[product] == nil {
			lines[product] = &ProductBalance{Product: product}
		}
		return lines[product]
	}
	production := map[string]Production{} // job id → its last production record
	// The counts as the verified log has them: the state store is checked
	// against them, not believed (an edited state.db must show).
	logged := map[string]audit.Entry{}
	for _, e := range es {
		if e.Event == "job.counts" && e.Outcome == audit.OutcomeOK && e.Job != "" {
			logged[e.Job] = e
		}
	}
	for _, e := range es {
		if !strings.HasPrefix(e.Event, EventPrefix) || e.Outcome != audit.OutcomeOK {
			continue
		}
		r, err := FromEntry(e)
		if err != nil {
			// Its own date cannot be trusted, so it belongs to the month
			// it was logged in.
			if in(e.Time) {
				problem("audit entry %d (%s) is not a valid control record: %s", e.Seq, e.Event, why(err))
			}
			continue
		}
		switch r := r.(type) {
		case Production:
			production[r.Job] = r
		case VaultMovement:
			if !in(r.At) {
				continue
			}
			mr.Movements = append(mr.Movements, r)
			if r.Direction == In {
				line(r.Product).In += r.Quantity
			} else {
				line(r.Product).Out += r.Quantity
			}
		case Destruction:
			if !in(r.At) {
				continue
			}
			mr.Destructions = append(mr.Destructions, r)
			if r.Source == SourceStock {
				line(r.Product).Destroyed += r.Count
			} else {
				line(r.Product).DestroyedFromProduction += r.Count
			}
		case VaultCount:
			// The last count wins: a recount replaces the count before it.
			switch r.Month {
			case prev:
				l := line(r.Product)
				l.Opening, l.OpeningCounted = r.Counted, true
			case month:
				l := line(r.Product)
				l.Closing, l.ClosingCounted, l.CountedBy, l.WitnessedBy = r.Counted, true, r.CountedBy, r.WitnessedBy
			}
		}
	}

	js := append([]state.Job(nil), jobs...)
	sort.SliceStable(js, func(a, b int) bool { return js[a].ID < js[b].ID })
	for _, j := range js {
		rep := j.Reported
		if rep == nil {
			if !j.Pushed.IsZero() && in(j.Pushed) {
				problem("job %s was pushed in %s but its counts are not reported", j.ID, month)
			}
			continue
		}
		if !in(rep.At) {
			continue
		}
		if le, ok := logged[j.ID]; !ok {
			problem("job %s has counts in the state store but no job.counts entry in the audit log", j.ID)
		} else if le.Detail["good"] != strconv.Itoa(rep.Good) || le.Detail["spoiled"] != strconv.Itoa(rep.Spoiled) ||
			le.Detail["samples"] != strconv.Itoa(rep.Samples) || le.Detail["returned_to_vault"] != strconv.Itoa(rep.ReturnedToVault) {
			problem("job %s: the state store's counts differ from the audit log's (entry %d): the log is the record", j.ID, le.Seq)
			rep = &state.Reported{By: le.Actor, At: le.Time}
			rep.Good, _ = strconv.Atoi(le.Detail["good"])
			rep.Spoiled, _ = strconv.Atoi(le.Detail["spoiled"])
			rep.Samples, _ = strconv.Atoi(le.Detail["samples"])
			rep.ReturnedToVault, _ = strconv.Atoi(le.Detail["returned_to_vault"])
		}
		u := JobUsage{Job: j.ID, Issuer: j.Issuer, Good: rep.Good, Spoiled: rep.Spoiled, Samples: rep.Samples,
			ReturnedToVault: rep.ReturnedToVault, Used: rep.Good + rep.Spoiled + rep.Samples,
			CountedBy: rep.By, CountedAt: rep.At.UTC(), Reconciled: j.CountsOK}
		if p, ok := production[j.ID]; ok {
			u.Product, u.WorkOrder = p.Product, p.WorkOrder
		} else {
			problem("job %s has no production control record: its %d used cards are under no product", j.ID, u.Used)
		}
		if !j.CountsOK {
			problem("the counts of job %s do not reconcile and no supervisor has resolved them", j.ID)
		}
		line(u.Product).Used += u.Used
		mr.Jobs = append(mr.Jobs, u)
	}

	for _, l := range lines {
		l.Expected = l.Opening + l.In - l.Out - l.Used - l.Destroyed
		l.Difference = l.Closing - l.Expected
		switch {
		case !l.ClosingCounted:
			l.Status = "not counted"
		case l.Difference != 0:
			l.Status = "difference"
		case !l.OpeningCounted:
			l.Status = "no opening count"
		default:
			l.Status, l.OK = "ok", true
		}
		mr.Products = append(mr.Products, *l)
	}
	// By product, with the cards of unknown product last.
	sort.Slice(mr.Products, func(a, b int) bool {
		pa, pb := mr.Products[a].Product, mr.Products[b].Product
		if (pa == "") != (pb == "") {
			return pb == ""
		}
		return pa < pb
	})
	for _, l := range mr.Products {
		name := l.Product
		if name == "" {
			continue // already reported job by job
		}
		if !l.OpeningCounted {
			problem("%s: no month-end count for %s; the opening balance is taken as 0", name, prev)
		}
		switch {
		case !l.ClosingCounted:
			problem("%s: no month-end count for %s", name, month)
		case l.Difference != 0:
			problem("%s: counted %d, expected %d: difference %+d", name, l.Closing, l.Expected, l.Difference)
		}
	}
	sort.SliceStable(mr.Movements, func(a, b int) bool { return mr.Movements[a].At.Before(mr.Movements[b].At) })
	sort.SliceStable(mr.Destructions, func(a, b int) bool { return mr.Destructions[a].At.Before(mr.Destructions[b].At) })
	mr.Reconciled = len(mr.Problems) == 0
	return withholdPANs(mr), nil
}
