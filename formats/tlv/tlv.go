// Package tlv encodes and strictly decodes BER-TLV as EMV uses it
// (ISO/IEC 8825-1 with the EMV Book 3 Annex B conventions).
//
// The decoder is deliberately strict, because the bytes it accepts end up on
// a chip: no indefinite lengths, no non-minimal length or tag encodings, no
// padding between objects and no trailing bytes. Anything it accepts
// re-encodes to exactly the same bytes.
package tlv

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is.
var (
	ErrTruncated        = errors.New("tlv: truncated")
	ErrIndefiniteLength = errors.New("tlv: indefinite length")
	ErrNonMinimalLength = errors.New("tlv: non-minimal length encoding")
	ErrLengthTooLong    = errors.New("tlv: length field longer than 4 bytes")
	ErrBadTag           = errors.New("tlv: malformed tag")
	ErrTooDeep          = errors.New("tlv: constructed objects nested too deeply")
	ErrTrailing         = errors.New("tlv: trailing bytes")
)

// MaxDepth bounds the nesting of constructed objects Decode follows, so
// hostile input cannot exhaust the stack.
const MaxDepth = 16

// Tag is a BER tag held as its encoded bytes, big-endian: 0x70, 0x5F20,
// 0x9F08. EMV names tags by these bytes, so this is the natural key; it
// allows tags of up to 4 bytes.
type Tag uint32

// Len is the number of bytes t encodes to.
func (t Tag) Len() int {
	switch {
	case t > 0xFFFFFF:
		return 4
	case t > 0xFFFF:
		return 3
	case t > 0xFF:
		return 2
	}
	return 1
}

// Constructed reports whether the tag's constructed bit (b6 of the first
// byte) is set: its value is itself a series of TLV objects.
func (t Tag) Constructed() bool {
	first := byte(t >> (8 * (t.Len() - 1)))
	return first&0x20 != 0
}

// Valid reports whether t is a well-formed, minimally encoded tag: a
// one-byte tag whose low five bits are not all set, or a multi-byte tag
// whose first byte has them all set, whose following bytes have b8 set
// except the last, and whose first following byte is not 0x80.
func (t Tag) Valid() bool {
	// The bytes of t from the first: b0 b1 b2 b3. Every check below is
	// one of the rules above for the tag's length.
	const (
		more   = 0x80 // b8: another tag byte follows
		number = 0x1F // low five bits of the first byte: all set for a multi-byte tag
	)
	switch {
	case t <= 0xFF:
		return t&number != number
	case t <= 0xFFFF: // b0 b1: b1 is the last
		return t>>8&number == number && t&more == 0
	case t <= 0xFFFFFF: // b0 b1 b2
		return t>>16&number == number && t>>8&0xFF != 0x80 && t>>8&more != 0 && t&more == 0
	}
	// b0 b1 b2 b3
	return t>>24&number == number && t>>16&0xFF != 0x80 && t>>16&more != 0 && t>>8&more != 0 && t&more == 0
}

// String is the tag in upper-case hex, as EMV specifications write it.
func (t Tag) String() string {
	return fmt.Sprintf("%0*X", 2*t.Len(), uint32(t))
}

// ParseTag reads a tag written in hex ("9F08"), as profiles name them.
func ParseTag(s string) (Tag, error) {
	if len(s) == 0 || len(s) > 8 || len(s)%2 != 0 {
		return 0, fmt.Errorf("%w: %q is not 1 to 4 hex bytes", ErrBadTag, s)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not hex", ErrBadTag, s)
	}
	var t Tag
	for _, c := range b {
		t = t<<8 | Tag(c)
	}
	if t.Len() != len(b) || !t.Valid() {
		return 0, fmt.Errorf("%w: %q is not a valid BER tag", ErrBadTag, s)
	}
	return t, nil
}

// AppendTag appends the encoding of t.
func AppendTag(dst []byte, t Tag) []byte {
	switch t.Len() {
	case 4:
		return append(dst, byte(t>>24), byte(t>>16), byte(t>>8), byte(t))
	case 3:
		return append(dst, byte(t>>16), byte(t>>8), byte(t))
	case 2:
		return append(dst, byte(t>>8), byte(t))
	}
	return append(dst, byte(t))
}

// AppendLength appends the minimal BER encoding of n.
func AppendLength(dst []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n <= 0xFF:
		return append(dst, 0x81, byte(n))
	case n <= 0xFFFF:
		return append(dst, 0x82, byte(n>>8), byte(n))
	case n <= 0xFFFFFF:
		return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// Append appends one primitive object (or a constructed one whose value the
// caller already encoded).
func Append(dst []byte, t Tag, value []byte) []byte {
	dst = AppendTag(dst, t)
	dst = AppendLength(dst, len(value))
	return append(dst, value...)
}

// Object is a decoded TLV object. A constructed object carries its decoded
// children in Children and its raw encoded content in Value.
type Object struct {
	Tag      Tag
	Value    []byte
	Children []Object
}

// AppendObject encodes o. For a constructed tag the children are encoded
// (Value is ignored) so that a tree built by hand encodes correctly.
func AppendObject(dst []byte, o Object) []byte {
	if !o.Tag.Constructed() {
		return Append(dst, o.Tag, o.Value)
	}
	var inner []byte
	for _, c := range o.Children {
		inner = AppendObject(inner, c)
	}
	return Append(dst, o.Tag, inner)
}

// Next decodes the object at the start of b without descending into it.
// It returns the object's tag, its value (aliasing b) and the rest of b.
func Next(b []byte) (t Tag, value, rest []byte, err error) {
	t, n, err := readTag(b)
	if err != nil {
		return 0, nil, nil, err
	}
	b = b[n:]
	l, n, err := readLength(b)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("tag %v: %w", t, err)
	}
	b = b[n:]
	if l > len(b) {
		return 0, nil, nil, fmt.Errorf("tag %v: value of %d bytes, %d left: %w", t, l, len(b), ErrTruncated)
	}
	return t, b[:l:l], b[l:], nil
}

