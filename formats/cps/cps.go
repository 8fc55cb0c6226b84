// Package cps builds EMV Card Personalization Specification (v1.1) data
// groupings (DGIs) from a card record: a 2-byte DGI number, a length of one
// byte (or FF and two bytes from 255 up), and the value.
//
// Record DGIs (SSRR: record RR of SFI SS, e.g. 0101) hold a 70 template of
// BER-TLV objects: the ones this package derives from the record (5A, 5F24,
// 5F25, 5F20, 57, 5F30, 5F34) and the issuer's own chip tags. DGIs 9xxx are
// plain; 8xxx are sensitive and belong encrypted under the machine's
// transport key.
//
// Sensitive DGIs: this package only carries through what the issuer
// supplied for them, byte for byte. Encrypting them under the transport key
// (and deriving keys) needs the HSM and is later work, not done here.
package cps

import (
	"errors"
	"fmt"

	"github.com/dataprep/dataprep/formats/card"
)

// Sentinel errors, for errors.Is.
var (
	ErrTruncated  = errors.New("cps: truncated DGI")
	ErrNonMinimal = errors.New("cps: FF length form used for a length under 255")
	ErrTooLong    = errors.New("cps: DGI value longer than 65535 bytes")
	ErrMissing    = errors.New("cps: data object missing from the record")
	ErrData       = errors.New("cps: record data cannot be encoded")
)

// Sensitive reports whether a DGI is in the 8000 series, whose content is
// secret (keys, PIN blocks).
func Sensitive(dgi uint16) bool { return dgi&0xF000 == 0x8000 }

// AppendDGI appends one DGI.
func AppendDGI(dst []byte, dgi uint16, value []byte) ([]byte, error) {
	if len(value) > 0xFFFF {
		return dst, ErrTooLong
	}
	dst = append(dst, byte(dgi>>8), byte(dgi))
	if len(value) < 0xFF {
		dst = append(dst, byte(len(value)))
	} else {
		dst = append(dst, 0xFF, byte(len(value)>>8), byte(len(value)))
	}
	return append(dst, value...), nil
}

// NextDGI decodes the DGI at the start of b; value aliases b.
func NextDGI(b []byte) (dgi uint16, value, rest []byte, err error) {
	if len(b) < 3 {
		return 0, nil, nil, ErrTruncated
	}
	dgi = uint16(b[0])<<8 | uint16(b[1])
	n, b := int(b[2]), b[3:]
	if n == 0xFF {
		if len(b) < 2 {
			return 0, nil, nil, ErrTruncated
		}
		n, b = int(b[0])<<8|int(b[1]), b[2:]
		if n < 0xFF {
			return 0, nil, nil, ErrNonMinimal
		}
	}
	if n > len(b) {
		return 0, nil, nil, fmt.Errorf("%w: DGI %04X wants %d bytes, %d left", ErrTruncated, dgi, n, len(b))
	}
	return dgi, b[:n:n], b[n:], nil
}

// ParseDGIs decodes a whole series of DGIs.
func ParseDGIs(b []byte) ([]card.DGI, error) {
	var out []card.DGI
	for len(b) > 0 {
		dgi, v, rest, err := NextDGI(b)
		if err != nil {
			return nil, err
		}
		out = append(out, card.DGI{Tag: dgi, Value: v})
		b = rest
	}
	return out, nil
}

// appendBCD appends the digit string s as packed BCD. An odd count is
// padded to a whole byte with F on the right (EMV format cn) or 0 on the
// left (format n).
func appendBCD(dst []byte, s string, padLeft bool) []byte {
	if len(s)%2 == 1 && padLeft {
		dst = append(dst, nibble(s[0]))
		s = s[1:]
	}
	i := 0
	for ; i+1 < len(s); i += 2 {
		dst = append(dst, nibble(s[i])<<4|nibble(s[i+1]))
	}
	if i < len(s) {
		dst = append(dst, nibble(s[i])<<4|0xF)
	}
	return dst
}

// nibble is the BCD nibble for a digit, D (the track 2 separator) or F
// (padding); anything else is F.
func nibble(c byte) byte { return nibbles[c] }

// nibbles is nibble as a table: one load, no branch, per digit.
var nibbles = func() (t [256]byte) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = byte(c - '0')
		case c == 'D':
			t[c] = 0xD
		default:
			t[c] = 0xF
		}
	}
	return t
}()

// AppendPAN appends the value of tag 5A: the PAN in cn format.
func AppendPAN(dst []byte, pan string) []byte { return appendBCD(dst, pan, false) }

// AppendTrack2Equivalent appends the value of tag 57: PAN, separator D,
// YYMM, service code and discretionary data, packed, padded with F.
func AppendTrack2Equivalent(dst []byte, r *card.Record) []byte {
	var buf [48]byte
	s := append(buf[:0], r.PAN...)
	s = append(s, 'D')
	s = append(s, r.Expiry...)
	s = append(s, r.ServiceCode...)
	s = append(s, r.Discretionary...)
	if len(s)%2 == 1 {
		s = append(s, 'F')
	}
	for i := 0; i+1 < len(s); i += 2 {
		dst = append(dst, nibble(s[i])<<4|nibble(s[i+1]))
	}
	return dst
}

// AppendDate appends a YYMM month as the YYMMDD of tags 5F24 (the month's
// last day: a card is good through its expiry month) or 5F25 (the first).
func AppendDate(dst []byte, yymm string, last bool) []byte {
	day := "01"
	if last {
		yy := int(yymm[0]-'0')*10 + int(yymm[1]-'0')
		mm := int(yymm[2]-'0')*10 + int(yymm[3]-'0')
		day = [...]string{"31", "28", "31", "30", "31", "30", "31", "31", "30", "31", "30", "31"}[mm-1]
		if mm == 2 && yy%4 == 0 { // 2000–2099: every fourth year is a leap year
			day = "29"
		}
	}
	dst = appendBCD(dst, yymm, false)
	return appendBCD(dst, day, false)
}
