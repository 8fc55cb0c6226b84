package card

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dataprep/dataprep/formats/tlv"
)

// Differential tests: the tuned Validate, normalize, printable and Luhn
// against the reference copies in ref_test.go, on adversarial values.

// nasty are values that exercise every branch of the text rules: clean
// and lower case, accents that fold and ones that do not, typographic
// punctuation, apostrophes (dropped from track 1 names only when
// transliterating), control characters, DEL, C1 controls, invalid and
// truncated UTF-8, NUL, over-long text, and the empty string.
var nasty = []string{
	"", "A", "AB", "TEST/CARDHOLDER A", "test/cardholder a", "O'HARA", "o’hara & co.",
	"José", "JOSÉ", "Müller-Lüdenscheidt", "Østergård", "STRAßE", "straße", "ẞ", "ß", "ÿ", "Ÿ",
	"Łódź ŒUVRE", "İSTANBUL", "ı", "Ĳssel", "ĳ", "Þór", "þ", "Ð", "ð", "Æ", "æ", "Œ", "œ",
	"A\u00a0B", "A\u2011B", "A\u2013B", "A\u2010B", "‘QUOTED’", "A\u00adB", "A\u00b5B", "A\u00d7B",
	"TEST 山田", "ЖУК", "Ω", "😀", "A\x00B", "A\tB", "A\nB", "BELL\x07", "DEL\x7f", "C1\u0085X", "C1\u009fX",
	"AB\xffC", "\xc3", "\xc3(", "\xe2\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf",
	"BANK #1", "A^B", "A%B", "A?B", "A_B", "A@B", "A;B", "A=B", "$(MONEY)", "A&B", "A,B.C-D/E",
	"  LEADING", "TRAILING  ", "lower case name/with slash",
	strings.Repeat("N", 26), strings.Repeat("N", 27), strings.Repeat("x", 27), strings.Repeat("X", 28),
	strings.Repeat("ß", 13), strings.Repeat("ß", 14), strings.Repeat("é", 30), strings.Repeat("Ab", 40),
	strings.Repeat("A'", 14), strings.Repeat("é", 26) + "\x01", strings.Repeat("A", 60) + "é",
	strings.Repeat("abcdefgh", 9) + "é", strings.Repeat("ABCDEFGH", 20), strings.Repeat("\u00e9", 70),
	"Dear José, this is a test card", "Synthetic data - not a real card", "Grüße aus Köln",
	"12345678\x7f", "1234567\x1f", "\u2028LINE SEP", "\u200bZERO WIDTH", "\ufeffBOM", "\ufffdREPL",
}

var (
	nastyPAN = []string{
		"", "4000001234567899", "4000001234567890", "4000 0012 3456 7899", "40000012345678A9",
		pan("4000001234"), pan("40000012345"), pan("4000001234567890123"), pan("400000123456789012"),
		pan15, pan19, "0", "000000000000", "٤٠٠٠٠٠١٢٣٤٥٦٧٨٩٩", "4000001234567899\x00", "４000001234567899",
	}
	nastySeq    = []string{"", "1", "01", "3", "A", "0A", "001", "١", "\x00", "99"}
	nastyMonth  = []string{"", "2912", "2605", "2604", "2601", "3001", "2913", "2900", "12/29", "29120", "291", "29a2", "0001", "9912", "２９12"}
	nastySvc    = []string{"", "201", "20", "2O1", "2010", "101", "٢01"}
	nastyDisc   = []string{"", "0000123", "12A", strings.Repeat("0", 13), strings.Repeat("0", 14), "1 2", "١"}
	nastyTags   = []tlv.Tag{0x9F08, 0x5F28, 0x9F07, 0x70, 0x9F80, 0x1F, 0x5F, 0xBF0C, 0x9F8101, 0x9F818101, 0xFFFFFFFF, 0}
	nastyValues = [][]byte{nil, {0x00, 0x02}, {0x5A, 0x05}, {0x5A, 0x01, 0x41}, {0x9F, 0x4D, 0x00}, make([]byte, 0x10000)}
)

func randomRecord(rng *rand.Rand) Record {
	pick := func(s []string) string {
		if rng.IntN(4) == 0 {
			return nasty[rng.IntN(len(nasty))]
		}
		return s[rng.IntN(len(s))]
	}
	r := good()
	r.Line = rng.IntN(1000)
	r.PAN = pick(nastyPAN)
	r.PANSeq = pick(nastySeq)
	r.Expiry = pick(nastyMonth)
	r.Effective = pick(nastyMonth)
	r.ServiceCode = pick(nastySvc)
	r.Discretionary = pick(nastyDisc)
	r.Name = nasty[rng.IntN(len(nasty))]
	for i := range r.Emboss {
		r.Emboss[i] = nasty[rng.IntN(len(nasty))]
	}
	r.Carrier = nil
	for range rng.IntN(4) {
		r.Carrier = append(r.Carrier, nasty[rng.IntN(len(nasty))])
	}
	r.Product = nasty[rng.IntN(len(nasty))]
	r.ChipTags = nil
	for range rng.IntN(4) {
		r.ChipTags = append(r.ChipTags, ChipTag{nastyTags[rng.IntN(len(nastyTags))], nastyValues[rng.IntN(len(nastyValues))]})
	}
	r.DGIs = nil
	for range rng.IntN(3) {
		r.DGIs = append(r.DGIs, DGI{uint16(0x8000 + rng.IntN(2)), nastyValues[rng.IntN(len(nastyValues))]})
	}
	return r
}