func readTag(b []byte) (Tag, int, error) {
	if len(b) == 0 {
		return 0, 0, ErrTruncated
	}
	t := Tag(b[0])
	if b[0]&0x1F != 0x1F {
		return t, 1, nil
	}
	for i := 1; ; i++ {
		if i >= len(b) {
			return 0, 0, ErrTruncated
		}
		if i == 4 {
			return 0, 0, fmt.Errorf("%w: longer than 4 bytes", ErrBadTag)
		}
		if i == 1 && b[1] == 0x80 {
			return 0, 0, fmt.Errorf("%w: non-minimal tag number", ErrBadTag)
		}
		t = t<<8 | Tag(b[i])
		if b[i]&0x80 == 0 {
			return t, i + 1, nil
		}
	}
}

func readLength(b []byte) (int, int, error) {
	if len(b) == 0 {
		return 0, 0, ErrTruncated
	}
	first := b[0]
	if first < 0x80 {
		return int(first), 1, nil
	}
	if first == 0x80 {
		return 0, 0, ErrIndefiniteLength
	}
	n := int(first & 0x7F)
	if n > 4 {
		return 0, 0, ErrLengthTooLong
	}
	if len(b) < 1+n {
		return 0, 0, ErrTruncated
	}
	if b[1] == 0 {
		return 0, 0, ErrNonMinimalLength
	}
	l := 0
	for _, c := range b[1 : 1+n] {
		l = l<<8 | int(c)
	}
	if (n == 1 && l < 0x80) || l < 0 {
		return 0, 0, ErrNonMinimalLength
	}
	return l, 1 + n, nil
}

// Decode decodes b, which must consist of whole TLV objects and nothing
// else, descending into constructed objects. Values alias b.
func Decode(b []byte) ([]Object, error) {
	return decode(b, 0)
}

func decode(b []byte, depth int) ([]Object, error) {
	if depth > MaxDepth {
		return nil, ErrTooDeep
	}
	// Count the objects first, so that out is allocated once. Errors are
	// left to the loop below, which finds them in its own order.
	n := 0
	for rest := b; len(rest) > 0; n++ {
		var err error
		if _, _, rest, err = Next(rest); err != nil {
			break
		}
	}
	var out []Object
	if n > 0 {
		out = make([]Object, 0, n)
	}
	for len(b) > 0 {
		t, v, rest, err := Next(b)
		if err != nil {
			return nil, err
		}
		o := Object{Tag: t, Value: v}
		if t.Constructed() {
			if o.Children, err = decode(v, depth+1); err != nil {
				return nil, fmt.Errorf("in %v: %w", t, err)
			}
		}
		out = append(out, o)
		b = rest
	}
	return out, nil
}

// Check reports what Decode would report about b, the same error or nil,
// without building the objects (and so without allocating for good
// input). Validation uses it for chip data it only needs to vet.
func Check(b []byte) error {
	return check(b, 0)
}

// check walks b as decode does, in the same order and with the same
// errors.
func check(b []byte, depth int) error {
	if depth > MaxDepth {
		return ErrTooDeep
	}
	for len(b) > 0 {
		t, v, rest, err := Next(b)
		if err != nil {
			return err
		}
		if t.Constructed() {
			if err := check(v, depth+1); err != nil {
				return fmt.Errorf("in %v: %w", t, err)
			}
		}
		b = rest
	}
	return nil
}

// DecodeOne decodes exactly one object (and its children): bytes after it
// are an error, since a value that arrived with garbage behind it cannot be
// trusted to be what the sender meant.
func DecodeOne(b []byte) (Object, error) {
	t, v, rest, err := Next(b)
	if err != nil {
		return Object{}, err
	}
	if len(rest) > 0 {
		return Object{}, fmt.Errorf("%w: %d bytes after tag %v", ErrTrailing, len(rest), t)
	}
	o := Object{Tag: t, Value: v}
	if t.Constructed() {
		if o.Children, err = decode(v, 1); err != nil {
			return Object{}, fmt.Errorf("in %v: %w", t, err)
		}
	}
	return o, nil
}

// Find returns the first object with tag t, searching depth-first.
func Find(objs []Object, t Tag) (Object, bool) {
	for _, o := range objs {
		if o.Tag == t {
			return o, true
		}
		if c, ok := Find(o.Children, t); ok {
			return c, true
		}
	}
	return Object{}, false
}
