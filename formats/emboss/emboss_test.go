package emboss

import (
	"errors"
	"fmt"
	"strings"
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

// refAppendNumber is AppendNumber as it was, a group at a time.
func refAppendNumber(dst []byte, pan string, p Pattern) ([]byte, error) {
	if p == nil {
		p = Default(len(pan))
	}
	if p.Digits() != len(pan) || len(pan) > NumberMax {
		return dst, fmt.Errorf("%w: %d digits for pattern %v", ErrNumber, len(pan), p)
	}
	i := 0
	for k, g := range p {
		if k > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, pan[i:i+g]...)
		i += g
	}
	return dst, nil
}

func TestAppendNumberMatchesReference(t *testing.T) {
	pats := []Pattern{nil, {4, 6, 5}, {4, 4, 4, 4}, {6, 13}, {19}, {1, 1, 1}, {}}
	for n := 0; n <= 25; n++ {
		pats = append(pats, Default(n))
	}
	for _, s := range []string{"4-6-5", "4-4-4-4", "6-13", "19", "1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1"} {
		p, err := ParsePattern(s)
		if err != nil {
			t.Fatal(err)
		}
		pats = append(pats, p)
	}
	digits := "98765432109876543210987654321"
	for _, p := range pats {
		for n := 0; n <= len(digits); n++ {
			for _, pan := range []string{digits[:n], strings.Repeat("é", n)[:n], strings.Repeat("*", n)} {
				for _, prefix := range [][]byte{nil, []byte("x")} {
					got, gerr := AppendNumber(append([]byte(nil), prefix...), pan, p)
					want, werr := refAppendNumber(append([]byte(nil), prefix...), pan, p)
					if string(got) != string(want) || (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
						t.Fatalf("AppendNumber(%q, %v) = %q, %v; want %q, %v", pan, p, got, gerr, want, werr)
					}
				}
			}
		}
	}
}
