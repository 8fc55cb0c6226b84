package records

import (
	"fmt"
	"strings"
	"time"

	"github.com/dataprep/dataprep/audit"
)

// RetentionMonth is one month of retention: 31 days, the longest calendar
// month, so that N retention months are never shorter than any N calendar
// months. The rules say "at least", so keeping up to a few days longer is
// right and a day shorter is not.
const RetentionMonth = 31 * 24 * time.Hour

// Default and minimum retention, in months. The minimums are the bureau's
// rules (failures 3 months, destructions 18) and, for everything else, the
// 12 months of audit history PCI DSS (10.5.1) asks for.
const (
	DefaultFailureMonths     = 3
	DefaultDestructionMonths = 18
	DefaultMonths            = 24

	MinFailureMonths     = 3
	MinDestructionMonths = 18
	MinMonths            = 12

	// MaxMonths keeps a typo from overflowing time.Duration (100 years).
	MaxMonths = 1200
)

// RetentionConfig is how long entries are kept, in months; zero means the
// default.
type RetentionConfig struct {
	FailureMonths     int `toml:"failure_months" json:"failure_months,omitempty"`
	DestructionMonths int `toml:"destruction_months" json:"destruction_months,omitempty"`
	DefaultMonths     int `toml:"default_months" json:"default_months,omitempty"` // every other entry
}

// Validate refuses a configuration below the minimums or above MaxMonths, so
// that the daemon can refuse to start with it. Retention clamps anyway.
func (c RetentionConfig) Validate() error {
	for _, s := range []struct {
		name   string
		v, min int
	}{{"failure_months", c.FailureMonths, MinFailureMonths},
		{"destruction_months", c.DestructionMonths, MinDestructionMonths},
		{"default_months", c.DefaultMonths, MinMonths}} {
		if s.v == 0 {
			continue
		}
		if s.v < s.min {
			return fmt.Errorf("%w: %s is %d, the rules ask for at least %d", ErrRetention, s.name, s.v, s.min)
		}
		if s.v > MaxMonths {
			return fmt.Errorf("retention %s is %d months, more than %d", s.name, s.v, MaxMonths)
		}
	}
	return nil
}

// Retention is how long entries of a kind are kept: kind is a Kind constant,
// or an audit event ("record.destruction"); anything else, "" included, is
// every other entry. A configured value below the minimum is raised to it,
// so that a bad configuration can keep too much but never too little.
func Retention(kind string, cfg RetentionConfig) time.Duration {
	kind = strings.TrimPrefix(kind, EventPrefix)
	v, def, min := cfg.DefaultMonths, DefaultMonths, MinMonths
	switch kind {
	case KindFailure:
		v, def, min = cfg.FailureMonths, DefaultFailureMonths, MinFailureMonths
	case KindDestruction:
		v, def, min = cfg.DestructionMonths, DefaultDestructionMonths, MinDestructionMonths
	}
	switch {
	case v == 0:
		v = def
	case v < min:
		v = min
	case v > MaxMonths:
		v = MaxMonths
	}
	return time.Duration(v) * RetentionMonth
}

// Keep reports whether the audit pruner must still keep e at now: its age,
// counted from when it was logged (a record's own date may be earlier, and
// the log time is the one nobody typed), is below its kind's retention. An
// entry without a time, or from the future, is kept: when in doubt, keep.
func Keep(e audit.Entry, now time.Time, cfg RetentionConfig) bool {
	if e.Time.IsZero() {
		return true
	}
	return now.Sub(e.Time) < Retention(e.Event, cfg)
}

// ParseMonth reads a month written YYYY-MM (years 2000-2999) and returns its
// first instant in UTC. It refuses every other spelling ("2025-1",
// "2025-01-01", " 2025-01"), so that a report names exactly one month.
func ParseMonth(s string) (time.Time, error) {
	// The value is not quoted back: it was typed, and may be anything.
	if len(s) != 7 || s[4] != '-' {
		return time.Time{}, ErrBadMonth
	}
	for i, c := range []byte(s) {
		if i != 4 && (c < '0' || c > '9') {
			return time.Time{}, ErrBadMonth
		}
	}
	y := int(s[0]-'0')*1000 + int(s[1]-'0')*100 + int(s[2]-'0')*10 + int(s[3]-'0')
	m := int(s[5]-'0')*10 + int(s[6]-'0')
	if y < 2000 || m < 1 || m > 12 {
		return time.Time{}, fmt.Errorf("%w: no month %s", ErrBadMonth, s)
	}
	return time.Date(y, time.Month(m), 1, 0, 0, 0, 0, time.UTC), nil
}
