package drop

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestPutArrives(t *testing.T) {
	ts := startServer(t, nil)
	local, data := ts.localFile("report.pgp", 300<<10+17)
	out, err := ts.as("alpha", "put "+local+" incoming/report.pgp\nls -l incoming\n")
	if err != nil {
		t.Fatalf("sftp: %v\n%s", err, out)
	}
	t.Logf("client:\n%s", out)
	t.Logf("log:\n%s", ts.logBuf.String())
	got := ts.arrivals()
	if len(got) != 1 {
		t.Fatalf("arrivals = %+v, want one", got)
	}
	want := filepath.Join(ts.root, "alpha", "incoming", "report.pgp")
	if got[0] != (arrival{"alpha", "report.pgp", want}) {
		t.Fatalf("arrival = %+v, want alpha report.pgp %s", got[0], want)
	}
	disk, err := os.ReadFile(want)
	if err != nil || !bytes.Equal(disk, data) {
		t.Fatalf("file on disk differs (err %v)", err)
	}
	if !strings.Contains(out, "report.pgp") {
		t.Errorf("ls incoming does not show the file:\n%s", out)
	}
}

// putFixture uploads incoming/a.pgp as alpha and places outbox/report.txt.
func putFixture(t *testing.T, ts *testServer) (local string) {
	t.Helper()
	local, _ = ts.localFile("a.pgp", 1000)
	if out, err := ts.as("alpha", "put "+local+" incoming/a.pgp\n"); err != nil {
		t.Fatalf("put: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(ts.root, "alpha", "outbox", "report.txt"), []byte("report\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return local
}

func TestRefusals(t *testing.T) {
	ts := startServer(t, nil)
	local := putFixture(t, ts)
	bigger, _ := ts.localFile("bigger.pgp", 2000)
	before := tree(t, ts.root)

	cases := []struct {
		name, user, script, what string
	}{
		{"cd above the jail", "alpha", "cd ..", `realpath "/.."`},
		{"cd outside", "alpha", "cd /etc", `stat "/etc"`},
		{"put with dot-dot", "alpha", "cd incoming\nput " + local + " ../../evil", `put "/evil"`},
		{"put absolute", "alpha", "put " + local + " /etc/evil", `put "/etc/evil"`},
		{"put to jail top", "alpha", "put " + local + " /evil", `put "/evil"`},
		{"put into outbox", "alpha", "put " + local + " outbox/x.pgp", `put "/outbox/x.pgp"`},
		{"put hidden name", "alpha", "put " + local + " incoming/.hidden", `put "/incoming/.hidden"`},
		{"put bad name", "alpha", "put " + local + ` "incoming/bad name"`, `put "/incoming/bad name"`},
		{"put into subdirectory", "alpha", "put " + local + " incoming/d/x", `put "/incoming/d/x"`},
		{"overwrite", "alpha", "put " + local + " incoming/a.pgp", `put "/incoming/a.pgp"`},
		{"resume", "alpha", "reput " + bigger + " incoming/a.pgp", `put "/incoming/a.pgp"`},
		{"symlink", "alpha", "symlink /etc/passwd incoming/pw", `symlink "/incoming/pw"`},
		{"ln -s", "alpha", "ln -s incoming/a.pgp incoming/s", `symlink "/incoming/s"`},
		{"hard link", "alpha", "ln incoming/a.pgp incoming/b.pgp", `link "/incoming/a.pgp"`},
		{"rename", "alpha", "rename incoming/a.pgp incoming/b.pgp", `rename "/incoming/a.pgp"`},
		{"rename out of the jail", "alpha", "rename incoming/a.pgp ../../x", `rename "/incoming/a.pgp"`},
		{"rm own arrived file", "alpha", "rm incoming/a.pgp", `remove "/incoming/a.pgp"`},
		{"rm outbox", "alpha", "rm outbox/report.txt", `remove "/outbox/report.txt"`},
		{"rm of another issuer", "beta", "rm /alpha/incoming/a.pgp", `remove "/alpha/incoming/a.pgp"`},
		{"get from incoming", "alpha", "get incoming/a.pgp " + filepath.Join(ts.dir, "got"), `get "/incoming/a.pgp"`},
		{"mkdir", "alpha", "mkdir incoming/d", `mkdir "/incoming/d"`},
		{"rmdir", "alpha", "rmdir outbox", `rmdir "/outbox"`},
		{"chmod", "alpha", "chmod 644 incoming/a.pgp", `setstat "/incoming/a.pgp"`},
		{"list another issuer", "beta", "ls /alpha", `"/alpha"`},
		{"get another issuer's file", "beta", "get /../alpha/outbox/report.txt " + filepath.Join(ts.dir, "got"), `"/alpha/outbox/report.txt"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := len(ts.refused())
			out, err := ts.as(c.user, c.script+"\n")
			if err == nil {
				t.Errorf("client succeeded:\n%s", out)
			}
			var found bool
			for _, r := range ts.refused()[n:] {
				if strings.Contains(r.what, c.what) {
					found = true
					if r.issuer != c.user || r.remote == "" || r.reason == "" {
						t.Errorf("refusal %+v: want issuer %s, a remote and a reason", r, c.user)
					}
				}
			}
			if !found {
				t.Errorf("no refusal with %q; got %+v\nclient:\n%s", c.what, ts.refused()[n:], out)
			}
		})
	}

	if got := len(ts.arrivals()); got != 1 {
		t.Errorf("arrivals = %d, want only the fixture's", got)
	}
	if _, err := os.Lstat("/etc/evil"); err == nil {
		t.Errorf("/etc/evil exists")
	}
	after := tree(t, ts.root)
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("files changed:\nbefore %q\nafter  %q", before, after)
	}
	for _, p := range tree(t, filepath.Dir(ts.root)) {
		switch filepath.Base(p) {
		case "evil", "x", "pw", "s", "b.pgp", "d", "x.pgp":
			t.Errorf("%s was created", p)
		}
	}
	disk, _ := os.ReadFile(filepath.Join(ts.root, "alpha", "incoming", "a.pgp"))
	orig, _ := os.ReadFile(local)
	if !bytes.Equal(disk, orig) {
		t.Errorf("incoming/a.pgp was changed")
	}
}

func TestIssuerIsolation(t *testing.T) {
	ts := startServer(t, nil)
	putFixture(t, ts)
	out, err := ts.as("beta", "ls -la incoming\nls -la outbox\nls -la /\n")
	if err != nil {
		t.Fatalf("beta: %v\n%s", err, out)
	}
	if strings.Contains(out, "a.pgp") || strings.Contains(out, "report.txt") || strings.Contains(out, "alpha") {
		t.Errorf("beta sees alpha's files:\n%s", out)
	}
	for _, script := range []string{"cd /alpha", "cd ../alpha", "get /alpha/incoming/a.pgp", "ls ../../alpha/outbox"} {
		start := time.Now()
		out, err := ts.as("beta", script+"\n")
		t.Logf("%q took %v", script, time.Since(start))
		if err == nil {
			t.Errorf("beta %q succeeded:\n%s", script, out)
		}
	}
	for _, a := range ts.arrivals() {
		if a.issuer != "alpha" {
			t.Errorf("unexpected arrival %+v", a)
		}
	}
}

func TestGetFromOutbox(t *testing.T) {
	ts := startServer(t, nil)
	putFixture(t, ts)
	// Planted by someone with access to the disk: neither may be served.
	secret := filepath.Join(ts.dir, "secret")
	os.WriteFile(secret, []byte("secret"), 0o600)
	outbox := filepath.Join(ts.root, "alpha", "outbox")
	if err := os.Symlink(secret, filepath.Join(outbox, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("report.txt", filepath.Join(outbox, "inside")); err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(ts.dir, "got")
	out, err := ts.as("alpha", "ls -l outbox\nget outbox/report.txt "+got+"\n")
	if err != nil {
		t.Fatalf("get: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(got); string(b) != "report\n" {
		t.Errorf("got %q", b)
	}
	if strings.Contains(out, "escape") || strings.Contains(out, "inside") {
		t.Errorf("listing shows symlinks:\n%s", out)
	}
	for _, name := range []string{"escape", "inside"} {
		dst := filepath.Join(ts.dir, "got-"+name)
		if out, err := ts.as("alpha", "get outbox/"+name+" "+dst+"\n"); err == nil {
			t.Errorf("get of symlink %s succeeded:\n%s", name, out)
		}
		if _, err := os.Stat(dst); err == nil {
			t.Errorf("symlink %s was downloaded", name)
		}
	}
}

func TestAuthRefused(t *testing.T) {
	ts := startServer(t, nil)
	cases := []struct{ name, user, key string }{
		{"unknown key", "alpha", ts.keys["stranger"]},
		{"right key, wrong user", "beta", ts.keys["alpha"]},
		{"unknown user", "gamma", ts.keys["alpha"]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := len(ts.refused())
			out, err := ts.batch(c.user, c.key, "ls\n")
			if err == nil {
				t.Fatalf("login succeeded:\n%s", out)
			}
			var found bool
			for _, r := range ts.refused()[n:] {
				if strings.HasPrefix(r.what, "auth publickey as "+`"`+c.user+`"`) && r.issuer == c.user && r.remote != "" {
					found = true
				}
			}
			if !found {
				t.Errorf("no auth refusal for %s; got %+v", c.user, ts.refused()[n:])
			}
		})
	}
	if a := ts.arrivals(); len(a) != 0 {
		t.Errorf("arrivals: %+v", a)
	}
}

func TestMaxFileSize(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.MaxFileSize = 1 << 20 })
	exact, _ := ts.localFile("exact.pgp", 1<<20)
	if out, err := ts.as("alpha", "put "+exact+" incoming/exact.pgp\n"); err != nil {
		t.Fatalf("file of exactly MaxFileSize refused: %v\n%s", err, out)
	}
	big, _ := ts.localFile("big.pgp", 2<<20)
	out, err := ts.as("alpha", "put "+big+" incoming/big.pgp\n")
	if err == nil {
		t.Fatalf("oversized put succeeded:\n%s", out)
	}
	r := ts.waitRefused(`put "/incoming/big.pgp"`)
	if !strings.Contains(r.reason, "larger than") {
		t.Errorf("reason %q", r.reason)
	}
	if names := dirNames(t, filepath.Join(ts.root, "alpha", "incoming")); strings.Join(names, " ") != "exact.pgp" {
		t.Errorf("incoming holds %q, want only exact.pgp", names)
	}
	if a := ts.arrivals(); len(a) != 1 || a[0].name != "exact.pgp" {
		t.Errorf("arrivals %+v", a)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

func TestKilledMidUpload(t *testing.T) {
	ts := startServer(t, nil)
	big, _ := ts.localFile("big.pgp", 16<<20)
	bf := filepath.Join(ts.dir, "batch-big")
	os.WriteFile(bf, []byte("put "+big+" incoming/big.pgp\n"), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// -l limits the client to 4 Mbit/s, so the upload takes long enough
	// to be killed in the middle.
	cmd := ts.sftpCmd(ctx, "alpha", ts.keys["alpha"], "-l", "4000", "-b", bf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	incoming := filepath.Join(ts.root, "alpha", "incoming")
	deadline := time.Now().Add(20 * time.Second)
	for {
		var partial int64
		for _, n := range dirNames(t, incoming) {
			if fi, err := os.Stat(filepath.Join(incoming, n)); err == nil && strings.HasPrefix(n, tempPrefix) {
				partial = fi.Size()
			}
		}
		if partial > 256<<10 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("upload did not start; log:\n%s", ts.logBuf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// While in flight the partial file is invisible to the issuer.
	if out, err := ts.as("alpha", "ls -la incoming\n"); err != nil || strings.Contains(out, "big.pgp") || strings.Contains(out, ".part") {
		t.Errorf("listing during upload (err %v):\n%s", err, out)
	}
	cmd.Process.Kill()
	cmd.Wait()

	r := ts.waitRefused(`put "/incoming/big.pgp"`)
	if !strings.Contains(r.reason, "aborted") {
		t.Errorf("reason %q", r.reason)
	}
	if names := dirNames(t, incoming); len(names) != 0 {
		t.Errorf("incoming holds %q after the kill", names)
	}
	if a := ts.arrivals(); len(a) != 0 {
		t.Errorf("arrivals %+v", a)
	}
	// The name is free again: a full upload now succeeds.
	small, _ := ts.localFile("small.pgp", 100)
	if out, err := ts.as("alpha", "put "+small+" incoming/big.pgp\n"); err != nil {
		t.Fatalf("retry: %v\n%s", err, out)
	}
}

// put -p sends an fsetstat with the local mode and times after the data.
// Times are kept; a mode beyond 0600 is refused and fails the upload, so
// the client's "put failed" and the server agree.
func TestPutPreserve(t *testing.T) {
	ts := startServer(t, nil)
	private, _ := ts.localFile("private.pgp", 100)
	os.Chmod(private, 0o600)
	mtime := time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)
	os.Chtimes(private, mtime, mtime)
	if out, err := ts.as("alpha", "put -p "+private+" incoming/private.pgp\n"); err != nil {
		t.Fatalf("put -p of a 0600 file: %v\n%s", err, out)
	}
	fi, err := os.Stat(filepath.Join(ts.root, "alpha", "incoming", "private.pgp"))
	if err != nil || !fi.ModTime().Equal(mtime) || fi.Mode().Perm() != 0o600 {
		t.Errorf("stat %v %v: want mtime %v mode 0600", fi, err, mtime)
	}

	shared, _ := ts.localFile("shared.pgp", 100) // 0644
	out, err := ts.as("alpha", "put -p "+shared+" incoming/shared.pgp\n")
	if err == nil {
		t.Errorf("put -p of a 0644 file succeeded:\n%s", out)
	}
	ts.waitRefused(`setstat "/incoming/shared.pgp"`)
	if _, err := os.Lstat(filepath.Join(ts.root, "alpha", "incoming", "shared.pgp")); err == nil {
		t.Errorf("file arrived although its put failed")
	}
	if a := ts.arrivals(); len(a) != 1 {
		t.Errorf("arrivals %+v", a)
	}
}

func TestSweepStalePartials(t *testing.T) {
	root := t.TempDir()
	if err := EnsureIssuerDirs(root, "alpha"); err != nil {
		t.Fatal(err)
	}
	incoming := filepath.Join(root, "alpha", "incoming")
	stale := tempPrefix + strings.Repeat("ab", 16)
	for _, n := range []string{stale, ".keep", "done.pgp"} {
		os.WriteFile(filepath.Join(incoming, n), []byte("x"), 0o600)
	}
	hk, err := GenerateHostKey(filepath.Join(t.TempDir(), "hk"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Root: root, HostKey: hk, Authorize: func(string, ssh.PublicKey) (string, error) { return "", errors.New("no") }}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	// Serve sweeps before it accepts: once a connection is accepted, the
	// sweep is done.
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.Read(make([]byte, 1))
	c.Close()
	s.Close()
	s.Close() // twice is fine
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve = %v", err)
	}
	if got := strings.Join(dirNames(t, incoming), " "); got != ".keep done.pgp" {
		t.Errorf("incoming holds %q", got)
	}
	// Serve after Close returns at once.
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := s.Serve(l2); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close = %v", err)
	}
}
