package tlv

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	tree := Object{Tag: 0x70, Children: []Object{
		{Tag: 0x5A, Value: []byte{0x40, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78, 0x9F}},
		{Tag: 0x5F24, Value: []byte{0x29, 0x12, 0x31}},
		{Tag: 0x5F20, Value: []byte("TEST/CARDHOLDER")},
		{Tag: 0xBF0C, Children: []Object{{Tag: 0x9F4D, Value: []byte{0x0B, 0x0A}}}},
		{Tag: 0xDF8101, Value: bytes.Repeat([]byte{0xAA}, 200)},   // long form 0x81
		{Tag: 0x9F10, Value: bytes.Repeat([]byte{0x01}, 300)},     // long form 0x82
		{Tag: 0x9F7F, Value: bytes.Repeat([]byte{0x02}, 0x10000)}, // long form 0x83
		{Tag: 0x9F08, Value: nil},
	}}
	enc := AppendObject(nil, tree)
	got, err := DecodeOne(enc)
	if err != nil {
		t.Fatal(err)
	}
	if re := AppendObject(nil, got); !bytes.Equal(re, enc) {
		t.Fatalf("re-encoding differs")
	}
	if v, ok := Find([]Object{got}, 0x9F4D); !ok || !bytes.Equal(v.Value, []byte{0x0B, 0x0A}) {
		t.Fatalf("Find 9F4D = %x, %v", v.Value, ok)
	}
	if _, ok := Find([]Object{got}, 0x9F99); ok {
		t.Fatal("found absent tag")
	}
}

func TestKnownEncoding(t *testing.T) {
	got := Append(nil, 0x5F20, []byte("AB"))
	if want := unhex(t, "5F20024142"); !bytes.Equal(got, want) {
		t.Fatalf("got %x want %x", got, want)
	}
	for n, want := range map[int]string{0: "00", 0x7F: "7F", 0x80: "8180", 0xFF: "81FF", 0x100: "820100", 0xFFFF: "82FFFF", 0x10000: "83010000", 0x1000000: "8401000000"} {
		if got := hex.EncodeToString(AppendLength(nil, n)); got != lower(want) {
			t.Errorf("length %#x: got %s want %s", n, got, want)
		}
	}
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }

func TestStrictDecode(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		err      error
	}{
		{"fail_empty_input_one", "", ErrTruncated},
		{"fail_indefinite_length", "7080" + "5A0112" + "0000", ErrIndefiniteLength},
		{"fail_non_minimal_81", "5A8101FF", ErrNonMinimalLength},
		{"fail_non_minimal_82", "5A820001FF", ErrNonMinimalLength},
		{"fail_length_5_bytes", "5A850000000001", ErrLengthTooLong},
		{"fail_value_truncated", "5A0512", ErrTruncated},
		{"fail_tag_truncated", "9F", ErrTruncated},
		{"fail_tag_non_minimal", "9F8001020000", ErrBadTag},
		{"fail_tag_5_bytes", "9F818181010100", ErrBadTag},
		{"fail_trailing_garbage", "5A0112FF", ErrTrailing},
		{"fail_child_truncated", "70035A0512", ErrTruncated},
		{"fail_length_missing", "5A", ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeOne(unhex(t, tc.in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
		})
	}
}

func TestTooDeep(t *testing.T) {
	b := []byte{}
	for range MaxDepth + 2 {
		b = Append(nil, 0x70, b)
	}
	if _, err := Decode(b); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("got %v", err)
	}
}

func TestTags(t *testing.T) {
	for _, tc := range []struct {
		s           string
		ok          bool
		constructed bool
	}{
		{"5A", true, false}, {"70", true, true}, {"5F20", true, false}, {"9F08", true, false},
		{"BF0C", true, true}, {"DF8101", true, false}, {"1F", false, false}, {"9F80", false, false},
		{"9F8001", false, false}, {"5A01", false, false}, {"ZZ", false, false}, {"", false, false},
		{"9F81818101", false, false}, {"A", false, false},
	} {
		tag, err := ParseTag(tc.s)
		if (err == nil) != tc.ok {
			t.Errorf("ParseTag(%q) err = %v, want ok=%v", tc.s, err, tc.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrBadTag) {
				t.Errorf("ParseTag(%q) err = %v, not ErrBadTag", tc.s, err)
			}
			continue
		}
		if tag.String() != tc.s {
			t.Errorf("String() = %s, want %s", tag, tc.s)
		}
		if tag.Constructed() != tc.constructed {
			t.Errorf("%s Constructed() = %v", tc.s, tag.Constructed())
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"5A0840000012345678 9F", "7081835A084000001234567899", "700A5F2003414243 9F080102", "BF0C039F4D00", "5A8180", "7080"} {
		f.Add(unhex(f, string(bytes.ReplaceAll([]byte(s), []byte(" "), nil))))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		objs, err := Decode(b)
		if err != nil {
			return
		}
		// Strictness means a unique encoding: what we accept re-encodes
		// to the very same bytes.
		var re []byte
		for _, o := range objs {
			re = AppendObject(re, o)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("re-encoding of %x gives %x", b, re)
		}
	})
}

