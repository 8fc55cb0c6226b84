package track

import (
	"errors"
	"strings"
	"testing"
)

var sample = Data{PAN: "4000001234567899", Name: "CARDHOLDER/TEST A", Expiry: "2912", ServiceCode: "201", Discretionary: "0000123"}

func TestKnown(t *testing.T) {
	b, err := AppendTrack1(nil, &sample, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := "%B4000001234567899^CARDHOLDER/TEST A^29122010000123?"; string(b) != want {
		t.Fatalf("track 1 = %s", b)
	}
	b, err = AppendTrack2(nil, &sample, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := ";4000001234567899=29122010000123?"; string(b) != want {
		t.Fatalf("track 2 = %s", b)
	}
	// LRC worked by hand for a short track 2: ;1=2912201? → codes
	// B,1,D,2,9,1,2,2,0,1,F XOR = 0 ^ ... computed below independently.
	b, _ = AppendTrack2(nil, &Data{PAN: "1", Expiry: "2912", ServiceCode: "201"}, true)
	var x byte
	for _, c := range ";1=2912201?" {
		x ^= byte(c) - '0'
	}
	if b[len(b)-1] != (x&0xF)+'0' {
		t.Fatalf("LRC %c", b[len(b)-1])
	}
}

func TestRoundTrip(t *testing.T) {
	for _, lrc := range []bool{false, true} {
		for _, d := range []Data{sample, {PAN: "9999990000000000125", Name: "AB", Expiry: "3001", ServiceCode: "101"}} {
			b1, err := AppendTrack1(nil, &d, lrc)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseTrack1(string(b1))
			if err != nil || got != d {
				t.Fatalf("track 1 %s: %+v, %v", b1, got, err)
			}
			b2, err := AppendTrack2(nil, &d, lrc)
			if err != nil {
				t.Fatal(err)
			}
			got, err = ParseTrack2(string(b2))
			want := d
			want.Name = ""
			if err != nil || got != want {
				t.Fatalf("track 2 %s: %+v, %v", b2, got, err)
			}
			if lrc {
				// A flipped character must be caught by the LRC.
				bad := []byte(string(b2))
				bad[3]++
				if _, err := ParseTrack2(string(bad)); !errors.Is(err, ErrLRC) {
					t.Fatalf("corrupt track 2 %s: %v", bad, err)
				}
			}
		}
	}
}

func TestEncodeRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		d     Data
		track int
		err   error
	}{
		"fail_pan_alpha":       {Data{PAN: "4000A", Name: "AB", Expiry: "2912", ServiceCode: "201"}, 1, ErrFormat},
		"fail_pan_20":          {Data{PAN: strings.Repeat("4", 20), Name: "AB", Expiry: "2912", ServiceCode: "201"}, 2, ErrFormat},
		"fail_expiry":          {Data{PAN: "4", Name: "AB", Expiry: "29", ServiceCode: "201"}, 2, ErrFormat},
		"fail_service_code":    {Data{PAN: "4", Name: "AB", Expiry: "2912", ServiceCode: "2X1"}, 1, ErrFormat},
		"fail_name_short":      {Data{PAN: "4", Name: "A", Expiry: "2912", ServiceCode: "201"}, 1, ErrFormat},
		"fail_name_caret":      {Data{PAN: "4", Name: "A^B", Expiry: "2912", ServiceCode: "201"}, 1, ErrCharset},
		"fail_name_lower":      {Data{PAN: "4", Name: "ab", Expiry: "2912", ServiceCode: "201"}, 1, ErrCharset},
		"fail_disc2_alpha":     {Data{PAN: "4", Expiry: "2912", ServiceCode: "201", Discretionary: "A"}, 2, ErrCharset},
		"fail_track2_too_long": {Data{PAN: strings.Repeat("4", 19), Expiry: "2912", ServiceCode: "201", Discretionary: strings.Repeat("0", 11)}, 2, ErrLength},
		"fail_track1_too_long": {Data{PAN: strings.Repeat("4", 19), Name: strings.Repeat("N", 26), Expiry: "2912", ServiceCode: "201", Discretionary: strings.Repeat("0", 23)}, 1, ErrLength},
	} {
		var err error
		if tc.track == 1 {
			_, err = AppendTrack1(nil, &tc.d, true)
		} else {
			_, err = AppendTrack2(nil, &tc.d, true)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: got %v want %v", name, err, tc.err)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, s := range []string{"", "%A4^AB^2912201?", "%B4^AB^2912201", "%B4^AB2912201?", "%B4^A^2912201?", "%B4^AB^29122?", "%B4^AB^2912201?XY",
		";4=2912201", ";4=29122A1?", ";4D2912201?", "4=2912201?", ";=2912201?", "%BX^AB^2912201?", "%B4^AB^2912201?\x01"} {
		if _, err1 := ParseTrack1(s); err1 == nil {
			t.Errorf("ParseTrack1(%q) accepted", s)
		}
		if _, err2 := ParseTrack2(s); err2 == nil {
			t.Errorf("ParseTrack2(%q) accepted", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("%B4000001234567899^CARDHOLDER/TEST A^29122010000123?")
	f.Add(";4000001234567899=29122010000123?")
	f.Add(";4000001234567899=29122010000123?8")
	f.Add(";5678=29117868??") // an LRC that is itself '?'
	f.Fuzz(func(t *testing.T, s string) {
		// Whether s has an LRC follows from where the end sentinel is (the
		// first '?': no data character is one), not from the last byte,
		// which an LRC can share with the sentinel.
		end := strings.IndexByte(s, '?')
		lrc := end >= 0 && len(s)-end == 2
		if d, err := ParseTrack1(s); err == nil {
			b, err := AppendTrack1(nil, &d, lrc)
			if err != nil || string(b) != s {
				t.Fatalf("track 1 %q re-encodes to %q, %v", s, b, err)
			}
		}
		if d, err := ParseTrack2(s); err == nil {
			b, err := AppendTrack2(nil, &d, lrc)
			if err != nil || string(b) != s {
				t.Fatalf("track 2 %q re-encodes to %q, %v", s, b, err)
			}
		}
	})
}

func BenchmarkTrack(b *testing.B) {
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendTrack1(buf[:0], &sample, true)
		buf, _ = AppendTrack2(buf, &sample, true)
	}
	b.SetBytes(int64(len(buf)))
}

// refDigits and refInSet1 are the byte-by-byte rules digits and inSet1
// must agree with.
func refDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func refInSet1(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x5F || c == '%' || c == '^' || c == '?' {
			return false
		}
	}
	return true
}

// TestWordChecks puts every byte value in every position of strings of
// every length up to 24, among bytes that pass both rules, and among
// bytes of the other kinds, and compares with the byte-by-byte rules.
func TestWordChecks(t *testing.T) {
	for _, fill := range []byte{'0', '9', ' ', 'A', '_', '/'} {
		for n := 0; n <= 24; n++ {
			base := strings.Repeat(string(fill), n)
			for pos := range n {
				for c := range 256 {
					b := []byte(base)
					b[pos] = byte(c)
					if pos > 0 && c%7 == 0 {
						b[pos-1] = byte(255 - c) // and a second odd byte below it
					}
					s := string(b)
					if digits(s) != refDigits(s) {
						t.Fatalf("digits(%q) = %v", s, digits(s))
					}
					if inSet1(s) != refInSet1(s) {
						t.Fatalf("inSet1(%q) = %v", s, inSet1(s))
					}
				}
			}
		}
	}
}

func FuzzWordChecks(f *testing.F) {
	f.Add("4000001234567899")
	f.Add("CARDHOLDER/TEST A")
	f.Add("0000%123")
	f.Fuzz(func(t *testing.T, s string) {
		if digits(s) != refDigits(s) {
			t.Fatalf("digits(%q) = %v", s, digits(s))
		}
		if inSet1(s) != refInSet1(s) {
			t.Fatalf("inSet1(%q) = %v", s, inSet1(s))
		}
	})
}

// TestLRC compares LRC1 and LRC2 with the per-character definitions on
// every byte value at every position of every length up to 80.
func TestLRC(t *testing.T) {
	ref1 := func(b []byte) byte {
		var x byte
		for _, c := range b {
			x ^= (c - 0x20) & 0x3F
		}
		return x + 0x20
	}
	ref2 := func(b []byte) byte {
		var x byte
		for _, c := range b {
			x ^= (c - 0x30) & 0x0F
		}
		return x + 0x30
	}
	for n := 0; n <= 80; n++ {
		b := []byte(strings.Repeat("%B4^A?;=9", 9)[:n])
		for pos := range n {
			for c := range 256 {
				b[pos] = byte(c)
				if LRC1(b) != ref1(b) || LRC2(b) != ref2(b) {
					t.Fatalf("LRC of %q: %q %q, want %q %q", b, LRC1(b), LRC2(b), ref1(b), ref2(b))
				}
			}
		}
	}
}
