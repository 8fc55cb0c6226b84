package convert

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/formats/testgen"
	"github.com/dataprep/dataprep/formats/tlv"
)

// Differential tests: the tuned converter against the reference copy in
// ref_test.go, on every default and test layout, random layouts, records
// as read, validated or not, and adversarial records.

// nastyText is text that exercises every path of the converter: ASCII and
// lower case, accents that fold and ones that do not, control characters,
// invalid UTF-8, stars (a preview's mask leaves a value with '*' alone),
// spaces to trim, over-long text and the empty string.
var nastyText = []string{
	"", "A", "GOLD", "SAMPLE/ALPHA", "Dear Alpha, this is a test card", "  spaced  ", "   ", "lower case",
	"José", "Grüße aus Köln", "Østergård-Demo", "STRAßE", "o’hara", "TEST 山田", "😀😀😀", "ЖУК", "Ω*",
	"A\x00B", "BELL\x07", "DEL\x7f", "C1\u0085", "AB\xffC", "\xc3", "\xe2\x80", "\xed\xa0\x80", "é\xff",
	"4000001234567899", "40000*****7899", "*", "2912", "12/29", "29/12", "ÄÄ", "Ä1", "20€",
	strings.Repeat("X", 27), strings.Repeat("x", 61), strings.Repeat("é", 40), strings.Repeat("ab ", 50) + "é",
	strings.Repeat("ß", 70), strings.Repeat("\xff", 9), strings.Repeat("0", 30), "٤٠٠٠", "４０００",
}

var nastyPANs = []string{
	"", "4000001234567899", "400000123456789", "370000000000002", "9999990000000000125", "4000 0012 3456 7899",
	"40000012345678A9", "1", "12345678901234567890", "4000001234567899\x00", "400000123456789é", "４000001234567899",
}

func randomRecord(rng *rand.Rand, recs []card.Record) card.Record {
	r := recs[rng.IntN(len(recs))]
	text := func(keep string) string {
		if rng.IntN(3) == 0 {
			return nastyText[rng.IntN(len(nastyText))]
		}
		return keep
	}
	r.Line = rng.IntN(3) * rng.IntN(1<<20)
	if rng.IntN(4) == 0 {
		r.PAN = nastyPANs[rng.IntN(len(nastyPANs))]
	}
	r.PANSeq = text(r.PANSeq)
	r.Name = text(r.Name)
	r.Expiry = text(r.Expiry)
	r.Effective = text(r.Effective)
	r.ServiceCode = text(r.ServiceCode)
	r.Discretionary = text(r.Discretionary)
	r.Product = text(r.Product)
	for i := range r.Emboss {
		r.Emboss[i] = text(r.Emboss[i])
	}
	r.Carrier = append([]string(nil), r.Carrier...)
	for i := range r.Carrier {
		r.Carrier[i] = text(r.Carrier[i])
	}
	if rng.IntN(5) == 0 {
		r.Carrier = r.Carrier[:rng.IntN(len(r.Carrier)+1)]
	}
	if rng.IntN(5) == 0 {
		r.ChipTags = append([]card.ChipTag(nil), r.ChipTags[:rng.IntN(len(r.ChipTags)+1)]...)
		if rng.IntN(2) == 0 {
			r.ChipTags = append(r.ChipTags, card.ChipTag{Tag: 0x9F7C, Value: bytes.Repeat([]byte{0xA5}, rng.IntN(300))})
		}
	}
	if rng.IntN(3) == 0 {
		r.DGIs = []card.DGI{{Tag: 0x8000, Value: bytes.Repeat([]byte{0x5A}, rng.IntN(400))}}
	}
	return r
}

var (
	sourceNames = []string{"pan", "pan_seq", "name", "expiry", "effective", "service_code", "discretionary", "product",
		"line", "emboss1", "emboss2", "emboss4", "carrier1", "carrier2", "carrier3", "track1", "track2",
		"emboss_number", "emboss_expiry", "chip:9F07", "chip:5F28", "chip:9F7C", "cps"}
	transformNames = []string{"upper", "transliterate", "mask", "trim", "date:MM/YY", "date:YYYY-MM", "date:MMYY"}
)

