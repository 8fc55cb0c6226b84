package pipeline

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOutFileWithoutDirectIO: on a file system that refuses O_DIRECT
// (ramfs, older tmpfs: fcntl says EINVAL) the production file is written
// through the page cache, whole.
func TestOutFileWithoutDirectIO(t *testing.T) {
	real := setDirect
	t.Cleanup(func() { setDirect = real })
	setDirect = func(f *os.File, on bool) error {
		if on {
			return unix.EINVAL
		}
		return real(f, on)
	}
	path := filepath.Join(t.TempDir(), "out.pgp.part")
	o, err := createOutFile(path)
	if err != nil {
		t.Fatalf("createOutFile: %v", err)
	}
	if o.direct {
		t.Fatal("O_DIRECT on, though the file system refused it")
	}
	data := make([]byte, 2*outBlock+123)
	for i := range data {
		data[i] = byte(i)
	}
	if _, err := o.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || len(got) != len(data) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
}

// TestOutFileDirectRefusedOtherwise: any other failure to turn O_DIRECT on
// fails the create and leaves no file behind.
func TestOutFileDirectRefusedOtherwise(t *testing.T) {
	real := setDirect
	t.Cleanup(func() { setDirect = real })
	setDirect = func(*os.File, bool) error { return unix.EIO }
	path := filepath.Join(t.TempDir(), "out.pgp.part")
	if _, err := createOutFile(path); err == nil {
		t.Fatal("createOutFile succeeded")
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("the file is left behind: %v", err)
	}
}
