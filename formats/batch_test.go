package formats

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/formats/testgen"
)

// outcome is everything a preparation tells its caller.
type outcome struct {
	out     []byte
	counts  Counts
	rejects string
	err     string
}

func runPrepare(prep func(io.Reader, *profile.Issuer, *profile.Machine, Options, io.Writer, func(card.RecordError)) (Counts, error),
	data []byte, ip *profile.Issuer, ml *profile.Machine, opts Options) outcome {
	var o outcome
	var out, rejects bytes.Buffer
	n, err := prep(bytes.NewReader(data), ip, ml, opts, &out, func(e card.RecordError) {
		fmt.Fprintf(&rejects, "%d %s %s %s %v\n", e.Line, e.MaskedPAN, e.Field, e.Reason, e.Err)
	})
	o.out, o.counts, o.rejects = out.Bytes(), n, rejects.String()
	if err != nil {
		o.err = err.Error()
	}
	return o
}

// sameOutcome holds the batched Prepare to the sequential one. The output
// is compared whenever it means something: not after a fatal error, where
// it is partial and void (the sequential one had part of it in a buffer).
func sameOutcome(t *testing.T, name string, got, want outcome) {
	t.Helper()
	if got.counts != want.counts || got.rejects != want.rejects || got.err != want.err {
		t.Fatalf("%s: batched and sequential differ:\ncounts %+v / %+v\nerror %q / %q\nrejects:\n%s/\n%s",
			name, got.counts, want.counts, got.err, want.err, got.rejects, want.rejects)
	}
	fatal := want.err != "" && !strings.Contains(want.err, ErrFileRejected.Error())
	if !fatal && !bytes.Equal(got.out, want.out) {
		t.Fatalf("%s: batched output (%d bytes) differs from sequential (%d bytes)", name, len(got.out), len(want.out))
	}
}

// batchSizes puts batch boundaries everywhere: one record a batch, a few,
// and the default.
var batchSizes = []int{1, 150, 700, 0}

// TestBatchedMatchesSequential runs every test input through every issuer
// and machine profile, with batch boundaries everywhere.
func TestBatchedMatchesSequential(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join(dir, "input", "*"))
	if err != nil || len(inputs) == 0 {
		t.Fatal(inputs, err)
	}
	issuers := []string{"issuer-csv", "csv-positional-latin1", "csv-pipe-noquote", "fixed", "jsonl", "jsonl-binary"}
	machines := []string{"machine-fixed", "machine-cps", "transforms", "cps-binary"}
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, is := range issuers {
			ip := issuer(t, is)
			for _, ms := range machines {
				ml := machine(t, ms)
				want := runPrepare(prepareSequential, data, ip, ml, Options{JobDate: jobDate})
				for _, size := range batchSizes {
					got := runPrepare(Prepare, data, ip, ml, Options{JobDate: jobDate, batchBytes: size})
					sameOutcome(t, fmt.Sprintf("%s/%s/%s/batch %d", filepath.Base(in), is, ms, size), got, want)
				}
			}
		}
	}
}

// TestBatchedManyRecords: thousands of records with chip data, rejects
// sprinkled in, across many batches: the records' chip data is copied out
// of the reader's reused memory correctly (a mistake there shows as
// another record's chip data in the output).
func TestBatchedManyRecords(t *testing.T) {
	var in bytes.Buffer
	testgen.CSV(&in, 5000, 7)
	// Spoil every 97th record's PAN check digit.
	lines := strings.SplitAfter(in.String(), "\n")
	for i := 1; i < len(lines); i += 97 {
		if k := strings.IndexByte(lines[i], ','); k > 0 {
			d := lines[i][k-1]
			lines[i] = lines[i][:k-1] + string('0'+(d-'0'+1)%10) + lines[i][k:]
		}
	}
	data := []byte(strings.Join(lines, ""))
	for _, ms := range []string{"machine-fixed", "machine-cps"} {
		ml := machine(t, ms)
		for _, ip := range []*profile.Issuer{issuer(t, "issuer-csv"), rejectingFiles(t)} {
			want := runPrepare(prepareSequential, data, ip, ml, Options{JobDate: jobDate})
			if want.counts.Rejected < 40 {
				t.Fatalf("only %d rejects: the test file is not what the test means", want.counts.Rejected)
			}
			for _, size := range batchSizes {
				got := runPrepare(Prepare, data, ip, ml, Options{JobDate: jobDate, batchBytes: size})
				sameOutcome(t, fmt.Sprintf("%s/reject=%s/batch %d", ms, ip.Validation.Reject, size), got, want)
			}
		}
	}
}

