// Package sshdtest starts a real OpenSSH sshd (Debian's openssh-server) on
// 127.0.0.1 for tests, with its own config, host key, client key and remote
// directory, so the personalization computer in a test is the same program as
// in production rather than a mock.
//
// The server is started as a child of the test with `sshd -D -e -f CONFIG`
// and killed by t.Cleanup, together with every per-connection child it forked.
//
// Things that are awkward because the sandbox (and CI) runs as root, and how
// this package deals with them:
//
//   - sshd refuses root logins unless told otherwise: the config says
//     PermitRootLogin prohibit-password (public keys only) when User is root.
//   - root ignores permission bits, so "remote directory not writable" can't be
//     shown with chmod 0555 while logged in as root. Options.User lets a test log
//     in as an unprivileged account that already exists (Debian always has
//     "nobody"); the subsystem is internal-sftp so the account's nologin shell
//     does not matter. The test then points at a directory owned by root.
//   - disk full: Options.DiskBytes mounts a tmpfs of that size on Dir. The mount
//     is made inside a private mount namespace that only sshd lives in
//     (`unshare --mount`), so it can never be left behind: the kernel drops it
//     when the last sshd process exits, even if the test binary is SIGKILLed.
//     The test process reaches that directory through /proc/PID/root (see
//     LocalPath). If mounting is refused (no CAP_SYS_ADMIN), the test is skipped:
//     RLIMIT_FSIZE was considered as a fallback, but it makes writes fail with
//     EFBIG (or kills sftp with SIGXFSZ) while statvfs still shows free space,
//     which is not what a full disk looks like to a client.
package sshdtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

const (
	sshdPath = "/usr/sbin/sshd"
	// privsepDir is compiled into Debian's sshd; the package's init script
	// normally creates it. Without it sshd refuses to start.
	privsepDir = "/run/sshd"
)

// Options change how the server is set up. The zero value logs in as the
// current user with a plain temp directory as Dir.
type Options struct {
	// User is the account the client logs in as. Empty means the current
	// user. Dir is owned by this account.
	User string
	// DiskBytes, if > 0, makes Dir a tmpfs of that many bytes, private to
	// sshd's mount namespace, to simulate a full disk.
	DiskBytes int64
}

// Server is a running sshd.
type Server struct {
	Addr          string // "127.0.0.1:PORT"
	Host          string
	Port          int
	HostPublicKey ssh.PublicKey
	ClientSigner  ssh.Signer // its public key is in authorized_keys
	// ClientKeyFile holds ClientSigner's private key in OpenSSH format
	// (0600, no passphrase), for code that loads its key from a file.
	ClientKeyFile string
	User          string
	// Dir is the remote directory, as the server sees it (an absolute path).
	Dir string
	// Root is the temp directory holding config, keys and Dir. It is
	// world-traversable so that an unprivileged login user can reach Dir.
	Root string

	t      testing.TB
	opts   Options
	cfg    string
	uid    int
	gid    int
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *lockedBuffer
}

// Start starts an sshd with default Options. It fails the test if sshd can't
// be started.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith starts an sshd with the given Options.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		// In CI a missing sshd is a broken install step, not a reason to
		// quietly test less.
		if os.Getenv("CI") != "" {
			t.Fatalf("sshdtest: %s not installed (Debian package openssh-server): %v", sshdPath, err)
		}
		t.Skipf("sshdtest: %s not installed (Debian package openssh-server): %v", sshdPath, err)
	}
	if os.Geteuid() == 0 {
		// Only a root sshd needs it (for privilege separation).
		if err := os.MkdirAll(privsepDir, 0o755); err != nil {
			t.Fatalf("sshdtest: create sshd privilege separation dir: %v", err)
		}
	} else if o.User != "" || o.DiskBytes > 0 {
		t.Skip("sshdtest: logging in as another user and mounting a tmpfs need root")
	}

	s := &Server{t: t, opts: o, Host: "127.0.0.1", log: &lockedBuffer{}}
	if err := s.setup(); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	t.Cleanup(s.cleanup)

	// The port is picked by binding :0 and closing it; another process may
	// grab it in between, so retry a few times on a bind failure.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = s.pickPort(); err != nil {
			break
		}
		if err = s.writeConfig(); err != nil {
			break
		}
		if err = s.start(); err == nil {
			return s
		}
		if !strings.Contains(s.log.String(), "Address already in use") {
			break
		}
	}
	if o.DiskBytes > 0 && strings.Contains(s.log.String(), "mount") {
		t.Skipf("sshdtest: cannot mount a tmpfs to simulate a full disk here (needs CAP_SYS_ADMIN): %v\n%s", err, s.log.String())
	}
	t.Fatalf("sshdtest: start sshd: %v\nsshd output:\n%s", err, s.log.String())
	return nil
}

