// Package convert turns a validated card record into what a machine's
// profile says the machine takes: a fixed-width line, or the card's CPS
// DGIs (hex per line or length-prefixed binary). It works one record at a
// time into a reused buffer, so converting does not allocate per record in
// the common layouts.
package convert

import (
	"bytes"
	"encoding/binary"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/emboss"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/formats/track"
)

// Converter writes records per one machine profile. It is not safe for
// concurrent use; make one per goroutine.
type Converter struct {
	m       *profile.Machine
	preview bool
	utf8Out bool    // charset = "utf-8": fixed fields may hold UTF-8
	sep     string  // m.Separator
	lineEnd string  // m.LineEndBytes()
	fields  []field // m.Fields, compiled
	out     []byte  // the output record being built
	tmp     []byte  // scratch for transforms and chip data
}

// field is one [[field]] with what appendFixed needs to know about it
// worked out once, when the converter is made, rather than per record.
type field struct {
	*profile.Field
	label    string // what rejects name the field by
	right    bool   // align = "right"
	truncate bool   // overflow = "truncate"
	pad      byte
	padding  string // Width pad bytes, to copy from
	// direct: the value is the one source, with no constant and no
	// transforms, so it can be appended straight from src.
	direct bool
	src    profile.Source
	// ascii: the value is ASCII whatever the record holds, so neither the
	// ASCII check nor a character count is needed (see asciiField).
	ascii bool
}

// New returns a converter for m. The converter works from m as it is when
// New is called: m must not change while the converter is in use.
func New(m *profile.Machine) *Converter { return newConverter(m, false) }

// NewPreview returns a converter whose output shows the PAN masked
// wherever it appears, for profile previews (`dataprep profile check`).
// Its output is for people, not machines.
func NewPreview(m *profile.Machine) *Converter { return newConverter(m, true) }

func newConverter(m *profile.Machine, preview bool) *Converter {
	c := &Converter{m: m, preview: preview, utf8Out: m.Charset == "utf-8", sep: m.Separator, lineEnd: m.LineEndBytes()}
	c.fields = make([]field, len(m.Fields))
	for i := range m.Fields {
		f := &m.Fields[i]
		c.fields[i] = field{
			Field:    f,
			label:    label(f, i),
			right:    f.Align == "right",
			truncate: f.Overflow == "truncate",
			pad:      f.PadByte(),
			padding:  strings.Repeat(string(f.PadByte()), max(f.Width, 0)),
			direct:   f.Value == nil && len(f.Sources()) == 1 && len(f.Transforms()) == 0,
			ascii:    asciiField(f, preview),
		}
		if c.fields[i].direct {
			c.fields[i].src = f.Sources()[0]
		}
	}
	return c
}

// asciiField reports whether field f's value is ASCII whatever the record
// holds. It is false whenever that is not certain: then appendFixed checks
// the value itself, which costs time but never changes the output.
func asciiField(f *profile.Field, preview bool) bool {
	ascii := (f.Value == nil || isASCII([]byte(*f.Value))) && (len(f.Sources()) < 2 || isASCII([]byte(f.Sep)))
	for _, s := range f.Sources() {
		switch s.Kind {
		case profile.SrcLine, profile.SrcChip, profile.SrcCPS:
			// Digits and hex that source writes itself.
		case profile.SrcTrack1, profile.SrcTrack2, profile.SrcEmbossExpiry:
			// The encoders refuse anything outside their sets (digits; for
			// track 1, 0x20 to 0x5F) before writing; the LRC is in the set.
		default:
			// Record text as it is: ASCII only if the record was
			// validated, which the converter cannot know.
			ascii = false
		}
	}
	for _, t := range f.Transforms() {
		switch t.Kind {
		case profile.TTransliterate:
			ascii = true // ASCII as it was, or folded (card.AppendFolded writes ASCII)
		case profile.TMask:
			// card.Mask writes '*' and digits; but a preview leaves a
			// value that already holds a '*' as it is.
			if !preview {
				ascii = true
			}
		case profile.TUpper, profile.TTrim, profile.TDate:
			// These keep, drop or reorder bytes, or add ASCII ones: ASCII
			// stays ASCII.
		default:
			ascii = false
		}
	}
	return ascii
}

