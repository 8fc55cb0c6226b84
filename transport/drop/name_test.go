package drop

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanName(t *testing.T) {
	good := []string{"a", "A.pgp", "CARDS_2024-01-02.pgp.asc", "0", "x.", "a..b", strings.Repeat("a", 200)}
	bad := []string{"", ".", "..", ".hidden", ".part-0123", "-rf", "_x", "a/b", "/a", "a\\b", "a b", "a\x00b",
		"a\nb", "\x1b[2J", "é.pgp", "e\u0301.pgp", "a:b", "*", "a?", strings.Repeat("a", 201), "a\u202eb"}
	for _, n := range good {
		if got, err := cleanName(n); err != nil || got != n {
			t.Errorf("cleanName(%q) = %q, %v; want it accepted unchanged", n, got, err)
		}
	}
	for _, n := range bad {
		if _, err := cleanName(n); !errors.Is(err, ErrBadName) {
			t.Errorf("cleanName(%q) = %v, want ErrBadName", n, err)
		}
	}
}

func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"a.pgp", "..", "../x", ".part-1", "a\x00", "é", strings.Repeat("z", 201), "-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := cleanName(name)
		if err != nil {
			if !errors.Is(err, ErrBadName) {
				t.Fatalf("error %v does not wrap ErrBadName", err)
			}
			if !utf8.ValidString(err.Error()) || strings.ContainsAny(err.Error(), "\n\r\x00\x1b") {
				t.Fatalf("error text carries raw input: %q", err.Error())
			}
			return
		}
		if got != name {
			t.Fatalf("accepted %q but returned %q", name, got)
		}
		if len(name) == 0 || len(name) > maxNameLen {
			t.Fatalf("accepted length %d", len(name))
		}
		if name[0] == '.' || name[0] == '-' || !filepath.IsLocal(name) || filepath.Base(name) != name ||
			strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
			t.Fatalf("accepted unsafe %q", name)
		}
		for i := 0; i < len(name); i++ {
			if c := name[i]; c < 0x21 || c > 0x7e {
				t.Fatalf("accepted byte %#x in %q", c, name)
			}
		}
		if isTempName(name) {
			t.Fatalf("accepted a temporary name %q", name)
		}
	})
}

func TestCheckIssuer(t *testing.T) {
	for _, n := range []string{"a", "bank-1", "b.c_d", "0", strings.Repeat("a", 64)} {
		if err := checkIssuer(n); err != nil {
			t.Errorf("checkIssuer(%q) = %v", n, err)
		}
	}
	for _, n := range []string{"", "A", "Bank", ".a", "-a", "_a", "a/b", "..", "a b", strings.Repeat("a", 65), "é"} {
		if err := checkIssuer(n); !errors.Is(err, ErrBadIssuer) {
			t.Errorf("checkIssuer(%q) = %v, want ErrBadIssuer", n, err)
		}
	}
}

func TestEnsureIssuerDirs(t *testing.T) {
	root := filepath.Join(t.TempDir(), "drop")
	if err := EnsureIssuerDirs(root, "alpha"); err != nil {
		t.Fatal(err)
	}
	// Idempotent, and it tightens loose modes.
	os.Chmod(filepath.Join(root, "alpha", "outbox"), 0o755)
	if err := EnsureIssuerDirs(root, "alpha"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"alpha", "alpha/incoming", "alpha/outbox"} {
		fi, err := os.Lstat(filepath.Join(root, d))
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v", d, fi.Mode(), err)
		}
	}
	if err := EnsureIssuerDirs(root, "../x"); !errors.Is(err, ErrBadIssuer) {
		t.Errorf("bad issuer: %v", err)
	}
	// A symlink where the jail should be is refused, not followed.
	os.Mkdir(filepath.Join(root, "beta"), 0o700)
	os.Symlink(t.TempDir(), filepath.Join(root, "beta", "incoming"))
	if err := EnsureIssuerDirs(root, "beta"); err == nil {
		t.Errorf("symlinked incoming accepted")
	}
}

func TestHostKeyFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "host_key")
	gen, err := GenerateHostKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if gen.PublicKey().Type() != "ssh-ed25519" {
		t.Errorf("type %s", gen.PublicKey().Type())
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	loaded, err := HostKeyFromFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(loaded.PublicKey().Marshal()) != string(gen.PublicKey().Marshal()) {
		t.Errorf("loaded key differs")
	}
	if _, err := GenerateHostKey(p); err == nil {
		t.Errorf("GenerateHostKey overwrote an existing key")
	}
	os.Chmod(p, 0o644)
	if _, err := HostKeyFromFile(p); !errors.Is(err, ErrKeyExposed) {
		t.Errorf("world-readable key: %v, want ErrKeyExposed", err)
	}
	// A key made by ssh-keygen loads too.
	requireSFTP(t)
	file, _ := newKey(t, dir, "openssh")
	if _, err := HostKeyFromFile(file); err != nil {
		t.Errorf("ssh-keygen key: %v", err)
	}
}

func TestCleanNameRefusesCardNumbers(t *testing.T) {
	for _, n := range []string{"4000001234567899.gpg", "cards-4000001234567899", "400000-1234-5678-99.csv"} {
		_, err := cleanName(n)
		if !errors.Is(err, ErrBadName) {
			t.Errorf("cleanName(%q) = %v, want ErrBadName", n, err)
		}
		if err != nil && strings.Contains(err.Error(), "1234") {
			t.Errorf("the refusal of %q repeats the number: %v", n, err)
		}
	}
	if _, err := cleanName("batch-20261125.gpg"); err != nil {
		t.Errorf("a date in a name is not a card number: %v", err)
	}
}

func TestConnectionsPerIssuerAreBounded(t *testing.T) {
	s := &Server{}
	for i := 0; i < maxConnsPerIssuer; i++ {
		if !s.enter("acme") {
			t.Fatalf("connection %d refused", i+1)
		}
	}
	if s.enter("acme") {
		t.Errorf("connection %d accepted", maxConnsPerIssuer+1)
	}
	if !s.enter("other") {
		t.Errorf("another issuer is refused")
	}
	s.leave("acme")
	if !s.enter("acme") {
		t.Errorf("a freed place is not given again")
	}
}