func (s *Server) setup() error {
	root, err := os.MkdirTemp("", "sshdtest-")
	if err != nil {
		return err
	}
	s.Root = root
	// 0755 so an unprivileged login user can read authorized_keys and reach Dir.
	if err := os.Chmod(root, 0o755); err != nil {
		return err
	}

	u, err := lookupUser(s.opts.User)
	if err != nil {
		return err
	}
	s.User = u.Username
	if s.uid, err = strconv.Atoi(u.Uid); err != nil {
		return fmt.Errorf("uid of %s: %w", u.Username, err)
	}
	if s.gid, err = strconv.Atoi(u.Gid); err != nil {
		return fmt.Errorf("gid of %s: %w", u.Username, err)
	}

	s.Dir = filepath.Join(root, "dir")
	if err := os.Mkdir(s.Dir, 0o755); err != nil {
		return err
	}
	if err := os.Chown(s.Dir, s.uid, s.gid); err != nil {
		return fmt.Errorf("chown remote dir to %s: %w", s.User, err)
	}

	hostKey := filepath.Join(root, "ssh_host_ed25519_key")
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sshdtest", "-f", hostKey).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ssh-keygen host key: %w: %s", err, out)
	}
	pub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		return err
	}
	if s.HostPublicKey, _, _, _, err = ssh.ParseAuthorizedKey(pub); err != nil {
		return fmt.Errorf("parse host key: %w", err)
	}

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if s.ClientSigner, err = ssh.NewSignerFromKey(priv); err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "sshdtest client")
	if err != nil {
		return err
	}
	s.ClientKeyFile = filepath.Join(root, "client_ed25519")
	if err := os.WriteFile(s.ClientKeyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return err
	}
	return s.AuthorizeKey(s.ClientSigner.PublicKey())
}

// AuthorizeKey adds a client public key to authorized_keys (sshd reads the
// file at every login, so this works while it runs).
func (s *Server) AuthorizeKey(k ssh.PublicKey) error {
	f, err := os.OpenFile(filepath.Join(s.Root, "authorized_keys"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(ssh.MarshalAuthorizedKey(k)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// HostKeyLine is the host key as "ssh-ed25519 AAAA…", the form an
// administrator pins.
func (s *Server) HostKeyLine() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostPublicKey)))
}

func lookupUser(name string) (*user.User, error) {
	if name == "" {
		u, err := user.Current()
		if err != nil {
			return nil, fmt.Errorf("current user: %w", err)
		}
		return u, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("login user %q: %w", name, err)
	}
	return u, nil
}

func (s *Server) pickPort() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	return l.Close()
}

func (s *Server) writeConfig() error {
	permitRoot := "no"
	if s.uid == 0 {
		// Tests run as root in the sandbox and in CI; keys only.
		permitRoot = "prohibit-password"
	}
	cfg := fmt.Sprintf(`# written by sshdtest
ListenAddress %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin %s
AllowUsers %s
UsePAM no
StrictModes no
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
MaxStartups 100
LogLevel VERBOSE
Subsystem sftp internal-sftp
`, s.Addr,
		filepath.Join(s.Root, "ssh_host_ed25519_key"),
		filepath.Join(s.Root, "sshd.pid"),
		filepath.Join(s.Root, "authorized_keys"),
		permitRoot, s.User)
	s.cfg = filepath.Join(s.Root, "sshd_config")
	return os.WriteFile(s.cfg, []byte(cfg), 0o600)
}