// Write converts r and writes the result to w with one Write call.
func (c *Converter) Write(w io.Writer, r *card.Record) error {
	b, err := c.Append(c.out[:0], r)
	c.out = b[:0]
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Append appends the output for r to dst. A record that does not fit the
// layout (a value wider than its field, a chip tag the layout requires and
// the record lacks) is a *card.RecordError wrapping card.ErrConvert; dst
// is then returned unchanged.
func (c *Converter) Append(dst []byte, r *card.Record) ([]byte, error) {
	start := len(dst)
	var err error
	if c.m.Format == profile.OutCPS {
		dst, err = c.appendCPS(dst, r)
	} else {
		dst, err = c.appendFixed(dst, r)
	}
	if err != nil {
		return dst[:start], err
	}
	if c.preview && r.PAN != "" {
		// Tracks and hex chip data hold the PAN's digits as they are.
		masked := card.Mask(r.PAN)
		dst = append(dst[:start], bytes.ReplaceAll(dst[start:], []byte(r.PAN), []byte(masked))...)
	}
	return dst, nil
}

func (c *Converter) appendCPS(dst []byte, r *card.Record) ([]byte, error) {
	var err error
	c.tmp, err = c.m.ChipLayout().Append(c.tmp[:0], r)
	if err != nil {
		return dst, reject(r, "dgi", err.Error())
	}
	if c.m.CPSEncoding == "binary" {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(c.tmp)))
		return append(dst, c.tmp...), nil
	}
	dst = appendHex(dst, c.tmp)
	return append(dst, c.lineEnd...), nil
}

// appendFixed builds each field's value right where it goes in dst, then
// checks, cuts and pads it there.
func (c *Converter) appendFixed(dst []byte, r *card.Record) ([]byte, error) {
	for i := range c.fields {
		f := &c.fields[i]
		if i > 0 && c.sep != "" {
			dst = append(dst, c.sep...)
		}
		start := len(dst)
		var err error
		if f.direct {
			dst, err = c.source(dst, f.src, r)
		} else {
			dst, err = c.appendValue(dst, f.Field, r)
		}
		if err != nil {
			return dst, err
		}
		v := dst[start:]
		n := len(v) // characters
		if !f.ascii && !isASCII(v) {
			if !c.utf8Out {
				return dst, reject(r, f.label, "not ASCII; add transform \"transliterate\"")
			}
			n = utf8.RuneCount(v)
		}
		if f.Width == 0 {
			continue
		}
		if n > f.Width {
			if !f.truncate {
				return dst, reject(r, f.label, strconv.Itoa(n)+" characters for a field of "+strconv.Itoa(f.Width))
			}
			// Cut by characters only when some take more than a byte.
			dst = dst[:start+len(cutRunes(v, f.Width, n != len(v)))]
			n = f.Width
		}
		pad := f.padding[:f.Width-n]
		if f.right {
			// Pad at the end, then move the value behind the padding.
			dst = append(dst, pad...)
			p := dst[start:]
			copy(p[len(pad):], p[:len(p)-len(pad)])
			copy(p, pad)
		} else {
			dst = append(dst, pad...)
		}
	}
	return append(dst, c.lineEnd...), nil
}

// appendValue appends field f's text for r: the constant or the sources,
// then the transforms.
func (c *Converter) appendValue(dst []byte, f *profile.Field, r *card.Record) ([]byte, error) {
	start := len(dst)
	if f.Value != nil {
		dst = append(dst, *f.Value...)
	}
	var err error
	for k, s := range f.Sources() {
		if k > 0 {
			dst = append(dst, f.Sep...)
		}
		if dst, err = c.source(dst, s, r); err != nil {
			return dst, err
		}
	}
	if ts := f.Transforms(); len(ts) > 0 {
		// The transforms rewrite the value where it is; one that makes it
		// longer may move it to a new array, and then it is copied back
		// behind dst[:start].
		v := dst[start:]
		for i := range ts {
			v = c.transform(v, &ts[i]) // by pointer: a Transform is 56 bytes
		}
		if len(v) > 0 && cap(dst) > start && &v[0] == &dst[:start+1][start] {
			dst = dst[:start+len(v)] // still where it was
		} else {
			dst = append(dst[:start], v...)
		}
	}
	return dst, nil
}

