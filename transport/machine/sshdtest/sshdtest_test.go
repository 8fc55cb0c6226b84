package sshdtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

func dial(t *testing.T, s *Server) (*ssh.Client, *sftp.Client) {
	t.Helper()
	cfg := &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(s.ClientSigner)},
		HostKeyCallback: ssh.FixedHostKey(s.HostPublicKey),
	}
	c, err := ssh.Dial("tcp", s.Addr, cfg)
	if err != nil {
		t.Fatalf("dial: %v\n%s", err, s.Log())
	}
	sc, err := sftp.NewClient(c)
	if err != nil {
		c.Close()
		t.Fatalf("sftp: %v", err)
	}
	t.Cleanup(func() { sc.Close(); c.Close() })
	return c, sc
}

func TestStartSFTPKillRestart(t *testing.T) {
	s := Start(t)
	_, sc := dial(t, s)
	f, err := sc.Create(s.Dir + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(s.LocalPath("hello"))
	if err != nil || string(b) != "hi" {
		t.Fatalf("read back: %q %v", b, err)
	}
	if n := s.KillConnections(); n == 0 {
		t.Fatal("no per-connection processes found")
	}
	if _, err := sc.Stat(s.Dir); err == nil {
		t.Fatal("connection still works after KillConnections")
	}
	// The listener survives.
	_, sc2 := dial(t, s)
	if _, err := sc2.Stat(s.Dir); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	_, sc3 := dial(t, s)
	if _, err := sc3.Stat(filepath.Join(s.Dir, "hello")); err != nil {
		t.Fatal(err)
	}
}

func TestUnprivilegedUser(t *testing.T) {
	s := StartWith(t, Options{User: "nobody"})
	_, sc := dial(t, s)
	ro := filepath.Join(s.Root, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Create(ro + "/x"); !os.IsPermission(err) {
		t.Fatalf("create in root-owned dir as nobody: %v, want permission denied", err)
	}
	f, err := sc.Create(s.Dir + "/x")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestDiskFull(t *testing.T) {
	s := StartWith(t, Options{DiskBytes: 256 << 10})
	_, sc := dial(t, s)
	vfs, err := sc.StatVFS(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if vfs.TotalSpace() > 1<<20 {
		t.Fatalf("dir is not the small tmpfs: %d bytes", vfs.TotalSpace())
	}
	f, err := sc.Create(s.Dir + "/big")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Write(make([]byte, 1<<20))
	f.Close()
	if err == nil || !strings.Contains(err.Error(), "failure") && !strings.Contains(err.Error(), "Failure") {
		t.Fatalf("write 1 MiB into 256 KiB: %v", err)
	}
	t.Logf("write error: %v", err)
	if _, err := os.Stat(s.LocalPath("big")); err != nil {
		t.Fatalf("LocalPath does not reach the tmpfs: %v", err)
	}
	// The mount is not visible in our namespace.
	if _, err := os.Stat(filepath.Join(s.Dir, "big")); err == nil {
		t.Fatal("tmpfs leaked into the test's mount namespace")
	}
}

func TestKeyFilesAndAuthorizeKey(t *testing.T) {
	s := Start(t)
	b, err := os.ReadFile(s.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(signer.PublicKey().Marshal()) != string(s.ClientSigner.PublicKey().Marshal()) {
		t.Fatal("ClientKeyFile holds another key")
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s.HostKeyLine()))
	if err != nil || string(k.Marshal()) != string(s.HostPublicKey.Marshal()) {
		t.Fatalf("HostKeyLine: %v", err)
	}
}
