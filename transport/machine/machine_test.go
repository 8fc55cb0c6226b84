package machine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/dataprep/dataprep/transport/machine/sshdtest"
)

// These tests run against a real OpenSSH sshd (see sshdtest); nothing on the
// SFTP side is mocked.

func target(s *sshdtest.Server) Target {
	return Target{
		Name: "emb-1", User: s.User, Host: s.Host, Port: s.Port, Dir: s.Dir,
		HostKey: s.HostPublicKey, Signer: s.ClientSigner, Timeout: 5 * time.Second,
	}
}

func dial(t *testing.T, s *sshdtest.Server) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), target(s))
	require.NoError(t, err, "sshd output:\n%s", s.Log())
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func payload(t *testing.T, n int) ([]byte, []byte) {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return b, sum[:]
}

// dirNames lists Dir as the test process sees it.
func dirNames(t *testing.T, s *sshdtest.Server) []string {
	t.Helper()
	entries, err := os.ReadDir(s.LocalPath(""))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestPushPutsVerifiedFileUnderFinalName(t *testing.T) {
	s := sshdtest.Start(t)
	c := dial(t, s)
	data, sum := payload(t, 3<<20+17)

	p, err := c.Push(context.Background(), "JOB-1", bytes.NewReader(data), int64(len(data)), sum)
	require.NoError(t, err)
	assert.Equal(t, "dp-JOB-1.pgp", p.Name)
	assert.Equal(t, filepath.Join(s.Dir, "dp-JOB-1.pgp"), p.Path)
	assert.Equal(t, int64(len(data)), p.Size)
	assert.Equal(t, sum, p.SHA256)

	got, err := os.ReadFile(s.LocalPath("dp-JOB-1.pgp"))
	require.NoError(t, err)
	gotSum := sha256.Sum256(got)
	assert.Equal(t, sum, gotSum[:])
	assert.Equal(t, []string{"dp-JOB-1.pgp"}, dirNames(t, s), "no temporary file may be left")

	// The same job again: the final name is taken, nothing is uploaded.
	other, otherSum := payload(t, 1000)
	_, err = c.Push(context.Background(), "JOB-1", bytes.NewReader(other), 1000, otherSum)
	require.ErrorIs(t, err, ErrExists)
	got2, err := os.ReadFile(s.LocalPath("dp-JOB-1.pgp"))
	require.NoError(t, err)
	assert.Equal(t, got, got2, "existing file must be untouched")
	assert.Equal(t, []string{"dp-JOB-1.pgp"}, dirNames(t, s))

	v, err := c.Verify(context.Background(), "JOB-1", int64(len(data)), sum)
	require.NoError(t, err)
	assert.Equal(t, sum, v.SHA256)
}

func TestPushEmptyFile(t *testing.T) {
	s := sshdtest.Start(t)
	c := dial(t, s)
	sum := sha256.Sum256(nil)
	p, err := c.Push(context.Background(), "empty", bytes.NewReader(nil), 0, sum[:])
	require.NoError(t, err)
	assert.Equal(t, int64(0), p.Size)
	assert.Equal(t, []string{"dp-empty.pgp"}, dirNames(t, s))
}

func TestPushRefusesSourceThatDiffersFromPreparation(t *testing.T) {
	s := sshdtest.Start(t)
	c := dial(t, s)
	data, sum := payload(t, 200<<10)

	tampered := bytes.Clone(data)
	tampered[1234] ^= 1
	_, err := c.Push(context.Background(), "J", bytes.NewReader(tampered), int64(len(data)), sum)
	require.ErrorIs(t, err, ErrVerify)

	_, err = c.Push(context.Background(), "J", bytes.NewReader(data[:len(data)-1]), int64(len(data)), sum)
	require.ErrorIs(t, err, ErrVerify)

	_, err = c.Push(context.Background(), "J", io.MultiReader(bytes.NewReader(data), strings.NewReader("x")), int64(len(data)), sum)
	require.ErrorIs(t, err, ErrVerify)

	assert.Empty(t, dirNames(t, s), "nothing may be left on the machine")
}

func TestRenameNeverReplacesAFileThatAppeared(t *testing.T) {
	s := sshdtest.Start(t)
	c := dial(t, s)
	data, sum := payload(t, 64<<10)
	// Someone puts a file under the final name after all our checks, just
	// before the rename: the server's RENAME must refuse, not replace it.
	c.hooks = &hooks{beforeRename: func() {
		require.NoError(t, os.WriteFile(s.LocalPath("dp-J.pgp"), []byte("theirs"), 0o644))
	}}
	_, err := c.Push(context.Background(), "J", bytes.NewReader(data), int64(len(data)), sum)
	require.ErrorIs(t, err, ErrExists)
	got, err := os.ReadFile(s.LocalPath("dp-J.pgp"))
	require.NoError(t, err)
	assert.Equal(t, "theirs", string(got))
	assert.Equal(t, []string{"dp-J.pgp"}, dirNames(t, s), "temporary file must be removed")
}

func TestWrongPinnedHostKey(t *testing.T) {
	s := sshdtest.Start(t)

	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	other, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	tg := target(s)
	tg.HostKey = other
	_, err = Dial(context.Background(), tg)
	require.ErrorIs(t, err, ErrHostKeyChanged)
	assert.Contains(t, err.Error(), FingerprintSHA256(other), "must say which key was expected")
	assert.Contains(t, err.Error(), FingerprintSHA256(s.HostPublicKey), "must say which key was offered")
	assert.False(t, IsTransient(err))

	// A pinned key of a type the machine no longer has is a change too.
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	rsaPub, err := ssh.NewPublicKey(&rk.PublicKey)
	require.NoError(t, err)
	tg.HostKey = rsaPub
	_, err = Dial(context.Background(), tg)
	require.ErrorIs(t, err, ErrHostKeyChanged)
	t.Logf("rsa pin: %v", err)
	assert.Contains(t, err.Error(), FingerprintSHA256(rsaPub))

	// And through PushWithRetry: no retry, nothing written.
	var dials atomic.Int32
	data, sum := payload(t, 1000)
	tg.HostKey = other
	_, err = PushWithRetry(context.Background(), func() (*Conn, error) {
		dials.Add(1)
		return Dial(context.Background(), tg)
	}, "J", openBytes(data), 1000, sum, Backoff{Attempts: 5, Initial: time.Millisecond})
	require.ErrorIs(t, err, ErrHostKeyChanged)
	assert.Equal(t, int32(1), dials.Load())
	assert.Empty(t, dirNames(t, s))
}

func TestRefusedClientKey(t *testing.T) {
	s := sshdtest.Start(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	tg := target(s)
	tg.Signer = signer
	_, err = Dial(context.Background(), tg)
	require.ErrorIs(t, err, ErrAuth)
	assert.False(t, IsTransient(err))
}

func TestUnreachable(t *testing.T) {
	s := sshdtest.Start(t)
	tg := target(s)

	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tg.Port = l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	_, err = Dial(context.Background(), tg)
	require.ErrorIs(t, err, ErrUnreachable)
	assert.True(t, IsTransient(err))

	// A machine that accepts TCP but never speaks SSH: the timeout applies.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	tg.Port = silent.Addr().(*net.TCPAddr).Port
	tg.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err = Dial(context.Background(), tg)
	require.ErrorIs(t, err, ErrUnreachable)
	assert.Less(t, time.Since(start), 5*time.Second)

	// The real machine going away and coming back.
	s.Stop()
	_, err = Dial(context.Background(), target(s))
	require.ErrorIs(t, err, ErrUnreachable)
	s.Restart()
	dial(t, s)
}

func TestDialRefusesBadTargets(t *testing.T) {
	s := sshdtest.Start(t)
	for name, mod := range map[string]func(*Target){
		"relative dir":  func(t *Target) { t.Dir = "incoming" },
		"unclean dir":   func(t *Target) { t.Dir = "/a/../b" },
		"trailing /":    func(t *Target) { t.Dir = "/a/" },
		"no host key":   func(t *Target) { t.HostKey = nil },
		"no signer":     func(t *Target) { t.Signer = nil },
		"bad port":      func(t *Target) { t.Port = 0 },
		"bad user":      func(t *Target) { t.User = "-oProxyCommand=x" },
		"host with sep": func(t *Target) { t.Host = "a b" },
	} {
		tg := target(s)
		mod(&tg)
		_, err := Dial(context.Background(), tg)
		assert.ErrorIs(t, err, ErrBadTarget, name)
	}

	// Checked on the machine once connected.
	require.NoError(t, os.WriteFile(filepath.Join(s.Root, "afile"), nil, 0o644))
	for _, dir := range []string{filepath.Join(s.Root, "missing"), filepath.Join(s.Root, "afile")} {
		tg := target(s)
		tg.Dir = dir
		_, err := Dial(context.Background(), tg)
		assert.ErrorIs(t, err, ErrBadTarget, dir)
		t.Log(err)
	}
}

// Root ignores permission bits, so the machine's login here is "nobody"
// (sshdtest.Options.User) and Dir is a directory owned by root.
func TestPermissionDenied(t *testing.T) {
	s := sshdtest.StartWith(t, sshdtest.Options{User: "nobody"})
	ro := filepath.Join(s.Root, "readonly")
	require.NoError(t, os.Mkdir(ro, 0o755))
	tg := target(s)
	tg.Dir = ro
	c, err := Dial(context.Background(), tg)
	require.NoError(t, err)
	defer c.Close()

	data, sum := payload(t, 10000)
	_, err = c.Push(context.Background(), "J", bytes.NewReader(data), 10000, sum)
	require.ErrorIs(t, err, ErrPermission)
	assert.False(t, IsTransient(err))
	entries, err := os.ReadDir(ro)
	require.NoError(t, err)
	assert.Empty(t, entries)

	// A file there that isn't ours to delete (owned by root in a root dir).
	require.NoError(t, os.WriteFile(filepath.Join(ro, "dp-J.pgp"), []byte("x"), 0o644))
	_, err = c.Delete("J")
	require.ErrorIs(t, err, ErrPermission)
}

// slowReader hands out data in small pieces and calls at once, when more
// than at bytes have been read.
type slowReader struct {
	r     io.Reader
	read  int64
	at    int64
	once  func()
	delay time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(p) > 32<<10 {
		p = p[:32<<10]
	}
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	n, err := s.r.Read(p)
	s.read += int64(n)
	if s.once != nil && s.read > s.at {
		f := s.once
		s.once = nil
		f()
	}
	return n, err
}

func openBytes(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func TestConnectionCutMidUpload(t *testing.T) {
	s := sshdtest.Start(t)
	data, sum := payload(t, 16<<20)

	// A plain Push: the per-connection sshd is killed a few MB in.
	c := dial(t, s)
	r := &slowReader{r: bytes.NewReader(data), at: 2 << 20, once: func() {
		require.NotZero(t, s.KillConnections())
	}}
	_, err := c.Push(context.Background(), "CUT", r, int64(len(data)), sum)
	require.ErrorIs(t, err, ErrConnectionLost)
	t.Logf("cut: %v", err)
	assert.True(t, IsTransient(err))
	assert.Contains(t, err.Error(), "could not be removed", "must report the temp file it left")
	assert.NotContains(t, dirNames(t, s), "dp-CUT.pgp")

	// PushWithRetry: the first attempt is cut the same way, the second
	// completes. The leftover temp files are cleaned up and the file is
	// uploaded exactly once more.
	var uploads, attempts atomic.Int32
	dialFn := func() (*Conn, error) {
		c, err := Dial(context.Background(), target(s))
		if err == nil {
			c.hooks = &hooks{created: func(string) { uploads.Add(1) }}
		}
		return c, err
	}
	open := func() (io.ReadCloser, error) {
		if attempts.Add(1) == 1 {
			return io.NopCloser(&slowReader{r: bytes.NewReader(data), at: 2 << 20, once: func() { s.KillConnections() }}), nil
		}
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	p, err := PushWithRetry(context.Background(), dialFn, "CUT", open, int64(len(data)), sum,
		Backoff{Attempts: 3, Initial: 10 * time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, 2, p.Attempts)
	assert.False(t, p.Recovered)
	assert.Equal(t, int32(2), uploads.Load())
	assert.Equal(t, []string{"dp-CUT.pgp"}, dirNames(t, s))
	got, err := os.ReadFile(s.LocalPath("dp-CUT.pgp"))
	require.NoError(t, err)
	gotSum := sha256.Sum256(got)
	assert.Equal(t, sum, gotSum[:])
}

func TestRetryAfterCutPastRenameDoesNotUploadAgain(t *testing.T) {
	s := sshdtest.Start(t)
	data, sum := payload(t, 2<<20)
	var uploads, dials atomic.Int32
	dialFn := func() (*Conn, error) {
		n := dials.Add(1)
		c, err := Dial(context.Background(), target(s))
		if err == nil {
			c.hooks = &hooks{created: func(string) { uploads.Add(1) }}
			if n == 1 {
				// The file is verified and in place, then the line drops
				// before Push can confirm and report it.
				c.hooks.renamed = func() { s.KillConnections() }
			}
		}
		return c, err
	}
	p, err := PushWithRetry(context.Background(), dialFn, "J9", openBytes(data), int64(len(data)), sum,
		Backoff{Attempts: 3, Initial: 10 * time.Millisecond})
	require.NoError(t, err)
	assert.True(t, p.Recovered)
	assert.Equal(t, 2, p.Attempts)
	assert.Equal(t, sum, p.SHA256)
	assert.Equal(t, int32(1), uploads.Load(), "must not upload twice")
	assert.Equal(t, []string{"dp-J9.pgp"}, dirNames(t, s))
}

func TestRetryStopsOnAForeignFileUnderTheFinalName(t *testing.T) {
	s := sshdtest.Start(t)
	data, sum := payload(t, 100<<10)
	var dials atomic.Int32
	dialFn := func() (*Conn, error) {
		n := dials.Add(1)
		c, err := Dial(context.Background(), target(s))
		if err == nil && n == 1 {
			c.hooks = &hooks{created: func(string) {
				// Something else appears under the final name, then the
				// connection is cut.
				_ = os.WriteFile(s.LocalPath("dp-J.pgp"), []byte("not ours"), 0o644)
				s.KillConnections()
			}}
		}
		return c, err
	}
	_, err := PushWithRetry(context.Background(), dialFn, "J", openBytes(data), int64(len(data)), sum,
		Backoff{Attempts: 5, Initial: time.Millisecond})
	require.ErrorIs(t, err, ErrExists)
	require.ErrorIs(t, err, ErrVerify)
	assert.Equal(t, int32(2), dials.Load())
	got, err := os.ReadFile(s.LocalPath("dp-J.pgp"))
	require.NoError(t, err)
	assert.Equal(t, "not ours", string(got), "left for a person to look at")
}

func TestRetryGivesUpAfterAttempts(t *testing.T) {
	var dials atomic.Int32
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	s := sshdtest.Start(t)
	tg := target(s)
	tg.Port = port
	_, sum := payload(t, 1)
	_, err = PushWithRetry(context.Background(), func() (*Conn, error) {
		dials.Add(1)
		return Dial(context.Background(), tg)
	}, "J", openBytes([]byte{0}), 1, sum, Backoff{Attempts: 3, Initial: time.Millisecond})
	require.ErrorIs(t, err, ErrUnreachable)
	assert.Equal(t, int32(3), dials.Load())
	assert.Contains(t, err.Error(), "gave up after 3 attempts")
}

// The disk is a 1 MiB tmpfs in sshd's own mount namespace (sshdtest).
func TestDiskFull(t *testing.T) {
	s := sshdtest.StartWith(t, sshdtest.Options{DiskBytes: 1 << 20})
	c := dial(t, s)

	// Too big from the start: refused before anything is written.
	big, bigSum := payload(t, 2<<20)
	_, err := c.Push(context.Background(), "BIG", bytes.NewReader(big), int64(len(big)), bigSum)
	require.ErrorIs(t, err, ErrDiskFull)
	assert.False(t, IsTransient(err))
	assert.Empty(t, dirNames(t, s))

	// Fits when the push starts, but the disk fills up during the upload:
	// the write fails with SSH_FX_FAILURE and statvfs says why.
	data, sum := payload(t, 700<<10)
	r := &slowReader{r: bytes.NewReader(data), at: 64 << 10, once: func() {
		filler := make([]byte, 1<<20)
		// Fills what's left; ENOSPC here is expected.
		_ = os.WriteFile(s.LocalPath("filler"), filler, 0o644)
	}}
	_, err = c.Push(context.Background(), "FULL", r, int64(len(data)), sum)
	require.ErrorIs(t, err, ErrDiskFull)
	t.Logf("mid-write: %v", err)
	assert.Equal(t, []string{"filler"}, dirNames(t, s), "no temp file and no final file may be left")
}

func TestDeleteConfirmsGone(t *testing.T) {
	s := sshdtest.Start(t)
	c := dial(t, s)
	data, sum := payload(t, 50000)
	_, err := c.Push(context.Background(), "D-1", bytes.NewReader(data), int64(len(data)), sum)
	require.NoError(t, err)
	// A temp name of the job left behind by hand, and another job's file.
	require.NoError(t, os.WriteFile(s.LocalPath(".dp-D-1.part-leftover"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(s.LocalPath("dp-D-2.pgp"), []byte("y"), 0o644))

	d, err := c.Delete("D-1")
	require.NoError(t, err)
	assert.True(t, d.WasPresent)
	assert.Equal(t, int64(50000), d.Size)
	assert.Equal(t, []string{".dp-D-1.part-leftover"}, d.Temps)
	_, err = os.Stat(s.LocalPath("dp-D-1.pgp"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Equal(t, []string{"dp-D-2.pgp"}, dirNames(t, s))

	d, err = c.Delete("D-1")
	require.NoError(t, err)
	assert.False(t, d.WasPresent)

	_, err = c.Verify(context.Background(), "D-1", int64(len(data)), sum)
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestOursListsFilesPutThereByHand(t *testing.T) {
	s := sshdtest.Start(t)
	c := dial(t, s)
	for name, content := range map[string]string{
		"dp-ABC-1.pgp":          "hand",
		".dp-XY.part-1a2b":      "partial",
		"readme.txt":            "not ours",
		"dp-bad_id.pgp":         "not our naming",
		"dp-ABC-1.pgp.bak":      "not ours",
		"xdp-ABC-1.pgp":         "not ours",
		".dp-ABC-1.part-":       "no suffix: not ours",
		"dp-" + long65 + ".pgp": "id too long",
	} {
		require.NoError(t, os.WriteFile(s.LocalPath(name), []byte(content), 0o644))
	}
	files, err := c.Ours()
	require.NoError(t, err)
	assert.Equal(t, []RemoteFile{
		{Name: ".dp-XY.part-1a2b", Size: 7, Job: "XY", Partial: true},
		{Name: "dp-ABC-1.pgp", Size: 4, Job: "ABC-1"},
	}, files)
}

var long65 = strings.Repeat("a", 65)

func TestPushCancelledRemovesTemp(t *testing.T) {
	s := sshdtest.Start(t)
	c := dial(t, s)
	data, sum := payload(t, 4<<20)
	ctx, cancel := context.WithCancel(context.Background())
	r := &slowReader{r: bytes.NewReader(data), at: 256 << 10, once: cancel}
	_, err := c.Push(ctx, "C", r, int64(len(data)), sum)
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, IsTransient(err))
	assert.Empty(t, dirNames(t, s))
}

func TestBadJobIDsNeverReachThePath(t *testing.T) {
	s := sshdtest.Start(t)
	c := dial(t, s)
	for _, job := range []string{"", "../etc", "a/b", "a b", "a.b", "a\x00b", "A_B", long65, "é"} {
		_, err := c.Push(context.Background(), job, bytes.NewReader(nil), 0, make([]byte, 32))
		assert.ErrorIs(t, err, ErrBadJobID, "%q", job)
		_, err = c.Delete(job)
		assert.ErrorIs(t, err, ErrBadJobID, "%q", job)
		_, err = PushWithRetry(context.Background(), func() (*Conn, error) { return nil, errors.New("must not dial") },
			job, openBytes(nil), 0, make([]byte, 32), Backoff{})
		assert.ErrorIs(t, err, ErrBadJobID, "%q", job)
	}
	_, err := c.Push(context.Background(), strings.Repeat("Z", 64), bytes.NewReader(nil), 0, sha256Of(nil))
	require.NoError(t, err, "64 characters is allowed")
	assert.Empty(t, func() []string {
		var bad []string
		for _, n := range dirNames(t, s) {
			if n != "dp-"+strings.Repeat("Z", 64)+".pgp" {
				bad = append(bad, n)
			}
		}
		return bad
	}())
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// A machine that stops answering without closing the connection (hung, or
// a cable pulled): the keepalive gives up after Target.Timeout and the push
// fails with ErrConnectionLost instead of hanging.
func TestSilentMachineTimesOut(t *testing.T) {
	s := sshdtest.Start(t)
	tg := target(s)
	// Not too short: the handshake must still succeed on a loaded CI box.
	tg.Timeout = 1500 * time.Millisecond
	c, err := Dial(context.Background(), tg)
	require.NoError(t, err)
	defer c.Close()
	data, sum := payload(t, 16<<20)
	var thaw func()
	r := &slowReader{r: bytes.NewReader(data), at: 1 << 20, once: func() { thaw = s.FreezeConnections() }}
	start := time.Now()
	_, err = c.Push(context.Background(), "HUNG", r, int64(len(data)), sum)
	require.ErrorIs(t, err, ErrConnectionLost)
	assert.Less(t, time.Since(start), 15*time.Second)
	thaw()
	assert.NotContains(t, dirNames(t, s), "dp-HUNG.pgp")
}
