package card

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dataprep/dataprep/formats/tlv"
)

// pan makes a Luhn-valid synthetic PAN from a test BIN prefix and body.
func pan(prefix string) string { return prefix + string(LuhnDigit(prefix)) }

var (
	pan16 = pan("400000123456789") // 4000001234567899
	pan15 = pan("37000000000000")
	pan19 = pan("999999000000000012")
)

func good() Record {
	return Record{
		Line: 7, PAN: pan16, PANSeq: "01", Name: "TEST/CARDHOLDER A",
		Expiry: "2912", Effective: "2601", ServiceCode: "201", Discretionary: "0000123",
		Emboss:   [4]string{"A TEST CARDHOLDER", "SYNTHETIC BANK"},
		Carrier:  []string{"Dear test cardholder,", "Here is your card."},
		ChipTags: []ChipTag{{Tag: 0x9F08, Value: []byte{0x00, 0x02}}},
	}
}

var policy = Policy{JobDate: time.Date(2026, 5, 20, 0, 0, 0, 0, time.UTC), Transliterate: true}

func TestLuhn(t *testing.T) {
	for _, p := range []string{pan16, pan15, pan19, "79927398713", "0"} {
		if !Luhn(p) {
			t.Errorf("Luhn(%s) = false", p)
		}
	}
	for _, p := range []string{"79927398710", "", "4000a01234567899", pan16[:15] + "0"} {
		if p == pan16 {
			continue
		}
		if Luhn(p) {
			t.Errorf("Luhn(%s) = true", p)
		}
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"4000001234567899":        "400000******7899",
		"9999990000000000125":     "999999*********0125",
		"370000000000002":         "37000******0002",
		"400000123452":            "40******3452",
		"4000001234":              "******1234",
		"40000012":                "******12",
		"40000":                   "*****",
		"":                        "",
		"JOHN Q CARDHOLDER":       "*****************",
		"40000012345678991234567": "*******************",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
		if strings.Count(Mask(in), "*") < min(6, len(in)) {
			t.Errorf("Mask(%q) hides fewer than 6 digits", in)
		}
	}
}

// TestRecordNeverLeaks prints a record every way a careless caller could
// and checks that neither the PAN nor the name comes out.
func TestRecordNeverLeaks(t *testing.T) {
	r := good()
	r.Name = "SECRETNAME/PERSON"
	r.Emboss[0] = "SECRETNAME PERSON"
	var outs []string
	for _, v := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		outs = append(outs, fmt.Sprintf(v, r), fmt.Sprintf(v, &r))
	}
	outs = append(outs, fmt.Sprint(r), fmt.Sprintln([]Record{r}), fmt.Sprintf("%v", struct{ R Record }{r}))
	j, _ := json.Marshal(r)
	jp, _ := json.Marshal(&r)
	outs = append(outs, string(j), string(jp))
	var sb strings.Builder
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("rec", "r", r)
	slog.New(slog.NewTextHandler(&sb, nil)).Info("rec", "r", r)
	outs = append(outs, sb.String())
	err := Reject(&r, "name", ErrNameLength, "")
	outs = append(outs, err.Error(), fmt.Sprintf("%+v", *err))
	for _, o := range outs {
		if strings.Contains(o, r.PAN) || strings.Contains(o, "SECRETNAME") || strings.Contains(o, "1234567") {
			t.Errorf("leak: %s", o)
		}
	}
	if !strings.Contains(outs[0], "400000******7899") {
		t.Errorf("no masked PAN in %s", outs[0])
	}
}