// randomMachine writes a random fixed layout; ParseMachine refuses some,
// and the caller tries again.
func randomMachine(rng *rand.Rand) string {
	var b strings.Builder
	b.WriteString("profile = \"machine\"\nname = \"random\"\nformat = \"fixed\"\n")
	if rng.IntN(2) == 0 {
		b.WriteString("charset = \"utf-8\"\n")
	}
	if rng.IntN(3) == 0 {
		b.WriteString("line_end = \"crlf\"\n")
	}
	if rng.IntN(3) == 0 {
		fmt.Fprintf(&b, "separator = %q\n", []string{"|", ";", "", "\t", "é"}[rng.IntN(5)])
	}
	if rng.IntN(2) == 0 {
		b.WriteString("track_lrc = true\n")
	}
	if rng.IntN(3) == 0 {
		b.WriteString("[emboss]\npatterns = { \"16\" = \"4-4-4-4\", \"15\" = \"5-5-5\", \"19\" = \"6-13\" }\n")
	}
	cps := false
	for range 1 + rng.IntN(6) {
		b.WriteString("[[field]]\n")
		if rng.IntN(6) == 0 {
			fmt.Fprintf(&b, "value = %q\n", nastyText[rng.IntN(len(nastyText))])
		} else {
			var from []string
			for range 1 + rng.IntN(3) {
				s := sourceNames[rng.IntN(len(sourceNames))]
				cps = cps || s == "cps"
				from = append(from, fmt.Sprintf("%q", s))
			}
			fmt.Fprintf(&b, "from = [%s]\n", strings.Join(from, ", "))
			if rng.IntN(2) == 0 {
				fmt.Fprintf(&b, "sep = %q\n", []string{" / ", "-", "", "·"}[rng.IntN(4)])
			}
		}
		if rng.IntN(2) == 0 {
			var ts []string
			for range 1 + rng.IntN(3) {
				ts = append(ts, fmt.Sprintf("%q", transformNames[rng.IntN(len(transformNames))]))
			}
			fmt.Fprintf(&b, "transform = [%s]\n", strings.Join(ts, ", "))
		}
		if rng.IntN(4) != 0 {
			fmt.Fprintf(&b, "width = %d\n", []int{1, 2, 4, 5, 8, 12, 19, 23, 27, 40, 60, 79, 90}[rng.IntN(13)])
			if rng.IntN(2) == 0 {
				b.WriteString("align = \"right\"\n")
			}
			if rng.IntN(2) == 0 {
				fmt.Fprintf(&b, "pad = %q\n", []string{"0", " ", "*", "."}[rng.IntN(4)])
			}
			if rng.IntN(2) == 0 {
				b.WriteString("overflow = \"truncate\"\n")
			}
		}
	}
	if cps {
		b.WriteString("[[dgi]]\nnumber = \"0101\"\ntemplate = \"70\"\ntags = [\"57\", \"5F20\", \"5A\", \"5F24\", \"5F34\", \"9F7C\"]\noptional = [\"5F34\", \"9F7C\"]\n")
		b.WriteString("[[dgi]]\nnumber = \"8000\"\nissuer = true\n")
	}
	return b.String()
}

// machines are the default and test layouts and the layouts TestFields
// uses, each by name.
func machines(t testing.TB) map[string]*profile.Machine {
	ms := map[string]*profile.Machine{}
	for _, n := range []string{"machine-fixed", "machine-cps"} {
		m, err := profile.DefaultMachine(n)
		if err != nil {
			t.Fatal(err)
		}
		ms[n] = m
	}
	dir := "../../testdata/formats/machine"
	files, _ := filepath.Glob(filepath.Join(dir, "*.toml"))
	if len(files) == 0 {
		t.Fatal("no test machine profiles in " + dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := profile.ParseMachine(b)
		if err != nil {
			t.Fatal(err)
		}
		ms[filepath.Base(f)] = m
	}
	return ms
}

// sameConvert converts r with a converter and its reference and fails t
// when the output or the error differs.
func sameConvert(t testing.TB, name string, c *Converter, ref *refConverter, r *card.Record) {
	prefix := []byte("prefix:")
	got, gotErr := c.Append(append([]byte(nil), prefix...), r)
	want, wantErr := ref.Append(append([]byte(nil), prefix...), r)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s, record %v: got\n%q, want\n%q", name, describe(r), got, want)
	}
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%s, record %v: error %v, want %v", name, describe(r), gotErr, wantErr)
	}
	if gotErr != nil {
		var g, w *card.RecordError
		if !errors.As(gotErr, &g) || !errors.As(wantErr, &w) || *g != *w {
			t.Fatalf("%s, record %v: error %#v, want %#v", name, describe(r), gotErr, wantErr)
		}
	}
	var gw, ww bytes.Buffer
	gotErr, wantErr = c.Write(&gw, r), ref.Write(&ww, r)
	if !bytes.Equal(gw.Bytes(), ww.Bytes()) || (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%s, record %v: Write gave %q, %v, want %q, %v", name, describe(r), gw.Bytes(), gotErr, ww.Bytes(), wantErr)
	}
}

// describe shows a test record in full: it is synthetic.
func describe(r *card.Record) string {
	return fmt.Sprintf("{line %d pan %q seq %q name %q exp %q eff %q svc %q disc %q product %q emboss %q carrier %q chip %d dgi %d}",
		r.Line, r.PAN, r.PANSeq, r.Name, r.Expiry, r.Effective, r.ServiceCode, r.Discretionary, r.Product, r.Emboss, r.Carrier, len(r.ChipTags), len(r.DGIs))
}

