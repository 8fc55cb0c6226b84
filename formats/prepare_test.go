package formats

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/input"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/formats/testgen"
)

var update = flag.Bool("update", false, "rewrite golden files")

const dir = "../testdata/formats"

var jobDate = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func issuer(t testing.TB, name string) *profile.Issuer {
	t.Helper()
	if name == "issuer-csv" {
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

func machine(t testing.TB, name string) *profile.Machine {
	t.Helper()
	if strings.HasPrefix(name, "machine-") {
		m, err := profile.DefaultMachine(name)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	b, err := os.ReadFile(filepath.Join(dir, "machine", name+".toml"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := profile.ParseMachine(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs; got:\n%s", filepath.Base(path), got)
	}
}

// TestGolden runs every input format through to every output layout and
// compares the production file and the reject report with golden files.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		input, issuer, machine string
		err                    error
	}{
		{"good_header.csv", "issuer-csv", "machine-fixed", nil},
		{"good_header.csv", "issuer-csv", "machine-cps", nil},
		{"good_header.csv", "issuer-csv", "transforms", nil},
		{"good_positional_latin1.csv", "csv-positional-latin1", "machine-fixed", nil},
		{"good_pipe_noquote.txt", "csv-pipe-noquote", "machine-fixed", nil},
		{"good_fixed.txt", "fixed", "machine-fixed", nil},
		{"good_fixed.txt", "fixed", "machine-cps", ErrFileRejected}, // record 2 has no 9F08, and the profile rejects whole files
		{"mixed_records.jsonl", "jsonl", "machine-fixed", nil},
		{"good_keys.jsonl", "jsonl-binary", "cps-binary", nil},
		{"mixed_rejects.csv", "issuer-csv", "machine-fixed", nil},
		{"fail_nul.csv", "issuer-csv", "machine-fixed", input.ErrNUL},
		{"fail_empty.csv", "issuer-csv", "machine-fixed", ErrNoRecords},
	} {
		name := tc.input + "." + tc.machine
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, "input", tc.input))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var out, report bytes.Buffer
			n, err := Prepare(f, issuer(t, tc.issuer), machine(t, tc.machine), Options{JobDate: jobDate}, &out,
				func(e card.RecordError) { fmt.Fprintf(&report, "reject: %v [%v]\n", &e, e.Err) })
			fmt.Fprintf(&report, "counts: read %d, accepted %d, rejected %d\nerror: %v\n", n.Read, n.Accepted, n.Rejected, err)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Errorf("error %v, want %v", err, tc.err)
			}
			if n.Read != n.Accepted+n.Rejected {
				t.Errorf("counts do not add up: %+v", n)
			}
			golden(t, filepath.Join(dir, "output", name+".golden"), out.Bytes())
			golden(t, filepath.Join(dir, "output", name+".report.golden"), report.Bytes())
			for _, pan := range strings.Fields("4000000000079303 4000000000158495 5100000000000000128") {
				if strings.Contains(report.String(), pan) {
					t.Errorf("report shows a whole PAN")
				}
			}
		})
	}
}

// TestRejectFile: under reject = "file" one bad record fails the file,
// every bad record is still reported, and output stops at the first.
func TestRejectFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(dir, "input", "mixed_rejects.csv"))
	if err != nil {
		t.Fatal(err)
	}
	ip := issuer(t, "issuer-csv")
	ip.Validation.Reject = profile.RejectFile
	var out bytes.Buffer
	var rejects []card.RecordError
	n, err := Prepare(bytes.NewReader(data), ip, machine(t, "machine-fixed"), Options{JobDate: jobDate}, &out, func(e card.RecordError) { rejects = append(rejects, e) })
	if !errors.Is(err, ErrFileRejected) || !errors.Is(err, card.ErrLuhn) {
		t.Fatalf("error %v", err)
	}
	var first *card.RecordError
	if !errors.As(err, &first) || first.Line != 3 {
		t.Fatalf("first reject %v", first)
	}
	if n.Rejected != len(rejects) || n.Rejected < 10 || n.Read != 16 {
		t.Fatalf("%+v, %d rejects", n, len(rejects))
	}
	if lines := strings.Count(out.String(), "\n"); lines != 1 {
		t.Fatalf("%d lines written after the first reject", lines)
	}
}

