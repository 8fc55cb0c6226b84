package machine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// SFTP extensions we use when the server has them (OpenSSH's sftp-server
// and internal-sftp do).
const (
	extFsync   = "fsync@openssh.com"
	extStatVFS = "statvfs@openssh.com"
)

// Conn is an SFTP session to one machine. It is not safe for concurrent
// use by several goroutines pushing at once; one push at a time per machine
// is the rule anyway (invariant 2).
type Conn struct {
	t    Target
	dir  string
	ssh  *ssh.Client
	sftp *sftp.Client

	dead      chan struct{} // closed when the SSH connection has ended
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	closeErr  error

	hooks *hooks // tests only
}

// Dial connects to the machine, checks its host key against the pin,
// authenticates with our key and starts SFTP. Errors wrap ErrBadTarget,
// ErrUnreachable, ErrHostKeyChanged or ErrAuth.
func Dial(ctx context.Context, t Target) (*Conn, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	timeout := t.timeout()
	addr := t.addr()

	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("machine %q: dial %s: %w", t.Name, addr, ctxErr)
		}
		return nil, fmt.Errorf("machine %q: dial %s: %w: %w", t.Name, addr, ErrUnreachable, err)
	}
	// The handshake and SFTP start-up must not hang on a machine that
	// accepts TCP but says nothing; ctx can also cut them short.
	_ = nc.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })

	var hostKeyOK bool
	cfg := &ssh.ClientConfig{
		User:              t.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(t.Signer)},
		HostKeyAlgorithms: hostKeyAlgorithms(t.HostKey),
		HostKeyCallback: func(_ string, _ net.Addr, offered ssh.PublicKey) error {
			if bytes.Equal(offered.Marshal(), t.HostKey.Marshal()) {
				hostKeyOK = true
				return nil
			}
			return fmt.Errorf("%w: expected %s %s, offered %s %s",
				ErrHostKeyChanged, t.HostKey.Type(), FingerprintSHA256(t.HostKey),
				offered.Type(), FingerprintSHA256(offered))
		},
		Timeout: timeout,
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if err != nil {
		stop()
		_ = nc.Close()
		return nil, dialError(ctx, t, addr, hostKeyOK, err)
	}
	client := ssh.NewClient(sc, chans, reqs)
	sf, err := sftp.NewClient(client, sftp.UseConcurrentWrites(true))
	if err != nil {
		stop()
		_ = client.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("machine %q: start sftp: %w", t.Name, ctxErr)
		}
		if isNetErr(err) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("machine %q: start sftp: %w: %w", t.Name, ErrUnreachable, err)
		}
		return nil, fmt.Errorf("machine %q: start sftp (is the sftp subsystem enabled?): %w", t.Name, err)
	}
	if !stop() {
		// ctx fired while we were setting up and has closed nc.
		_ = sf.Close()
		_ = client.Close()
		return nil, fmt.Errorf("machine %q: %w", t.Name, ctx.Err())
	}
	_ = nc.SetDeadline(time.Time{})

	c := &Conn{t: t, dir: t.Dir, ssh: client, sftp: sf, dead: make(chan struct{}), done: make(chan struct{})}
	go func() { _ = client.Wait(); close(c.dead) }()
	go c.keepalive(timeout)

	// A machine configured with a directory it doesn't have should fail
	// here, plainly, not later as a puzzling error of some step of a push.
	fi, err := sf.Stat(t.Dir)
	switch {
	case err == nil && !fi.IsDir():
		_ = c.Close()
		return nil, fmt.Errorf("machine %q: %s is not a directory on the machine: %w", t.Name, t.Dir, ErrBadTarget)
	case errors.Is(err, fs.ErrNotExist):
		_ = c.Close()
		return nil, fmt.Errorf("machine %q: directory %s does not exist on the machine: %w", t.Name, t.Dir, ErrBadTarget)
	case err != nil:
		err = c.wrap("stat", t.Dir, err)
		_ = c.Close()
		if errors.Is(err, ErrConnectionLost) {
			return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
		}
		return nil, err
	}
	return c, nil
}

