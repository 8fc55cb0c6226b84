package profile

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestDefaultsParse(t *testing.T) {
	entries, err := fs.ReadDir(Defaults, "defaults")
	if err != nil || len(entries) < 3 {
		t.Fatal(err, entries)
	}
	for _, e := range entries {
		b, _ := Defaults.ReadFile("defaults/" + e.Name())
		p, err := Check(b)
		if err != nil {
			t.Errorf("%s: %v", e.Name(), err)
			continue
		}
		if p.ProfileName() == "" {
			t.Errorf("%s: no name", e.Name())
		}
	}
	ip := DefaultIssuer()
	if ip.Delimiter() != ',' || !ip.Quoting() || ip.RejectsFile() || len(ip.Mappings()) != 14 {
		t.Fatalf("issuer: %c %v %v %d", ip.Delimiter(), ip.Quoting(), ip.RejectsFile(), len(ip.Mappings()))
	}
	m, err := DefaultMachine("machine-fixed")
	if err != nil || m.Pattern(15).String() != "4-6-5" || m.Pattern(16).String() != "4-4-4-4" {
		t.Fatal(err)
	}
	c, err := DefaultMachine("machine-cps")
	if err != nil || len(c.ChipLayout()) != 2 {
		t.Fatal(err)
	}
}

func TestDateFormat(t *testing.T) {
	for _, tc := range []struct{ layout, in, want string }{
		{"YYMM", "2912", "2912"}, {"MMYY", "1229", "2912"}, {"MM/YY", "12/29", "2912"},
		{"YYYY-MM", "2029-12", "2912"}, {"YYYYMM", "202901", "2901"}, {"MM/YYYY", "02/2030", "3002"},
		{"MM/YY", "13/29", ""}, {"MM/YY", "1229", ""}, {"YYYY-MM", "1999-12", ""}, {"YYMM", "29a2", ""},
		{"YYMM", "2900", ""}, {"MM.YY", "12.29", "2912"},
	} {
		f, err := ParseDateFormat(tc.layout)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := f.Parse(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s %q: %q %v", tc.layout, tc.in, got, ok)
		}
		if ok {
			if back := string(f.Append(nil, got)); back != tc.in {
				t.Errorf("%s: Append(%s) = %s", tc.layout, got, back)
			}
		}
	}
	for _, bad := range []string{"", "YY", "MM", "YYMMX", "DD/MM/YY", "YYYYYYMM"} {
		if _, err := ParseDateFormat(bad); err == nil {
			t.Errorf("ParseDateFormat(%q) accepted", bad)
		}
	}
}

const goodIssuer = `
profile = "issuer"
name = "t"
format = "csv"
[csv]
header = true
[fields]
pan = { column = "PAN" }
expiry = { column = "EXP" }
`

const goodMachine = `
profile = "machine"
name = "m"
format = "fixed"
[[field]]
from = ["pan"]
width = 19
`