func TestConvertMatchesReference(t *testing.T) {
	recs, pol := readRecords(t, 2000, 5)
	var valid []card.Record
	for _, r := range recs {
		if card.Validate(&r, &pol) == nil {
			valid = append(valid, r)
		}
	}
	sample := testgen.Sample()
	all := append(append([]card.Record{sample}, recs...), valid...)
	rng := rand.New(rand.NewPCG(9, 9))
	for range 4000 {
		all = append(all, randomRecord(rng, recs))
	}

	check := func(name string, m *profile.Machine) {
		for _, preview := range []bool{false, true} {
			c, ref := New(m), refNew(m)
			if preview {
				c, ref = NewPreview(m), refNewPreview(m)
			}
			for i := range all {
				sameConvert(t, fmt.Sprintf("%s (preview %v)", name, preview), c, ref, &all[i])
			}
		}
	}
	for name, m := range machines(t) {
		check(name, m)
	}
	layouts := 100
	if testing.Short() {
		layouts = 40
	}
	for i := 0; i < layouts; {
		text := randomMachine(rng)
		m, err := profile.ParseMachine([]byte(text))
		if err != nil {
			continue
		}
		i++
		check(text, m)
	}
}

// FuzzConvertRef converts fuzzed records with random layouts and compares
// with the reference.
func FuzzConvertRef(f *testing.F) {
	s := testgen.Sample()
	f.Add(uint64(1), s.PAN, s.Name, s.Expiry, s.Discretionary, s.Emboss[0], s.Carrier[0], s.Product, 7)
	f.Add(uint64(2), "4000 0012", "José/o’hara", "29/12", "12A", "Grüße\x00", "\xff\xfe", "***", 0)
	f.Add(uint64(3), "", "", "", "", "", "", "", -1)
	recs := []card.Record{testgen.Sample()}
	f.Fuzz(func(t *testing.T, seed uint64, pan, name, exp, disc, emboss1, carrier, product string, line int) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var m *profile.Machine
		for m == nil {
			var err error
			if m, err = profile.ParseMachine([]byte(randomMachine(rng))); err != nil {
				m = nil
			}
		}
		r := randomRecord(rng, recs)
		r.Line, r.PAN, r.Name, r.Expiry, r.Discretionary, r.Product = line, pan, name, exp, disc, product
		r.Emboss[0], r.Carrier = emboss1, []string{carrier, name}
		r.ChipTags = append(r.ChipTags, card.ChipTag{Tag: tlv.Tag(0x9F7C), Value: []byte(carrier)})
		preview := seed&1 == 1
		c, ref := New(m), refNew(m)
		if preview {
			c, ref = NewPreview(m), refNewPreview(m)
		}
		sameConvert(t, "fuzz", c, ref, &r)
	})
}

func TestAppendHex(t *testing.T) {
	var b []byte
	for n := range 300 {
		if got, want := appendHex([]byte("x"), b), refAppendHex([]byte("x"), b); !bytes.Equal(got, want) {
			t.Fatalf("appendHex of %d bytes: %q, want %q", n, got, want)
		}
		b = append(b, byte(n*37+n/256))
	}
}

func TestUpperTable(t *testing.T) {
	for c := range 256 {
		want := byte(c)
		if 'a' <= want && want <= 'z' {
			want -= 'a' - 'A'
		}
		if upperASCII[c] != want {
			t.Fatalf("upperASCII[%#x] = %#x", c, upperASCII[c])
		}
	}
}

// TestUpper8 checks upper8 and upperInPlace against the table for every
// byte value in every position of a word, and on mixed text.
func TestUpper8(t *testing.T) {
	for c := range 0x80 {
		for pos := range 8 {
			w := []byte("aZ09 ~{`")
			w[pos] = byte(c)
			want := make([]byte, 8)
			for i, b := range w {
				want[i] = upperASCII[b]
			}
			got := make([]byte, 8)
			binary.LittleEndian.PutUint64(got, upper8(binary.LittleEndian.Uint64(w)))
			if !bytes.Equal(got, want) {
				t.Fatalf("upper8(%q) = %q, want %q", w, got, want)
			}
		}
	}
	for _, s := range nastyText {
		for n := range len(s) + 1 {
			v := []byte(s[:n])
			want := bytes.Clone(v)
			for i, b := range want {
				want[i] = upperASCII[b]
			}
			upperInPlace(v)
			if !bytes.Equal(v, want) {
				t.Fatalf("upperInPlace(%q) = %q, want %q", s[:n], v, want)
			}
		}
	}
}
