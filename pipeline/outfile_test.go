package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestOutFile writes files of awkward sizes in writes of awkward sizes, with
// O_DIRECT where the test's file system takes it and through the page
// cache, and reads back exactly what was written.
func TestOutFile(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 3*outBlock+outAlign+17)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	sizes := []int{0, 1, outAlign - 1, outAlign, outAlign + 1, outBlock - 1, outBlock, outBlock + 1, 2*outBlock + outAlign, len(data)}
	for _, buffered := range []bool{false, true} {
		for _, size := range sizes {
			path := filepath.Join(t.TempDir(), "out.pgp.part")
			o, err := createOutFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if buffered && o.direct {
				if err := o.buffered(); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("size %d: O_DIRECT %v", size, o.direct)
			for rest := data[:size]; len(rest) > 0; {
				k := min(len(rest), 1+rng.IntN(3*outAlign))
				if rng.IntN(4) == 0 {
					k = 1 // as go-crypto writes a partial-length header
				}
				if n, err := o.Write(rest[:k]); n != k || err != nil {
					t.Fatalf("Write: %d, %v", n, err)
				}
				rest = rest[k:]
			}
			if err := o.Commit(); err != nil {
				t.Fatalf("size %d: Commit: %v", size, err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data[:size]) {
				t.Fatalf("size %d, buffered %v: read back %d bytes that differ", size, buffered, len(got))
			}
			if sum := sha256.Sum256(got); o.Sum() != hex.EncodeToString(sum[:]) || o.Size() != int64(size) {
				t.Fatalf("size %d: Sum %s Size %d, want %x and %d", size, o.Sum(), o.Size(), sum, size)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
			}
		}
	}
}

// TestOutFileExclusive: a production file is never written over.
func TestOutFileExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.pgp.part")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := createOutFile(path); !os.IsExist(err) {
		t.Fatalf("error %v, want the file's existence", err)
	}
}

// TestOutFileWriteError: when the disk refuses a write, Write and Commit
// say so, and nothing waits forever.
func TestOutFileWriteError(t *testing.T) {
	o, err := createOutFile(filepath.Join(t.TempDir(), "out.pgp.part"))
	if err != nil {
		t.Fatal(err)
	}
	o.f.Close() // every write now fails
	block := make([]byte, outBlock)
	var werr error
	for range 2 * outBuffers {
		if _, werr = o.Write(block); werr != nil {
			break
		}
	}
	if werr == nil {
		t.Fatal("Write never failed")
	}
	if err := o.Commit(); err == nil {
		t.Fatal("Commit succeeded")
	}
}

// TestOutFileAfterCommit: a write or a second Commit after Commit is an
// error, not a panic, and Close after Commit does nothing.
func TestOutFileAfterCommit(t *testing.T) {
	o, err := createOutFile(filepath.Join(t.TempDir(), "out.pgp.part"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Write(make([]byte, 2*outBlock)); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Write after Commit: %v", err)
	}
	if err := o.Commit(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Commit: %v", err)
	}
	if err := o.Close(); err != nil {
		t.Fatalf("Close after Commit: %v", err)
	}
}
