package drop

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"github.com/rs/zerolog"
)

// A jail is one authenticated connection's view of Root/<issuer>. Every file
// operation goes through an os.Root, so that even a path that slipped past
// the checks below, or a symlink planted on disk, cannot leave the issuer's
// directory.
type jail struct {
	s      *Server
	issuer string
	remote string
	log    zerolog.Logger
	root   *os.Root // Root/<issuer>
	in     *os.Root // Root/<issuer>/incoming
	out    *os.Root // Root/<issuer>/outbox
	inDir  string   // absolute path of incoming, for Arrived

	mu      sync.Mutex
	open    int                // open file handles, bounded by maxOpenFiles
	uploads map[string]*upload // this connection's uploads in flight, by final name
}

func openJail(s *Server, root, issuer, remote string, log zerolog.Logger) (*jail, error) {
	if err := checkIssuer(issuer); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, issuer)
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	j := &jail{s: s, issuer: issuer, remote: remote, log: log, root: r,
		inDir: filepath.Join(dir, dirIncoming), uploads: make(map[string]*upload)}
	for _, d := range []string{dirIncoming, dirOutbox} {
		// A symlinked incoming/ or outbox/ would take the jail elsewhere
		// inside Root/<issuer>; insist on real directories.
		fi, err := r.Lstat(d)
		if err != nil {
			j.close()
			return nil, err
		}
		if !fi.IsDir() {
			j.close()
			return nil, fmt.Errorf("%s is not a directory", d)
		}
	}
	if j.in, err = r.OpenRoot(dirIncoming); err != nil {
		j.close()
		return nil, err
	}
	if j.out, err = r.OpenRoot(dirOutbox); err != nil {
		j.close()
		return nil, err
	}
	return j, nil
}

func (j *jail) close() {
	for _, r := range []*os.Root{j.in, j.out, j.root} {
		if r != nil {
			r.Close()
		}
	}
}

// refusal is the error an issuer sees. Its Unwrap gives pkg/sftp the status
// code to send, and its text is the message the client prints.
type refusal struct {
	code error // one of sftp.ErrSSHFx*
	msg  string
}

func (e *refusal) Error() string { return e.msg }
func (e *refusal) Unwrap() error { return e.code }

var (
	errOutside    = errors.New("only incoming/ and outbox/ exist here")
	errNotRegular = errors.New("not a regular file")
)

// refuse reports a refusal to the daemon and returns the error for the client.
func (j *jail) refuse(code error, what, reason string) error {
	j.s.refused(j.issuer, j.remote, what, reason)
	return &refusal{code: code, msg: reason}
}

// refuseErr is refuse for an error from resolve.
func (j *jail) refuseErr(what string, err error) error {
	return j.refuse(sftp.ErrSSHFxPermissionDenied, what, err.Error())
}

// resolve maps a client path to an area ("", incoming or outbox) and a file
// name in it. pkg/sftp has already made p absolute and lexically clean, so
// "/incoming/../../x" arrives here as "/x" and is refused as outside; the
// name itself is vetted by cleanName, which rules out anything but a plain
// file name.
func (j *jail) resolve(p string) (area, name string, err error) {
	p = path.Clean("/" + p)
	if p == "/" {
		return "", "", nil
	}
	area, name, _ = strings.Cut(p[1:], "/")
	if area != dirIncoming && area != dirOutbox {
		return "", "", fmt.Errorf("%s: %w", quote(p), errOutside)
	}
	if strings.Contains(name, "/") {
		return "", "", fmt.Errorf("%s: %w", quote(p), errOutside)
	}
	if name != "" {
		if _, err := cleanName(name); err != nil {
			return "", "", err
		}
	}
	return area, name, nil
}

func (j *jail) area(area string) *os.Root {
	if area == dirIncoming {
		return j.in
	}
	return j.out
}

func (j *jail) acquire() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.open >= maxOpenFiles {
		return false
	}
	j.open++
	return true
}

func (j *jail) releaseHandle() {
	j.mu.Lock()
	j.open--
	j.mu.Unlock()
}

func (j *jail) upload(name string) *upload {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.uploads[name]
}

