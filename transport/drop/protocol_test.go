package drop

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// These tests drive the protocol with Go's clients where the stock sftp
// client cannot say what a hostile client could.

func (ts *testServer) sshClient(t *testing.T, user string) *ssh.Client {
	t.Helper()
	b, err := os.ReadFile(ts.keys[user])
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", "127.0.0.1:"+strconv.Itoa(ts.port), &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(ts.srv.HostKey.PublicKey()),
		Timeout:         10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (ts *testServer) sftpClient(t *testing.T, user string) *sftp.Client {
	t.Helper()
	c, err := sftp.NewClient(ts.sshClient(t, user))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wantStatus(t *testing.T, err error, code error) {
	t.Helper()
	// pkg/sftp's client turns "permission denied" into fs.ErrPermission.
	if code == sftp.ErrSSHFxPermissionDenied && errors.Is(err, fs.ErrPermission) {
		return
	}
	var se *sftp.StatusError
	if !errors.As(err, &se) || se.FxCode() != code {
		t.Errorf("err = %v, want status %v", err, code)
	}
}

func TestProtocolUploads(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.MaxFileSize = 1 << 20 })
	c := ts.sftpClient(t, "alpha")
	incoming := filepath.Join(ts.root, "alpha", "incoming")

	t.Run("same name twice at once", func(t *testing.T) {
		f1, err := c.Create("/incoming/twice.pgp")
		if err != nil {
			t.Fatal(err)
		}
		other := ts.sftpClient(t, "alpha")
		if _, err := other.Create("/incoming/twice.pgp"); err == nil {
			t.Errorf("second concurrent upload of the same name was allowed")
		}
		if _, err := f1.Write([]byte("one")); err != nil {
			t.Fatal(err)
		}
		// Create opens read-write; reading the upload back must fail.
		if _, err := f1.ReadAt(make([]byte, 3), 0); err == nil {
			t.Errorf("read back from an upload in incoming/")
		}
		if err := f1.Close(); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(incoming, "twice.pgp")); string(b) != "one" {
			t.Errorf("content %q", b)
		}
	})

	t.Run("setstat on own upload", func(t *testing.T) {
		f, err := c.Create("/incoming/attrs.pgp")
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("data"))
		if err := f.Chmod(0o600); err != nil {
			t.Errorf("chmod 0600: %v", err)
		}
		if err := f.Chmod(0o400); err != nil {
			t.Errorf("chmod 0400: %v", err)
		}
		mtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
		if err := c.Chtimes("/incoming/attrs.pgp", mtime, mtime); err != nil {
			t.Errorf("chtimes: %v", err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(incoming, "attrs.pgp"))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(mtime) || fi.Mode().Perm() != 0o600 {
			t.Errorf("mtime %v mode %v", fi.ModTime(), fi.Mode())
		}
		// A refused change fails the upload it was made on.
		for i, change := range []func(*sftp.File) error{
			func(f *sftp.File) error { return f.Chmod(0o644) },
			func(f *sftp.File) error { return f.Chmod(0o4600) },
			func(f *sftp.File) error { return f.Chown(0, 0) },
			func(f *sftp.File) error { return f.Truncate(1) },
		} {
			name := "/incoming/refused" + strconv.Itoa(i)
			f, err := c.Create(name)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("data"))
			wantStatus(t, change(f), sftp.ErrSSHFxPermissionDenied)
			if err := f.Close(); err == nil {
				t.Errorf("close after a refused setstat succeeded")
			}
			if _, err := os.Lstat(filepath.Join(incoming, path.Base(name))); err == nil {
				t.Errorf("%s arrived after a refused setstat", name)
			}
		}
		// Once arrived, the file is immutable.
		wantStatus(t, c.Chmod("/incoming/attrs.pgp", 0o600), sftp.ErrSSHFxPermissionDenied)
		wantStatus(t, c.Chtimes("/incoming/attrs.pgp", mtime, mtime), sftp.ErrSSHFxPermissionDenied)
	})

	t.Run("client removes its own upload", func(t *testing.T) {
		n := len(ts.arrivals())
		f, err := c.Create("/incoming/cancel.pgp")
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("half"))
		if err := c.Remove("/incoming/cancel.pgp"); err != nil {
			t.Errorf("remove own upload: %v", err)
		}
		f.Close()
		if _, err := os.Lstat(filepath.Join(incoming, "cancel.pgp")); err == nil {
			t.Errorf("cancelled upload arrived")
		}
		if len(ts.arrivals()) != n {
			t.Errorf("Arrived called for a cancelled upload")
		}
	})

	t.Run("write past MaxFileSize by offset", func(t *testing.T) {
		f, err := c.Create("/incoming/sparse.pgp")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("x"), 1<<20); err == nil {
			t.Errorf("write past the limit accepted")
		}
		f.Close()
		ts.waitRefused(`put "/incoming/sparse.pgp"`)
		if _, err := os.Lstat(filepath.Join(incoming, "sparse.pgp")); err == nil {
			t.Errorf("oversized upload arrived")
		}
	})

	t.Run("sparse upload with holes", func(t *testing.T) {
		n := len(ts.arrivals())
		f, err := c.Create("/incoming/holes.pgp")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("x"), 4000); err != nil { // within the limit, 4000 bytes of hole
			t.Fatal(err)
		}
		if err := f.Close(); err == nil {
			t.Errorf("an upload with holes was accepted")
		}
		ts.waitRefused(`put "/incoming/holes.pgp"`)
		if _, err := os.Lstat(filepath.Join(incoming, "holes.pgp")); err == nil || len(ts.arrivals()) != n {
			t.Errorf("an upload with holes arrived")
		}
	})

	t.Run("refused commands", func(t *testing.T) {
		wantStatus(t, c.PosixRename("/incoming/twice.pgp", "/incoming/moved.pgp"), sftp.ErrSSHFxPermissionDenied)
		wantStatus(t, c.Rename("/incoming/twice.pgp", "/outbox/moved.pgp"), sftp.ErrSSHFxPermissionDenied)
		wantStatus(t, c.Link("/incoming/twice.pgp", "/outbox/l"), sftp.ErrSSHFxPermissionDenied)
		wantStatus(t, c.Symlink("/", "/incoming/root"), sftp.ErrSSHFxPermissionDenied)
		wantStatus(t, c.Mkdir("/incoming/d"), sftp.ErrSSHFxPermissionDenied)
		wantStatus(t, c.Remove("/incoming/twice.pgp"), sftp.ErrSSHFxPermissionDenied)
		if _, err := c.ReadLink("/incoming/twice.pgp"); err == nil {
			t.Errorf("readlink allowed")
		}
		if _, err := c.OpenFile("/incoming/twice.pgp", os.O_RDWR|os.O_CREATE); err == nil {
			t.Errorf("read-write open of incoming allowed")
		}
		if _, err := c.Open("/incoming/twice.pgp"); err == nil {
			t.Errorf("read of incoming allowed")
		}
		// Names with control characters and NUL never reach the disk.
		for _, name := range []string{"a\nb", "a\x00b", "\x1b[31m", strings.Repeat("a", 201), "..", "-rf"} {
			if _, err := c.Create("/incoming/" + name); err == nil {
				t.Errorf("create %q allowed", name)
			}
		}
	})

	for _, n := range dirNames(t, incoming) {
		if strings.HasPrefix(n, ".") {
			t.Errorf("temporary file %s left behind", n)
		}
	}
	for _, r := range ts.refused() {
		if strings.ContainsAny(r.what+r.reason, "\n\x00\x1b") {
			t.Errorf("refusal carries control characters: %q", r)
		}
	}
}