// hostKeyAlgorithms makes the server present the key type we pinned. Left to
// itself it might offer another of its keys (say ECDSA while we pinned
// Ed25519), which would look like a changed key although nothing changed.
func hostKeyAlgorithms(k ssh.PublicKey) []string {
	if k.Type() == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{k.Type()}
}

func dialError(ctx context.Context, t Target, addr string, hostKeyOK bool, err error) error {
	if errors.Is(err, ErrHostKeyChanged) {
		return fmt.Errorf("machine %q at %s: %w", t.Name, addr, err)
	}
	var neg *ssh.AlgorithmNegotiationError
	if (errors.As(err, &neg) && neg.What == "host key") || strings.Contains(err.Error(), "no common algorithm for host key") {
		// The machine no longer has a key of the pinned type at all.
		return fmt.Errorf("machine %q at %s: %w: expected %s %s, the machine offers no %s key: %w",
			t.Name, addr, ErrHostKeyChanged, t.HostKey.Type(), FingerprintSHA256(t.HostKey), t.HostKey.Type(), err)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("machine %q at %s: ssh handshake: %w", t.Name, addr, ctxErr)
	}
	// x/crypto/ssh has no typed error for a refused key; this message is the
	// one it returns once every auth method has been tried. It can only be
	// reached after the host key was accepted.
	if hostKeyOK && strings.Contains(err.Error(), "unable to authenticate") {
		return fmt.Errorf("machine %q at %s: user %q, key %s: %w: %w",
			t.Name, addr, t.User, FingerprintSHA256(t.Signer.PublicKey()), ErrAuth, err)
	}
	// Anything else (EOF, reset, timeout during the handshake) is treated as
	// a machine that isn't there right now.
	return fmt.Errorf("machine %q at %s: ssh handshake: %w: %w", t.Name, addr, ErrUnreachable, err)
}

// keepalive notices a connection that went silent (a cable pulled rather
// than a process killed) and closes it, so operations fail with
// ErrConnectionLost instead of hanging.
func (c *Conn) keepalive(timeout time.Duration) {
	tick := time.NewTicker(timeout / 2)
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-c.dead:
			return
		case <-tick.C:
		}
		res := make(chan error, 1)
		go func() {
			// OpenSSH answers unknown global requests with a failure
			// reply, which is as good as a success here.
			_, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil)
			res <- err
		}()
		timer := time.NewTimer(timeout)
		select {
		case err := <-res:
			timer.Stop()
			if err != nil {
				_ = c.ssh.Close()
				return
			}
		case <-timer.C:
			_ = c.ssh.Close()
			return
		case <-c.done:
			timer.Stop()
			return
		}
	}
}

// Close ends the SFTP session and the SSH connection.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		err1 := c.sftp.Close()
		err2 := c.ssh.Close()
		// Closing an already broken connection is not news.
		if err2 != nil && !c.isDead() && !errors.Is(err2, net.ErrClosed) {
			c.closeErr = fmt.Errorf("machine %q: close: %w", c.t.Name, err2)
		} else if err1 != nil && !c.isDead() && !errors.Is(err1, net.ErrClosed) && !errors.Is(err1, io.EOF) {
			c.closeErr = fmt.Errorf("machine %q: close sftp: %w", c.t.Name, err1)
		}
	})
	return c.closeErr
}

func (c *Conn) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

// lost reports whether err means the connection broke. The SFTP client
// reports that in several ways depending on where the operation was.
func (c *Conn) lost(err error) bool {
	if errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, sftp.ErrSSHFxNoConnection) ||
		errors.Is(err, io.ErrUnexpectedEOF) || isNetErr(err) {
		return true
	}
	if c.isDead() {
		return true
	}
	if errors.Is(err, io.EOF) {
		// A bare EOF from an operation other than a read: wait briefly
		// for the SSH layer to notice the end of the connection.
		select {
		case <-c.dead:
			return true
		case <-time.After(200 * time.Millisecond):
		}
	}
	return false
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.As(err, &ne)
}