// forget ends an upload's claim on its name and its file handle.
func (j *jail) forget(u *upload) {
	j.mu.Lock()
	if j.uploads[u.name] == u {
		delete(j.uploads, u.name)
	}
	j.open--
	j.mu.Unlock()
	j.s.release(j.issuer, u.name)
}

// handlers implements the pkg/sftp request-server interfaces for one jail.
type handlers struct{ j *jail }

var (
	_ sftp.FileReader         = (*handlers)(nil)
	_ sftp.OpenFileWriter     = (*handlers)(nil)
	_ sftp.FileCmder          = (*handlers)(nil)
	_ sftp.LstatFileLister    = (*handlers)(nil)
	_ sftp.RealPathFileLister = (*handlers)(nil)
)

// Fileread opens a file in outbox/ for download.
func (h *handlers) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	j := h.j
	j.log.Debug().Str("method", r.Method).Str("path", r.Filepath).Uint32("flags", r.Flags).Msg("drop: sftp request")
	what := "get " + quote(r.Filepath)
	area, name, err := j.resolve(r.Filepath)
	switch {
	case err != nil:
		return nil, j.refuseErr(what, err)
	case area == dirIncoming:
		return nil, j.refuse(sftp.ErrSSHFxPermissionDenied, what, "incoming/ is write-only")
	case area != dirOutbox || name == "":
		return nil, j.refuse(sftp.ErrSSHFxPermissionDenied, what, "only files in outbox/ can be read")
	}
	if !j.acquire() {
		return nil, &refusal{sftp.ErrSSHFxFailure, "too many open files"}
	}
	f, err := j.openRegular(j.out, name)
	if err != nil {
		j.releaseHandle()
		return nil, err
	}
	return &reader{File: f, j: j}, nil
}

type reader struct {
	*os.File
	j    *jail
	once sync.Once
}

func (r *reader) Close() error {
	err := r.File.Close()
	r.once.Do(r.j.releaseHandle)
	return err
}

// openRegular opens name in r for reading, insisting that it is a regular
// file and not a symlink (os.Root follows symlinks that stay inside the
// root; we want none at all) or a FIFO (which could block the server).
func (j *jail) openRegular(r *os.Root, name string) (*os.File, error) {
	f, err := r.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		var li fs.FileInfo
		li, err = r.Lstat(name)
		if err == nil && (!fi.Mode().IsRegular() || !li.Mode().IsRegular() || !os.SameFile(fi, li)) {
			err = errNotRegular
		}
	}
	if err != nil {
		f.Close()
		j.log.Warn().Err(err).Str("name", name).Msg("drop: not serving file")
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return f, nil
}

// Filewrite starts an upload into incoming/. The data goes to a hidden
// temporary file; only a clean Close gives it its final name.
//
// A quirk of pkg/sftp v1.13: a READ sent on a write-only handle is handed
// to WriteAt as a zero-filled buffer. A hostile client can thus only put
// zeros into its own upload, within MaxFileSize; nothing is ever read.
func (h *handlers) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	return h.startUpload(r)
}

// OpenFile serves read-write opens (pkg/sftp's Create, some GUI clients)
// as uploads whose reads fail, rather than have pkg/sftp treat reads as
// writes (see Filewrite).
func (h *handlers) OpenFile(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	return h.startUpload(r)
}

