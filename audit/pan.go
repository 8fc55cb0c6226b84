package audit

import (
	"strings"
	"unicode"

	"github.com/dataprep/dataprep/formats/card"
)

// This file holds the guard that keeps card numbers out of the audit log
// (design invariant 5). It is a safety net, not the masking itself: callers
// mask PANs at the source (first 6 and last 4 digits at most), and this guard
// turns a forgotten mask into a refused Append instead of a PAN at rest in a
// log that is kept for years and handed to auditors.

// Luhn reports whether digits, a string of ASCII decimal digits, passes the
// Luhn (mod 10) check used by payment card numbers (ISO/IEC 7812-1 annex B).
// It reports false for an empty string or one with any other character. The
// check itself lives with the card record (formats/card): one rule, one place.
func Luhn(digits string) bool { return card.Luhn(digits) }

// Card numbers are 12 to 19 digits long (ISO/IEC 7812-1).
const (
	minPAN = 12
	maxPAN = 19
)

// ContainsPAN reports whether s contains something that looks like a whole
// payment card number. The rule, written down so that callers can predict it:
//
//   - Digits form groups; a single space or hyphen between two digits joins
//     two groups into one run ("4111 1111 1111 1111", "4111-1111-…").
//   - Every sequence of consecutive whole groups of a run is a candidate;
//     leading zeros are dropped (zero padding in fixed-width records; the
//     major industry identifier 0 is not issued to cards).
//   - A candidate of 12 to 19 digits that passes Luhn is a PAN.
//   - Digits inside a digest or UUID are not looked at: a word (a maximal
//     run of ASCII letters, digits and hyphens) made of at least 32 hex
//     digits, or of the form 8-4-4-4-12 hex digits. Without this, one
//     SHA-256 in a few hundred would trip the guard by chance, and a guard
//     that fails at random makes the fail-closed audit log fail at random.
//
// Not caught, by design: a PAN glued to more digits without a separator (a
// group of 20 or more digits is not a card number), masked numbers
// ("411111******1111", which invariant 5 allows), and anything that is not a
// card number: cardholder names and key material cannot be recognised by
// their shape and must be kept out by the callers.
func ContainsPAN(s string) bool {
	// Fast path: most audit values have far fewer than 12 digits.
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
		}
	}
	if n < minPAN {
		return false
	}

	// groups holds [start, end) byte offsets of the digit groups of the
	// current run; digits holds the run's digits without separators.
	var groups [][2]int
	var digits []byte
	flush := func() bool {
		found := runHasPAN(groups, digits)
		groups, digits = groups[:0], digits[:0]
		return found
	}
	for i := 0; i < len(s); {
		if w := exemptWordLen(s, i); w > 0 {
			if flush() {
				return true
			}
			i += w
			continue
		}
		if !isDigit(s[i]) {
			if flush() {
				return true
			}
			i++
			continue
		}
		start := len(digits)
		for i < len(s) && isDigit(s[i]) {
			digits = append(digits, s[i])
			i++
		}
		groups = append(groups, [2]int{start, len(digits)})
		// A single separator followed by a digit continues the run, unless
		// the digit starts an exempt word (a digest after a card number).
		if i+1 < len(s) && (s[i] == ' ' || s[i] == '-') && isDigit(s[i+1]) && exemptWordLen(s, i+1) == 0 {
			i++
			continue
		}
		if flush() {
			return true
		}
	}
	return flush()
}

// runHasPAN checks every sequence of consecutive whole groups of one run.
func runHasPAN(groups [][2]int, digits []byte) bool {
	for a := range groups {
		for b := a; b < len(groups); b++ {
			cand := digits[groups[a][0]:groups[b][1]]
			for len(cand) > 0 && cand[0] == '0' {
				cand = cand[1:]
			}
			if len(cand) > maxPAN {
				break // longer sequences only get longer
			}
			if len(cand) >= minPAN && Luhn(string(cand)) {
				return true
			}
		}
	}
	return false
}

// exemptWordLen returns the length of the word starting at s[i] if that word
// is a digest or UUID (see ContainsPAN), and 0 otherwise, also when s[i] is
// not at the start of a word.
func exemptWordLen(s string, i int) int {
	if i > 0 && isWordByte(s[i-1]) {
		return 0
	}
	j := i
	for j < len(s) && isWordByte(s[j]) {
		j++
	}
	w := s[i:j]
	if len(w) >= 32 && allHex(w) {
		return len(w)
	}
	if len(w) == 36 && w[8] == '-' && w[13] == '-' && w[18] == '-' && w[23] == '-' &&
		allHex(w[:8]) && allHex(w[9:13]) && allHex(w[14:18]) && allHex(w[19:23]) && allHex(w[24:]) {
		return len(w)
	}
	return 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F') }

func isWordByte(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || c == '-'
}

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// ContainsPANInText is ContainsPAN for free text a person typed (a note, a
// reason): stricter, because someone who wants a card number into the log
// can dress it up. Digits other than ASCII are refused outright (a
// full-width "４１１１" is a card number to a reader), and every run of
// characters that are neither letters nor digits counts as one separator,
// so "4111.1111/1111 1111" and non-breaking spaces are caught too. A digit
// run glued to letters ("4111…deadbeef") is looked at without them.
func ContainsPANInText(s string) bool {
	var b strings.Builder
	sep := false
	for _, r := range s {
		switch {
		case unicode.IsDigit(r) && (r < '0' || r > '9'):
			return true
		case r >= '0' && r <= '9':
			b.WriteRune(r)
			sep = false
		case unicode.IsLetter(r):
			if !sep {
				b.WriteByte(' ')
				sep = true
			}
		default:
			if !sep {
				b.WriteByte(' ')
				sep = true
			}
		}
	}
	return ContainsPAN(b.String())
}
