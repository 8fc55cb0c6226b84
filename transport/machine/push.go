package machine

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/pkg/sftp"
)

// Pushed describes a production file that is on the machine under its final
// name and was verified there.
type Pushed struct {
	Name   string // final name, "dp-<job>.pgp"
	Path   string // full remote path
	Size   int64  // as read back from the machine
	SHA256 []byte // as read back from the machine
	// Attempts is how many attempts PushWithRetry needed (1 for Push).
	Attempts int
	// Recovered: PushWithRetry found that an earlier, cut-off attempt had
	// already put the file in place; it verified it instead of uploading
	// it again.
	Recovered bool
}

// hooks let in-package tests act at exact points of a push (cut the
// connection after the rename, count uploads). nil in production.
type hooks struct {
	created      func(tmp string) // temp file created
	beforeRename func()           // verified, final name re-checked, about to rename
	renamed      func()           // temp file renamed to the final name
}

// Push uploads r, which must yield exactly wantSize bytes hashing to
// wantSHA256 (the values fixed at preparation), to Dir/dp-<job>.pgp:
//
//  1. refuse with ErrExists if the final name is taken; remove temporary
//     names this job left from an earlier, cut-off push; refuse with
//     ErrDiskFull if statvfs shows less free space than wantSize;
//  2. write Dir/.dp-<job>.part-<random> (created exclusively), hashing what
//     is sent; a source that gives other bytes than recorded is ErrVerify;
//  3. fsync (if the server has fsync@openssh.com) and close;
//  4. read the temporary file back and compare size and SHA-256 (ErrVerify);
//  5. rename it to the final name, refusing to replace an existing file;
//  6. stat the final name to confirm it is the file we verified.
//
// On any failure the temporary file is removed (best effort: if that fails,
// the error says so, and the next Push or Delete of the job removes it).
// Nothing unverified ever appears under the final name: verification happens
// before the rename, and the rename moves the very file that was read back.
// If step 6 finds something else there, it removes the final file and says so.
func (c *Conn) Push(ctx context.Context, job string, r io.Reader, wantSize int64, wantSHA256 []byte) (Pushed, error) {
	name, err := FinalName(job)
	if err != nil {
		return Pushed{}, err
	}
	if wantSize < 0 || len(wantSHA256) != sha256.Size {
		return Pushed{}, fmt.Errorf("machine %q: push %s: need the size and SHA-256 fixed at preparation (got size %d and %d hash bytes)",
			c.t.Name, name, wantSize, len(wantSHA256))
	}
	final, err := c.remotePath(name)
	if err != nil {
		return Pushed{}, err
	}
	if err := ctx.Err(); err != nil {
		return Pushed{}, fmt.Errorf("machine %q: push %s: %w", c.t.Name, name, err)
	}

	// Step 1: nothing is uploaded when it can't end well.
	if err := c.checkAbsent(final); err != nil {
		return Pushed{}, err
	}
	if err := c.removeTemps(job); err != nil {
		return Pushed{}, err
	}
	if err := c.checkRoom(final, wantSize); err != nil {
		return Pushed{}, err
	}

	// Step 2.
	tmp, err := c.remotePath(tempPrefix(job) + randomSuffix())
	if err != nil {
		return Pushed{}, err
	}
	// O_EXCL: never write into a file someone else (or a stale push) holds.
	f, err := c.sftp.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return Pushed{}, c.wrap("create", tmp, err)
	}
	if c.hooks != nil && c.hooks.created != nil {
		c.hooks.created(tmp)
	}
	if err := c.upload(ctx, f, tmp, r, wantSize, wantSHA256); err != nil {
		return Pushed{}, c.removeAfter(err, tmp)
	}

	// Step 4.
	size, sum, err := c.readBack(ctx, tmp)
	if err != nil {
		return Pushed{}, c.removeAfter(err, tmp)
	}
	if size != wantSize || !hmac.Equal(sum, wantSHA256) {
		err := fmt.Errorf("machine %q: %s read back as %d bytes SHA-256 %x, want %d bytes %x: %w",
			c.t.Name, tmp, size, sum, wantSize, wantSHA256, ErrVerify)
		return Pushed{}, c.removeAfter(err, tmp)
	}

	// Step 5. SSH_FXP_RENAME rather than posix-rename@openssh.com on
	// purpose: OpenSSH's sftp-server does RENAME of a regular file as
	// link()+unlink(), which fails when the new name exists, so it is an
	// atomic "rename unless taken". posix-rename is rename(2) and would
	// silently replace a file that appeared under the final name since
	// step 1. Both are atomic for the machine: the final name is either
	// absent or the complete, verified file. The re-check narrows the window
	// for servers whose RENAME is a plain rename(2).
	if err := c.checkAbsent(final); err != nil {
		return Pushed{}, c.removeAfter(err, tmp)
	}
	if c.hooks != nil && c.hooks.beforeRename != nil {
		c.hooks.beforeRename()
	}
	if err := c.sftp.Rename(tmp, final); err != nil {
		if _, serr := c.sftp.Lstat(final); serr == nil {
			err = fmt.Errorf("machine %q: rename %s to %s: %w: %w", c.t.Name, tmp, final, ErrExists, err)
		} else {
			err = c.wrap("rename "+tmp+" to", final, err)
		}
		return Pushed{}, c.removeAfter(err, tmp)
	}
	if c.hooks != nil && c.hooks.renamed != nil {
		c.hooks.renamed()
	}

	// Step 6.
	fi, err := c.sftp.Lstat(final)
	if err != nil {
		if c.lost(err) {
			// Nothing to undo: what sits there is the file verified in
			// step 4. Verify (or PushWithRetry) confirms it later.
			return Pushed{}, fmt.Errorf("machine %q: %s was verified and renamed into place, then the connection broke before it could be confirmed: %w: %w",
				c.t.Name, final, ErrConnectionLost, err)
		}
		return Pushed{}, c.removeFinalAfter(c.wrap("confirm", final, err), final)
	}
	if !fi.Mode().IsRegular() || fi.Size() != wantSize {
		err := fmt.Errorf("machine %q: after the rename %s is %v with %d bytes, want a regular file of %d: %w",
			c.t.Name, final, fi.Mode(), fi.Size(), wantSize, ErrVerify)
		return Pushed{}, c.removeFinalAfter(err, final)
	}
	return Pushed{Name: name, Path: final, Size: size, SHA256: sum, Attempts: 1}, nil
}