func (h *handlers) startUpload(r *sftp.Request) (*upload, error) {
	j := h.j
	j.log.Debug().Str("method", r.Method).Str("path", r.Filepath).Uint32("flags", r.Flags).Msg("drop: sftp request")
	what := "put " + quote(r.Filepath)
	area, name, err := j.resolve(r.Filepath)
	switch {
	case err != nil:
		return nil, j.refuseErr(what, err)
	case area == dirOutbox:
		return nil, j.refuse(sftp.ErrSSHFxPermissionDenied, what, "outbox/ is read-only")
	case area != dirIncoming || name == "":
		return nil, j.refuse(sftp.ErrSSHFxPermissionDenied, what, "files can only be put into incoming/")
	}
	fl := r.Pflags()
	if fl.Append {
		// A resumed upload would append to a partial file, and partial
		// files are thrown away: send the whole file again.
		return nil, j.refuse(sftp.ErrSSHFxPermissionDenied, what, "appending and resuming are not supported")
	}
	if !j.s.reserve(j.issuer, name) {
		return nil, j.refuse(sftp.ErrSSHFxFailure, what, "an upload of this name is already in progress")
	}
	if _, err := j.in.Lstat(name); err == nil {
		j.s.release(j.issuer, name)
		return nil, j.refuse(sftp.ErrSSHFxFailure, what, "file exists; overwriting is not allowed")
	} else if !errors.Is(err, fs.ErrNotExist) {
		j.s.release(j.issuer, name)
		return nil, err
	}
	if !fl.Creat {
		j.s.release(j.issuer, name)
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if !j.acquire() {
		j.s.release(j.issuer, name)
		return nil, &refusal{sftp.ErrSSHFxFailure, "too many open files"}
	}
	var rnd [16]byte
	rand.Read(rnd[:])
	tmp := tempPrefix + hex.EncodeToString(rnd[:])
	f, err := j.in.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		j.releaseHandle()
		j.s.release(j.issuer, name)
		j.log.Error().Err(err).Msg("drop: create temporary file")
		return nil, &refusal{sftp.ErrSSHFxFailure, "cannot store the file"}
	}
	u := &upload{j: j, name: name, tmp: tmp, f: f, max: j.s.maxFileSize()}
	j.mu.Lock()
	j.uploads[name] = u
	j.mu.Unlock()
	j.log.Debug().Str("name", name).Str("temp", tmp).Msg("drop: upload started")
	return u, nil
}

// upload is one file being received. pkg/sftp calls WriteAt from several
// workers at once, TransferError if the connection dies with the file still
// open, and Close once.
type upload struct {
	j    *jail
	name string
	tmp  string
	f    *os.File
	max  int64

	// mu is held shared by WriteAt and exclusively by Close, so that no
	// write can land after the file has been committed.
	mu     sync.RWMutex
	closed bool
	size   atomic.Int64 // end of the furthest write
	// written counts bytes actually written: fewer than size means holes
	// (a sparse upload: gigabytes announced for a few kilobytes sent).
	written atomic.Int64

	state       sync.Mutex
	err         error // first failure, returned to every later call
	aborted     error // set by TransferError
	cancelled   bool  // the client removed its own upload
	readRefused bool  // a read was refused and reported already
}

var errCancelled = errors.New("upload cancelled")

func (u *upload) what() string { return "put " + quote("/"+dirIncoming+"/"+u.name) }

func (u *upload) failure() error {
	u.state.Lock()
	defer u.state.Unlock()
	if u.cancelled {
		return errCancelled
	}
	return u.err
}

func (u *upload) fail(err error) error {
	u.state.Lock()
	defer u.state.Unlock()
	if u.err == nil {
		u.err = err
	}
	return u.err
}

func (u *upload) WriteAt(p []byte, off int64) (int, error) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if u.closed {
		return 0, os.ErrClosed
	}
	if err := u.failure(); err != nil {
		return 0, err
	}
	end := off + int64(len(p))
	if off < 0 || end < off {
		return 0, u.fail(&refusal{sftp.ErrSSHFxFailure, "bad offset"})
	}
	if end > u.max {
		reason := fmt.Sprintf("file is larger than the limit of %d bytes", u.max)
		u.state.Lock()
		first := u.err == nil
		if first {
			u.err = &refusal{sftp.ErrSSHFxFailure, reason}
		}
		err := u.err
		u.state.Unlock()
		if first {
			u.j.s.refused(u.j.issuer, u.j.remote, u.what(), reason)
		}
		return 0, err
	}
	n, err := u.f.WriteAt(p, off)
	u.written.Add(int64(n))
	if err != nil {
		u.j.log.Error().Err(err).Str("name", u.name).Msg("drop: write")
		return n, u.fail(&refusal{sftp.ErrSSHFxFailure, "cannot store the file"})
	}
	for {
		cur := u.size.Load()
		if end <= cur || u.size.CompareAndSwap(cur, end) {
			break
		}
	}
	return n, nil
}

