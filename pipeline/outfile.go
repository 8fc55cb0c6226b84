package pipeline

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// outFile writes the production file: hundreds of MiB of ciphertext,
// written once, fsynced, and read again only when it is pushed.
//
// Through the page cache every 4 KiB page of it is allocated, copied and
// dirtied, then written back by the fsync at the end, which nothing
// overlaps: measured here for 264 MiB, 0.5 s of kernel CPU in write and
// 0.1 s in fsync. So where the file system allows, the file is opened
// with O_DIRECT and written in large aligned blocks straight from our
// buffer (0.08 s of CPU; the device's time overlaps the other stages).
// Elsewhere (tmpfs, other systems) it is written through the page cache,
// and handed to writeback as it goes so that the fsync waits for the last
// chunk only.
type outFile struct {
	f      *os.File
	direct bool
	buf    []byte // outBlock bytes, aligned for O_DIRECT; filled up to len
	off    int64  // bytes written to f
	synced int64  // bytes handed to writeback (buffered mode)
}

const (
	// outBlock is the buffer, and the size of each write: a multiple of
	// every device's logical block size (512 or 4096 bytes).
	outBlock = 1 << 20
	// outAlign is the alignment O_DIRECT asks of the buffer's address.
	outAlign = 4096
	// writeBehind is how much is written, in buffered mode, before it is
	// handed to writeback.
	writeBehind = 8 << 20
)

// createOutFile creates path exclusively, readable by the daemon only.
func createOutFile(path string) (*outFile, error) {
	f, direct, err := openOut(path)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, outBlock+outAlign)
	// The address is only read, to find the first aligned byte; Go's
	// collector does not move heap memory.
	skip := (outAlign - int(uintptr(unsafe.Pointer(unsafe.SliceData(raw)))%outAlign)) % outAlign
	return &outFile{f: f, direct: direct, buf: raw[skip : skip : skip+outBlock]}, nil
}

func (o *outFile) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := copy(o.buf[len(o.buf):cap(o.buf)], p)
		o.buf = o.buf[:len(o.buf)+k]
		p, n = p[k:], n+k
		if len(o.buf) == cap(o.buf) {
			if err := o.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// flush writes the buffer: whole blocks directly, a partial last one
// through the page cache.
func (o *outFile) flush() error {
	if len(o.buf) == 0 {
		return nil
	}
	if o.direct && len(o.buf)%outAlign != 0 {
		if err := o.buffered(); err != nil {
			return err
		}
	}
	n, err := o.f.Write(o.buf)
	if o.direct && n == 0 && errors.Is(err, syscall.EINVAL) {
		// The file system took O_DIRECT at open but refuses the write
		// (some do, for some devices): write through the page cache.
		if err := o.buffered(); err != nil {
			return err
		}
		n, err = o.f.Write(o.buf)
	}
	o.off += int64(n)
	o.buf = o.buf[:0]
	if err != nil {
		return err
	}
	if !o.direct && o.off-o.synced >= writeBehind {
		startWriteback(o.f, o.synced, o.off-o.synced)
		o.synced = o.off
	}
	return nil
}

// buffered turns O_DIRECT off for the rest of the file.
func (o *outFile) buffered() error {
	if err := directOff(o.f); err != nil {
		return fmt.Errorf("turning O_DIRECT off: %w", err)
	}
	o.direct = false
	return nil
}

// Commit writes what is buffered, fsyncs and closes the file: on success
// the file is whole on disk.
func (o *outFile) Commit() error {
	err := o.flush()
	if err == nil {
		err = o.f.Sync()
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the file without committing it, for the error paths.
func (o *outFile) Close() error { return o.f.Close() }
