package records

import (
	"errors"
	"io"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/pipeline/state"
)

// encodeDetail and decodeDetail let the fuzzer write a Detail map as one
// string: pairs separated by NUL, key and value by the first '='.
func encodeDetail(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, "\x00")
}

func decodeDetail(s string) map[string]string {
	if s == "" {
		return nil
	}
	m := map[string]string{}
	for _, p := range strings.Split(s, "\x00") {
		k, v, _ := strings.Cut(p, "=")
		m[k] = v
	}
	return m
}

// FuzzFromEntry: no entry makes FromEntry or the reports panic; what
// FromEntry accepts is valid, appendable and reads back the same.
func FuzzFromEntry(f *testing.F) {
	for _, r := range goodRecords() {
		e := r.Entry()
		f.Add(e.Event, e.Outcome, e.Actor, e.Approver, e.Job, e.Issuer, e.Machine, encodeDetail(e.Detail))
	}
	d := goodDestruction().Entry()
	f.Add(d.Event, d.Outcome, d.Actor, d.Approver, d.Job, d.Issuer, d.Machine, encodeDetail(d.Detail)+"\x00witnesses=12")
	f.Add(d.Event, d.Outcome, "sam", d.Approver, d.Job, d.Issuer, d.Machine, encodeDetail(d.Detail))
	f.Add("record.vault_count", "ok", "wendy", "sam", "", "", "", "month=2025-02\x00product=P\x00counted=00\x00at=2025-02-28T18:00:00Z")
	f.Add("record.production", "ok", "bob", "sam", "J1", "acme", "emb-1", "at=2025-01-07T16:20:00+01:00")
	f.Add("record.spot_check", "refused", "quinn", "", "", "", "", "")
	f.Add("job.push", "ok", "bob", "", "J1", "", "", "sha256=x")

	f.Fuzz(func(t *testing.T, event, outcome, actor, approver, job, issuer, machine, detail string) {
		e := audit.Entry{Seq: 1, Time: at, Event: event, Outcome: outcome, Actor: actor, Approver: approver,
			Job: job, Issuer: issuer, Machine: machine, Detail: decodeDetail(detail)}
		r, err := FromEntry(e)

		// The reports take any entry.
		if cr, err := JobControlRecord(state.Job{ID: "J1", Issuer: issuer, Reported: &state.Reported{}}, []audit.Entry{e}); err == nil {
			for _, render := range []func(io.Writer, Report) error{RenderText, RenderJSON, RenderHTML} {
				if err := render(io.Discard, cr); err != nil {
					t.Fatal(err)
				}
			}
		}
		if m, err := Month("2025-01", nil, []audit.Entry{e}); err != nil {
			t.Fatal(err)
		} else if err := RenderText(io.Discard, m); err != nil {
			t.Fatal(err)
		}

		if err != nil {
			if !errors.Is(err, ErrNotRecord) && !errors.Is(err, ErrNotOK) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("FromEntry: %v: not one of the sentinel errors", err)
			}
			if audit.ContainsPAN(err.Error()) {
				t.Fatalf("error %q quotes a card number", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("FromEntry accepted an invalid record: %v", err)
		}
		e2 := r.Entry()
		checkAppendable(t, e2)
		r2, err := FromEntry(e2)
		if err != nil {
			t.Fatalf("FromEntry(Entry()): %v", err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip:\n%#v\n%#v", r, r2)
		}
	})
}
