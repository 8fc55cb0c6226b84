package cps

import (
	"fmt"
	"slices"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/tlv"
)

// Tags this package derives from the record itself rather than taking from
// the issuer's chip data.
const (
	TagPAN         tlv.Tag = 0x5A
	TagExpiry      tlv.Tag = 0x5F24
	TagEffective   tlv.Tag = 0x5F25
	TagName        tlv.Tag = 0x5F20
	TagTrack2      tlv.Tag = 0x57
	TagServiceCode tlv.Tag = 0x5F30
	TagPANSeq      tlv.Tag = 0x5F34
	TagRecordTempl tlv.Tag = 0x70
)

// Derived reports whether t is one of the tags built from the record.
func Derived(t tlv.Tag) bool {
	switch t {
	case TagPAN, TagExpiry, TagEffective, TagName, TagTrack2, TagServiceCode, TagPANSeq:
		return true
	}
	return false
}

// Group is one DGI of a machine's chip-data layout.
type Group struct {
	DGI uint16
	// Template wraps the objects (70 for record DGIs); 0 for none.
	Template tlv.Tag
	// Tags are the data objects, in order. Derived tags come from the
	// record; the others from the issuer's chip tags.
	Tags []tlv.Tag
	// Optional tags are left out when the record lacks them; any other
	// missing tag rejects the record.
	Optional []tlv.Tag
	// Issuer takes the whole value from the issuer-supplied DGI of the
	// same number instead of building it (for 8000-series key DGIs,
	// carried through unchanged: see the package comment).
	Issuer bool
}

// Layout is the DGIs a machine wants for each card, in order.
type Layout []Group

// Append appends r's DGIs per l. The scratch space it needs comes from
// dst's spare capacity, so a caller reusing dst does not allocate.
func (l Layout) Append(dst []byte, r *card.Record) ([]byte, error) {
	for i := range l {
		g := &l[i] // not a copy of the Group per DGI
		var err error
		if dst, err = g.append(dst, r); err != nil {
			return dst, fmt.Errorf("DGI %04X: %w", g.DGI, err)
		}
	}
	return dst, nil
}

func (g *Group) append(dst []byte, r *card.Record) ([]byte, error) {
	if g.Issuer {
		for _, d := range r.DGIs {
			if d.Tag == g.DGI {
				return AppendDGI(dst, g.DGI, d.Value)
			}
		}
		return dst, fmt.Errorf("%w: issuer-supplied DGI", ErrMissing)
	}
	// Build the value after room for the header, then write the header in
	// front once the value's length is known. The room is what the header
	// takes when its lengths are one byte each (a value under 0x80 bytes,
	// the usual case); a longer header moves the value up to make space.
	start := len(dst)
	room := 2 + 1 // DGI number and length
	if g.Template != 0 {
		room += g.Template.Len() + 1
	}
	dst = slices.Grow(dst, room)[:start+room] // written below, once known
	body := len(dst)
	for _, t := range g.Tags {
		n := len(dst)
		var ok bool
		var err error
		dst, ok, err = appendObject(dst, t, r)
		if err != nil {
			return dst[:start], fmt.Errorf("tag %v: %w", t, err)
		}
		if !ok {
			if !g.optional(t) {
				return dst[:start], fmt.Errorf("%w: tag %v", ErrMissing, t)
			}
			dst = dst[:n]
		}
	}
	content := len(dst) - body
	// Header: DGI number, DGI length, [template tag, template length].
	var hdr [13]byte
	h := hdr[:0]
	h = append(h, byte(g.DGI>>8), byte(g.DGI))
	value := content
	var th []byte
	if g.Template != 0 {
		var tb [8]byte
		th = tlv.AppendLength(tlv.AppendTag(tb[:0], g.Template), content)
		value += len(th)
	}
	if value > 0xFFFF {
		return dst[:start], ErrTooLong
	}
	if value < 0xFF {
		h = append(h, byte(value))
	} else {
		h = append(h, 0xFF, byte(value>>8), byte(value))
	}
	h = append(h, th...)
	if extra := len(h) - room; extra > 0 {
		// Longer lengths: move the value up by the difference.
		dst = slices.Grow(dst, extra)[:len(dst)+extra]
		copy(dst[body+extra:], dst[body:body+content])
	}
	copy(dst[start:], h)
	return dst[:start+len(h)+content], nil
}

