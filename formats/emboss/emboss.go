// Package emboss lays out the embossed (or indent-printed) front of a card
// per ISO/IEC 7811-1: the card number line in digit groups, the MM/YY
// expiry and the name and address lines.
package emboss

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Sentinel errors, for errors.Is.
var (
	ErrPattern = errors.New("emboss: bad grouping pattern")
	ErrNumber  = errors.New("emboss: card number does not fit the pattern")
	ErrDate    = errors.New("emboss: date is not YYMM")
)

// NumberMax is the most digits the card number line takes.
const NumberMax = 19

// Pattern is the digit groups of the card number line, left to right.
type Pattern []int

// ParsePattern reads a grouping such as "4-4-4-4" or "4-6-5".
func ParsePattern(s string) (Pattern, error) {
	var p Pattern
	total := 0
	for _, g := range strings.Split(s, "-") {
		n, err := strconv.Atoi(g)
		if err != nil || n < 1 || n > NumberMax {
			return nil, fmt.Errorf("%w: %q", ErrPattern, s)
		}
		total += n
		p = append(p, n)
	}
	if total > NumberMax {
		return nil, fmt.Errorf("%w: %q has more than %d digits", ErrPattern, s, NumberMax)
	}
	return p, nil
}

func (p Pattern) String() string {
	var b strings.Builder
	for i, n := range p {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// Digits is the number of digits p holds.
func (p Pattern) Digits() int {
	n := 0
	for _, g := range p {
		n += g
	}
	return n
}

// Default is the grouping card schemes use for a PAN of n digits: 4-6-5
// for 15 (American Express style), 4-6-4 for 14 (Diners), groups of four
// otherwise, the last group holding what is left.
func Default(n int) Pattern {
	switch n {
	case 15:
		return Pattern{4, 6, 5}
	case 14:
		return Pattern{4, 6, 4}
	}
	var p Pattern
	for ; n > 4; n -= 4 {
		p = append(p, 4)
	}
	if n > 0 {
		p = append(p, n)
	}
	return p
}

// AppendNumber appends pan grouped by p with single spaces; p's digit
// count must equal len(pan). A nil p means Default(len(pan)).
func AppendNumber(dst []byte, pan string, p Pattern) ([]byte, error) {
	if p == nil {
		p = Default(len(pan))
	}
	if p.Digits() != len(pan) || len(pan) > NumberMax {
		return dst, fmt.Errorf("%w: %d digits for pattern %v", ErrNumber, len(pan), p)
	}
	if len(p) == 0 {
		return dst, nil // no groups (and so no digits): nothing to write
	}
	// At most 19 digits and 18 spaces: room once, then byte by byte, which
	// beats a copy call per group of four.
	n := len(dst)
	dst = slices.Grow(dst, len(pan)+len(p)-1)[:n+len(pan)+len(p)-1]
	out := dst[n:]
	i, j := 0, 0
	for k, g := range p {
		if k > 0 {
			out[j] = ' '
			j++
		}
		for range g {
			out[j] = pan[i]
			i, j = i+1, j+1
		}
	}
	return dst, nil
}

// AppendExpiry appends a YYMM date as the MM/YY that is embossed.
func AppendExpiry(dst []byte, yymm string) ([]byte, error) {
	if len(yymm) != 4 {
		return dst, ErrDate
	}
	for i := 0; i < 4; i++ {
		if yymm[i] < '0' || yymm[i] > '9' {
			return dst, ErrDate
		}
	}
	return append(dst, yymm[2], yymm[3], '/', yymm[0], yymm[1]), nil
}
