package input

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/profile"
)

// nextAll reads data with Next and dumps every record and error.
func nextAll(data []byte, ip *profile.Issuer) string {
	var b bytes.Buffer
	rd, err := New(bytes.NewReader(data), ip)
	if err != nil {
		return "New: " + err.Error()
	}
	for range 100000 {
		rec, err := rd.Next()
		if err == io.EOF {
			return b.String()
		}
		dump(&b, &rec)
		if err != nil {
			fmt.Fprintf(&b, "error: %v\n", err)
			if !isRecordError(err) {
				return b.String()
			}
		}
	}
	return b.String()
}

// frameAll reads data with Frame, keeping every frame until the end as a
// caller handing them to other goroutines would, then fills them with
// two Fillers in turn, and dumps the same.
func frameAll(data []byte, ip *profile.Issuer) string {
	var b bytes.Buffer
	fr, err := NewFramer(bytes.NewReader(data), ip)
	if err != nil {
		return "New: " + err.Error()
	}
	var frames []*Frame
	var fatal error
	for range 100000 {
		f := new(Frame)
		if err := fr.Frame(f); err != nil {
			if err != io.EOF {
				fatal = err
			}
			break
		}
		frames = append(frames, f)
	}
	fillers := []*Filler{fr.Filler(), fr.Filler()}
	for i, f := range frames {
		rec, err := fillers[i%2].Fill(f)
		dump(&b, &rec)
		if err != nil {
			fmt.Fprintf(&b, "error: %v\n", err)
		}
	}
	if fatal != nil {
		var zero card.Record // as Next returns with a fatal error
		dump(&b, &zero)
		fmt.Fprintf(&b, "error: %v\n", fatal)
	}
	return b.String()
}

func isRecordError(err error) bool {
	_, ok := err.(*card.RecordError)
	return ok
}

// TestFrameMatchesNext: framing then filling yields what Next yields, for
// every test input read by every issuer profile (most of them failing),
// even when every frame is kept before any is filled.
func TestFrameMatchesNext(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join(dir, "input", "*"))
	if err != nil || len(inputs) == 0 {
		t.Fatal(inputs, err)
	}
	profiles := []string{"", "csv-positional-latin1", "csv-pipe-noquote", "fixed", "jsonl", "jsonl-binary"}
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range profiles {
			ip := issuer(t, p)
			if want, got := nextAll(data, ip), frameAll(data, ip); got != want {
				t.Errorf("%s read as %q: Frame+Fill gave\n%s\nNext gave\n%s", filepath.Base(in), p, got, want)
			}
		}
	}
}

// FuzzFrameMatchesNext: on hostile input too.
func FuzzFrameMatchesNext(f *testing.F) {
	for _, n := range []string{"good_header.csv", "mixed_rejects.csv", "fail_bare_quote.csv", "good_pipe_noquote.txt", "good_fixed.txt", "mixed_records.jsonl"} {
		b, err := os.ReadFile(filepath.Join(dir, "input", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
	}
	profiles := []*profile.Issuer{issuer(f, ""), issuer(f, "csv-positional-latin1"), issuer(f, "csv-pipe-noquote"), issuer(f, "fixed"), issuer(f, "jsonl")}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		ip := profiles[int(which)%len(profiles)]
		if want, got := nextAll(data, ip), frameAll(data, ip); got != want {
			t.Fatalf("Frame+Fill gave\n%s\nNext gave\n%s", got, want)
		}
	})
}