// sameValidate runs Validate and the reference on copies of r under p and
// fails t if the verdicts, errors or normalized records differ.
func sameValidate(t *testing.T, r Record, p Policy) {
	t.Helper()
	got, want := r, r
	gotErr, wantErr := Validate(&got, &p), refValidate(&want, &p)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%s: Validate = %v, reference = %v", describe(r, p), gotErr, wantErr)
	}
	if gotErr != nil {
		var g, w *RecordError
		if !errors.As(gotErr, &g) || !errors.As(wantErr, &w) {
			t.Fatalf("%s: not RecordErrors: %v, %v", describe(r, p), gotErr, wantErr)
		}
		if *g != *w {
			t.Fatalf("%s: Validate = %+v, reference = %+v", describe(r, p), *g, *w)
		}
		// What a rejected record was left holding must match too.
	}
	if got.PAN != want.PAN || got.PANSeq != want.PANSeq || got.Name != want.Name || got.Expiry != want.Expiry ||
		got.Effective != want.Effective || got.ServiceCode != want.ServiceCode || got.Discretionary != want.Discretionary ||
		got.Emboss != want.Emboss || got.Product != want.Product {
		t.Fatalf("%s: normalized to %q %q %q, reference %q %q %q", describe(r, p), got.Name, got.PANSeq, got.Emboss, want.Name, want.PANSeq, want.Emboss)
	}
}

func describe(r Record, p Policy) string {
	return strings.Join([]string{"pan " + r.PAN, "seq " + r.PANSeq, "name " + r.Name, "exp " + r.Expiry, "eff " + r.Effective,
		"svc " + r.ServiceCode, "disc " + r.Discretionary, "emboss " + strings.Join(r.Emboss[:], "|"),
		"carrier " + strings.Join(r.Carrier, "|")}, "; ") + " " + p.JobDate.Format("2006-01") +
		map[bool]string{true: " expired-ok", false: ""}[p.AllowExpired] +
		map[bool]string{true: " translit", false: ""}[p.Transliterate] +
		map[bool]string{true: " truncate", false: ""}[p.Truncate]
}