func TestAllowExpired(t *testing.T) {
	var in bytes.Buffer
	testgen.CSV(&in, 50, 3)
	ip := issuer(t, "issuer-csv")
	late := Options{JobDate: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)}
	n, _ := Prepare(bytes.NewReader(in.Bytes()), ip, machine(t, "machine-fixed"), late, io.Discard, nil)
	if n.Rejected != 50 {
		t.Fatalf("in 2040 every card has expired: %+v", n)
	}
	ip.Validation.AllowExpired = true
	n, err := Prepare(bytes.NewReader(in.Bytes()), ip, machine(t, "machine-fixed"), late, io.Discard, nil)
	if err != nil || n.Accepted != 50 {
		t.Fatalf("%+v %v", n, err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestWriteError(t *testing.T) {
	var in bytes.Buffer
	testgen.CSV(&in, 2000, 3)
	_, err := Prepare(&in, issuer(t, "issuer-csv"), machine(t, "machine-fixed"), Options{JobDate: jobDate}, failWriter{}, nil)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatal(err)
	}
}

// TestMemoryFlat prepares 20 000 and 200 000 records while sampling the
// heap: its peak must not grow with the file (it would if anything held
// records, lines or output).
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	peak := func(n int) uint64 {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(testgen.CSV(pw, n, 9)) }()
		s := &sampler{r: pr}
		counts, err := Prepare(s, issuer(t, "issuer-csv"), machine(t, "machine-fixed"), Options{JobDate: jobDate}, io.Discard, nil)
		if err != nil || counts.Accepted != n {
			t.Fatal(counts, err)
		}
		return s.peak
	}
	small, large := peak(20000), peak(200000)
	t.Logf("peak heap: %d KiB for 20k records, %d KiB for 200k", small>>10, large>>10)
	if large > 2*small+(4<<20) || large > 32<<20 {
		t.Fatalf("peak heap grew from %d to %d bytes", small, large)
	}
}

// sampler records the peak heap every 4 reads of the input.
type sampler struct {
	r    io.Reader
	n    int
	peak uint64
}

func (s *sampler) Read(p []byte) (int, error) {
	if s.n++; s.n%4 == 0 {
		s.peak = max(s.peak, heapAlloc())
	}
	return s.r.Read(p)
}

func BenchmarkPrepare(b *testing.B) {
	for _, m := range []string{"machine-fixed", "machine-cps"} {
		b.Run(m, func(b *testing.B) {
			var in bytes.Buffer
			const n = 10000
			testgen.CSV(&in, n, 1)
			data := in.Bytes()
			ip, ml := issuer(b, "issuer-csv"), machine(b, m)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				c, err := Prepare(bytes.NewReader(data), ip, ml, Options{JobDate: jobDate}, io.Discard, nil)
				if err != nil || c.Accepted != n {
					b.Fatal(c, err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

const simpleIssuer = `
profile = "issuer"
name = "bench-simple"
format = "csv"
[csv]
header = true
[fields]
pan = { column = "PAN" }
name = { column = "NAME" }
expiry = { column = "EXP" }
service_code = { column = "SVC" }
`

const simpleMachine = `
profile = "machine"
name = "bench-simple"
format = "fixed"
[[field]]
from = ["pan"]
width = 19
[[field]]
from = ["name"]
width = 26
[[field]]
from = ["emboss_expiry"]
width = 5
[[field]]
from = ["track2"]
width = 40
`

// BenchmarkPrepareSimple is the "simple CSV → fixed-width" case: four
// columns in, four fields out.
func BenchmarkPrepareSimple(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	var in bytes.Buffer
	in.WriteString("PAN,NAME,EXP,SVC\n")
	const n = 10000
	for i := range n {
		fmt.Fprintf(&in, "%s,TESTER/CARD %d,%d%02d,201\n", testgen.PAN(rng), i%1000, 28+i%4, 1+i%12)
	}
	data := in.Bytes()
	ip, err := profile.ParseIssuer([]byte(simpleIssuer))
	if err != nil {
		b.Fatal(err)
	}
	ml, err := profile.ParseMachine([]byte(simpleMachine))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		c, err := Prepare(bytes.NewReader(data), ip, ml, Options{JobDate: jobDate}, io.Discard, nil)
		if err != nil || c.Accepted != n {
			b.Fatal(c, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// FuzzPrepare drives hostile input through reading, validation and both
// default layouts: nothing may panic and the counts must add up.
func FuzzPrepare(f *testing.F) {
	for _, n := range []string{"good_header.csv", "mixed_rejects.csv", "fail_bare_quote.csv"} {
		b, err := os.ReadFile(filepath.Join(dir, "input", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	ip := issuer(f, "issuer-csv")
	fixed, chip := machine(f, "machine-fixed"), machine(f, "machine-cps")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range []*profile.Machine{fixed, chip} {
			rejects := 0
			n, _ := Prepare(bytes.NewReader(data), ip, m, Options{JobDate: jobDate}, io.Discard, func(card.RecordError) { rejects++ })
			if n.Read != n.Accepted+n.Rejected || n.Rejected != rejects {
				t.Fatalf("counts %+v, %d rejects", n, rejects)
			}
		}
	})
}
