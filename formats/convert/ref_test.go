package convert

// This file keeps the converter as it was before it was tuned for speed
// (commit 87871c0), renamed with a ref prefix. TestConvertMatchesReference
// and FuzzConvertRef hold the tuned converter to it: the same bytes out,
// or the same error, for every record and layout. Edit it only to follow
// an intended change of the output.

import (
	"bytes"
	"encoding/binary"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/emboss"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/formats/track"
)

// refConverter writes records per one machine profile. It is not safe for
// concurrent use; make one per goroutine.
type refConverter struct {
	m       *profile.Machine
	preview bool
	out     []byte // the output record being built
	val     []byte // one field's value
	tmp     []byte // scratch for transforms and chip data
}

// New returns a converter for m.
func refNew(m *profile.Machine) *refConverter { return &refConverter{m: m} }

// NewPreview returns a converter whose output shows the PAN masked
// wherever it appears, for profile previews (`dataprep profile check`).
// Its output is for people, not machines.
func refNewPreview(m *profile.Machine) *refConverter { return &refConverter{m: m, preview: true} }

// Write converts r and writes the result to w with one Write call.
func (c *refConverter) Write(w io.Writer, r *card.Record) error {
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
func (c *refConverter) Append(dst []byte, r *card.Record) ([]byte, error) {
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

func (c *refConverter) appendCPS(dst []byte, r *card.Record) ([]byte, error) {
	var err error
	c.tmp, err = c.m.ChipLayout().Append(c.tmp[:0], r)
	if err != nil {
		return dst, refReject(r, "dgi", err.Error())
	}
	if c.m.CPSEncoding == "binary" {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(c.tmp)))
		return append(dst, c.tmp...), nil
	}
	dst = refAppendHex(dst, c.tmp)
	return append(dst, c.m.LineEndBytes()...), nil
}

func (c *refConverter) appendFixed(dst []byte, r *card.Record) ([]byte, error) {
	utf8Out := c.m.Charset == "utf-8"
	for i := range c.m.Fields {
		f := &c.m.Fields[i]
		if i > 0 {
			dst = append(dst, c.m.Separator...)
		}
		v, err := c.value(f, r)
		if err != nil {
			return dst, err
		}
		if !utf8Out {
			for _, b := range v {
				if b >= utf8.RuneSelf {
					return dst, refReject(r, refLabel(f, i), "not ASCII; add transform \"transliterate\"")
				}
			}
		}
		n := len(v)
		if utf8Out {
			n = utf8.RuneCount(v)
		}
		if f.Width == 0 {
			dst = append(dst, v...)
			continue
		}
		if n > f.Width {
			if f.Overflow != "truncate" {
				return dst, refReject(r, refLabel(f, i), strconv.Itoa(n)+" characters for a field of "+strconv.Itoa(f.Width))
			}
			v, n = refCutRunes(v, f.Width, utf8Out), f.Width
		}
		if f.Align == "right" {
			dst = refAppendPad(dst, f.PadByte(), f.Width-n)
			dst = append(dst, v...)
		} else {
			dst = append(dst, v...)
			dst = refAppendPad(dst, f.PadByte(), f.Width-n)
		}
	}
	return append(dst, c.m.LineEndBytes()...), nil
}

// value builds one field's text in c.val.
func (c *refConverter) value(f *profile.Field, r *card.Record) ([]byte, error) {
	v := c.val[:0]
	if f.Value != nil {
		v = append(v, *f.Value...)
	}
	var err error
	for k, s := range f.Sources() {
		if k > 0 {
			v = append(v, f.Sep...)
		}
		if v, err = c.source(v, s, r); err != nil {
			c.val = v[:0]
			return nil, err
		}
	}
	for _, t := range f.Transforms() {
		v = c.transform(v, t)
	}
	c.val = v
	return v, nil
}

func (c *refConverter) source(v []byte, s profile.Source, r *card.Record) ([]byte, error) {
	pan := r.PAN
	if c.preview {
		pan = card.Mask(pan)
	}
	switch s.Kind {
	case profile.SrcPAN:
		return append(v, pan...), nil
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
		d := track.Data{PAN: r.PAN, Name: r.Name, Expiry: r.Expiry, ServiceCode: r.ServiceCode, Discretionary: r.Discretionary}
		var err error
		n := len(v)
		if s.Kind == profile.SrcTrack1 {
			v, err = track.AppendTrack1(v, &d, c.m.TrackLRC)
		} else {
			v, err = track.AppendTrack2(v, &d, c.m.TrackLRC)
		}
		if err != nil {
			return v, refReject(r, refTrackName(s.Kind), err.Error())
		}
		if c.preview {
			v = append(v[:n], bytes.Replace(v[n:], []byte(r.PAN), []byte(pan), 1)...)
		}
		return v, nil
	case profile.SrcEmbossNumber:
		v, err := emboss.AppendNumber(v, pan, c.m.Pattern(len(r.PAN)))
		if err != nil {
			return v, refReject(r, "emboss_number", err.Error())
		}
		return v, nil
	case profile.SrcEmbossExpiry:
		v, err := emboss.AppendExpiry(v, r.Expiry)
		if err != nil {
			return v, refReject(r, "emboss_expiry", err.Error())
		}
		return v, nil
	case profile.SrcChip:
		if val, ok := r.Chip(s.Tag); ok {
			v = refAppendHex(v, val)
		}
		return v, nil
	case profile.SrcCPS:
		var err error
		c.tmp, err = c.m.ChipLayout().Append(c.tmp[:0], r)
		if err != nil {
			return v, refReject(r, "cps", err.Error())
		}
		return refAppendHex(v, c.tmp), nil
	}
	return v, nil
}

func (c *refConverter) transform(v []byte, t profile.Transform) []byte {
	switch t.Kind {
	case profile.TUpper:
		for i, b := range v {
			if 'a' <= b && b <= 'z' {
				v[i] = b - ('a' - 'A')
			}
		}
	case profile.TTransliterate:
		if refIsASCII(v) {
			return v
		}
		c.tmp = card.AppendFolded(c.tmp[:0], string(v))
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

func refIsASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// refCutRunes cuts v to n characters.
func refCutRunes(v []byte, n int, utf8Out bool) []byte {
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

func refAppendPad(dst []byte, pad byte, n int) []byte {
	dst = slices.Grow(dst, n)
	p := dst[len(dst) : len(dst)+n]
	for i := range p {
		p[i] = pad
	}
	return dst[:len(dst)+n]
}

const refHexdigits = "0123456789ABCDEF"

func refAppendHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, refHexdigits[c>>4], refHexdigits[c&0xF])
	}
	return dst
}

func refReject(r *card.Record, field, reason string) error {
	return card.Reject(r, field, card.ErrConvert, reason)
}

func refLabel(f *profile.Field, i int) string {
	if f.Name != "" {
		return f.Name
	}
	return "field " + strconv.Itoa(i+1)
}

func refTrackName(k profile.SourceKind) string {
	if k == profile.SrcTrack1 {
		return "track1"
	}
	return "track2"
}