func TestCloseDiscardsUploadInFlight(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.sftpClient(t, "alpha")
	f, err := c.Create("/incoming/inflight.pgp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 100000)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ts.srv.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	// Close waited for the connection, so the partial file is gone now.
	if names := dirNames(t, filepath.Join(ts.root, "alpha", "incoming")); len(names) != 0 {
		t.Errorf("incoming holds %q", names)
	}
	if len(ts.arrivals()) != 0 {
		t.Errorf("arrivals %+v", ts.arrivals())
	}
	ts.waitRefused(`put "/incoming/inflight.pgp"`)
	if _, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(ts.port), time.Second); err == nil {
		t.Errorf("still listening after Close")
	}
}

func TestOnlySFTP(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.sshClient(t, "alpha")

	for _, req := range []struct {
		typ     string
		payload []byte
	}{
		{"exec", ssh.Marshal(struct{ Command string }{"id"})},
		{"shell", nil},
		{"subsystem", ssh.Marshal(struct{ Name string }{"sftp-server"})},
		{"pty-req", ssh.Marshal(struct {
			Term             string
			Cols, Rows, W, H uint32
			Modes            string
		}{"xterm", 80, 24, 0, 0, ""})},
		{"auth-agent-req@openssh.com", nil},
		{"subsystem", []byte{0, 0, 0}}, // malformed
		{"subsystem", nil},
	} {
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		ok, err := s.SendRequest(req.typ, true, req.payload)
		if ok {
			t.Errorf("%s %q accepted", req.typ, req.payload)
		}
		s.Close()
	}
	if _, err := c.Dial("tcp", "127.0.0.1:22"); err == nil {
		t.Errorf("direct-tcpip allowed")
	}
	if _, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		t.Errorf("remote forwarding allowed")
	}
	ts.waitRefused(`session request "exec"`)
	ts.waitRefused(`channel "direct-tcpip"`)
	ts.waitRefused(`global request "tcpip-forward"`)

	// The connection is still good for sftp.
	sc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := sc.ReadDir("/incoming"); err != nil {
		t.Errorf("sftp after refusals: %v", err)
	}
}

