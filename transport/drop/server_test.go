package drop

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
