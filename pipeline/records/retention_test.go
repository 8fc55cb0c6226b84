package records

import (
	"errors"
	"testing"
	"time"

	"github.com/dataprep/dataprep/audit"
)

func TestRetention(t *testing.T) {
	m := RetentionMonth
	cases := []struct {
		name string
		kind string
		cfg  RetentionConfig
		want time.Duration
	}{
		{"failure default", KindFailure, RetentionConfig{}, 3 * m},
		{"failure by event", "record.equipment_failure", RetentionConfig{}, 3 * m},
		{"destruction default", KindDestruction, RetentionConfig{}, 18 * m},
		{"destruction by event", "record.destruction", RetentionConfig{}, 18 * m},
		{"production default", KindProduction, RetentionConfig{}, 24 * m},
		{"vault count default", KindVaultCount, RetentionConfig{}, 24 * m},
		{"any audit event", "job.push", RetentionConfig{}, 24 * m},
		{"empty kind", "", RetentionConfig{}, 24 * m},
		{"failure configured", KindFailure, RetentionConfig{FailureMonths: 6}, 6 * m},
		{"destruction configured", KindDestruction, RetentionConfig{DestructionMonths: 36}, 36 * m},
		{"default configured", KindSpotCheck, RetentionConfig{DefaultMonths: 60}, 60 * m},
		{"default does not shorten failures", KindFailure, RetentionConfig{DefaultMonths: 12}, 3 * m},
		{"failure below minimum is raised", KindFailure, RetentionConfig{FailureMonths: 1}, 3 * m},
		{"destruction below minimum is raised", KindDestruction, RetentionConfig{DestructionMonths: 6}, 18 * m},
		{"default below minimum is raised", "job.push", RetentionConfig{DefaultMonths: 2}, 12 * m},
		{"negative is raised", KindFailure, RetentionConfig{FailureMonths: -5}, 3 * m},
		{"absurd is capped", "job.push", RetentionConfig{DefaultMonths: 1 << 40}, MaxMonths * m},
	}
	for _, c := range cases {
		if got := Retention(c.kind, c.cfg); got != c.want {
			t.Errorf("%s: Retention(%q) = %v, want %v", c.name, c.kind, got, c.want)
		}
	}
}

// A retention month never falls short of a calendar month: 3 retention
// months cover any 3 calendar months, 18 any 18.
func TestRetentionCoversCalendarMonths(t *testing.T) {
	for _, n := range []int{3, 18, 24} {
		for start := time.Date(2023, 1, 31, 12, 0, 0, 0, time.UTC); start.Year() < 2026; start = start.AddDate(0, 0, 7) {
			if cal := start.AddDate(0, n, 0).Sub(start); time.Duration(n)*RetentionMonth < cal {
				t.Fatalf("%d retention months < %d calendar months from %v", n, n, start)
			}
		}
	}
}

func TestRetentionConfigValidate(t *testing.T) {
	cases := []struct {
		cfg RetentionConfig
		ok  bool
	}{
		{RetentionConfig{}, true},
		{RetentionConfig{FailureMonths: 3, DestructionMonths: 18, DefaultMonths: 24}, true},
		{RetentionConfig{FailureMonths: 120, DestructionMonths: 120, DefaultMonths: 120}, true},
		{RetentionConfig{FailureMonths: 2}, false},
		{RetentionConfig{DestructionMonths: 17}, false},
		{RetentionConfig{DefaultMonths: 11}, false},
		{RetentionConfig{FailureMonths: -1}, false},
		{RetentionConfig{DefaultMonths: MaxMonths + 1}, false},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if c.ok != (err == nil) {
			t.Errorf("%+v: %v", c.cfg, err)
		}
		if err != nil && c.cfg.DefaultMonths <= MaxMonths && !errors.Is(err, ErrRetention) {
			t.Errorf("%+v: %v, want ErrRetention", c.cfg, err)
		}
	}
}

func TestKeep(t *testing.T) {
	now := time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	m := RetentionMonth
	cases := []struct {
		name  string
		event string
		t     time.Time
		cfg   RetentionConfig
		want  bool
	}{
		{"fresh failure", "record.equipment_failure", ago(m), RetentionConfig{}, true},
		{"failure just inside", "record.equipment_failure", ago(3*m - time.Second), RetentionConfig{}, true},
		{"failure at limit", "record.equipment_failure", ago(3 * m), RetentionConfig{}, false},
		{"old failure", "record.equipment_failure", ago(4 * m), RetentionConfig{}, false},
		{"old failure, longer config", "record.equipment_failure", ago(4 * m), RetentionConfig{FailureMonths: 6}, true},
		{"destruction at 17 months", "record.destruction", ago(17 * m), RetentionConfig{}, true},
		{"destruction at 19 months", "record.destruction", ago(19 * m), RetentionConfig{}, false},
		{"production at 23 months", "record.production", ago(23 * m), RetentionConfig{}, true},
		{"production at 25 months", "record.production", ago(25 * m), RetentionConfig{}, false},
		{"push at 25 months", "job.push", ago(25 * m), RetentionConfig{}, false},
		{"push at 25 months, kept 36", "job.push", ago(25 * m), RetentionConfig{DefaultMonths: 36}, true},
		{"no time", "record.equipment_failure", time.Time{}, RetentionConfig{}, true},
		{"future", "record.equipment_failure", now.Add(time.Hour), RetentionConfig{}, true},
	}
	for _, c := range cases {
		e := audit.Entry{Event: c.event, Time: c.t}
		if got := Keep(e, now, c.cfg); got != c.want {
			t.Errorf("%s: Keep = %v, want %v", c.name, got, c.want)
		}
	}
}