// ReadAt refuses: incoming/ is write-only, even for a handle opened
// read-write.
func (u *upload) ReadAt(p []byte, off int64) (int, error) {
	u.state.Lock()
	first := !u.readRefused
	u.readRefused = true
	u.state.Unlock()
	reason := "incoming/ is write-only"
	if first {
		u.j.s.refused(u.j.issuer, u.j.remote, "get "+quote("/"+dirIncoming+"/"+u.name), reason)
	}
	return 0, &refusal{sftp.ErrSSHFxPermissionDenied, reason}
}

// TransferError is called by pkg/sftp when the session ends with the file
// still open: the client went away mid-upload.
func (u *upload) TransferError(err error) {
	u.state.Lock()
	if u.aborted == nil {
		u.aborted = err
	}
	u.state.Unlock()
}

func (u *upload) cancel() {
	u.state.Lock()
	u.cancelled = true
	u.state.Unlock()
}

func (u *upload) chtimes(atime, mtime time.Time) error {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if u.closed {
		return os.ErrClosed
	}
	return u.j.in.Chtimes(u.tmp, atime, mtime)
}

func (u *upload) stat() (fs.FileInfo, error) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if u.closed {
		return nil, os.ErrClosed
	}
	fi, err := u.f.Stat()
	if err != nil {
		return nil, err
	}
	return newFileInfo(u.name, fi), nil
}

func (u *upload) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return os.ErrClosed
	}
	u.closed = true
	defer u.j.forget(u)

	syncErr := u.f.Sync()
	closeErr := u.f.Close()

	u.state.Lock()
	aborted, failed, cancelled := u.aborted, u.err, u.cancelled
	u.state.Unlock()
	switch {
	case aborted != nil:
		u.discard()
		u.j.s.refused(u.j.issuer, u.j.remote, u.what(), "transfer aborted before the file was closed ("+quote(aborted.Error())+"); partial file discarded")
		return aborted
	case failed != nil:
		u.discard()
		return failed
	case cancelled:
		u.discard()
		u.j.log.Info().Str("name", u.name).Msg("drop: upload cancelled by the client")
		return nil
	case u.written.Load() < u.size.Load():
		u.discard()
		reason := "the upload has holes (data written at offsets past what was sent); upload the file from start to end"
		u.j.s.refused(u.j.issuer, u.j.remote, u.what(), reason)
		return &refusal{sftp.ErrSSHFxFailure, reason}
	case syncErr != nil || closeErr != nil:
		u.discard()
		u.j.log.Error().AnErr("sync", syncErr).AnErr("close", closeErr).Str("name", u.name).Msg("drop: store upload")
		return &refusal{sftp.ErrSSHFxFailure, "cannot store the file"}
	}
	if err := u.commit(); err != nil {
		u.discard()
		return err
	}
	path := filepath.Join(u.j.inDir, u.name)
	u.j.log.Info().Str("name", u.name).Int64("size", u.size.Load()).Msg("drop: arrived")
	if u.j.s.Arrived != nil {
		u.j.s.Arrived(u.j.issuer, u.name, path)
	}
	return nil
}

// commit gives the finished temporary file its final name without ever
// replacing an existing file: link(2) fails if the name exists, which
// rename(2) would silently overwrite.
func (u *upload) commit() error {
	in := u.j.in
	err := in.Link(u.tmp, u.name)
	switch {
	case err == nil:
		if err := in.Remove(u.tmp); err != nil {
			u.j.log.Warn().Err(err).Str("temp", u.tmp).Msg("drop: remove temporary link")
		}
	case errors.Is(err, fs.ErrExist):
		return u.j.refuse(sftp.ErrSSHFxFailure, u.what(), "file exists; overwriting is not allowed")
	default:
		// Some filesystems (FUSE, some network mounts) have no hard
		// links. Fall back to check-then-rename: the server-wide name
		// reservation rules out a race with another upload through this
		// server, leaving only writers that bypass it.
		u.j.log.Debug().Err(err).Msg("drop: link failed, renaming instead")
		if _, err := in.Lstat(u.name); err == nil {
			return u.j.refuse(sftp.ErrSSHFxFailure, u.what(), "file exists; overwriting is not allowed")
		}
		if err := in.Rename(u.tmp, u.name); err != nil {
			u.j.log.Error().Err(err).Str("name", u.name).Msg("drop: commit upload")
			return &refusal{sftp.ErrSSHFxFailure, "cannot store the file"}
		}
	}
	// Make the new name durable before anyone is told about it.
	if d, err := in.Open("."); err == nil {
		if err := d.Sync(); err != nil {
			u.j.log.Warn().Err(err).Msg("drop: sync incoming")
		}
		d.Close()
	}
	return nil
}

