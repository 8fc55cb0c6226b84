// Package track encodes and parses ISO/IEC 7813 magnetic stripe tracks as
// personalization machines take them: the printable characters from start
// sentinel to end sentinel, with the LRC character after it when the
// machine wants it (parity bits are the encoder's business).
//
//	track 1: %B PAN ^ NAME ^ YYMM SVC discretionary ? [LRC]   ≤ 79
//	track 2: ;  PAN = YYMM SVC discretionary ? [LRC]          ≤ 40
package track

import (
	"encoding/binary"
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
	// Expiry and service code have fixed lengths: checked here directly,
	// without a call to digits.
	if len(d.Expiry) != 4 || !digits4(load32(d.Expiry)) {
		return fmt.Errorf("%w: expiry must be YYMM", ErrFormat)
	}
	if len(d.ServiceCode) != 3 || d.ServiceCode[0]-'0' > 9 || d.ServiceCode[1]-'0' > 9 || d.ServiceCode[2]-'0' > 9 {
		return fmt.Errorf("%w: service code must be 3 digits", ErrFormat)
	}
	return nil
}

// digits reports whether s is all ASCII digits. Strings of 4 bytes and
// more are checked a word at a time: whole words, then the last word of
// the string again (overlapping what was checked, which does no harm).
func digits(s string) bool {
	switch {
	case len(s) >= 8:
		for i := 0; i+8 <= len(s); i += 8 {
			if !digits8(load64(s[i : i+8])) {
				return false
			}
		}
		return digits8(load64(s[len(s)-8:]))
	case len(s) >= 4:
		return digits4(load32(s[:4])) && digits4(load32(s[len(s)-4:]))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// inSet1 reports whether s holds only track 1 data characters: the 6-bit
// alphabet (0x20–0x5F) less the sentinels and separator % ^ ?. It goes a
// word at a time like digits, byte by byte for less than a word.
func inSet1(s string) bool {
	if len(s) >= 8 {
		for i := 0; i+8 <= len(s); i += 8 {
			if !set1x8(load64(s[i : i+8])) {
				return false
			}
		}
		return set1x8(load64(s[len(s)-8:]))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x5F || c == '%' || c == '^' || c == '?' {
			return false
		}
	}
	return true
}

// Words of 8 (or 4) bytes, each the byte shown.
const (
	b01 = 0x0101010101010101
	b80 = 0x8080808080808080
)

// load64 and load32 read the bytes of s (8 or 4 of them) as one
// little-endian word; the compiler makes each one load.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func load32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// The word tests below flag a byte by setting its top bit in some term; a
// word passes when no term flags any byte. Once x's own top bits are
// clear (every byte below 0x80, else x itself fails), adding to a byte
// cannot carry into the next, and subtracting from one borrows into the
// next only when that byte is flagged already: so a word is flagged
// exactly when one of its bytes is. TestWordChecks compares every byte in
// every position with the byte-by-byte rules.

// digits8 reports whether the 8 bytes in x are all '0' to '9':
// b - 0x30 borrows when b < '0'; b + 0x46 reaches 0x80 when b > '9'.
func digits8(x uint64) bool {
	return (x|(x-0x30*b01)|(x+0x46*b01))&b80 == 0
}

// digits4 is digits8 for 4 bytes.
func digits4(x uint32) bool {
	const b01, b80 = 0x01010101, 0x80808080
	return (x|(x-0x30*b01)|(x+0x46*b01))&b80 == 0
}

// set1x8 reports whether the 8 bytes in x are all in track 1's data set:
// b - 0x20 borrows when b < 0x20, b + 0x20 reaches 0x80 when b > 0x5F,
// and zero8 flags the bytes equal to % ? and ^.
func set1x8(x uint64) bool {
	bad := x | (x - 0x20*b01) | (x + 0x20*b01)
	bad |= zero8(x^'%'*b01) | zero8(x^'?'*b01) | zero8(x^'^'*b01)
	return bad&b80 == 0
}

// zero8 sets the top bit of the bytes of v that are zero: 0 - 1 borrows
// to 0xFF, while a byte from 1 to 0x80 minus 1 stays below 0x80 and a byte
// above 0x80 is masked by &^ v. (A borrow from a zero byte may also flag
// the byte above it, which does not change whether the word is flagged.)
func zero8(v uint64) uint64 { return (v - b01) &^ v }

// LRC1 is the longitudinal redundancy check of track 1 characters from
// start to end sentinel: the XOR of their 6-bit codes (c - 0x20).
//
// Subtracting 0x20 changes only bit 5 and the bits above it, and flips
// bit 5: so (c - 0x20) & 0x3F is (c ^ 0x20) & 0x3F, and the XOR of the
// codes is the XOR of the bytes, with 0x20 flipped once per byte, masked.
func LRC1(b []byte) byte {
	x := xorBytes(b)
	if len(b)%2 == 1 {
		x ^= 0x20
	}
	return x&0x3F + 0x20
}

// LRC2 is the same for track 2's 4-bit codes (c - 0x30), which are the low
// four bits of c as they are.
func LRC2(b []byte) byte {
	return xorBytes(b)&0x0F + 0x30
}

// xorBytes is the XOR of all bytes of b: XORed a word at a time, then the
// word's bytes together.
func xorBytes(b []byte) byte {
	var w uint64
	for ; len(b) >= 8; b = b[8:] {
		w ^= binary.LittleEndian.Uint64(b)
	}
	w ^= w >> 32
	w ^= w >> 16
	w ^= w >> 8
	x := byte(w)
	for _, c := range b {
		x ^= c
	}
	return x
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