// rejectingFiles is the default issuer profile with reject = "file".
func rejectingFiles(t *testing.T) *profile.Issuer {
	t.Helper()
	ip := *profile.DefaultIssuer()
	ip.Validation.Reject = profile.RejectFile
	if !ip.RejectsFile() {
		t.Fatal("reject = file not understood")
	}
	return &ip
}

// failingWriter fails after n bytes.
type failingWriter struct{ n int }

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errDiskFull
	}
	w.n -= len(p)
	return len(p), nil
}

// TestBatchedStopsCleanly: when writing fails, or the file turns out
// broken, midway, Prepare returns that error and leaves no goroutine
// behind that could still read the input.
func TestBatchedStopsCleanly(t *testing.T) {
	var in bytes.Buffer
	testgen.CSV(&in, 20000, 3)
	good := in.Bytes()
	broken := append(append([]byte(nil), good[:len(good)/2]...), 0) // a NUL byte midway
	ip, ml := issuer(t, "issuer-csv"), machine(t, "machine-cps")
	before := runtime.NumGoroutine()
	for range 20 {
		_, err := Prepare(bytes.NewReader(good), ip, ml, Options{JobDate: jobDate, batchBytes: 500}, &failingWriter{n: 100 << 10}, nil)
		if !errors.Is(err, errDiskFull) {
			t.Fatalf("error %v, want the write error", err)
		}
		n, err := Prepare(bytes.NewReader(broken), ip, ml, Options{JobDate: jobDate, batchBytes: 500}, io.Discard, nil)
		if err == nil || n.Read == 0 {
			t.Fatalf("broken file: %+v, %v", n, err)
		}
	}
	// Prepare waits for its goroutines; give the runtime a moment to
	// account for their exit.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Fatalf("%d goroutines before, %d after", before, g)
	}
}

// FuzzBatchedMatchesSequential: on hostile input, in every input format,
// batched and sequential preparation agree.
func FuzzBatchedMatchesSequential(f *testing.F) {
	for _, n := range []string{"good_header.csv", "mixed_rejects.csv", "fail_bare_quote.csv", "good_fixed.txt", "mixed_records.jsonl"} {
		b, err := os.ReadFile(filepath.Join(dir, "input", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0), uint16(1))
	}
	issuers := []*profile.Issuer{issuer(f, "issuer-csv"), issuer(f, "fixed"), issuer(f, "jsonl"), issuer(f, "csv-pipe-noquote")}
	machines := []*profile.Machine{machine(f, "machine-fixed"), machine(f, "machine-cps")}
	f.Fuzz(func(t *testing.T, data []byte, which uint8, size uint16) {
		ip := issuers[int(which)%len(issuers)]
		ml := machines[int(which/16)%len(machines)]
		want := runPrepare(prepareSequential, data, ip, ml, Options{JobDate: jobDate})
		got := runPrepare(Prepare, data, ip, ml, Options{JobDate: jobDate, batchBytes: int(size)})
		sameOutcome(t, "fuzz", got, want)
	})
}

