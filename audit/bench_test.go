package audit

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Appends are bound by fsync: the number to look at is ns/op against the
// disk's fsync latency, not allocations.
func BenchmarkAppend(b *testing.B) {
	l, err := Open(filepath.Join(b.TempDir(), "audit"))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e := sampleEntry(1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify verifies a log of 1e5 entries per op, written directly with
// the encoder (1e5 fsynced Appends would take minutes).
func BenchmarkVerify(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	var buf []byte
	prev := GenesisHash
	for i := 1; i <= n; i++ {
		e := sampleEntry(i)
		e.Seq, e.Prev, e.Time = uint64(i), prev, t0.Add(time.Duration(i)*time.Millisecond)
		buf = append(buf, seal(&e)...)
		prev = e.Hash
	}
	if err := os.WriteFile(filepath.Join(dir, segmentName(1)), buf, 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		rep, err := Verify(dir)
		if err != nil || rep.Entries != n {
			b.Fatal(rep, err)
		}
	}
}
