package convert

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/formats/testgen"
)

func machine(t testing.TB, fields string) *profile.Machine {
	t.Helper()
	m, err := profile.ParseMachine([]byte("profile = \"machine\"\nname = \"t\"\nformat = \"fixed\"\n" + fields))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFields(t *testing.T) {
	r := testgen.Sample()
	r.Carrier = []string{"Grüße aus Köln", "  spaced  "}
	for _, tc := range []struct {
		name, fields, want string
		err                error
	}{
		{"good_pad_right", "[[field]]\nfrom = [\"product\"]\nwidth = 6", "GOLD  \n", nil},
		{"good_pad_left_zero", "[[field]]\nfrom = [\"line\"]\nwidth = 4\nalign = \"right\"\npad = \"0\"", "0001\n", nil},
		{"good_concat_const", "[[field]]\nvalue = \"X\"\n[[field]]\nfrom = [\"service_code\", \"pan_seq\"]\nsep = \"-\"", "X201-01\n", nil},
		{"good_mask", "[[field]]\nfrom = [\"pan\"]\ntransform = [\"mask\"]", "400000******7899\n", nil},
		{"good_date", "[[field]]\nfrom = [\"expiry\"]\ntransform = [\"date:MM/YYYY\"]", "12/2029\n", nil},
		{"good_date_empty", "[[field]]\nfrom = [\"effective\"]\ntransform = [\"date:MM/YY\"]\nwidth = 5", "01/26\n", nil},
		{"good_transliterate", "[[field]]\nfrom = [\"carrier1\"]\ntransform = [\"transliterate\", \"upper\"]", "GRUSSE AUS KOLN\n", nil},
		{"good_trim", "[[field]]\nfrom = [\"carrier2\"]\ntransform = [\"trim\"]\nwidth = 8\npad = \".\"", "spaced..\n", nil},
		{"good_truncate", "[[field]]\nfrom = [\"emboss2\"]\nwidth = 9\noverflow = \"truncate\"", "SYNTHETIC\n", nil},
		{"good_missing_carrier", "[[field]]\nfrom = [\"carrier9\"]\nwidth = 2", "  \n", nil},
		{"good_chip", "[[field]]\nfrom = [\"chip:9F07\", \"chip:9F7C\"]\nsep = \"/\"", "FF00/\n", nil},
		{"good_crlf_separator", "line_end = \"crlf\"\nseparator = \";\"\n[[field]]\nvalue = \"A\"\n[[field]]\nvalue = \"B\"", "A;B\r\n", nil},
		{"good_track1_lrc", "track_lrc = true\n[[field]]\nfrom = [\"track1\"]", "%B4000001234567899^SAMPLE/ALPHA^29122010001234?\x26\n", nil},
		{"fail_overflow", "[[field]]\nfrom = [\"emboss2\"]\nwidth = 9", "", card.ErrConvert},
		{"fail_not_ascii", "[[field]]\nfrom = [\"carrier1\"]", "", card.ErrConvert},
		{"good_utf8", "charset = \"utf-8\"\n[[field]]\nfrom = [\"carrier1\"]\nwidth = 15", "Grüße aus Köln \n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(machine(t, tc.fields))
			var out bytes.Buffer
			err := c.Write(&out, &r)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err != nil {
				var re *card.RecordError
				if !errors.As(err, &re) || strings.Contains(err.Error(), r.PAN) {
					t.Fatalf("not a masked RecordError: %v", err)
				}
				if out.Len() != 0 {
					t.Fatal("partial output written")
				}
			}
			if out.String() != tc.want {
				t.Fatalf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
}

// TestTrack1LRC checks the golden LRC above by recomputing it.
func TestTrack1LRC(t *testing.T) {
	var x byte
	for _, c := range []byte("%B4000001234567899^SAMPLE/ALPHA^29122010001234?") {
		x ^= c - 0x20
	}
	if x+0x20 != 0x26 {
		t.Fatalf("LRC is %q", x+0x20)
	}
}

// TestPreviewNeverShowsPAN converts with every source into a preview and
// checks the PAN does not appear, whole or as its middle digits.
func TestPreviewNeverShowsPAN(t *testing.T) {
	r := testgen.Sample()
	m := machine(t, `
[[field]]
from = ["pan", "track1", "track2", "emboss_number", "cps", "chip:5F28"]
[[field]]
from = ["pan"]
width = 10
overflow = "truncate"
[[field]]
from = ["pan"]
transform = ["mask"]
[[dgi]]
number = "0101"
template = "70"
tags = ["5A", "57"]
`)
	out, err := NewPreview(m).Append(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte(r.PAN)) || bytes.Contains(out, []byte(r.PAN[6:12])) || bytes.Contains(out, []byte("0012 3456")) {
		t.Fatalf("preview shows the PAN: %s", out)
	}
	real, _ := New(m).Append(nil, &r)
	if !bytes.Contains(real, []byte(r.PAN)) {
		t.Fatal("the real converter must write the PAN")
	}
}

func TestNoAllocs(t *testing.T) {
	r := testgen.Sample()
	m, err := profile.DefaultMachine("machine-fixed")
	if err != nil {
		t.Fatal(err)
	}
	c := New(m)
	var buf []byte
	if n := testing.AllocsPerRun(100, func() { buf, _ = c.Append(buf[:0], &r) }); n > 0 {
		t.Fatalf("%v allocations per record", n)
	}
}

func BenchmarkConvert(b *testing.B) {
	for _, name := range []string{"machine-fixed", "machine-cps"} {
		b.Run(name, func(b *testing.B) {
			m, err := profile.DefaultMachine(name)
			if err != nil {
				b.Fatal(err)
			}
			r := testgen.Sample()
			c := New(m)
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				if buf, err = c.Append(buf[:0], &r); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