func TestValidateGood(t *testing.T) {
	for name, mod := range map[string]func(*Record){
		"good_16":               func(r *Record) {},
		"good_15_digits":        func(r *Record) { r.PAN = pan15 },
		"good_19_digits":        func(r *Record) { r.PAN = pan19; r.Discretionary = "" },
		"good_no_seq":           func(r *Record) { r.PANSeq = "" },
		"good_expiry_job_month": func(r *Record) { r.Expiry = "2605"; r.Effective = "" },
		"good_no_emboss":        func(r *Record) { r.Emboss = [4]string{} },
		"good_emboss_27":        func(r *Record) { r.Emboss[3] = strings.Repeat("X", 27) },
		"good_name_26":          func(r *Record) { r.Name = strings.Repeat("N", 26) },
		"good_no_chip":          func(r *Record) { r.ChipTags = nil },
	} {
		t.Run(name, func(t *testing.T) {
			r := good()
			mod(&r)
			if err := Validate(&r, &policy); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestValidateRules(t *testing.T) {
	longName := strings.Repeat("N", 27)
	for _, tc := range []struct {
		name  string
		mod   func(*Record)
		pol   func(*Policy)
		field string
		err   error
	}{
		{"fail_pan_missing", func(r *Record) { r.PAN = "" }, nil, "pan", ErrMissing},
		{"fail_pan_letters", func(r *Record) { r.PAN = "40000012345678A9" }, nil, "pan", ErrPANDigits},
		{"fail_pan_spaces", func(r *Record) { r.PAN = "4000 0012 3456 7899" }, nil, "pan", ErrPANDigits},
		{"fail_pan_11_digits", func(r *Record) { r.PAN = pan("4000001234") }, nil, "pan", ErrPANLength},
		{"fail_pan_20_digits", func(r *Record) { r.PAN = pan("4000001234567890123") }, nil, "pan", ErrPANLength},
		{"fail_pan_luhn", func(r *Record) { r.PAN = "4000001234567890" }, nil, "pan", ErrLuhn},
		{"fail_seq_letters", func(r *Record) { r.PANSeq = "0A" }, nil, "pan_seq", ErrPANSeq},
		{"fail_seq_3_digits", func(r *Record) { r.PANSeq = "001" }, nil, "pan_seq", ErrPANSeq},
		{"fail_expiry_missing", func(r *Record) { r.Expiry = "" }, nil, "expiry", ErrMissing},
		{"fail_expiry_month_13", func(r *Record) { r.Expiry = "2913" }, nil, "expiry", ErrExpiry},
		{"fail_expiry_month_00", func(r *Record) { r.Expiry = "2900" }, nil, "expiry", ErrExpiry},
		{"fail_expiry_format", func(r *Record) { r.Expiry = "12/29" }, nil, "expiry", ErrExpiry},
		{"fail_expired_last_month", func(r *Record) { r.Expiry = "2604"; r.Effective = "" }, nil, "expiry", ErrExpired},
		{"fail_effective_month", func(r *Record) { r.Effective = "2614" }, nil, "effective", ErrEffective},
		{"fail_effective_after_expiry", func(r *Record) { r.Effective = "3001" }, nil, "effective", ErrEffective},
		{"fail_service_code_missing", func(r *Record) { r.ServiceCode = "" }, nil, "service_code", ErrMissing},
		{"fail_service_code_2", func(r *Record) { r.ServiceCode = "20" }, nil, "service_code", ErrServiceCode},
		{"fail_service_code_alpha", func(r *Record) { r.ServiceCode = "2O1" }, nil, "service_code", ErrServiceCode},
		{"fail_discretionary_alpha", func(r *Record) { r.Discretionary = "12A" }, nil, "discretionary", ErrTrackCharset},
		{"fail_track2_too_long", func(r *Record) { r.Discretionary = strings.Repeat("0", 14) }, nil, "discretionary", ErrTrackLength},
		{"fail_name_missing", func(r *Record) { r.Name = "" }, nil, "name", ErrMissing},
		{"fail_name_short", func(r *Record) { r.Name = "A" }, nil, "name", ErrNameLength},
		{"fail_name_long", func(r *Record) { r.Name = longName }, nil, "name", ErrNameLength},
		{"fail_name_charset", func(r *Record) { r.Name = "TEST^CARD" }, nil, "name", ErrNameCharset},
		{"fail_name_cjk", func(r *Record) { r.Name = "TEST 山田" }, nil, "name", ErrNameCharset},
		{"fail_name_accent_no_translit", func(r *Record) { r.Name = "JOSÉ" }, func(p *Policy) { p.Transliterate = false }, "name", ErrNameCharset},
		{"fail_name_invalid_utf8", func(r *Record) { r.Name = "AB\xffC" }, nil, "name", ErrNameCharset},
		{"fail_emboss_charset", func(r *Record) { r.Emboss[1] = "BANK #1" }, nil, "emboss2", ErrEmbossCharset},
		{"fail_emboss_accent_no_translit", func(r *Record) { r.Emboss[0] = "MÜLLER" }, func(p *Policy) { p.Transliterate = false }, "emboss1", ErrEmbossCharset},
		{"fail_emboss_length", func(r *Record) { r.Emboss[2] = strings.Repeat("X", 28) }, nil, "emboss3", ErrEmbossLength},
		{"fail_emboss_length_after_translit", func(r *Record) { r.Emboss[3] = strings.Repeat("ß", 14) }, nil, "emboss4", ErrEmbossLength},
		{"fail_carrier_control", func(r *Record) { r.Carrier[1] = "bell\x07" }, nil, "carrier2", ErrCarrierText},
		{"fail_carrier_utf8", func(r *Record) { r.Carrier[0] = "\xc3" }, nil, "carrier1", ErrCarrierText},
		{"fail_chip_duplicate_tag", func(r *Record) { r.ChipTags = append(r.ChipTags, r.ChipTags[0]) }, nil, "chip", ErrChipData},
		{"fail_dgi_duplicate", func(r *Record) { r.DGIs = []DGI{{Tag: 0x8000}, {Tag: 0x8000}} }, nil, "dgi", ErrChipData},
		{"fail_chip_bad_tag", func(r *Record) { r.ChipTags[0].Tag = 0x9F80 }, nil, "chip", ErrChipData},
		{"fail_chip_bad_template", func(r *Record) { r.ChipTags[0] = ChipTag{Tag: 0x70, Value: []byte{0x5A, 0x05}} }, nil, "chip", ErrChipData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, p := good(), policy
			tc.mod(&r)
			if tc.pol != nil {
				tc.pol(&p)
			}
			err := Validate(&r, &p)
			var re *RecordError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a *RecordError", err)
			}
			if !errors.Is(err, tc.err) || re.Field != tc.field || re.Line != 7 {
				t.Fatalf("got %v (field %q), want %v in %q", err, re.Field, tc.err, tc.field)
			}
			if strings.Contains(err.Error(), pan16) || (r.PAN != "" && strings.Contains(err.Error(), r.PAN)) {
				t.Fatalf("error leaks the PAN: %v", err)
			}
		})
	}
}

func TestAllowExpired(t *testing.T) {
	r, p := good(), policy
	r.Expiry, r.Effective = "2001", ""
	p.AllowExpired = true
	if err := Validate(&r, &p); err != nil {
		t.Fatal(err)
	}
}

func TestNormalize(t *testing.T) {
	r, p := good(), policy
	p.Truncate = true
	r.Name = "O'Hára/José Ærø Straße Müller"
	r.PANSeq = "3"
	r.Emboss = [4]string{"José Müller-Lüdenscheidt", "Łódź ŒUVRE ØSTERGÅRD AND SONS", "o’hara & co.", ""}
	if err := Validate(&r, &p); err != nil {
		t.Fatal(err)
	}
	want := Record{Name: "OHARA/JOSE AERO STRASSE MU", PANSeq: "03",
		Emboss: [4]string{"JOSE MULLER-LUDENSCHEIDT", "LODZ OEUVRE OSTERGARD AND S", "O'HARA & CO.", ""}}
	if r.Name != want.Name || r.Emboss != want.Emboss || r.PANSeq != want.PANSeq {
		t.Fatalf("got %q %q %q", r.Name, r.Emboss, r.PANSeq)
	}
}

func TestValidateNoAllocs(t *testing.T) {
	r := good()
	if n := testing.AllocsPerRun(100, func() { _ = Validate(&r, &policy) }); n != 0 {
		t.Fatalf("%v allocations per clean record", n)
	}
}

func TestClone(t *testing.T) {
	r := good()
	c := r.Clone()
	r.ChipTags[0].Value[0] = 0xEE
	r.Carrier[0] = "x"
	if c.ChipTags[0].Value[0] != 0 || c.Carrier[0] == "x" {
		t.Fatal("clone shares memory")
	}
	if v, ok := c.Chip(0x9F08); !ok || len(v) != 2 {
		t.Fatal("Chip(9F08) missing")
	}
	if _, ok := c.Chip(tlv.Tag(0x9F09)); ok {
		t.Fatal("Chip(9F09) present")
	}
}

func BenchmarkValidate(b *testing.B) {
	r := good()
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(&r, &policy); err != nil {
			b.Fatal(err)
		}
	}
}