func (g *Group) optional(t tlv.Tag) bool {
	for _, o := range g.Optional {
		if o == t {
			return true
		}
	}
	return false
}

// appendObject appends tag t of r as a TLV object; ok is false when the
// record has no value for it (dst is then returned as it was).
//
// A derived value is written straight behind its tag and a one-byte
// length, which is filled in once the value is there: derived values are
// under 0x80 bytes (the longest, a name, is at most 26) except the PAN of a
// record that was not validated, which then takes the long way.
func appendObject(dst []byte, t tlv.Tag, r *card.Record) (_ []byte, ok bool, err error) {
	start := len(dst)
	begin := func() int {
		dst = tlv.AppendTag(dst, t)
		dst = append(dst, 0) // the length, set below
		return len(dst)
	}
	switch t {
	case TagPAN:
		if !digits(r.PAN) || r.PAN == "" {
			return dst, false, ErrData
		}
		v := begin()
		dst = AppendPAN(dst, r.PAN)
		return setLength(dst, start, v, t), true, nil
	case TagExpiry, TagEffective:
		d := r.Expiry
		if t == TagEffective {
			d = r.Effective
		}
		if d == "" {
			return dst, false, nil
		}
		if _, ok := card.YYMM(d); !ok {
			return dst, false, ErrData
		}
		v := begin()
		dst = AppendDate(dst, d, t == TagExpiry)
		return setLength(dst, start, v, t), true, nil
	case TagName:
		if r.Name == "" {
			return dst, false, nil
		}
		if len(r.Name) > 26 {
			return dst, false, ErrData
		}
		v := begin()
		dst = append(dst, r.Name...)
		return setLength(dst, start, v, t), true, nil
	case TagTrack2:
		if !digits(r.PAN) || !digits(r.Expiry) || !digits(r.ServiceCode) || !digits(r.Discretionary) ||
			len(r.Expiry) != 4 || len(r.ServiceCode) != 3 || len(r.PAN)+len(r.Discretionary) > 29 {
			return dst, false, ErrData
		}
		v := begin()
		dst = AppendTrack2Equivalent(dst, r)
		return setLength(dst, start, v, t), true, nil
	case TagServiceCode:
		if len(r.ServiceCode) != 3 || !digits(r.ServiceCode) {
			return dst, false, ErrData
		}
		v := begin()
		dst = appendBCD(dst, r.ServiceCode, true)
		return setLength(dst, start, v, t), true, nil
	case TagPANSeq:
		if r.PANSeq == "" {
			return dst, false, nil
		}
		if len(r.PANSeq) != 2 || !digits(r.PANSeq) {
			return dst, false, ErrData
		}
		v := begin()
		dst = appendBCD(dst, r.PANSeq, true)
		return setLength(dst, start, v, t), true, nil
	}
	// Not derived (the cases above are Derived's): the issuer's value.
	v, ok := r.Chip(t)
	if !ok {
		return dst, false, nil
	}
	return tlv.Append(dst, t, v), true, nil
}

// setLength fills in the one-byte length before dst[v:], the value of the
// object of tag t that starts at dst[start]. A value of 0x80 bytes or more
// needs the long length form: the object is then written again by
// tlv.Append, from a copy of the value.
func setLength(dst []byte, start, v int, t tlv.Tag) []byte {
	n := len(dst) - v
	if n < 0x80 {
		dst[v-1] = byte(n)
		return dst
	}
	value := append([]byte(nil), dst[v:]...)
	return tlv.Append(dst[:start], t, value)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
