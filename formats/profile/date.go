package profile

import (
	"fmt"
	"strings"
)

// DateFormat is how a month is written: a layout of YYYY, YY and MM with
// literal separators, such as "YYMM", "MM/YY" or "YYYY-MM". Months are kept
// as YYMM inside; four-digit years must be 2000–2099.
type DateFormat struct {
	layout string
	parts  []datePart
	width  int
}

type datePart struct {
	kind byte // 'Y' two-digit year, 'C' four-digit year, 'M' month, 0 literal
	lit  byte
}

// ParseDateFormat compiles a layout.
func ParseDateFormat(s string) (DateFormat, error) {
	f := DateFormat{layout: s}
	var year, month int
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "YYYY"):
			f.parts = append(f.parts, datePart{kind: 'C'})
			i, f.width, year = i+4, f.width+4, year+1
		case strings.HasPrefix(s[i:], "YY"):
			f.parts = append(f.parts, datePart{kind: 'Y'})
			i, f.width, year = i+2, f.width+2, year+1
		case strings.HasPrefix(s[i:], "MM"):
			f.parts = append(f.parts, datePart{kind: 'M'})
			i, f.width, month = i+2, f.width+2, month+1
		case strings.IndexByte("/-. ", s[i]) >= 0:
			f.parts = append(f.parts, datePart{lit: s[i]})
			i, f.width = i+1, f.width+1
		default:
			return DateFormat{}, fmt.Errorf("date layout %q: only YYYY, YY, MM and / - . space are allowed", s)
		}
	}
	if year != 1 || month != 1 {
		return DateFormat{}, fmt.Errorf("date layout %q needs one year and one month", s)
	}
	return f, nil
}

func (f DateFormat) String() string { return f.layout }

// IsZero reports whether f was never set.
func (f DateFormat) IsZero() bool { return f.layout == "" }

// yymmTable interns every YYMM so that parsing a date in another layout
// does not allocate.
var yymmTable = func() (t [100][13]string) {
	for y := range 100 {
		for m := 1; m <= 12; m++ {
			t[y][m] = fmt.Sprintf("%02d%02d", y, m)
		}
	}
	return t
}()

// Parse reads s in layout f and returns it as YYMM; ok is false when s
// does not match the layout or is not a real month.
func (f DateFormat) Parse(s string) (yymm string, ok bool) {
	if len(s) != f.width {
		return "", false
	}
	yy, mm := -1, -1
	i := 0
	for _, p := range f.parts {
		switch p.kind {
		case 0:
			if s[i] != p.lit {
				return "", false
			}
			i++
		case 'C':
			c, ok1 := two(s[i:])
			y, ok2 := two(s[i+2:])
			if !ok1 || !ok2 || c != 20 {
				return "", false
			}
			yy, i = y, i+4
		case 'Y':
			y, ok := two(s[i:])
			if !ok {
				return "", false
			}
			yy, i = y, i+2
		case 'M':
			m, ok := two(s[i:])
			if !ok {
				return "", false
			}
			mm, i = m, i+2
		}
	}
	if mm < 1 || mm > 12 {
		return "", false
	}
	return yymmTable[yy][mm], true
}

func two(s string) (int, bool) {
	if s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// Append writes the YYMM month yymm in layout f. yymm must be four digits.
func (f DateFormat) Append(dst []byte, yymm string) []byte {
	for _, p := range f.parts {
		switch p.kind {
		case 0:
			dst = append(dst, p.lit)
		case 'C':
			dst = append(dst, '2', '0', yymm[0], yymm[1])
		case 'Y':
			dst = append(dst, yymm[0], yymm[1])
		case 'M':
			dst = append(dst, yymm[2], yymm[3])
		}
	}
	return dst
}
