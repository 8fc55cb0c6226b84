package cps

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/tlv"
)

func rec() card.Record {
	return card.Record{
		PAN: "4000001234567899", PANSeq: "01", Name: "CARDHOLDER/TEST A",
		Expiry: "2802", Effective: "2601", ServiceCode: "201", Discretionary: "0000123",
		ChipTags: []card.ChipTag{{Tag: 0x9F08, Value: []byte{0x00, 0x02}}, {Tag: 0x5F28, Value: []byte{0x02, 0x50}}},
		DGIs:     []card.DGI{{Tag: 0x8000, Value: bytes.Repeat([]byte{0x11}, 48)}},
	}
}

var layout = Layout{
	{DGI: 0x0101, Template: 0x70, Tags: []tlv.Tag{0x5A, 0x5F24, 0x5F25, 0x5F20, 0x57, 0x5F30, 0x5F34, 0x9F08}},
	{DGI: 0x0202, Template: 0x70, Tags: []tlv.Tag{0x5F28, 0x9F42}, Optional: []tlv.Tag{0x9F42}},
	{DGI: 0x8000, Issuer: true},
}

func TestLayoutGolden(t *testing.T) {
	r := rec()
	got, err := layout.Append(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	want := "0101" + "4C" + "704A" +
		"5A084000001234567899" +
		"5F240328022 9" + // YYMMDD, Feb 2028 is a leap year
		"5F2503260101" +
		"5F2011434152444 84F4C4445522F544553542041" +
		"57104000001234567899D28022010000123F" +
		"5F30020201" +
		"5F340101" +
		"9F08020002" +
		"0202" + "07" + "7005" + "5F28020250" +
		"8000" + "30" + strings.Repeat("11", 48)
	want = strings.ReplaceAll(want, " ", "")
	if hex.EncodeToString(got) != strings.ToLower(want) {
		t.Fatalf("got\n%X\nwant\n%s", got, want)
	}
	dgis, err := ParseDGIs(got)
	if err != nil || len(dgis) != 3 {
		t.Fatalf("%v %v", dgis, err)
	}
	o, err := tlv.DecodeOne(dgis[0].Value)
	if err != nil || len(o.Children) != 8 {
		t.Fatalf("%v %v", o, err)
	}
	if !Sensitive(dgis[2].Tag) || Sensitive(dgis[0].Tag) || Sensitive(0x9000) {
		t.Fatal("Sensitive")
	}
}

func TestLayoutMissing(t *testing.T) {
	r := rec()
	r.ChipTags = nil
	if _, err := layout.Append(nil, &r); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "9F08") {
		t.Fatal(err)
	}
	r = rec()
	r.DGIs = nil
	if _, err := layout.Append(nil, &r); !errors.Is(err, ErrMissing) {
		t.Fatal(err)
	}
	r = rec()
	r.PAN = "40000A"
	if _, err := layout.Append(nil, &r); !errors.Is(err, ErrData) {
		t.Fatal(err)
	}
}

func TestLongDGI(t *testing.T) {
	r := rec()
	r.ChipTags = append(r.ChipTags, card.ChipTag{Tag: 0x9F4B, Value: bytes.Repeat([]byte{7}, 300)})
	l := Layout{{DGI: 0x0203, Template: 0x70, Tags: []tlv.Tag{0x9F4B}}}
	got, err := l.Append([]byte("prefix"), &r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, []byte("prefix\x02\x03\xff\x01\x35\x70\x82\x01\x31\x9f\x4b\x82\x01\x2c")) {
		t.Fatalf("%x", got[:20])
	}
	d, err := ParseDGIs(got[6:])
	if err != nil || len(d) != 1 || len(d[0].Value) != 0x135 {
		t.Fatal(err)
	}
}

