package pipeline

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// openOut creates path, then turns O_DIRECT on if its file system takes
// it. Not O_DIRECT at open: where direct I/O is refused, Linux creates the
// file before it fails the open, and the O_EXCL open that would follow
// then finds it there.
func openOut(path string) (*os.File, bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, err
	}
	switch err := setDirect(f, true); {
	case err == nil:
		return f, true, nil
	case errors.Is(err, unix.EINVAL): // ramfs, older tmpfs: buffered
		return f, false, nil
	default:
		f.Close()
		os.Remove(path)
		return nil, false, err
	}
}

// directOff turns O_DIRECT off for f.
func directOff(f *os.File) error { return setDirect(f, false) }

// setDirect turns O_DIRECT on or off for f. A variable, so that tests can
// play a file system that refuses it.
var setDirect = func(f *os.File, on bool) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	err = rc.Control(func(fd uintptr) {
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		if err != nil {
			ferr = err
			return
		}
		if on {
			fl |= unix.O_DIRECT
		} else {
			fl &^= unix.O_DIRECT
		}
		_, ferr = unix.FcntlInt(fd, unix.F_SETFL, fl)
	})
	if err != nil {
		return err
	}
	return ferr
}

// startWriteback starts writing the dirty pages of f's range [off, off+n)
// to disk and returns without waiting for them. It is advice: an error
// here shows again, and counts, at the fsync.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
