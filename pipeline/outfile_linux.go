package pipeline

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// openOut creates path with O_DIRECT if its file system takes it (tmpfs,
// for one, refuses it with EINVAL), else without.
func openOut(path string) (*os.File, bool, error) {
	const flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	f, err := os.OpenFile(path, flags|unix.O_DIRECT, 0o600)
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return nil, false, err
	}
	f, err = os.OpenFile(path, flags, 0o600)
	return f, false, err
}

// directOff turns O_DIRECT off for f.
func directOff(f *os.File) error {
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
		_, ferr = unix.FcntlInt(fd, unix.F_SETFL, fl&^unix.O_DIRECT)
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
