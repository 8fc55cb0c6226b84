// Package records holds the bureau's control records — production,
// equipment failures, card destructions, quality spot checks, vault stock
// movements and the month-end count — and the reports built from them.
//
// A control record is an entry in the hash-chained audit log ("record.*"
// events), not a table of its own: it is then as tamper-evident as
// everything else the daemon writes, is covered by the same checkpoints, and
// an auditor reads one file. The package is pure: it converts records to and
// from audit.Entry, checks them, decides how long they are kept, and builds
// reports from a job's state and the log. The daemon authenticates people,
// runs the dual control and appends the entries.
//
// # Entry layout
//
// Every record is an entry with outcome "ok" (refused attempts are entries
// too, with another outcome, and are never read as records). People and
// names go in the entry's own fields, everything else in Detail; counts are
// decimal strings without sign or leading zeros, and "at" (when the thing
// happened, which may be before it was logged) is UTC to the second,
// 2006-01-02T15:04:05Z. Optional values are left out when empty.
//
//	event                     actor       approver        job  issuer    machine    detail
//	record.production         operator    reviewer        job  customer  equipment  work_order product issued_from_vault
//	                                                                                  remaining_from_previous handed_over
//	                                                                                  returned_to_vault rejected samples
//	                                                                                  equipment_log at [note]
//	record.equipment_failure  operator    reviewer        [job]          equipment  type work_order cause at [note]
//	record.destruction        executor                    [job]                     work_order product source count [method]
//	                                                                                  witnesses witness_N witness_N_department
//	                                                                                  at [note]
//	record.spot_check         inspector                   [job]                     work_order sample_size defects result at [note]
//	record.vault_movement     person      counter-signer                            direction product quantity reference at [note]
//	record.vault_count        counted by  witnessed by                              month product counted at [note]
package records

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dataprep/dataprep/audit"
)

var (
	// ErrInvalid is wrapped by every refusal of a record's content (see
	// FieldError for which field).
	ErrInvalid = errors.New("invalid control record")
	// ErrNotRecord: the entry is not a control record of the kind asked for.
	ErrNotRecord = errors.New("audit entry is not a control record of this kind")
	// ErrNotOK: the entry is a refused or failed attempt to make a record
	// (outcome other than "ok"); it records the attempt, not a record.
	ErrNotOK = errors.New("audit entry records a refused or failed attempt, not a control record")
	// ErrBadMonth: a month is not written YYYY-MM.
	ErrBadMonth = errors.New("month must be written YYYY-MM")
	// ErrNoJob: JobControlRecord was given a job without an id.
	ErrNoJob = errors.New("job has no id")
	// ErrRetention: a retention setting is below what the bureau's rules ask.
	ErrRetention = errors.New("retention below the minimum")
)

// FieldError names the field a record was refused for. It never quotes the
// value: the value may be the very card number it refuses.
type FieldError struct {
	Field   string // the field's JSON name, e.g. "reviewer", "witnesses[2].department"
	Problem string
}

func (e *FieldError) Error() string { return ErrInvalid.Error() + ": " + e.Field + " " + e.Problem }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, problem string) error { return &FieldError{Field: field, Problem: problem} }

// Limits on what a record may hold.
const (
	// MaxText bounds a free-text field, in characters: one line on a
	// printed record.
	MaxText = 200
	// MaxName bounds a person's name, equipment, product and work order.
	MaxName = 64
	// MaxCount bounds every count. It is the bound the daemon already puts
	// on reported card counts; no job or vault comes near it.
	MaxCount = 100_000_000
	// MaxWitnesses bounds the witnesses of one destruction.
	MaxWitnesses = 12
)

// Kinds of control record. A record's audit event is "record." + kind.
const (
	KindProduction    = "production"
	KindFailure       = "equipment_failure"
	KindDestruction   = "destruction"
	KindSpotCheck     = "spot_check"
	KindVaultMovement = "vault_movement"
	KindVaultCount    = "vault_count"
)

// EventPrefix starts the audit event of every control record.
const EventPrefix = "record."

// Record is any control record.
type Record interface {
	// Kind is one of the Kind constants.
	Kind() string
	// Validate refuses a record the bureau's rules do not allow, with a
	// *FieldError wrapping ErrInvalid.
	Validate() error
	// Entry is the record as an audit entry, ready for audit.Log.Append
	// (which sets Seq, Time, Prev and Hash). It does not validate: the
	// daemon calls Validate first. The daemon may add OSUser and Request.
	Entry() audit.Entry
}