func (u *upload) discard() {
	if err := u.j.in.Remove(u.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		u.j.log.Error().Err(err).Str("temp", u.tmp).Msg("drop: remove partial upload")
	}
}

// Filecmd refuses everything but attribute changes on the client's own
// upload in flight and its removal (a client cancelling its own put).
func (h *handlers) Filecmd(r *sftp.Request) error {
	j := h.j
	j.log.Debug().Str("method", r.Method).Str("path", r.Filepath).Str("target", r.Target).Uint32("flags", r.Flags).Msg("drop: sftp request")
	deny := sftp.ErrSSHFxPermissionDenied
	switch r.Method {
	case "Setstat":
		return h.setstat(r)
	case "Remove":
		what := "remove " + quote(r.Filepath)
		if area, name, err := j.resolve(r.Filepath); err == nil && area == dirIncoming && name != "" {
			if u := j.upload(name); u != nil {
				u.cancel()
				return nil
			}
		}
		return j.refuse(deny, what, "removing files is not allowed")
	case "Rename", "PosixRename":
		return j.refuse(deny, "rename "+quote(r.Filepath)+" "+quote(r.Target), "renaming is not allowed")
	case "Link":
		return j.refuse(deny, "link "+quote(r.Filepath)+" "+quote(r.Target), "links are not allowed")
	case "Symlink":
		// pkg/sftp puts the link's target in Filepath and the new
		// link's path in Target.
		return j.refuse(deny, "symlink "+quote(r.Target)+" -> "+quote(r.Filepath), "symbolic links are not allowed")
	case "Mkdir":
		return j.refuse(deny, "mkdir "+quote(r.Filepath), "creating directories is not allowed")
	case "Rmdir":
		return j.refuse(deny, "rmdir "+quote(r.Filepath), "removing directories is not allowed")
	default:
		return j.refuse(sftp.ErrSSHFxOpUnsupported, quote(r.Method)+" "+quote(r.Filepath), "operation not supported")
	}
}

func (h *handlers) setstat(r *sftp.Request) error {
	j := h.j
	what := "setstat " + quote(r.Filepath)
	area, name, err := j.resolve(r.Filepath)
	if err != nil {
		return j.refuseErr(what, err)
	}
	var u *upload
	if area == dirIncoming && name != "" {
		u = j.upload(name)
	}
	if u == nil {
		return j.refuse(sftp.ErrSSHFxPermissionDenied, what, "attributes can only be set on a file while it is being uploaded")
	}
	// A refused attribute change fails the whole upload: the stock client
	// reports the put as failed, so the file must not arrive either.
	fl, a := r.AttrFlags(), r.Attributes()
	if a == nil {
		return u.fail(j.refuse(sftp.ErrSSHFxBadMessage, what, "malformed attributes"))
	}
	if fl.Size || fl.UidGid {
		return u.fail(j.refuse(sftp.ErrSSHFxPermissionDenied, what, "size and owner cannot be set"))
	}
	// Files stay 0600 on disk whatever is asked; asking for more than
	// owner read/write (group, other, execute, setuid, …) is refused so
	// that a client cannot believe it got it.
	if fl.Permissions && a.Mode&0o7777&^0o600 != 0 {
		return u.fail(j.refuse(sftp.ErrSSHFxPermissionDenied, what, fmt.Sprintf("mode %#o: only bits within 0600 may be set", a.Mode&0o7777)))
	}
	if fl.Acmodtime {
		if err := u.chtimes(a.AccessTime(), a.ModTime()); err != nil {
			j.log.Warn().Err(err).Str("name", name).Msg("drop: set times")
			return &refusal{sftp.ErrSSHFxFailure, "cannot set times"}
		}
	}
	return nil
}

