// Package track encodes and parses ISO/IEC 7813 magnetic stripe tracks as
// personalization machines take them: the printable characters from start
// sentinel to end sentinel, with the LRC character after it when the
// machine wants it (parity bits are the encoder's business).
//
//	track 1: %B PAN ^ NAME ^ YYMM SVC discretionary ? [LRC]   ≤ 79
//	track 2: ;  PAN = YYMM SVC discretionary ? [LRC]          ≤ 40
package track

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, for errors.Is.
var (
	ErrFormat  = errors.New("track: malformed")
	ErrCharset = errors.New("track: character outside the track's set")
	ErrLength  = errors.New("track: too long")
	ErrLRC     = errors.New("track: LRC mismatch")
)

// Limits of ISO/IEC 7813, counting sentinels, separators and LRC.
const (
	Track1Max = 79
	Track2Max = 40
)

// Data is what the tracks hold. Name is for track 1 only.
type Data struct {
	PAN           string
	Name          string
	Expiry        string // YYMM
	ServiceCode   string
	Discretionary string
}

// AppendTrack1 appends track 1 for d, with the LRC if lrc is set.
func AppendTrack1(dst []byte, d *Data, lrc bool) ([]byte, error) {
	if err := checkCommon(d); err != nil {
		return dst, err
	}
	if len(d.Name) < 2 || len(d.Name) > 26 {
		return dst, fmt.Errorf("%w: name of %d characters, not 2 to 26", ErrFormat, len(d.Name))
	}
	if !inSet1(d.Name) || !inSet1(d.Discretionary) {
		return dst, fmt.Errorf("%w: track 1 name or discretionary data", ErrCharset)
	}
	n := 2 + len(d.PAN) + 1 + len(d.Name) + 1 + 7 + len(d.Discretionary) + 1
	if lrc {
		n++
	}
	if n > Track1Max {
		return dst, fmt.Errorf("%w: track 1 of %d characters", ErrLength, n)
	}
	start := len(dst)
	dst = append(dst, '%', 'B')
	dst = append(dst, d.PAN...)
	dst = append(dst, '^')
	dst = append(dst, d.Name...)
	dst = append(dst, '^')
	dst = append(dst, d.Expiry...)
	dst = append(dst, d.ServiceCode...)
	dst = append(dst, d.Discretionary...)
	dst = append(dst, '?')
	if lrc {
		dst = append(dst, LRC1(dst[start:]))
	}
	return dst, nil
}

// AppendTrack2 appends track 2 for d, with the LRC if lrc is set.
func AppendTrack2(dst []byte, d *Data, lrc bool) ([]byte, error) {
	if err := checkCommon(d); err != nil {
		return dst, err
	}
	if !digits(d.Discretionary) {
		return dst, fmt.Errorf("%w: track 2 discretionary data must be digits", ErrCharset)
	}
	n := 1 + len(d.PAN) + 1 + 7 + len(d.Discretionary) + 1
	if lrc {
		n++
	}
	if n > Track2Max {
		return dst, fmt.Errorf("%w: track 2 of %d characters", ErrLength, n)
	}
	start := len(dst)
	dst = append(dst, ';')
	dst = append(dst, d.PAN...)
	dst = append(dst, '=')
	dst = append(dst, d.Expiry...)
	dst = append(dst, d.ServiceCode...)
	dst = append(dst, d.Discretionary...)
	dst = append(dst, '?')
	if lrc {
		dst = append(dst, LRC2(dst[start:]))
	}
	return dst, nil
}

func checkCommon(d *Data) error {
	if len(d.PAN) == 0 || len(d.PAN) > 19 || !digits(d.PAN) {
		return fmt.Errorf("%w: PAN must be 1 to 19 digits", ErrFormat)
	}
	if len(d.Expiry) != 4 || !digits(d.Expiry) {
		return fmt.Errorf("%w: expiry must be YYMM", ErrFormat)
	}
	if len(d.ServiceCode) != 3 || !digits(d.ServiceCode) {
		return fmt.Errorf("%w: service code must be 3 digits", ErrFormat)
	}
	return nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// inSet1 reports whether s holds only track 1 data characters: the 6-bit
// alphabet (0x20–0x5F) less the sentinels and separator % ^ ?.
func inSet1(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x5F || c == '%' || c == '^' || c == '?' {
			return false
		}
	}
	return true
}