func TestDGIStrict(t *testing.T) {
	for _, in := range []string{"01", "010105AA", "0101FF00", "0101FF00FE" + strings.Repeat("00", 0xFE)} {
		b, _ := hex.DecodeString(in)
		if _, err := ParseDGIs(b); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
	if _, err := AppendDGI(nil, 1, make([]byte, 0x10000)); !errors.Is(err, ErrTooLong) {
		t.Fatal(err)
	}
}

func TestBCD(t *testing.T) {
	if got := hex.EncodeToString(AppendPAN(nil, "370000000000002")); got != "370000000000002f" {
		t.Fatal(got)
	}
	if got := hex.EncodeToString(appendBCD(nil, "201", true)); got != "0201" {
		t.Fatal(got)
	}
	if got := hex.EncodeToString(AppendDate(nil, "2702", true)); got != "270228" {
		t.Fatal(got)
	}
	if got := hex.EncodeToString(AppendDate(nil, "2704", true)); got != "270430" {
		t.Fatal(got)
	}
}

func FuzzParseDGIs(f *testing.F) {
	f.Add([]byte{0x01, 0x01, 0x02, 0x5A, 0x00})
	f.Add([]byte{0x80, 0x00, 0xFF, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDGIs(b)
		if err != nil {
			return
		}
		var re []byte
		for _, g := range d {
			re, _ = AppendDGI(re, g.Tag, g.Value)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("%x re-encodes to %x", b, re)
		}
	})
}

func BenchmarkLayout(b *testing.B) {
	r := rec()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = layout.Append(buf[:0], &r); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// TestNibbleTable compares the nibble table with the rule it replaced.
func TestNibbleTable(t *testing.T) {
	for c := range 256 {
		want := byte(0xF)
		switch {
		case c >= '0' && c <= '9':
			want = byte(c - '0')
		case c == 'D':
			want = 0xD
		}
		if got := nibble(byte(c)); got != want {
			t.Fatalf("nibble(%#x) = %#x, want %#x", c, got, want)
		}
	}
}

// refAppendObject is appendObject as it was, building each derived value
// in a buffer and appending it with tlv.Append.
func refAppendObject(dst []byte, t tlv.Tag, r *card.Record) (_ []byte, ok bool, err error) {
	if !Derived(t) {
		v, ok := r.Chip(t)
		if !ok {
			return dst, false, nil
		}
		return tlv.Append(dst, t, v), true, nil
	}
	var buf [32]byte
	v := buf[:0]
	switch t {
	case TagPAN:
		if !digits(r.PAN) || r.PAN == "" {
			return dst, false, ErrData
		}
		v = AppendPAN(v, r.PAN)
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
		v = AppendDate(v, d, t == TagExpiry)
	case TagName:
		if r.Name == "" {
			return dst, false, nil
		}
		if len(r.Name) > 26 {
			return dst, false, ErrData
		}
		return tlv.Append(dst, t, []byte(r.Name)), true, nil
	case TagTrack2:
		if !digits(r.PAN) || !digits(r.Expiry) || !digits(r.ServiceCode) || !digits(r.Discretionary) ||
			len(r.Expiry) != 4 || len(r.ServiceCode) != 3 || len(r.PAN)+len(r.Discretionary) > 29 {
			return dst, false, ErrData
		}
		v = AppendTrack2Equivalent(v, r)
	case TagServiceCode:
		if len(r.ServiceCode) != 3 || !digits(r.ServiceCode) {
			return dst, false, ErrData
		}
		v = appendBCD(v, r.ServiceCode, true)
	case TagPANSeq:
		if r.PANSeq == "" {
			return dst, false, nil
		}
		if len(r.PANSeq) != 2 || !digits(r.PANSeq) {
			return dst, false, ErrData
		}
		v = appendBCD(v, r.PANSeq, true)
	}
	return tlv.Append(dst, t, v), true, nil
}

// TestAppendObjectMatchesReference compares appendObject with the
// reference for every derived tag and some issuer ones, on records with
// good, missing, malformed and over-long values (a PAN long enough for the
// long length form among them).
func TestAppendObjectMatchesReference(t *testing.T) {
	tags := []tlv.Tag{TagPAN, TagExpiry, TagEffective, TagName, TagTrack2, TagServiceCode, TagPANSeq, 0x9F08, 0x5F28, 0x9F7C, 0x70}
	pans := []string{"4000001234567899", "370000000000002", "1", "", "40000012345678A9", strings.Repeat("1", 253), strings.Repeat("2", 254), strings.Repeat("3", 255), strings.Repeat("4", 256), strings.Repeat("5", 600)}
	months := []string{"2802", "2402", "2902", "0002", "2913", "", "28", "2a02", "28020"}
	names := []string{"CARDHOLDER/TEST A", "", "AB", strings.Repeat("N", 26), strings.Repeat("N", 27), "JOSÉ"}
	svcs := []string{"201", "", "20", "2O1", "2010"}
	seqs := []string{"01", "", "1", "0A", "001"}
	discs := []string{"0000123", "", "12A", strings.Repeat("0", 13), strings.Repeat("0", 14)}
	chips := [][]card.ChipTag{nil, rec().ChipTags, {{Tag: 0x9F7C, Value: bytes.Repeat([]byte{0xA5}, 200)}, {Tag: 0x70, Value: []byte{0x5A, 0x01, 0x41}}}}
	n := 0
	for _, pan := range pans {
		for i := 0; i < 60; i++ {
			r := rec()
			r.PAN = pan
			r.Expiry, r.Effective = months[i%len(months)], months[(i/3)%len(months)]
			r.Name = names[i%len(names)]
			r.ServiceCode = svcs[(i/2)%len(svcs)]
			r.PANSeq = seqs[(i/5)%len(seqs)]
			r.Discretionary = discs[(i/7)%len(discs)]
			r.ChipTags = chips[i%len(chips)]
			for _, tag := range tags {
				for _, prefix := range [][]byte{nil, {0xEE, 0xEE}} {
					got, gok, gerr := appendObject(bytes.Clone(prefix), tag, &r)
					want, wok, werr := refAppendObject(bytes.Clone(prefix), tag, &r)
					if gok != wok || gerr != werr || (gok && !bytes.Equal(got, want)) || (!gok && !bytes.Equal(got, prefix)) {
						t.Fatalf("tag %v, PAN of %d, record %d: %x %v %v, want %x %v %v", tag, len(pan), i, got, gok, gerr, want, wok, werr)
					}
					n++
				}
			}
		}
	}
	t.Logf("%d objects compared", n)
}

// FuzzAppendObjectRef compares appendObject with the reference on fuzzed
// record fields, for every tag of the table.
func FuzzAppendObjectRef(f *testing.F) {
	r := rec()
	f.Add(r.PAN, r.Expiry, r.Effective, r.Name, r.ServiceCode, r.PANSeq, r.Discretionary)
	f.Add(strings.Repeat("9", 300), "2913", "", "", "2O1", "1", "12A")
	tags := []tlv.Tag{TagPAN, TagExpiry, TagEffective, TagName, TagTrack2, TagServiceCode, TagPANSeq, 0x9F08, 0x5F28}
	f.Fuzz(func(t *testing.T, pan, exp, eff, name, svc, seq, disc string) {
		r := rec()
		r.PAN, r.Expiry, r.Effective, r.Name, r.ServiceCode, r.PANSeq, r.Discretionary = pan, exp, eff, name, svc, seq, disc
		for _, tag := range tags {
			got, gok, gerr := appendObject([]byte{0xEE}, tag, &r)
			want, wok, werr := refAppendObject([]byte{0xEE}, tag, &r)
			if gok != wok || gerr != werr || !bytes.Equal(got, want) {
				t.Fatalf("tag %v: %x %v %v, want %x %v %v", tag, got, gok, gerr, want, wok, werr)
			}
		}
	})
}

// refGroupAppend is Group.append as it was: 13 bytes reserved, the value
// always moved down behind the header; with refAppendObject.
func refGroupAppend(g *Group, dst []byte, r *card.Record) ([]byte, error) {
	if g.Issuer {
		for _, d := range r.DGIs {
			if d.Tag == g.DGI {
				return AppendDGI(dst, g.DGI, d.Value)
			}
		}
		return dst, fmt.Errorf("%w: issuer-supplied DGI", ErrMissing)
	}
	start := len(dst)
	const reserve = 2 + 3 + 4 + 4
	dst = append(dst, make([]byte, reserve)...)
	body := len(dst)
	for _, t := range g.Tags {
		n := len(dst)
		var ok bool
		var err error
		dst, ok, err = refAppendObject(dst, t, r)
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
	n := copy(dst[start:], h)
	copy(dst[start+n:], dst[body:])
	return dst[:start+n+content], nil
}

// TestGroupAppendMatchesReference compares Group.append with the old one
// for values of every size class: under 0x80 bytes (one-byte lengths),
// 0x80 to 0xFE, 0xFF and up (the FF DGI length form, 0x82 template
// lengths), past 0xFFFF, with and without templates of 1 to 3 bytes,
// optional and missing tags, and issuer DGIs.
func TestGroupAppendMatchesReference(t *testing.T) {
	groups := []Group{
		{DGI: 0x0101, Template: 0x70, Tags: []tlv.Tag{0x57, 0x5F20, 0x9F1F}, Optional: []tlv.Tag{0x9F1F}},
		{DGI: 0x0201, Template: 0x70, Tags: []tlv.Tag{0x5A, 0x5F24, 0x5F25, 0x5F30, 0x5F34, 0x5F28, 0x9F07, 0x9F08}, Optional: []tlv.Tag{0x5F25, 0x5F34, 0x5F28, 0x9F07}},
		{DGI: 0x9102, Tags: []tlv.Tag{0x9F7C, 0x5A}},
		{DGI: 0x0301, Template: 0xBF0C, Tags: []tlv.Tag{0x9F7C}, Optional: []tlv.Tag{0x9F7C}},
		{DGI: 0x0302, Template: 0xFF8101, Tags: []tlv.Tag{0x9F7C, 0x9F08}},
		{DGI: 0x0303, Template: 0x70, Tags: []tlv.Tag{0x9F7C, 0x9F7D}},
		{DGI: 0x8000, Issuer: true},
	}
	var sizes []int
	for _, n := range []int{0, 1, 0x70, 0x79, 0x7A, 0x7B, 0x7C, 0x7D, 0x7E, 0x7F, 0x80, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF, 0x100, 0x101, 0x1000, 0xFFF0, 0xFFF5, 0xFFF8, 0xFFFB, 0xFFFF, 0x10000} {
		sizes = append(sizes, n)
	}
	n := 0
	for gi := range groups {
		g := &groups[gi]
		for _, size := range sizes {
			for variant := range 4 {
				r := rec()
				r.ChipTags = append(r.ChipTags, card.ChipTag{Tag: 0x9F7C, Value: bytes.Repeat([]byte{0xA5}, size)})
				if variant&1 == 1 {
					r.ChipTags = append(r.ChipTags, card.ChipTag{Tag: 0x9F7D, Value: bytes.Repeat([]byte{0x5A}, size/3)})
				}
				if variant&2 == 2 {
					r.PANSeq, r.Effective, r.Name = "", "", ""
					r.DGIs = []card.DGI{{Tag: 0x8000, Value: bytes.Repeat([]byte{0x11}, size)}}
				}
				for _, prefix := range [][]byte{nil, {0xEE}} {
					got, gerr := g.append(bytes.Clone(prefix), &r)
					want, werr := refGroupAppend(g, bytes.Clone(prefix), &r)
					if !bytes.Equal(got, want) || (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
						t.Fatalf("DGI %04X, size %#x, variant %d: %d bytes, %v; want %d bytes, %v", g.DGI, size, variant, len(got), gerr, len(want), werr)
					}
					n++
				}
			}
		}
	}
	t.Logf("%d groups compared", n)
}
