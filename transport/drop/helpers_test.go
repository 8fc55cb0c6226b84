package drop

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"
)

const sftpBin = "/usr/bin/sftp"

type refusalRec struct{ issuer, remote, what, reason string }

type arrival struct{ issuer, name, path string }

// testServer is a drop server on 127.0.0.1 with issuers alpha and beta,
// each with its own ssh-keygen key, and a known_hosts file pinning the
// server's host key for the stock sftp client.
type testServer struct {
	t       *testing.T
	srv     *Server
	root    string
	port    int
	dir     string // client side: keys, known_hosts, HOME
	kh      string
	keys    map[string]string // issuer → private key file
	logBuf  *syncBuffer
	serveCh chan error

	mu       sync.Mutex
	arrived  []arrival
	refusals []refusalRec
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func requireSFTP(t *testing.T) {
	t.Helper()
	for _, bin := range []string{sftpBin, "ssh-keygen"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is needed (Debian openssh-client): %v", bin, err)
		}
	}
}

func newKey(t *testing.T, dir, name string) (string, ssh.PublicKey) {
	t.Helper()
	file := filepath.Join(dir, name)
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pubBytes, err := os.ReadFile(file + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(pubBytes)
	if err != nil {
		t.Fatal(err)
	}
	return file, pub
}

func startServer(t *testing.T, configure func(*Server)) *testServer {
	t.Helper()
	requireSFTP(t)
	ts := &testServer{t: t, root: t.TempDir(), dir: t.TempDir(), keys: map[string]string{}, logBuf: &syncBuffer{}}
	registered := map[string]ssh.PublicKey{}
	for _, issuer := range []string{"alpha", "beta"} {
		if err := EnsureIssuerDirs(ts.root, issuer); err != nil {
			t.Fatal(err)
		}
		file, pub := newKey(t, ts.dir, issuer)
		ts.keys[issuer] = file
		registered[issuer] = pub
	}
	ts.keys["stranger"], _ = newKey(t, ts.dir, "stranger")

	hostKey, err := GenerateHostKey(filepath.Join(ts.dir, "host_key"))
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = &Server{
		Root:    ts.root,
		HostKey: hostKey,
		Authorize: func(user string, key ssh.PublicKey) (string, error) {
			want, ok := registered[user]
			if !ok {
				return "", fmt.Errorf("no issuer %q", user)
			}
			if !bytes.Equal(want.Marshal(), key.Marshal()) {
				return "", errors.New("key is not registered for this issuer")
			}
			return user, nil
		},
		Arrived: func(issuer, name, path string) {
			ts.mu.Lock()
			ts.arrived = append(ts.arrived, arrival{issuer, name, path})
			ts.mu.Unlock()
		},
		Refused: func(issuer, remote, what, reason string) {
			ts.mu.Lock()
			ts.refusals = append(ts.refusals, refusalRec{issuer, remote, what, reason})
			ts.mu.Unlock()
		},
		Log: zerolog.New(ts.logBuf).Level(zerolog.DebugLevel),
	}
	if configure != nil {
		configure(ts.srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.port = l.Addr().(*net.TCPAddr).Port
	ts.kh = filepath.Join(ts.dir, "known_hosts")
	line := fmt.Sprintf("[127.0.0.1]:%d %s", ts.port, ssh.MarshalAuthorizedKey(hostKey.PublicKey()))
	if err := os.WriteFile(ts.kh, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	ts.serveCh = make(chan error, 1)
	go func() { ts.serveCh <- ts.srv.Serve(l) }()
	t.Cleanup(func() {
		ts.srv.Close()
		select {
		case err := <-ts.serveCh:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after Close")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", ts.logBuf.String())
		}
	})
	return ts
}

// sftpCmd builds a stock sftp client invocation that touches nothing of the
// user's: no ~/.ssh config, keys, agent or known_hosts.
func (ts *testServer) sftpCmd(ctx context.Context, user, key string, extra ...string) *exec.Cmd {
	args := []string{
		"-F", "/dev/null",
		"-o", "UserKnownHostsFile=" + ts.kh,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes",
		"-o", "IdentityAgent=none",
		"-o", "PasswordAuthentication=no",
		"-o", "KbdInteractiveAuthentication=no",
		"-o", "ConnectTimeout=10",
		"-i", key,
		"-P", strconv.Itoa(ts.port),
	}
	args = append(args, extra...)
	args = append(args, user+"@127.0.0.1")
	cmd := exec.CommandContext(ctx, sftpBin, args...)
	cmd.Env = []string{"HOME=" + ts.dir, "PATH=/usr/bin:/bin", "LANG=C"}
	cmd.Dir = ts.dir
	return cmd
}

// batch runs the stock client with a batch file as issuer user with key.
// In a batch, sftp stops at the first failing command.
func (ts *testServer) batch(user, key, script string) (string, error) {
	ts.t.Helper()
	bf, err := os.CreateTemp(ts.dir, "batch-*")
	if err != nil {
		ts.t.Fatal(err)
	}
	bf.WriteString(script)
	bf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := ts.sftpCmd(ctx, user, key, "-b", bf.Name()).CombinedOutput()
	return string(out), err
}

func (ts *testServer) as(issuer, script string) (string, error) {
	return ts.batch(issuer, ts.keys[issuer], script)
}

func (ts *testServer) arrivals() []arrival {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]arrival(nil), ts.arrived...)
}

func (ts *testServer) refused() []refusalRec {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]refusalRec(nil), ts.refusals...)
}

// waitRefused waits for a refusal whose what contains whatPart.
func (ts *testServer) waitRefused(whatPart string) refusalRec {
	ts.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range ts.refused() {
			if strings.Contains(r.what, whatPart) {
				return r
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	ts.t.Fatalf("no refusal with %q; got %+v", whatPart, ts.refused())
	return refusalRec{}
}

// localFile writes n random bytes to a file in the client's directory.
func (ts *testServer) localFile(name string, n int) (string, []byte) {
	ts.t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	p := filepath.Join(ts.dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		ts.t.Fatal(err)
	}
	return p, data
}

// tree lists every path under dir (relative), for "nothing was written
// anywhere else" checks.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
