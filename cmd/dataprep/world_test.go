package main

// The end-to-end world: the real dataprep binary, a SoftHSM2 token, the
// stock gpg and sftp clients, all under t.TempDir(). Nothing is mocked.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataprep/dataprep/transport/machine/sshdtest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// dataprepBin builds the binary once per test run.
func dataprepBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dataprep-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "dataprep")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

type world struct {
	t        *testing.T
	dir      string
	home     string
	bin      string
	gnupg    string
	drop     string // 127.0.0.1:port of the built-in SFTP drop
	metrics  string // 127.0.0.1:port of /metrics
	daemon   *exec.Cmd
	stderr   *lockedBuffer
	outputs  *lockedBuffer // everything the CLI printed, for the PAN scan
	done     chan error
	machines map[string]*sshdtest.Server
	// daemonEnv is added to the daemon's environment (crash tests arm failpoints with it).
	daemonEnv []string
	cliEnv    []string // added to every CLI run's environment
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const adminPass = "admin passphrase for tests"

// newWorld initialises a dev home with administrator alice and starts the daemon.
func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{t: t, dir: dir, home: filepath.Join(dir, "home"), bin: dataprepBin(t), gnupg: filepath.Join(dir, "gnupg"),
		stderr: &lockedBuffer{}, outputs: &lockedBuffer{}}
	require.NoError(t, os.MkdirAll(w.gnupg, 0o700))
	w.secret("alice", adminPass)
	out, err := w.cli("", "init", "--admin", "alice", "--dev", "--admin-passphrase-file", w.passFile("alice"))
	require.NoError(t, err, out)
	// Tests sign in hundreds of times: the cheapest argon2id cost the
	// configuration allows keeps them fast (the default is unit-tested).
	w.editConfig("kdf_memory_kib = 19456", "kdf_memory_kib = 8192")
	w.editConfig("kdf_time = 2", "kdf_time = 1")
	w.start()
	return w
}

// editConfig replaces old with new in the home's dataprep.toml.
func (w *world) editConfig(old, new string) {
	w.t.Helper()
	p := filepath.Join(w.home, "dataprep.toml")
	raw, err := os.ReadFile(p)
	require.NoError(w.t, err)
	require.Contains(w.t, string(raw), old)
	require.NoError(w.t, os.WriteFile(p, []byte(strings.Replace(string(raw), old, new, 1)), 0o600))
}

// start runs the daemon and waits for its socket.
func (w *world) start() {
	w.t.Helper()
	require.True(w.t, w.startMayDie(), "daemon exited at start:\n%s", tail(w.stderr.String(), 4000))
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }

// startMayDie starts the daemon and reports whether it came up; false means
// it exited first (a crash test's failpoint may fire during startup).
func (w *world) startMayDie() bool {
	t := w.t
	w.drop = freePort(t)
	w.metrics = freePort(t)
	cmd := exec.Command(w.bin, "daemon", "--home", w.home, "--drop-listen", w.drop, "--metrics-listen", w.metrics)
	cmd.Env = append(w.env(), w.daemonEnv...)
	cmd.Stderr = w.stderr
	cmd.Stdout = w.stderr
	require.NoError(t, cmd.Start())
	w.daemon = cmd
	w.done = make(chan error, 1)
	go func() { w.done <- cmd.Wait() }()
	t.Cleanup(w.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("unix", filepath.Join(w.home, "control.sock"))
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-w.done:
			w.done <- err // stop() reads it again
			return false
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not open its socket\n%s", w.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// stop sends SIGTERM and waits for a graceful stop.
func (w *world) stop() {
	if w.daemon == nil {
		return
	}
	w.daemon.Process.Signal(os.Interrupt)
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		w.daemon.Process.Kill()
		<-w.done
		w.t.Errorf("daemon did not stop on SIGINT\n%s", w.stderr.String())
	}
	w.daemon = nil
}

func (w *world) env() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + w.dir, "GNUPGHOME=" + w.gnupg, "TMPDIR=" + w.dir, "LANG=C"}
	return env
}

func (w *world) passFile(user string) string { return filepath.Join(w.dir, "pass-"+user) }

// secret writes a 0600 passphrase file for user.
func (w *world) secret(user, pass string) {
	require.NoError(w.t, os.WriteFile(w.passFile(user), []byte(pass+"\n"), 0o600))
}

// cli runs dataprep as user (no --user when user is ""); it returns stdout+stderr.
func (w *world) cli(user string, args ...string) (string, error) {
	w.t.Helper()
	full := append([]string{"--home", w.home}, args...)
	if user != "" {
		full = append(full, "--user", user, "--passphrase-file", w.passFile(user))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin, full...)
	cmd.Env = append(w.env(), w.cliEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	w.outputs.Write(out.Bytes())
	return out.String(), err
}

// ok runs a CLI command that must succeed.
func (w *world) ok(user string, args ...string) string {
	w.t.Helper()
	out, err := w.cli(user, args...)
	require.NoError(w.t, err, "dataprep %v:\n%s\ndaemon:\n%s", args, out, w.stderr.String())
	return out
}

// fails runs a CLI command that must fail with a one-line reason containing want.
func (w *world) fails(user, want string, args ...string) string {
	w.t.Helper()
	out, err := w.cli(user, args...)
	require.Error(w.t, err, "dataprep %v should fail:\n%s", args, out)
	require.Contains(w.t, out, want, "dataprep %v", args)
	require.Equal(w.t, 1, strings.Count(strings.TrimSpace(out), "\n")+1, "one-line reason expected, got:\n%s", out)
	require.NotContains(w.t, out, "goroutine", "no stack traces")
	return out
}

// jsonOK runs a command with --json and decodes its output.
func (w *world) jsonOK(user string, v any, args ...string) {
	w.t.Helper()
	out := w.ok(user, append(args, "--json")...)
	require.NoError(w.t, json.Unmarshal([]byte(out), v), out)
}

// person adds a user via the administrator and lets them set their own passphrase.
func (w *world) person(name, role string) {
	w.t.Helper()
	w.secret(name, "first passphrase, number "+fmt.Sprint(len(name)*7919))
	w.ok("alice", "user", "add", name, "--role", role, "--initial-passphrase-file", w.passFile(name))
	newPass := filepath.Join(w.dir, "new-"+name)
	require.NoError(w.t, os.WriteFile(newPass, []byte("my own secret phrase "+fmt.Sprint(len(name)*104729)), 0o600))
	w.ok(name, "passwd", "--new-passphrase-file", newPass)
	w.secret(name, "my own secret phrase "+fmt.Sprint(len(name)*104729))
}

// gpg runs the stock gpg in the world's GNUPGHOME.
func (w *world) gpg(stdin []byte, args ...string) []byte {
	w.t.Helper()
	cmd := exec.Command("gpg", append([]string{"--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "", "--trust-model", "always"}, args...)...)
	cmd.Env = w.env()
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(w.t, cmd.Run(), "gpg %v: %s", args, errb.String())
	return out.Bytes()
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// waitJob polls job show until the job reaches one of the states.
func (w *world) waitJob(user, id string, states ...string) map[string]any {
	w.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var j map[string]any
		w.jsonOK(user, &j, "job", "show", id)
		for _, s := range states {
			if j["state"] == s {
				return j
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("job %s stayed %v, want %v\n%s", id, j["state"], states, w.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