// FromEntry reads back any control record from its audit entry and
// validates it. Entries that are not records give ErrNotRecord; refused or
// failed attempts give ErrNotOK.
func FromEntry(e audit.Entry) (Record, error) {
	var (
		r   Record
		err error
	)
	switch e.Event {
	case EventPrefix + KindProduction:
		r, err = ProductionFromEntry(e)
	case EventPrefix + KindFailure:
		r, err = FailureFromEntry(e)
	case EventPrefix + KindDestruction:
		r, err = DestructionFromEntry(e)
	case EventPrefix + KindSpotCheck:
		r, err = SpotCheckFromEntry(e)
	case EventPrefix + KindVaultMovement:
		r, err = VaultMovementFromEntry(e)
	case EventPrefix + KindVaultCount:
		r, err = VaultCountFromEntry(e)
	default:
		return nil, ErrNotRecord
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// ---- field rules ----

// checkText applies the rules every free-text field shares: valid UTF-8,
// one line of at most max characters, no control characters, no leading or
// trailing white space (so that two spellings of one name compare equal and
// print alike), no text-direction overrides (they make a printed record read
// differently from the stored one), and nothing that looks like a PAN.
func checkText(field, s string, max int, required bool) error {
	if s == "" {
		if required {
			return fieldErr(field, "is required")
		}
		return nil
	}
	if !utf8.ValidString(s) {
		return fieldErr(field, "is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fieldErr(field, fmt.Sprintf("is longer than %d characters", max))
	}
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029':
			return fieldErr(field, "must be one line")
		case unicode.IsControl(r):
			return fieldErr(field, "contains a control character")
		case isBidiControl(r):
			return fieldErr(field, "contains a text-direction control character")
		}
	}
	if strings.TrimSpace(s) != s {
		return fieldErr(field, "has leading or trailing spaces")
	}
	if audit.ContainsPANInText(s) {
		return fieldErr(field, "looks like it holds a card number (PAN); mask it")
	}
	return nil
}

func isBidiControl(r rune) bool {
	return r == '\u061c' || r == '\u200e' || r == '\u200f' ||
		('\u202a' <= r && r <= '\u202e') || ('\u2066' <= r && r <= '\u2069')
}

func checkName(field, s string) error { return checkText(field, s, MaxName, true) }

// checkCode is for values that group or join records (product, job): a
// narrow alphabet so that "ACME-DEBIT" and "ACME-DEBIT " cannot become two
// products in a month's reconciliation.
func checkCode(field, s string, required bool) error {
	if s == "" {
		if required {
			return fieldErr(field, "is required")
		}
		return nil
	}
	if len(s) > MaxName {
		return fieldErr(field, fmt.Sprintf("is longer than %d characters", MaxName))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') && !('0' <= c && c <= '9') && c != '.' && c != '_' && c != '-' {
			return fieldErr(field, "may hold only letters, digits, '.', '_' and '-'")
		}
	}
	if audit.ContainsPANInText(s) {
		return fieldErr(field, "looks like it holds a card number (PAN); mask it")
	}
	return nil
}

func checkCount(field string, n, min int) error {
	if n < min {
		if min == 0 {
			return fieldErr(field, "must not be negative")
		}
		return fieldErr(field, fmt.Sprintf("must be at least %d", min))
	}
	if n > MaxCount {
		return fieldErr(field, fmt.Sprintf("must be at most %d", MaxCount))
	}
	return nil
}

// Records are dated to the second; earlier than 2000 or later than 2999 is a
// typing error, not a date.
var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
)

func checkTime(field string, t time.Time) error {
	if t.IsZero() {
		return fieldErr(field, "(date and time) is required")
	}
	if t.Before(minTime) || !t.Before(maxTime) {
		return fieldErr(field, "is not a plausible date (2000-2999)")
	}
	return nil
}

// samePerson compares names as people read them: case and runs of spaces
// do not make a second person.
func samePerson(a, b string) bool {
	return strings.EqualFold(strings.Join(strings.Fields(a), " "), strings.Join(strings.Fields(b), " "))
}

func checkTwoPeople(first, firstName, second, secondName string) error {
	if err := checkName(first, firstName); err != nil {
		return err
	}
	if err := checkName(second, secondName); err != nil {
		return err
	}
	if samePerson(firstName, secondName) {
		return fieldErr(second, "must be a different person from the "+first)
	}
	return nil
}

// ---- detail encoding ----

// timeLayout is how a record's own date and time ("at") is stored: UTC, to
// the second.
const timeLayout = "2006-01-02T15:04:05Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// detail builds an entry's Detail, leaving out empty optional values so
// that the entry stays short and FromEntry gives back "".
type detail map[string]string

func (d detail) str(k, v string) {
	if v != "" {
		d[k] = v
	}
}
func (d detail) num(k string, n int)        { d[k] = strconv.Itoa(n) }
func (d detail) time(k string, t time.Time) { d[k] = fmtTime(t) }

// reader reads an entry's Detail; the first problem sticks. Missing strings
// read as "" (Validate then says which is required); numbers and times must
// be present and written exactly as detail writes them.
type reader struct {
	d   map[string]string
	err error
}

func (r *reader) str(k string) string { return r.d[k] }

func (r *reader) num(k string) int {
	s, ok := r.d[k]
	if !ok {
		r.fail(k, "is missing")
		return 0
	}
	// At most 9 digits, no sign, no leading zeros: the one spelling
	// strconv.Itoa gives, and no overflow.
	if s == "" || len(s) > 9 || (s[0] == '0' && len(s) > 1) {
		r.fail(k, "is not a whole number")
		return 0
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			r.fail(k, "is not a whole number")
			return 0
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func (r *reader) time(k string) time.Time {
	s, ok := r.d[k]
	if !ok {
		r.fail(k, "(date and time) is missing")
		return time.Time{}
	}
	t, err := time.Parse(timeLayout, s)
	if err != nil || t.Format(timeLayout) != s {
		r.fail(k, "is not a date and time of the form 2006-01-02T15:04:05Z")
		return time.Time{}
	}
	return t
}

func (r *reader) fail(field, problem string) {
	if r.err == nil {
		r.err = fieldErr(field, problem)
	}
}

// checkEntry is what every XFromEntry does first.
func checkEntry(e audit.Entry, kind string) error {
	if e.Event != EventPrefix+kind {
		return ErrNotRecord
	}
	if e.Outcome != audit.OutcomeOK {
		return ErrNotOK
	}
	return nil
}

// entry starts the audit entry of a record.
func entry(kind string) audit.Entry {
	return audit.Entry{Event: EventPrefix + kind, Outcome: audit.OutcomeOK, Detail: map[string]string{}}
}