// source appends the text of source s for r to v.
func (c *Converter) source(v []byte, s profile.Source, r *card.Record) ([]byte, error) {
	switch s.Kind {
	case profile.SrcPAN:
		if c.preview {
			return append(v, card.Mask(r.PAN)...), nil
		}
		return append(v, r.PAN...), nil
	case profile.SrcPANSeq:
		return append(v, r.PANSeq...), nil
	case profile.SrcName:
		return append(v, r.Name...), nil
	case profile.SrcExpiry:
		return append(v, r.Expiry...), nil
	case profile.SrcEffective:
		return append(v, r.Effective...), nil
	case profile.SrcServiceCode:
		return append(v, r.ServiceCode...), nil
	case profile.SrcDiscretionary:
		return append(v, r.Discretionary...), nil
	case profile.SrcProduct:
		return append(v, r.Product...), nil
	case profile.SrcLine:
		return strconv.AppendInt(v, int64(r.Line), 10), nil
	case profile.SrcEmboss:
		return append(v, r.Emboss[s.N-1]...), nil
	case profile.SrcCarrier:
		if s.N <= len(r.Carrier) {
			v = append(v, r.Carrier[s.N-1]...)
		}
		return v, nil
	case profile.SrcTrack1, profile.SrcTrack2:
		// Field by field: a composite literal is built in a temporary and
		// copied, and the copy's wide loads stall on the narrow stores.
		var d track.Data
		d.PAN, d.Name, d.Expiry, d.ServiceCode, d.Discretionary = r.PAN, r.Name, r.Expiry, r.ServiceCode, r.Discretionary
		var err error
		n := len(v)
		if s.Kind == profile.SrcTrack1 {
			v, err = track.AppendTrack1(v, &d, c.m.TrackLRC)
		} else {
			v, err = track.AppendTrack2(v, &d, c.m.TrackLRC)
		}
		if err != nil {
			return v, reject(r, trackName(s.Kind), err.Error())
		}
		if c.preview {
			v = append(v[:n], bytes.Replace(v[n:], []byte(r.PAN), []byte(card.Mask(r.PAN)), 1)...)
		}
		return v, nil
	case profile.SrcEmbossNumber:
		pan := r.PAN
		if c.preview {
			pan = card.Mask(pan)
		}
		v, err := emboss.AppendNumber(v, pan, c.m.Pattern(len(r.PAN)))
		if err != nil {
			return v, reject(r, "emboss_number", err.Error())
		}
		return v, nil
	case profile.SrcEmbossExpiry:
		v, err := emboss.AppendExpiry(v, r.Expiry)
		if err != nil {
			return v, reject(r, "emboss_expiry", err.Error())
		}
		return v, nil
	case profile.SrcChip:
		if val, ok := r.Chip(s.Tag); ok {
			v = appendHex(v, val)
		}
		return v, nil
	case profile.SrcCPS:
		var err error
		c.tmp, err = c.m.ChipLayout().Append(c.tmp[:0], r)
		if err != nil {
			return v, reject(r, "cps", err.Error())
		}
		return appendHex(v, c.tmp), nil
	}
	return v, nil
}

func (c *Converter) transform(v []byte, t *profile.Transform) []byte {
	switch t.Kind {
	case profile.TUpper:
		upperInPlace(v)
	case profile.TTransliterate:
		if isASCII(v) {
			return v
		}
		c.tmp = card.AppendFoldedBytes(c.tmp[:0], v)
		v = append(v[:0], c.tmp...)
	case profile.TMask:
		if c.preview && bytes.IndexByte(v, '*') >= 0 {
			return v // a preview's PAN is masked already
		}
		m := card.Mask(string(v))
		v = append(v[:0], m...)
	case profile.TTrim:
		t := bytes.Trim(v, " ")
		v = append(v[:0], t...)
	case profile.TDate:
		if len(v) == 4 { // YYMM; empty (no effective date) stays empty
			var d [4]byte
			copy(d[:], v)
			v = t.Date.Append(v[:0], string(d[:]))
		}
	}
	return v
}