func TestCheckProblems(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		errs      []error
		keys      []string
	}{
		{"good_issuer", goodIssuer, nil, nil},
		{"good_machine", goodMachine, nil, nil},
		{"fail_no_kind", "name = \"x\"", []error{ErrKind}, []string{"profile"}},
		{"fail_syntax", "profile = ", []error{ErrSyntax}, []string{"line 1"}},
		{"fail_unknown_key", goodIssuer + "colour = \"red\"\n", []error{ErrUnknownKey}, []string{"colour"}},
		{"fail_unknown_nested_key", strings.Replace(goodIssuer, `pan = { column = "PAN" }`, `pan = { colum = "PAN" }`, 1), []error{ErrUnknownKey}, []string{"colum", "line 8"}},
		{"fail_typo_in_validation", goodIssuer + "[validation]\nallow_expird = true\n", []error{ErrUnknownKey}, []string{"validation.allow_expird"}},
		{"fail_wrong_type", strings.Replace(goodIssuer, "header = true", `header = "yes"`, 1), []error{ErrInvalid}, nil},
		{"fail_missing_pan", strings.Replace(goodIssuer, `pan = { column = "PAN" }`, "", 1), []error{ErrMissingKey}, []string{"fields.pan"}},
		{"fail_bad_values", strings.NewReplacer(`format = "csv"`, `format = "xml"`).Replace(goodIssuer) +
			"[validation]\nreject = \"sometimes\"\n", []error{ErrInvalid}, []string{"format", "validation.reject"}},
		{"fail_index_without_header", strings.Replace(goodIssuer, "header = true", "header = false", 1), []error{ErrInvalid}, []string{"fields.pan", "fields.expiry"}},
		{"fail_two_sources", strings.Replace(goodIssuer, `pan = { column = "PAN" }`, `pan = { column = "PAN", value = "1" }`, 1), []error{ErrInvalid}, []string{"fields.pan"}},
		{"fail_date_layout", strings.Replace(goodIssuer, `expiry = { column = "EXP" }`, `expiry = { column = "EXP", date = "DD.MM" }`, 1), []error{ErrInvalid}, []string{"fields.expiry.date"}},
		{"fail_bad_chip_tag", goodIssuer + "[fields.chip]\n\"9F80\" = { value = \"00\" }\n", []error{ErrInvalid}, []string{"fields.chip.9F80"}},
		{"fail_delimiter", strings.Replace(goodIssuer, "header = true", "header = true\ndelimiter = \";;\"", 1), []error{ErrInvalid}, []string{"csv.delimiter"}},
		{"fail_machine_source", strings.Replace(goodMachine, `["pan"]`, `["pna"]`, 1), []error{ErrInvalid}, []string{"field[1].from", "pna"}},
		{"fail_machine_transform", goodMachine + "transform = [\"reverse\"]\n", []error{ErrInvalid}, []string{"field[1].transform"}},
		{"fail_machine_date_on_pan", goodMachine + "transform = [\"date:MM/YY\"]\n", []error{ErrInvalid}, []string{"field[1].transform"}},
		{"fail_machine_pad", goodMachine + "pad = \"ab\"\n", []error{ErrInvalid}, []string{"field[1].pad"}},
		{"fail_machine_unknown", goodMachine + "colour = 1\n", []error{ErrUnknownKey}, []string{"field.colour"}},
		{"fail_machine_cps_without_dgi", strings.Replace(goodMachine, `["pan"]`, `["cps"]`, 1), []error{ErrMissingKey}, []string{"dgi"}},
		{"fail_machine_sensitive_built", "profile = \"machine\"\nname = \"c\"\nformat = \"cps\"\n[[dgi]]\nnumber = \"8000\"\ntags = [\"5A\"]\n", []error{ErrInvalid}, []string{"dgi[1]", "8000-series"}},
		{"fail_machine_pattern", goodMachine + "[emboss]\npatterns = { \"16\" = \"4-6-5\" }\n", []error{ErrInvalid}, []string{"emboss.patterns.16"}},
		{"fail_machine_dgi_template", "profile = \"machine\"\nname = \"c\"\nformat = \"cps\"\n[[dgi]]\nnumber = \"0101\"\ntemplate = \"5A\"\ntags = [\"5A\", \"5A\"]\noptional = [\"9F08\"]\n", []error{ErrInvalid}, []string{"dgi[1].template", "listed twice", "dgi[1].optional"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Check([]byte(tc.doc))
			if tc.errs == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.errs {
				if !errors.Is(err, want) {
					t.Errorf("error %q is not %v", err, want)
				}
			}
			for _, k := range tc.keys {
				if !strings.Contains(err.Error(), k) {
					t.Errorf("error %q does not name %q", err, k)
				}
			}
		})
	}
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte(goodIssuer))
	f.Add([]byte(goodMachine))
	for _, n := range []string{"issuer-csv", "machine-fixed", "machine-cps"} {
		b, _ := Default(n)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Check(b)
		if err == nil && p == nil {
			t.Fatal("nil profile without error")
		}
	})
}