// LRC1 is the longitudinal redundancy check of track 1 characters from
// start to end sentinel: the XOR of their 6-bit codes (c - 0x20).
func LRC1(b []byte) byte {
	var x byte
	for _, c := range b {
		x ^= (c - 0x20) & 0x3F
	}
	return x + 0x20
}

// LRC2 is the same for track 2's 4-bit codes (c - 0x30).
func LRC2(b []byte) byte {
	var x byte
	for _, c := range b {
		x ^= (c - 0x30) & 0x0F
	}
	return x + 0x30
}

// ParseTrack1 parses a track 1 image, checking the LRC when one follows
// the end sentinel.
func ParseTrack1(s string) (Data, error) {
	var d Data
	if len(s) > Track1Max {
		return d, ErrLength
	}
	if !strings.HasPrefix(s, "%B") {
		return d, fmt.Errorf("%w: no %%B start", ErrFormat)
	}
	end := strings.IndexByte(s, '?')
	if end < 0 || len(s)-end > 2 {
		return d, fmt.Errorf("%w: end sentinel", ErrFormat)
	}
	if err := checkLRC(s, end, LRC1, 0x20, 0x5F); err != nil {
		return d, err
	}
	pan, rest, ok := strings.Cut(s[2:end], "^")
	if !ok {
		return d, fmt.Errorf("%w: no separator after PAN", ErrFormat)
	}
	name, rest, ok := strings.Cut(rest, "^")
	if !ok {
		return d, fmt.Errorf("%w: no separator after name", ErrFormat)
	}
	if !inSet1(name) || !inSet1(rest) {
		return d, ErrCharset
	}
	d = Data{PAN: pan, Name: name}
	if err := tail(&d, rest); err != nil {
		return Data{}, err
	}
	if len(name) < 2 || len(name) > 26 {
		return Data{}, fmt.Errorf("%w: name length", ErrFormat)
	}
	return d, nil
}

// ParseTrack2 parses a track 2 image, checking the LRC when one follows
// the end sentinel.
func ParseTrack2(s string) (Data, error) {
	var d Data
	if len(s) > Track2Max {
		return d, ErrLength
	}
	if !strings.HasPrefix(s, ";") {
		return d, fmt.Errorf("%w: no ; start", ErrFormat)
	}
	end := strings.IndexByte(s, '?')
	if end < 0 || len(s)-end > 2 {
		return d, fmt.Errorf("%w: end sentinel", ErrFormat)
	}
	if err := checkLRC(s, end, LRC2, 0x30, 0x3F); err != nil {
		return d, err
	}
	pan, rest, ok := strings.Cut(s[1:end], "=")
	if !ok {
		return d, fmt.Errorf("%w: no separator after PAN", ErrFormat)
	}
	d.PAN = pan
	if !digits(rest) {
		return Data{}, ErrCharset
	}
	if err := tail(&d, rest); err != nil {
		return Data{}, err
	}
	return d, nil
}

func checkLRC(s string, end int, lrc func([]byte) byte, lo, hi byte) error {
	if end == len(s)-1 {
		return nil
	}
	got := s[end+1]
	if got < lo || got > hi || lrc([]byte(s[:end+1])) != got {
		return ErrLRC
	}
	return nil
}

func tail(d *Data, rest string) error {
	if len(rest) < 7 || !digits(rest[:7]) {
		return fmt.Errorf("%w: expiry and service code", ErrFormat)
	}
	d.Expiry, d.ServiceCode, d.Discretionary = rest[:4], rest[4:7], rest[7:]
	if len(d.PAN) == 0 || len(d.PAN) > 19 || !digits(d.PAN) {
		return fmt.Errorf("%w: PAN", ErrFormat)
	}
	return nil
}