// policies are every combination of the policy's switches for job dates
// around the expiry months the tests use, each both as a literal and
// through SetJobDate (also with JobDate changed after it).
func policies() []Policy {
	var ps []Policy
	dates := []time.Time{policy.JobDate, time.Date(2029, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(2030, 1, 1, 0, 30, 0, 0, time.FixedZone("X", 3600)), time.Now()}
	for k, d := range dates {
		for bits := range 8 {
			p := Policy{JobDate: d, AllowExpired: bits&1 != 0, Transliterate: bits&2 != 0, Truncate: bits&4 != 0}
			ps = append(ps, p)
			p.SetJobDate(d)
			ps = append(ps, p)
			p.SetJobDate(dates[(k+1)%len(dates)])
			p.JobDate = d // set directly after SetJobDate: the cache must not be used
			ps = append(ps, p)
		}
	}
	return ps
}

func TestJobMonth(t *testing.T) {
	utc := time.Date(2030, 1, 1, 0, 30, 0, 0, time.UTC)
	east := utc.In(time.FixedZone("X", 3600))
	west := utc.In(time.FixedZone("Y", -3600)) // still December 2029 there
	for _, d := range []time.Time{utc, east, west, {}, time.Now(), time.Date(-5, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2000, 12, 31, 23, 59, 59, 0, time.UTC)} {
		var p Policy
		p.SetJobDate(d)
		want := (d.Year()%100)*100 + int(d.Month())
		if got := p.jobYYMM(); got != want {
			t.Errorf("SetJobDate(%v): month %d, want %d", d, got, want)
		}
		if got := (&Policy{JobDate: d}).jobYYMM(); got != want {
			t.Errorf("JobDate %v: month %d, want %d", d, got, want)
		}
		p.JobDate = west
		if got, want := p.jobYYMM(), 2912; got != want {
			t.Errorf("JobDate changed after SetJobDate(%v): month %d, want %d", d, got, want)
		}
	}
}

func TestValidateMatchesReference(t *testing.T) {
	ps := policies()
	// Each nasty value alone in each text field of an otherwise good record.
	for _, s := range nasty {
		for field := range 7 {
			r := good()
			switch field {
			case 0:
				r.Name = s
			case 1, 2, 3, 4:
				r.Emboss[field-1] = s
			case 5:
				r.Carrier = []string{"fine", s}
			case 6:
				r.Name, r.Emboss[0] = s, s
			}
			for _, p := range ps {
				sameValidate(t, r, p)
			}
		}
	}
	for _, lists := range [][]string{nastyPAN, nastySeq, nastyMonth, nastySvc, nastyDisc} {
		for _, s := range append(lists, nasty...) {
			for field := range 6 {
				r := good()
				switch field {
				case 0:
					r.PAN = s
				case 1:
					r.PANSeq = s
				case 2:
					r.Expiry = s
				case 3:
					r.Effective = s
				case 4:
					r.ServiceCode = s
				case 5:
					r.Discretionary = s
				}
				for _, p := range ps {
					sameValidate(t, r, p)
				}
			}
		}
	}
	// And random mixtures.
	rng := rand.New(rand.NewPCG(7, 11))
	n := 200000
	if testing.Short() {
		n = 20000
	}
	for range n {
		sameValidate(t, randomRecord(rng), ps[rng.IntN(len(ps))])
	}
}

func TestTextMatchesReference(t *testing.T) {
	for _, s := range nasty {
		for _, tr := range []bool{false, true} {
			if g1, g2 := EmbossText(s, tr); true {
				w1, w2 := refEmbossText(s, tr)
				if g1 != w1 || g2 != w2 {
					t.Errorf("EmbossText(%q, %v) = %q %d, reference %q %d", s, tr, g1, g2, w1, w2)
				}
			}
			g1, g2 := Track1Name(s, tr)
			w1, w2 := refTrack1Name(s, tr)
			if g1 != w1 || g2 != w2 {
				t.Errorf("Track1Name(%q, %v) = %q %d, reference %q %d", s, tr, g1, g2, w1, w2)
			}
		}
		if g, w := string(AppendFolded([]byte("x"), s)), string(refAppendFolded([]byte("x"), s)); g != w {
			t.Errorf("AppendFolded(%q) = %q, reference %q", s, g, w)
		}
		if g, w := string(AppendFoldedBytes([]byte("x"), []byte(s))), string(refAppendFolded([]byte("x"), s)); g != w {
			t.Errorf("AppendFoldedBytes(%q) = %q, reference %q", s, g, w)
		}
		if g, w := printable(s), refPrintable(s); g != w {
			t.Errorf("printable(%q) = %v, reference %v", s, g, w)
		}
		if g, w := InEmbossSet(s), refIn(&refEmbossSet, s) < 0; g != w {
			t.Errorf("InEmbossSet(%q) = %v, reference %v", s, g, w)
		}
		if g, w := InTrack1NameSet(s), refIn(&refTrack1NameSet, s) < 0; g != w {
			t.Errorf("InTrack1NameSet(%q) = %v, reference %v", s, g, w)
		}
	}
}

// TestFoldTable checks the folding table against the map it is built
// from, for every rune the map knows and every rune around them, and that
// every folding is ASCII (convert relies on that: transliterated text is
// ASCII).
func TestFoldTable(t *testing.T) {
	for r := rune(0); r < 0x3000; r++ {
		g, gok := folding(r)
		w, wok := refFold[r]
		if g != w || gok != wok {
			t.Errorf("folding(%U) = %q %v, map %q %v", r, g, gok, w, wok)
		}
	}
	for r, s := range refFold {
		if g, ok := folding(r); !ok || g != s {
			t.Errorf("folding(%U) = %q %v, map %q", r, g, ok, s)
		}
		for i := 0; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf {
				t.Errorf("fold of %U is not ASCII: %q", r, s)
			}
		}
	}
	if len(fold) != len(refFold) {
		t.Errorf("fold has %d entries, reference %d", len(fold), len(refFold))
	}
}

// TestYYMMMatchesReference tries every 4-byte string of digits and the
// bytes around them, and some others.
func TestYYMMMatchesReference(t *testing.T) {
	chars := []byte("/0123456789:\x00\xff")
	for _, a := range chars {
		for _, b := range chars {
			for _, c := range chars {
				for _, d := range chars {
					s := string([]byte{a, b, c, d})
					g, gok := YYMM(s)
					w, wok := refYYMM(s)
					if g != w || gok != wok {
						t.Fatalf("YYMM(%q) = %d %v, reference %d %v", s, g, gok, w, wok)
					}
				}
			}
		}
	}
	for _, s := range append(append([]string{}, nastyMonth...), nasty...) {
		g, gok := YYMM(s)
		w, wok := refYYMM(s)
		if g != w || gok != wok {
			t.Fatalf("YYMM(%q) = %d %v, reference %d %v", s, g, gok, w, wok)
		}
	}
}

func TestLuhnMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range append(append([]string{}, nastyPAN...), nasty...) {
		if Luhn(s) != refLuhn(s) {
			t.Errorf("Luhn(%q) = %v", s, Luhn(s))
		}
	}
	var b [24]byte
	for range 100000 {
		n := rng.IntN(len(b) + 1)
		for i := range n {
			b[i] = byte('0' + rng.IntN(10))
			if rng.IntN(50) == 0 {
				b[i] = byte(rng.IntN(256))
			}
		}
		if s := string(b[:n]); Luhn(s) != refLuhn(s) {
			t.Fatalf("Luhn(%q) = %v", s, Luhn(s))
		}
	}
}

func TestPrintableMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var b [40]byte
	for range 200000 {
		n := rng.IntN(len(b) + 1)
		for i := range n {
			switch rng.IntN(8) {
			case 0:
				b[i] = byte(rng.IntN(256))
			case 1:
				b[i] = byte(rng.IntN(0x21)) // controls and space
			case 2:
				b[i] = 0x7F - byte(rng.IntN(2))
			default:
				b[i] = byte(0x20 + rng.IntN(0x5F))
			}
		}
		if s := string(b[:n]); printable(s) != refPrintable(s) {
			t.Fatalf("printable(%q) = %v", s, printable(s))
		}
	}
}

// FuzzFoldRef holds the text functions to the reference on fuzzed text.
func FuzzFoldRef(f *testing.F) {
	for _, s := range nasty {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w := string(refAppendFolded(nil, s))
		if g := string(AppendFolded(nil, s)); g != w {
			t.Fatalf("AppendFolded(%q) = %q, reference %q", s, g, w)
		}
		if g := string(AppendFoldedBytes(nil, []byte(s))); g != w {
			t.Fatalf("AppendFoldedBytes(%q) = %q, reference %q", s, g, w)
		}
		if g, w := printable(s), refPrintable(s); g != w {
			t.Fatalf("printable(%q) = %v, reference %v", s, g, w)
		}
		for _, tr := range []bool{false, true} {
			g1, g2 := EmbossText(s, tr)
			w1, w2 := refEmbossText(s, tr)
			if g1 != w1 || g2 != w2 {
				t.Fatalf("EmbossText(%q, %v) = %q %d, reference %q %d", s, tr, g1, g2, w1, w2)
			}
			g1, g2 = Track1Name(s, tr)
			w1, w2 = refTrack1Name(s, tr)
			if g1 != w1 || g2 != w2 {
				t.Fatalf("Track1Name(%q, %v) = %q %d, reference %q %d", s, tr, g1, g2, w1, w2)
			}
		}
		if Luhn(s) != refLuhn(s) {
			t.Fatalf("Luhn(%q) = %v", s, Luhn(s))
		}
	})
}

// FuzzValidateRef holds Validate to the reference on fuzzed records.
func FuzzValidateRef(f *testing.F) {
	g := good()
	f.Add(g.PAN, g.PANSeq, g.Name, g.Expiry, g.Effective, g.ServiceCode, g.Discretionary, g.Emboss[0], g.Emboss[1], g.Carrier[0], []byte{0x9F, 0x08, 0x00, 0x02}, uint8(2))
	f.Add(pan15, "3", "O'Hára/José Ærø Straße Müller", "3001", "", "101", "", "o’hara & co.", "Łódź ŒUVRE", "bell\x07", []byte{0x70, 0x03, 0x5A, 0x01, 0x41}, uint8(6))
	f.Add("4000001234567890", "0A", "AB\xffC", "2913", "2614", "2O1", "12A", strings.Repeat("ß", 14), "BANK #1", "\xc3", []byte{0x9F, 0x80, 0x01}, uint8(0))
	f.Fuzz(func(t *testing.T, pan, seq, name, exp, eff, svc, disc, e1, e2, carrier string, chip []byte, flags uint8) {
		r := Record{Line: 3, PAN: pan, PANSeq: seq, Name: name, Expiry: exp, Effective: eff, ServiceCode: svc, Discretionary: disc,
			Emboss: [4]string{e1, e2, strings.ToLower(e1), e2 + e1}, Carrier: []string{carrier, e1}}
		// chip: a one-byte tag selector, a length byte and the value.
		for len(chip) >= 2 {
			n := min(int(chip[1]), len(chip)-2)
			r.ChipTags = append(r.ChipTags, ChipTag{nastyTags[int(chip[0])%len(nastyTags)], chip[2 : 2+n]})
			chip = chip[2+n:]
		}
		ps := policies()
		sameValidate(t, r, ps[int(flags)%len(ps)])
	})
}