// isASCII reports whether b is all ASCII: no byte has its top bit set.
// It ORs eight bytes at a time, then the rest, and looks once.
func isASCII(b []byte) bool {
	var x uint64
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x |= binary.LittleEndian.Uint64(b[i:])
	}
	for ; i < len(b); i++ {
		x |= uint64(b[i])
	}
	return x&bytes80 == 0
}

// cutRunes cuts v to n characters.
func cutRunes(v []byte, n int, utf8Out bool) []byte {
	if !utf8Out {
		return v[:n]
	}
	i := 0
	for off := range string(v) {
		if i == n {
			return v[:off]
		}
		i++
	}
	return v
}

// upperInPlace upper-cases the ASCII letters of v: eight bytes at a time
// while they are ASCII, else by table.
func upperInPlace(v []byte) {
	i := 0
	for ; i+8 <= len(v); i += 8 {
		x := binary.LittleEndian.Uint64(v[i:])
		if x&bytes80 != 0 {
			// Not all ASCII: this word by table.
			for j := i; j < i+8; j++ {
				v[j] = upperASCII[v[j]]
			}
			continue
		}
		binary.LittleEndian.PutUint64(v[i:], upper8(x))
	}
	for ; i < len(v); i++ {
		v[i] = upperASCII[v[i]]
	}
}

const (
	bytes01 = 0x0101010101010101
	bytes80 = 0x8080808080808080
)

// upper8 upper-cases the letters in x, eight ASCII bytes (each below
// 0x80). Per byte b, with no carry from one byte to the next since b+k is
// below 0x100 for every b and k here:
//
//	b + (0x80-'a')   has its top bit set when b >= 'a'
//	b + (0x80-'z'-1) has its top bit set when b > 'z'
//
// so the first and not the second marks the lower-case letters with 0x80,
// and 0x80>>2 = 0x20 is what separates a lower-case letter from its upper
// case. TestUpper8 checks every byte in every position against the table.
func upper8(x uint64) uint64 {
	geA := x + (0x80-'a')*bytes01
	gtZ := x + (0x80-'z'-1)*bytes01
	lower := geA &^ gtZ & bytes80
	return x - lower>>2
}

// upperASCII maps a-z to A-Z and every other byte to itself.
var upperASCII = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'a' <= i && i <= 'z' {
			t[i] -= 'a' - 'A'
		}
	}
	return t
}()

// hexPairs[b] is b in upper-case hex, the first digit in the low byte
// (so that a little-endian 16-bit store writes the two in order).
var hexPairs = func() (t [256]uint16) {
	const digits = "0123456789ABCDEF"
	for b := range t {
		t[b] = uint16(digits[b>>4]) | uint16(digits[b&0xF])<<8
	}
	return t
}()

// appendHex appends b in upper-case hex: the hex of four bytes at a time
// from the table, stored as one 8-byte word, then the rest one by one.
func appendHex(dst, b []byte) []byte {
	n := len(dst)
	dst = slices.Grow(dst, 2*len(b))[:n+2*len(b)]
	h := dst[n:]
	i := 0
	for ; i+4 <= len(b); i += 4 {
		x := uint64(hexPairs[b[i]]) | uint64(hexPairs[b[i+1]])<<16 | uint64(hexPairs[b[i+2]])<<32 | uint64(hexPairs[b[i+3]])<<48
		binary.LittleEndian.PutUint64(h[2*i:], x)
	}
	for ; i < len(b); i++ {
		binary.LittleEndian.PutUint16(h[2*i:], hexPairs[b[i]])
	}
	return dst
}

func reject(r *card.Record, field, reason string) error {
	return card.Reject(r, field, card.ErrConvert, reason)
}

func label(f *profile.Field, i int) string {
	if f.Name != "" {
		return f.Name
	}
	return "field " + strconv.Itoa(i+1)
}

func trackName(k profile.SourceKind) string {
	if k == profile.SrcTrack1 {
		return "track1"
	}
	return "track2"
}