// upload is steps 2 and 3 of Push. The caller removes tmp on error.
func (c *Conn) upload(ctx context.Context, f *sftp.File, tmp string, r io.Reader, wantSize int64, wantSHA256 []byte) error {
	h := sha256.New()
	// One byte more than expected, so a source that is too long is noticed
	// instead of silently cut. A *io.LimitedReader on the outside also lets
	// the SFTP client see the size and write with several requests in flight.
	src := &io.LimitedReader{R: &ctxReader{ctx: ctx, r: io.TeeReader(r, h)}, N: wantSize + 1}
	n, err := f.ReadFrom(src)
	if err != nil {
		_ = f.Close()
		return c.writeError("write", tmp, wantSize, err)
	}
	if n != wantSize {
		_ = f.Close()
		what := "fewer"
		if n > wantSize {
			what = "more"
		}
		return fmt.Errorf("machine %q: push %s: the source gave %s bytes than the %d recorded at preparation: %w",
			c.t.Name, tmp, what, wantSize, ErrVerify)
	}
	if sum := h.Sum(nil); !hmac.Equal(sum, wantSHA256) {
		_ = f.Close()
		return fmt.Errorf("machine %q: push %s: the source hashes to %x, not the %x recorded at preparation: %w",
			c.t.Name, tmp, sum, wantSHA256, ErrVerify)
	}
	// fsync so a machine that loses power after we said "pushed" doesn't
	// come back with a short file under the final name.
	if c.hasExt(extFsync) {
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return c.writeError("fsync", tmp, wantSize, err)
		}
	}
	if err := f.Close(); err != nil {
		return c.writeError("close", tmp, wantSize, err)
	}
	return nil
}

// writeError classifies a failed write. OpenSSH's sftp-server maps ENOSPC
// (like most errnos) to the generic SSH_FX_FAILURE, so "disk full" is
// inferred: a FAILURE while statvfs shows less room than the file needs.
func (c *Conn) writeError(op, p string, wantSize int64, err error) error {
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxFailure {
		if free, ok := c.freeSpace(); ok && free < uint64(wantSize) {
			return fmt.Errorf("machine %q: %s %s: %d bytes free on the machine, the file needs %d: %w: %w",
				c.t.Name, op, p, free, wantSize, ErrDiskFull, err)
		}
	}
	return c.wrap(op, p, err)
}

