package emboss

import (
	"errors"
	"testing"
)

func TestNumber(t *testing.T) {
	for _, tc := range []struct{ pan, pattern, want string }{
		{"4000001234567899", "", "4000 0012 3456 7899"},
		{"370000000000002", "", "3700 000000 00002"},
		{"36000000000008", "", "3600 000000 0008"},
		{"9999990000000000125", "", "9999 9900 0000 0000 125"},
		{"400000123452", "", "4000 0012 3452"},
		{"9999990000000000125", "6-13", "999999 0000000000125"},
		{"370000000000002", "4-6-5", "3700 000000 00002"},
	} {
		var p Pattern
		if tc.pattern != "" {
			var err error
			if p, err = ParsePattern(tc.pattern); err != nil {
				t.Fatal(err)
			}
			if p.String() != tc.pattern {
				t.Fatalf("String() = %v", p)
			}
		}
		got, err := AppendNumber(nil, tc.pan, p)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s %s: %q %v", tc.pan, tc.pattern, got, err)
		}
	}
	if _, err := AppendNumber(nil, "4000001234567899", Pattern{4, 6, 5}); !errors.Is(err, ErrNumber) {
		t.Fatal(err)
	}
	for _, s := range []string{"", "4--4", "4-x", "0-4", "10-10", "-4"} {
		if _, err := ParsePattern(s); !errors.Is(err, ErrPattern) {
			t.Errorf("ParsePattern(%q) = %v", s, err)
		}
	}
}

func TestExpiry(t *testing.T) {
	if got, err := AppendExpiry(nil, "2912"); err != nil || string(got) != "12/29" {
		t.Fatalf("%q %v", got, err)
	}
	for _, s := range []string{"", "291", "29a2"} {
		if _, err := AppendExpiry(nil, s); !errors.Is(err, ErrDate) {
			t.Errorf("%q: %v", s, err)
		}
	}
}
