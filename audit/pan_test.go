package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// checkDigit completes prefix to a Luhn-valid number.
func checkDigit(prefix string) string {
	for d := '0'; d <= '9'; d++ {
		if s := prefix + string(d); Luhn(s) {
			return s
		}
	}
	panic("unreachable")
}

func TestLuhn(t *testing.T) {
	for s, want := range map[string]bool{
		"79927398713":      true, // the textbook example
		"79927398710":      false,
		"4111111111111111": true,
		"4111111111111112": false,
		"0":                true,
		"":                 false,
		"12a4":             false,
		"４１":               false, // full-width digits are not digits here
	} {
		assert.Equal(t, want, Luhn(s), "%q", s)
	}
}

func TestContainsPAN(t *testing.T) {
	digest := sha256.Sum256([]byte("x"))
	// A SHA-256 that holds a Luhn-valid run of 16 digits: exempt as a digest.
	hexWithPAN := "ab" + "4111111111111111" + strings.Repeat("c", 46)
	for s, want := range map[string]bool{
		"4111111111111111":                     true,
		"5555555555554444":                     true,
		"378282246310005":                      true, // 15 digits
		"4222222222222":                        true, // 13 digits
		"4000000000000000006":                  true, // 19 digits
		"6011000000000000001":                  true,
		checkDigit("12345678901"):              true, // 12 digits
		"4111 1111 1111 1111":                  true,
		"4111-1111-1111-1111":                  true,
		"3782 822463 10005":                    true, // Amex grouping
		";4111111111111111=25121011234?":       true, // track 2
		"%B4111111111111111^DOE/JOHN^2512101?": true, // track 1
		"pan=4111111111111111, name=x":         true,
		"0004111111111111111":                  true, // zero padded
		"record 12 4111111111111111":           true, // a number before it does not hide it
		"abc4111111111111111xyz":               true,
		"x" + hexWithPAN:                       true,  // not a pure hex word
		"4111111111111112":                     false, // fails Luhn
		"411111******1111":                     false, // masked, allowed
		"411111XXXXXX1111":                     false,
		"41111111111":                          false, // 11 digits
		"41111111111111111111":                 false, // 20 digits: not a card number
		"000000000000":                         false, // all zeros
		"4111  1111 1111 1111":                 false, // two spaces break the run
		"4111.1111.1111.1111":                  false,
		hex.EncodeToString(digest[:]):          false,
		hexWithPAN:                             false,
		"sha256:" + hexWithPAN:                 false,
		"41111111-1111-1111-1111-111111111111": false, // UUID form
		"job J-2026-0001 size 1048576":         false,
		"2026-01-15T09:30:12.123456789Z":       false,
		"":                                     false,
	} {
		assert.Equal(t, want, ContainsPAN(s), "%q", s)
	}
}

// FuzzContainsPAN checks that ContainsPAN never panics, and that a test card
// number set off by spaces is found whatever surrounds it.
func FuzzContainsPAN(f *testing.F) {
	for _, s := range []string{"", "4111 1111", "0 1-2 3", strings.Repeat("9", 40), "a-b-c", "41111111-1111-1111-1111-111111111111"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ContainsPAN(a)
		if !ContainsPAN(a + " 4111111111111111 " + b) {
			t.Fatalf("PAN not found between %q and %q", a, b)
		}
	})
}

func TestContainsPANInText(t *testing.T) {
	for _, s := range []string{
		"4111111111111111",
		"card 4111\u00a01111\u00a01111\u00a01111 damaged",
		"4111.1111.1111.1111", "4111/1111/1111/1111", "4111_1111_1111_1111", "4111  1111  1111  1111",
		"\uff14\uff11\uff11\uff11", // full-width digits
		"4111111111111111deadbeefdeadbeefdeadbeefdeadbeef",
	} {
		if !ContainsPANInText(s) {
			t.Errorf("ContainsPANInText(%q) = false", s)
		}
	}
	for _, s := range []string{"batch 2026-11-25, 250 cards", "work order WO-4711", "machine emb1 jammed at 14:05", ""} {
		if ContainsPANInText(s) {
			t.Errorf("ContainsPANInText(%q) = true", s)
		}
	}
}