// BenchmarkPrepareBig prepares 200,000 records for the chip layout, batched
// and with the sequential reference, so that the batches' setup is paid
// off as in a real job and the two can be compared in one run.
func BenchmarkPrepareBig(b *testing.B) {
	var in bytes.Buffer
	const n = 200000
	testgen.CSV(&in, n, 1)
	data := in.Bytes()
	ip, ml := issuer(b, "issuer-csv"), machine(b, "machine-cps")
	for _, bc := range []struct {
		name string
		prep func(io.Reader, *profile.Issuer, *profile.Machine, Options, io.Writer, func(card.RecordError)) (Counts, error)
	}{{"sequential", prepareSequential}, {"batched", Prepare}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				c, err := bc.prep(bytes.NewReader(data), ip, ml, Options{JobDate: jobDate}, io.Discard, nil)
				if err != nil || c.Accepted != n {
					b.Fatal(c, err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// keeper keeps every slice it is given, against io.Writer's rule, to see
// what becomes of the memory afterwards.
type keeper struct{ got [][]byte }

func (k *keeper) Write(p []byte) (int, error) { k.got = append(k.got, p); return len(p), nil }

// wideMachine writes 3 KB a record: a batch's output outgrows its buffer
// many times over.
const wideMachine = `
profile = "machine"
name = "wide"
format = "fixed"
[[field]]
from = ["pan"]
width = 19
[[field]]
value = "X"
width = 3000
`

// TestBatchedClearsOutput: once Prepare returns, the batches' output
// buffers, which held the production data in the clear, are zero, also
// the arrays a batch's output outgrew on the way.
func TestBatchedClearsOutput(t *testing.T) {
	var in bytes.Buffer
	testgen.CSV(&in, 3000, 5)
	wide, err := profile.ParseMachine([]byte(wideMachine))
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{100, 4 << 10} {
		for _, ml := range []*profile.Machine{machine(t, "machine-fixed"), wide} {
			for _, fail := range []bool{false, true} {
				data := in.Bytes()
				if fail {
					data = append(append([]byte(nil), data[:len(data)/2]...), 0) // fatal midway
				}
				var k keeper
				Prepare(bytes.NewReader(data), issuer(t, "issuer-csv"), ml, Options{JobDate: jobDate, batchBytes: size}, &k, nil)
				if len(k.got) < 2 {
					t.Fatalf("only %d writes", len(k.got))
				}
				for _, p := range k.got {
					if bytes.ContainsFunc(p, func(r rune) bool { return r != 0 }) {
						t.Fatalf("output memory not cleared after Prepare returned (%s, batch %d bytes, fatal=%v)", ml.Name, size, fail)
					}
				}
			}
		}
	}
}

// TestBatchedClearsOutgrownOutput: a batch that wrote its output from one
// array and later outgrew it (its first records were long, so it held one
// of them; later ones short, so it holds dozens) leaves nothing in the
// array it dropped.
func TestBatchedClearsOutgrownOutput(t *testing.T) {
	var in bytes.Buffer
	testgen.CSV(&in, 400, 5)
	lines := strings.SplitAfter(in.String(), "\n")
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(lines[0], "\n") + ",NOTE\n") // a column the profile does not map
	for i, l := range lines[1:] {
		if l == "" {
			continue
		}
		note := ""
		if i < 40 {
			note = strings.Repeat("x", 3500)
		}
		b.WriteString(strings.TrimSuffix(l, "\n") + "," + note + "\n")
	}
	wide, err := profile.ParseMachine([]byte(wideMachine))
	if err != nil {
		t.Fatal(err)
	}
	var k keeper
	n, err := Prepare(strings.NewReader(b.String()), issuer(t, "issuer-csv"), wide, Options{JobDate: jobDate, batchBytes: 4 << 10}, &k, nil)
	if err != nil || n.Accepted != 400 {
		t.Fatalf("%+v %v", n, err)
	}
	for i, p := range k.got {
		if bytes.ContainsFunc(p, func(r rune) bool { return r != 0 }) {
			t.Fatalf("write %d of %d: its memory still holds card data after Prepare returned", i+1, len(k.got))
		}
	}
}