// wrap turns an error from an SFTP operation into one of ours, with the
// operation and remote path as context.
func (c *Conn) wrap(op, p string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("machine %q: %s %s: %w", c.t.Name, op, p, err)
	case c.lost(err):
		return fmt.Errorf("machine %q: %s %s: %w: %w", c.t.Name, op, p, ErrConnectionLost, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("machine %q: %s %s: %w: %w", c.t.Name, op, p, ErrPermission, err)
	default:
		return fmt.Errorf("machine %q: %s %s: %w", c.t.Name, op, p, err)
	}
}

// remotePath joins one of our names to Dir and checks that the result is a
// direct child of Dir, so no name can walk out of it.
func (c *Conn) remotePath(name string) (string, error) {
	p := path.Join(c.dir, name)
	if path.Dir(p) != c.dir || path.Base(p) != name || name == "." || name == ".." {
		return "", fmt.Errorf("machine %q: name %q leaves %s: %w", c.t.Name, name, c.dir, ErrBadJobID)
	}
	return p, nil
}

func (c *Conn) hasExt(name string) bool {
	_, ok := c.sftp.HasExtension(name)
	return ok
}

// RemoteFile is one of our files found on the machine.
type RemoteFile struct {
	Name    string // base name in Dir
	Size    int64
	Job     string // the job the name belongs to
	Partial bool   // a temporary upload name, not a finished production file
}

// Ours lists the files in Dir that carry our names: finished production
// files "dp-<job>.pgp" and temporary ".dp-<job>.part-*". Anything with such
// a name counts, however it got there (by hand too), sorted by name.
func (c *Conn) Ours() ([]RemoteFile, error) {
	infos, err := c.sftp.ReadDir(c.dir)
	if err != nil {
		return nil, c.wrap("list", c.dir, err)
	}
	var out []RemoteFile
	for _, fi := range infos {
		job, partial, ok := parseName(fi.Name())
		if !ok {
			continue
		}
		out = append(out, RemoteFile{Name: fi.Name(), Size: fi.Size(), Job: job, Partial: partial})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// temps lists the temporary names of job in Dir.
func (c *Conn) temps(job string) ([]string, error) {
	files, err := c.Ours()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range files {
		if f.Partial && f.Job == job {
			names = append(names, f.Name)
		}
	}
	return names, nil
}

// Deleted says what Delete found and removed.
type Deleted struct {
	Name       string // final name, e.g. "dp-J.pgp"
	Path       string // full remote path
	WasPresent bool   // false: the final file was already absent
	Size       int64  // its size when it was present
	// Temps are temporary names of the job that were removed as well
	// (left by a push that was cut off).
	Temps []string
}

// Delete removes Dir/dp-<job>.pgp and any temporary names of the job, then
// looks again to confirm they are gone (ErrStillThere otherwise). A final
// file that was already absent is not an error: WasPresent says so.
func (c *Conn) Delete(job string) (Deleted, error) {
	name, err := FinalName(job)
	if err != nil {
		return Deleted{}, err
	}
	p, err := c.remotePath(name)
	if err != nil {
		return Deleted{}, err
	}
	d := Deleted{Name: name, Path: p}

	fi, err := c.sftp.Lstat(p)
	switch {
	case err == nil:
		d.WasPresent = true
		d.Size = fi.Size()
		if err := c.sftp.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return d, c.wrap("delete", p, err)
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return d, c.wrap("stat", p, err)
	}

	temps, err := c.temps(job)
	if err != nil {
		return d, err
	}
	for _, tn := range temps {
		tp, err := c.remotePath(tn)
		if err != nil {
			return d, err
		}
		if err := c.sftp.Remove(tp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return d, c.wrap("delete", tp, err)
		}
		d.Temps = append(d.Temps, tn)
	}

	// Confirm: a successful SSH_FXP_REMOVE is the server's word; the stat
	// afterwards is what we record as "confirmed gone".
	if _, err := c.sftp.Lstat(p); err == nil {
		return d, fmt.Errorf("machine %q: %s: %w", c.t.Name, p, ErrStillThere)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return d, c.wrap("confirm deletion of", p, err)
	}
	left, err := c.temps(job)
	if err != nil {
		return d, err
	}
	if len(left) > 0 {
		return d, fmt.Errorf("machine %q: %s in %s: %w", c.t.Name, strings.Join(left, ", "), c.dir, ErrStillThere)
	}
	return d, nil
}