// freeSpace is the space an unprivileged user may still use in Dir's file
// system, if the server reports it.
func (c *Conn) freeSpace() (uint64, bool) {
	if !c.hasExt(extStatVFS) {
		return 0, false
	}
	v, err := c.sftp.StatVFS(c.dir)
	if err != nil {
		return 0, false
	}
	return v.Bavail * v.Frsize, true
}

// checkRoom refuses a push that can't fit before anything is written.
func (c *Conn) checkRoom(final string, wantSize int64) error {
	if free, ok := c.freeSpace(); ok && free < uint64(wantSize) {
		return fmt.Errorf("machine %q: push %s: %d bytes free on the machine, the file needs %d: %w",
			c.t.Name, final, free, wantSize, ErrDiskFull)
	}
	return nil
}

// checkAbsent is nil if nothing is at p.
func (c *Conn) checkAbsent(p string) error {
	_, err := c.sftp.Lstat(p)
	switch {
	case err == nil:
		return fmt.Errorf("machine %q: %s: %w", c.t.Name, p, ErrExists)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	default:
		return c.wrap("stat", p, err)
	}
}

// removeTemps removes temporary names of job left by an earlier push.
func (c *Conn) removeTemps(job string) error {
	names, err := c.temps(job)
	if err != nil {
		return err
	}
	for _, n := range names {
		p, err := c.remotePath(n)
		if err != nil {
			return err
		}
		if err := c.sftp.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return c.wrap("remove stale", p, err)
		}
	}
	return nil
}

// removeAfter removes the temporary file after err and adds to err if it
// could not.
func (c *Conn) removeAfter(err error, tmp string) error {
	rmErr := c.sftp.Remove(tmp)
	if rmErr == nil || errors.Is(rmErr, fs.ErrNotExist) {
		return err
	}
	return fmt.Errorf("%w (the temporary file %s could not be removed: %v; the next push or delete of this job removes it)", err, tmp, rmErr)
}

// removeFinalAfter removes the final file after a failed confirmation and
// says so in the error either way.
func (c *Conn) removeFinalAfter(err error, final string) error {
	rmErr := c.sftp.Remove(final)
	if rmErr == nil || errors.Is(rmErr, fs.ErrNotExist) {
		return fmt.Errorf("%w (%s was removed again)", err, final)
	}
	return fmt.Errorf("%w (and %s could NOT be removed: %v)", err, final, rmErr)
}

// readBack reads p from the machine and returns its size and SHA-256.
func (c *Conn) readBack(ctx context.Context, p string) (int64, []byte, error) {
	f, err := c.sftp.Open(p)
	if err != nil {
		return 0, nil, c.wrap("open for read-back", p, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(&ctxWriter{ctx: ctx, w: h}, f)
	if err != nil {
		return 0, nil, c.wrap("read back", p, err)
	}
	return n, h.Sum(nil), nil
}

// Verify reads Dir/dp-<job>.pgp back and checks its size and SHA-256
// against the values fixed at preparation. The file missing is an error
// wrapping fs.ErrNotExist; a mismatch is ErrVerify. It removes nothing.
func (c *Conn) Verify(ctx context.Context, job string, wantSize int64, wantSHA256 []byte) (Pushed, error) {
	name, err := FinalName(job)
	if err != nil {
		return Pushed{}, err
	}
	final, err := c.remotePath(name)
	if err != nil {
		return Pushed{}, err
	}
	fi, err := c.sftp.Lstat(final)
	if err != nil {
		return Pushed{}, c.wrap("stat", final, err)
	}
	if !fi.Mode().IsRegular() {
		return Pushed{}, fmt.Errorf("machine %q: %s is %v, not a regular file: %w", c.t.Name, final, fi.Mode(), ErrVerify)
	}
	size, sum, err := c.readBack(ctx, final)
	if err != nil {
		return Pushed{}, err
	}
	if size != wantSize || !hmac.Equal(sum, wantSHA256) {
		return Pushed{}, fmt.Errorf("machine %q: %s is %d bytes SHA-256 %x, want %d bytes %x: %w",
			c.t.Name, final, size, sum, wantSize, wantSHA256, ErrVerify)
	}
	return Pushed{Name: name, Path: final, Size: size, SHA256: sum}, nil
}

func randomSuffix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24 aborts instead)
	return hex.EncodeToString(b)
}

// ctxReader stops an upload when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// ctxWriter stops a read-back when ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w *ctxWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}
