package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestInitWithAnExistingToken: without --dev, init takes a PKCS#11 module,
// a token label and a PIN file, and refuses a PIN file others can read. Here
// the "real" HSM is a SoftHSM2 token made beforehand with softhsm2-util.
func TestInitWithAnExistingToken(t *testing.T) {
	t.Parallel() // each test owns its world: home, token, ports, sshd
	dir := t.TempDir()
	w := &world{t: t, dir: dir, home: filepath.Join(dir, "home"), bin: dataprepBin(t), gnupg: filepath.Join(dir, "gnupg"),
		stderr: &lockedBuffer{}, outputs: &lockedBuffer{}}
	tokens := filepath.Join(dir, "tokens")
	require.NoError(t, os.MkdirAll(tokens, 0o700))
	conf := filepath.Join(dir, "softhsm2.conf")
	require.NoError(t, os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\n"), 0o600))
	w.daemonEnv = []string{"SOFTHSM2_CONF=" + conf}
	w.cliEnv = w.daemonEnv
	cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "bureau-hsm", "--so-pin", "12345678", "--pin", "87654321")
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))

	pin := filepath.Join(dir, "pin")
	require.NoError(t, os.WriteFile(pin, []byte("87654321\n"), 0o644))
	w.secret("alice", adminPass)
	args := []string{"init", "--admin", "alice", "--admin-passphrase-file", w.passFile("alice"),
		"--pkcs11-module", "/usr/lib/softhsm/libsofthsm2.so", "--token-label", "bureau-hsm", "--pin-file", pin}
	w.fails("", "want 0600", args...)
	require.NoFileExists(t, filepath.Join(w.home, "dataprep.toml"))
	require.NoDirExists(t, filepath.Join(w.home, "audit"), "a refused init leaves nothing behind")
	require.NoError(t, os.Chmod(pin, 0o600))
	w.fails("", "--pkcs11-module", "init", "--admin", "alice", "--admin-passphrase-file", w.passFile("alice"))
	out2 := w.ok("", args...)
	require.Contains(t, out2, "data room key")
	require.NotContains(t, out2, "87654321", "the PIN is never printed")
	w.fails("", "already initialised", args...)

	w.start()
	w.ok("alice", "status")
	w.stop()
	raw, err := os.ReadFile(filepath.Join(w.home, "dataprep.toml"))
	require.NoError(t, err)
	require.NotContains(t, string(raw), "87654321", "the PIN is not in the configuration")
	require.NotContains(t, w.stderr.String(), "87654321")
	o, err := w.cli("", "audit", "verify")
	require.NoError(t, err, o)
}
