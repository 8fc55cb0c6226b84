package input

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/formats/testgen"
)

var update = flag.Bool("update", false, "rewrite golden files")

const dir = "../../testdata/formats"

func issuer(t testing.TB, name string) *profile.Issuer {
	t.Helper()
	if name == "" {
		return profile.DefaultIssuer()
	}
	b, err := os.ReadFile(filepath.Join(dir, "issuer", name+".toml"))
	if err != nil {
		t.Fatal(err)
	}
	ip, err := profile.ParseIssuer(b)
	if err != nil {
		t.Fatal(err)
	}
	return ip
}

// profileFor says which issuer profile reads each input file.
var profileFor = map[string]string{
	"good_positional_latin1.csv": "csv-positional-latin1",
	"good_pipe_noquote.txt":      "csv-pipe-noquote",
	"good_fixed.txt":             "fixed",
	"mixed_records.jsonl":        "jsonl",
	"good_keys.jsonl":            "jsonl-binary",
}

// dump writes a record's every field: golden files hold synthetic data
// only, so unlike Record.String this shows it all.
func dump(w io.Writer, r *card.Record) {
	fmt.Fprintf(w, "line %d: pan=%s seq=%q name=%q exp=%q eff=%q svc=%q disc=%q product=%q emboss=%q carrier=%q",
		r.Line, r.PAN, r.PANSeq, r.Name, r.Expiry, r.Effective, r.ServiceCode, r.Discretionary, r.Product, r.Emboss, r.Carrier)
	for _, c := range r.ChipTags {
		fmt.Fprintf(w, " %v=%X", c.Tag, c.Value)
	}
	for _, d := range r.DGIs {
		fmt.Fprintf(w, " dgi%04X=%X", d.Tag, d.Value)
	}
	fmt.Fprintln(w)
}

func readAll(t testing.TB, data []byte, ip *profile.Issuer) (string, error) {
	rd, err := New(bytes.NewReader(data), ip)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for {
		r, err := rd.Next()
		if err == io.EOF {
			return out.String(), nil
		}
		var re *card.RecordError
		if errors.As(err, &re) {
			fmt.Fprintf(&out, "reject: %v\n", re)
			continue
		}
		if err != nil {
			fmt.Fprintf(&out, "fatal: %v\n", err)
			// A fatal error sticks.
			if _, again := rd.Next(); again == nil || again.Error() != err.Error() {
				t.Errorf("after fatal %v, Next returned %v", err, again)
			}
			return out.String(), err
		}
		dump(&out, &r)
	}
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(dir, "input", "*"))
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden") {
			continue
		}
		n++
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, data, issuer(t, profileFor[name]))
			if strings.HasPrefix(name, "fail_") != (err != nil) && name != "fail_empty.csv" {
				t.Errorf("fatal error %v for %s", err, name)
			}
			golden := f + ".golden"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
	if n < 10 {
		t.Fatalf("only %d input files", n)
	}
}