// Filelist lists "/", incoming/ and outbox/, and answers stat.
func (h *handlers) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	j := h.j
	j.log.Debug().Str("method", r.Method).Str("path", r.Filepath).Msg("drop: sftp request")
	switch r.Method {
	case "List":
		return h.list(r)
	case "Stat", "Lstat":
		return h.stat(r)
	case "Readlink":
		return nil, j.refuse(sftp.ErrSSHFxPermissionDenied, "readlink "+quote(r.Filepath), "symbolic links are not allowed")
	default:
		return nil, j.refuse(sftp.ErrSSHFxOpUnsupported, quote(r.Method)+" "+quote(r.Filepath), "operation not supported")
	}
}

// Lstat is Stat: the jail never shows a symlink, so there is nothing for
// the two to disagree on.
func (h *handlers) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	h.j.log.Debug().Str("method", r.Method).Str("path", r.Filepath).Msg("drop: sftp request")
	return h.stat(r)
}

func (h *handlers) stat(r *sftp.Request) (sftp.ListerAt, error) {
	j := h.j
	area, name, err := j.resolve(r.Filepath)
	if err != nil {
		return nil, j.refuseErr("stat "+quote(r.Filepath), err)
	}
	var fi fs.FileInfo
	switch {
	case area == "":
		fi, err = j.root.Lstat(".")
		name = "/"
	case name == "":
		fi, err = j.root.Lstat(area)
		name = area
	default:
		if area == dirIncoming {
			if u := j.upload(name); u != nil {
				fi, err := u.stat()
				if err != nil {
					return nil, err
				}
				return listerAt{fi}, nil
			}
		}
		fi, err = j.area(area).Lstat(name)
		if err == nil && !fi.Mode().IsRegular() {
			err = &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
		}
	}
	if err != nil {
		return nil, err
	}
	return listerAt{newFileInfo(name, fi)}, nil
}

func (h *handlers) list(r *sftp.Request) (sftp.ListerAt, error) {
	j := h.j
	area, name, err := j.resolve(r.Filepath)
	if err != nil {
		return nil, j.refuseErr("list "+quote(r.Filepath), err)
	}
	if name != "" {
		return nil, &refusal{sftp.ErrSSHFxFailure, "not a directory"}
	}
	if area == "" {
		var l listerAt
		for _, d := range []string{dirIncoming, dirOutbox} {
			fi, err := j.root.Lstat(d)
			if err != nil {
				return nil, err
			}
			l = append(l, newFileInfo(d, fi))
		}
		return l, nil
	}
	d, err := j.area(area).Open(".")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var l listerAt
	for _, e := range entries {
		// Hidden (temporary uploads), oddly named and non-regular
		// entries are not the issuer's business.
		if _, err := cleanName(e.Name()); err != nil || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		l = append(l, newFileInfo(e.Name(), fi))
	}
	return l, nil
}

// RealPath resolves the client's path against the jail's "/" and refuses
// one that climbs above it (such as "cd .." at the top), rather than
// silently clamping it.
func (h *handlers) RealPath(p string) (string, error) {
	j := h.j
	j.log.Debug().Str("method", "Realpath").Str("path", p).Msg("drop: sftp request")
	if !path.IsAbs(p) {
		p = "/" + p
	}
	depth := 0
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
		case "..":
			if depth == 0 {
				return "", j.refuse(sftp.ErrSSHFxPermissionDenied, "realpath "+quote(p), "path leaves the drop")
			}
			depth--
		default:
			depth++
		}
	}
	return path.Clean(p), nil
}

// fileInfo is what the client sees: name, size, mode and time, without the
// server's owner and group ids.
type fileInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
}

func newFileInfo(name string, fi fs.FileInfo) fileInfo {
	return fileInfo{name: name, size: fi.Size(), mode: fi.Mode(), mtime: fi.ModTime()}
}

func (f fileInfo) Name() string       { return f.name }
func (f fileInfo) Size() int64        { return f.size }
func (f fileInfo) Mode() fs.FileMode  { return f.mode }
func (f fileInfo) ModTime() time.Time { return f.mtime }
func (f fileInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fileInfo) Sys() any           { return nil }

type listerAt []fs.FileInfo

func (l listerAt) ListAt(ls []fs.FileInfo, offset int64) (int, error) {
	if offset < 0 || offset >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(ls, l[offset:])
	if n < len(ls) {
		return n, io.EOF
	}
	return n, nil
}