func (s *Server) start() error {
	var cmd *exec.Cmd
	if s.opts.DiskBytes > 0 {
		// sh execs sshd, and unshare execs sh, so cmd's pid is sshd's pid.
		script := `mount -t tmpfs -o "size=$1,mode=0755,uid=$2,gid=$3" sshdtest "$4" || exit 97; exec "$5" -D -e -f "$6"`
		cmd = exec.Command("unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh",
			strconv.FormatInt(s.opts.DiskBytes, 10), strconv.Itoa(s.uid), strconv.Itoa(s.gid), s.Dir, sshdPath, s.cfg)
	} else {
		cmd = exec.Command(sshdPath, "-D", "-e", "-f", s.cfg)
	}
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	// If the test binary dies without running Cleanup, take sshd with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("sshd exited during start: %v", cmd.ProcessState)
		default:
		}
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			// Read the banner so we know it is our sshd answering, not
			// some other process that raced us to the port.
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 8)
			n, _ := c.Read(buf)
			c.Close()
			if bytes.HasPrefix(buf[:n], []byte("SSH-2.0")) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("sshd did not accept on %s within 10s", s.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Pid is the process id of the listening sshd (0 if stopped).
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	select {
	case <-s.exited:
		return 0
	default:
	}
	return s.cmd.Process.Pid
}

// LocalPath is the path under which the test process itself reaches
// Dir/name. It is Dir/name except with DiskBytes, where Dir is a tmpfs that
// exists only in sshd's mount namespace and is reached via /proc/PID/root.
func (s *Server) LocalPath(name string) string {
	p := filepath.Join(s.Dir, name)
	if s.opts.DiskBytes > 0 {
		if pid := s.Pid(); pid != 0 {
			return filepath.Join("/proc", strconv.Itoa(pid), "root", p)
		}
	}
	return p
}

// KillConnections SIGKILLs every per-connection sshd process (all
// descendants of the listener) and waits until they are gone, so that clients
// see their connection drop. The listener keeps running and accepts new
// connections. It returns how many processes were killed.
func (s *Server) KillConnections() int {
	pid := s.Pid()
	if pid == 0 {
		return 0
	}
	kids := descendants(pid)
	for _, k := range kids {
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, k := range kids {
		for alive(k) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return len(kids)
}

// FreezeConnections SIGSTOPs every per-connection sshd process: the TCP
// connections stay open but nothing answers, as when a cable is pulled or
// the machine hangs. New connections are still accepted. Kill or thaw them
// with the returned function (Stop and Cleanup kill them too).
func (s *Server) FreezeConnections() (thaw func()) {
	pid := s.Pid()
	if pid == 0 {
		return func() {}
	}
	kids := descendants(pid)
	for _, k := range kids {
		_ = syscall.Kill(k, syscall.SIGSTOP)
	}
	return func() {
		for _, k := range kids {
			_ = syscall.Kill(k, syscall.SIGCONT)
		}
	}
}

// Stop kills sshd and its per-connection children. Clients then get
// "connection refused". With DiskBytes the tmpfs and its content are gone.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	s.KillConnections()
	_ = cmd.Process.Kill()
	<-exited
}

// Restart stops sshd and starts it again on the same address with the same
// host key and authorized keys.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("sshdtest: restart: %v\n%s", err, s.log.String())
	}
}

// Log returns what sshd wrote so far (it runs with -e and LogLevel VERBOSE).
func (s *Server) Log() string { return s.log.String() }

func (s *Server) cleanup() {
	s.Stop()
	if s.t.Failed() {
		s.t.Logf("sshd output:\n%s", s.log.String())
	}
	if s.Root != "" {
		_ = os.RemoveAll(s.Root)
	}
}

// descendants lists all live descendants of pid by walking /proc.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, state, ok := procStat(p)
		if !ok || state == 'Z' {
			continue
		}
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != 'Z'
}

// procStat reads ppid and state from /proc/PID/stat. The command name is in
// parentheses and may contain spaces, so parse from the last ')'.
func procStat(pid int) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, false
	}
	return ppid, f[0][0], true
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