func TestPasswordAuthRefused(t *testing.T) {
	ts := startServer(t, nil)
	_, err := ssh.Dial("tcp", "127.0.0.1:"+strconv.Itoa(ts.port), &ssh.ClientConfig{
		User:            "alpha",
		Auth:            []ssh.AuthMethod{ssh.Password("secret"), ssh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) { return nil, nil })},
		HostKeyCallback: ssh.FixedHostKey(ts.srv.HostKey.PublicKey()),
		Timeout:         10 * time.Second,
	})
	if err == nil {
		t.Fatal("password login succeeded")
	}
}

func TestTooManyAuthFailures(t *testing.T) {
	ts := startServer(t, nil)
	var signers []ssh.Signer
	for i := 0; i < 10; i++ {
		_, pub := newKey(t, ts.dir, "k"+strconv.Itoa(i))
		_ = pub
		b, _ := os.ReadFile(filepath.Join(ts.dir, "k"+strconv.Itoa(i)))
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			t.Fatal(err)
		}
		signers = append(signers, s)
	}
	_, err := ssh.Dial("tcp", "127.0.0.1:"+strconv.Itoa(ts.port), &ssh.ClientConfig{
		User:            "alpha",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signers...)},
		HostKeyCallback: ssh.FixedHostKey(ts.srv.HostKey.PublicKey()),
		Timeout:         10 * time.Second,
	})
	if err == nil {
		t.Fatal("login with unknown keys succeeded")
	}
	n := 0
	for _, r := range ts.refused() {
		if strings.HasPrefix(r.what, "auth publickey") {
			n++
		}
	}
	// Rejected key offers count only after their own budget of
	// maxAuthTries (x/crypto/ssh), so 2*maxAuthTries in all.
	if n == 0 || n > 2*maxAuthTries {
		t.Errorf("%d auth refusals for 10 keys, want 1..%d", n, 2*maxAuthTries)
	}
}

func TestHostileBytes(t *testing.T) {
	ts := startServer(t, nil)
	for _, junk := range [][]byte{
		[]byte("GET / HTTP/1.0\r\n\r\n"),
		[]byte("SSH-2.0-x\r\n\x00\x00\xff\xff\xff\xff"),
		make([]byte, 70000),
	} {
		nc, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(ts.port))
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(junk)
		nc.(*net.TCPConn).CloseWrite()
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, nc)
		nc.Close()
	}
	// A raw sftp channel fed garbage after a valid login.
	c := ts.sshClient(t, "alpha")
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	w, _ := s.StdinPipe()
	if err := s.RequestSubsystem("sftp"); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte{0, 0, 0, 5, 1, 0, 0, 0, 3})                         // init
	w.Write([]byte{0, 0, 0, 9, 3, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}) // open with a 4 GiB path
	w.Write([]byte{0xff, 0xff, 0xff, 0xff})
	w.Close()
	s.Wait()
	s.Close()

	local, _ := ts.localFile("ok.pgp", 10)
	if out, err := ts.as("alpha", "put "+local+" incoming/ok.pgp\n"); err != nil {
		t.Fatalf("server unusable after hostile input: %v\n%s", err, out)
	}
}

func TestLoginWithoutJail(t *testing.T) {
	ts := startServer(t, nil)
	// alpha is authorized, but its directories are gone.
	if err := os.RemoveAll(filepath.Join(ts.root, "alpha")); err != nil {
		t.Fatal(err)
	}
	if out, err := ts.as("alpha", "ls\n"); err == nil {
		t.Errorf("login without a jail succeeded:\n%s", out)
	}
	r := ts.waitRefused("login")
	if r.issuer != "alpha" || !strings.Contains(r.reason, "jail") {
		t.Errorf("refusal %+v", r)
	}
}

// TestIdleConnectionClosed: a logged-in client that sends nothing for
// IdleTimeout is disconnected; one that keeps working is not.
func TestIdleConnectionClosed(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.IdleTimeout = 400 * time.Millisecond })
	busy := ts.sftpClient(t, "alpha")
	idle := ts.sshClient(t, "alpha")
	closed := make(chan error, 1)
	go func() { closed <- idle.Wait() }()
	for i := 0; i < 10; i++ { // 1.5 s of work, never 400 ms apart
		if _, err := busy.ReadDir("/outbox"); err != nil {
			t.Fatalf("a busy connection was cut after %d calls: %v", i, err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("an idle connection stayed open")
	}
	if !strings.Contains(ts.logBuf.String(), "idle connection closed") {
		t.Errorf("the idle disconnect is not logged:\n%s", ts.logBuf.String())
	}
}