func BenchmarkTLV(b *testing.B) {
	pan := []byte{0x40, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78, 0x9F}
	name := []byte("TEST/CARDHOLDER")
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		buf = Append(buf, 0x5A, pan)
		buf = Append(buf, 0x5F20, name)
		buf = Append(buf, 0x5F24, pan[:3])
		if _, err := Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// refValid is Tag.Valid as it was before it was unrolled per length.
func refValid(t Tag) bool {
	n := t.Len()
	var b [4]byte
	for i := 0; i < n; i++ {
		b[i] = byte(t >> (8 * (n - 1 - i)))
	}
	if n == 1 {
		return b[0]&0x1F != 0x1F
	}
	if b[0]&0x1F != 0x1F || b[1] == 0x80 {
		return false
	}
	for i := 1; i < n-1; i++ {
		if b[i]&0x80 == 0 {
			return false
		}
	}
	return b[n-1]&0x80 == 0
}

// TestValidMatchesReference checks Valid against refValid for every tag
// of up to three bytes and for four-byte tags around every interesting
// bit pattern.
func TestValidMatchesReference(t *testing.T) {
	for x := Tag(0); x <= 0xFFFFFF; x++ {
		if x.Valid() != refValid(x) {
			t.Fatalf("Tag(%#x).Valid() = %v", uint32(x), x.Valid())
		}
	}
	for _, b0 := range []Tag{0x00, 0x1F, 0x3F, 0x5F, 0x9F, 0xBF, 0xDF, 0xFF, 0x1E, 0xFE} {
		for b1 := Tag(0); b1 <= 0xFF; b1++ {
			for _, b2 := range []Tag{0x00, 0x01, 0x7F, 0x80, 0x81, 0xFF} {
				for _, b3 := range []Tag{0x00, 0x01, 0x7F, 0x80, 0x81, 0xFF} {
					x := b0<<24 | b1<<16 | b2<<8 | b3
					if x.Valid() != refValid(x) {
						t.Fatalf("Tag(%#x).Valid() = %v", uint32(x), x.Valid())
					}
				}
			}
		}
	}
}

func FuzzValid(f *testing.F) {
	f.Add(uint32(0x9F08))
	f.Add(uint32(0x9F8101))
	f.Fuzz(func(t *testing.T, x uint32) {
		if Tag(x).Valid() != refValid(Tag(x)) {
			t.Fatalf("Tag(%#x).Valid() = %v", x, Tag(x).Valid())
		}
	})
}

// TestAppendTagMatchesReference checks AppendTag against a byte loop for
// tags of every length, valid or not.
func TestAppendTagMatchesReference(t *testing.T) {
	ref := func(dst []byte, t Tag) []byte {
		for i := t.Len() - 1; i >= 0; i-- {
			dst = append(dst, byte(t>>(8*i)))
		}
		return dst
	}
	for _, x := range []Tag{0, 1, 0x5A, 0xFF, 0x100, 0x5F20, 0x9F08, 0xFFFF, 0x10000, 0x9F8101, 0xFFFFFF, 0x1000000, 0x9F818101, 0xFFFFFFFF} {
		if got, want := AppendTag([]byte{1}, x), ref([]byte{1}, x); !bytes.Equal(got, want) {
			t.Fatalf("AppendTag(%#x) = %x, want %x", uint32(x), got, want)
		}
	}
}

// FuzzCheckMatchesDecode: Check must say exactly what Decode says.
func FuzzCheckMatchesDecode(f *testing.F) {
	for _, s := range []string{"5A0840000012345678 9F", "7081835A084000001234567899", "700A5F2003414243 9F080102", "BF0C039F4D00", "5A8180", "7080",
		"7003700170", "70037001 5A", "7004 7002 5A05", "70027000 9F", "E1 06 E1 04 E1 02 E1 00"} {
		f.Add(unhex(f, string(bytes.ReplaceAll([]byte(s), []byte(" "), nil))))
	}
	f.Add(bytes.Repeat([]byte{0x70, 0x00}, 3))
	deep := []byte{0x5A, 0x00}
	for range MaxDepth + 2 {
		deep = append([]byte{0x70, byte(len(deep))}, deep...)
	}
	f.Add(deep)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, derr := Decode(b)
		cerr := Check(b)
		if (derr == nil) != (cerr == nil) || (derr != nil && derr.Error() != cerr.Error()) {
			t.Fatalf("Decode(%x): %v; Check: %v", b, derr, cerr)
		}
		for _, e := range []error{ErrTruncated, ErrIndefiniteLength, ErrNonMinimalLength, ErrLengthTooLong, ErrBadTag, ErrTooDeep, ErrTrailing} {
			if errors.Is(derr, e) != errors.Is(cerr, e) {
				t.Fatalf("Decode(%x): %v; Check: %v", b, derr, cerr)
			}
		}
	})
}