func TestFatalSentinels(t *testing.T) {
	for name, want := range map[string]error{
		"fail_line_too_long.csv":            ErrLineTooLong,
		"fail_quoted_newlines_too_long.csv": ErrLineTooLong,
		"fail_nul.csv":                      ErrNUL,
		"fail_invalid_utf8.csv":             ErrUTF8,
		"fail_missing_column.csv":           ErrHeader,
		"fail_duplicate_column.csv":         ErrHeader,
		"fail_bare_quote.csv":               ErrSyntax,
		"fail_unterminated_quote.csv":       ErrSyntax,
	} {
		data, err := os.ReadFile(filepath.Join(dir, "input", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readAll(t, data, issuer(t, "")); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
}

func TestRejectSentinels(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(dir, "input", "mixed_rejects.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rd, _ := New(bytes.NewReader(data), issuer(t, ""))
	var got []error
	for {
		_, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			got = append(got, err)
		}
	}
	// The reader itself rejects only what it cannot read: the short
	// record, the bad hex, the bad date. The rest is validation's job.
	want := []error{card.ErrExpiry, card.ErrFieldCount, card.ErrChipData, card.ErrChipData}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if !errors.Is(got[i], want[i]) {
			t.Errorf("%d: %v, want %v", i, got[i], want[i])
		}
	}
}

// TestLineCapEveryFormat feeds each reader an endless line: it must stop
// at max_line, not read (and hold) the whole thing.
func TestLineCapEveryFormat(t *testing.T) {
	for _, p := range []string{"", "csv-positional-latin1", "csv-pipe-noquote", "fixed", "jsonl"} {
		ip := issuer(t, p)
		endless := io.MultiReader(strings.NewReader("PAN,X\n"), &repeat{b: 'A', n: 1 << 30})
		rd, _ := New(endless, ip)
		var err error
		for range 3 {
			if _, err = rd.Next(); err != nil && !errors.As(err, new(*card.RecordError)) {
				break
			}
		}
		if !errors.Is(err, ErrLineTooLong) && !errors.Is(err, ErrHeader) {
			t.Errorf("%s: %v", p, err)
		}
	}
}

type repeat struct {
	b    byte
	n    int
	read int
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.read >= r.n {
		return 0, io.EOF
	}
	for i := range p {
		p[i] = r.b
	}
	r.read += len(p)
	return len(p), nil
}

// TestMemoryFlat reads 200k records and checks the heap in use after does
// not depend on how many were read.
func TestTestgenRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := testgen.CSV(&buf, 500, 7); err != nil {
		t.Fatal(err)
	}
	rd, _ := New(&buf, profile.DefaultIssuer())
	n := 0
	for {
		r, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !card.Luhn(r.PAN) || len(r.ChipTags) != 3 {
			t.Fatalf("line %d: %v", r.Line, r)
		}
		n++
	}
	if n != 500 {
		t.Fatal(n)
	}
}

func fuzzReader(f *testing.F, p string, seeds ...string) {
	ip := issuer(f, p)
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := New(bytes.NewReader(data), ip)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			r, err := rd.Next()
			if err == io.EOF {
				return
			}
			var re *card.RecordError
			if errors.As(err, &re) {
				// A PAN-like value (10+ digits) must never appear whole.
				if len(r.PAN) >= 10 && strings.Trim(r.PAN, "0123456789") == "" && strings.Contains(re.Error(), r.PAN) {
					t.Fatalf("reject leaks the PAN: %v", re)
				}
				continue
			}
			if err != nil {
				return
			}
			if r.Line < 1 || i > len(data)+1 {
				t.Fatalf("line %d after %d records", r.Line, i)
			}
		}
	})
}

func seedsFrom(f *testing.F, names ...string) []string {
	var out []string
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, "input", n))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func FuzzCSV(f *testing.F) {
	fuzzReader(f, "", seedsFrom(f, "good_header.csv", "mixed_rejects.csv", "fail_bare_quote.csv")...)
}

func FuzzCSVPositional(f *testing.F) {
	fuzzReader(f, "csv-positional-latin1", seedsFrom(f, "good_positional_latin1.csv")...)
}

func FuzzFixed(f *testing.F) {
	fuzzReader(f, "fixed", seedsFrom(f, "good_fixed.txt")...)
}

func FuzzJSONL(f *testing.F) {
	fuzzReader(f, "jsonl", seedsFrom(f, "mixed_records.jsonl")...)
}

func BenchmarkParseCSV(b *testing.B) {
	var buf bytes.Buffer
	const n = 10000
	testgen.CSV(&buf, n, 1)
	data := buf.Bytes()
	ip := profile.DefaultIssuer()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		rd, _ := New(bytes.NewReader(data), ip)
		for {
			_, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// TestJSONLKeysNotEchoed: a key the profile does not map is the issuer's
// text and may be anything, so messages do not quote it.
func TestJSONLKeysNotEchoed(t *testing.T) {
	const pan = "4000001234567899"
	data := `{"` + pan + `":"a","` + pan + `":"b","pan":"4000000000079303"}` + "\n" +
		`{"` + pan + `":[1]}` + "\n"
	got, _ := readAll(t, []byte(data), issuer(t, "jsonl"))
	if strings.Contains(got, pan) || strings.Count(got, "reject:") != 2 {
		t.Fatalf("%s", got)
	}
}
