package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dataprep/dataprep/audit"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l, err := audit.Open(dir)
	require.NoError(t, err)
	for _, ev := range []string{"daemon.start", "login.failed", "file.received"} {
		_, err := l.Append(audit.Entry{Event: ev})
		require.NoError(t, err)
	}
	_, head := l.Head()
	require.NoError(t, l.Close())

	code, out, errOut := runCmd(dir)
	assert.Equal(t, 0, code, errOut)
	assert.Equal(t, "ok: 3 entries, head "+head+"\ncheckpoints: none\n"+
		"unsealed: 3 entries after the last checkpoint; only a checkpoint kept elsewhere that covers them (-against) vouches for them\n", out)

	// Tampered: a changed byte in the second entry.
	seg := filepath.Join(dir, "audit-000001.jsonl")
	b, err := os.ReadFile(seg)
	require.NoError(t, err)
	good := bytes.Clone(b)
	require.NoError(t, os.WriteFile(seg, bytes.Replace(b, []byte("login.failed"), []byte("login.faile0"), 1), 0o600))
	code, out, errOut = runCmd(dir)
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Equal(t, "audit log broken at "+seg+":2 (seq 2): hash does not match the entry\n", errOut)

	// Torn tail: exit 3, and the complete entries are reported.
	require.NoError(t, os.WriteFile(seg, append(good, `{"seq":4,"ti`...), 0o600))
	code, _, errOut = runCmd(dir)
	assert.Equal(t, 3, code)
	assert.True(t, strings.HasPrefix(errOut, "audit log has a torn tail at "+seg+":4 (seq 4): "), errOut)
	assert.Contains(t, errOut, "the 3 entries before it are ok, head "+head)

	// Not a log.
	code, _, errOut = runCmd(t.TempDir())
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no audit log")

	for _, args := range [][]string{nil, {"a", "b"}, {"-h"}, {"-key"}, {"-nope", "x"}, {dir, "-key", "k"}} {
		code, _, errOut = runCmd(args...)
		assert.Equal(t, 2, code)
		assert.Contains(t, errOut, "usage:")
	}
}

// signedLog writes a log with checkpoints by key and returns its directory,
// the key's PEM file, and the checkpoint Close wrote, exported to a file.
func signedLog(t *testing.T, key *ecdsa.PrivateKey) (dir, keyFile, ckFile string) {
	t.Helper()
	tmp := t.TempDir()
	dir = filepath.Join(tmp, "log")
	l, err := audit.Open(dir)
	require.NoError(t, err)
	require.NoError(t, l.SetCheckpointer(key, "dataroom-1.example"))
	_, err = l.Checkpoint()
	require.NoError(t, err)
	for _, ev := range []string{"daemon.start", "login.failed", "file.received"} {
		_, err := l.Append(audit.Entry{Event: ev})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	c, err := audit.LatestCheckpoint(dir)
	require.NoError(t, err)
	ckFile = filepath.Join(tmp, "checkpoint")
	require.NoError(t, os.WriteFile(ckFile, c.Marshal(), 0o600))
	pem, err := audit.MarshalPublicKey(key.Public())
	require.NoError(t, err)
	keyFile = filepath.Join(tmp, "key.pem")
	require.NoError(t, os.WriteFile(keyFile, pem, 0o600))
	return dir, keyFile, ckFile
}

func TestRunWithKeyAndAgainst(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	dir, keyFile, ckFile := signedLog(t, key)

	code, out, errOut := runCmd("-key", keyFile, "-against", ckFile, "-require-checkpoint", "-origin", "dataroom-1.example", dir)
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "ok: 5 entries, head ")
	assert.Contains(t, out, "checkpoints: 2, every signature verified; the last covers seq 4")
	assert.Contains(t, out, "against: the log extends the external checkpoint")
	assert.NotContains(t, out, "unsealed")

	code, out, _ = runCmd(dir)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "signatures NOT checked (no -key)")

	// Another key: every checkpoint is signed by an unknown key.
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, otherKey, _ := signedLog(t, other)
	code, _, errOut = runCmd("-key", otherKey, dir)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "checkpoint signed by an unknown key")
	code, _, errOut = runCmd("-key", otherKey, "-against", ckFile, dir)
	assert.Equal(t, 1, code, "the external checkpoint's signature is checked too")
	assert.Contains(t, errOut, ckFile)
	code, _, _ = runCmd("-key", otherKey, "-key", keyFile, dir)
	assert.Equal(t, 0, code, "every key given is trusted")

	// The tail cut off after the last checkpoint: only -against sees it.
	seg := filepath.Join(dir, "audit-000001.jsonl")
	b, err := os.ReadFile(seg)
	require.NoError(t, err)
	lines := bytes.SplitAfter(b, []byte("\n"))
	require.NoError(t, os.WriteFile(seg, bytes.Join(lines[:3], nil), 0o600))
	code, _, errOut = runCmd("-key", keyFile, dir)
	assert.Equal(t, 0, code, errOut)
	code, _, errOut = runCmd("-key", keyFile, "-against", ckFile, dir)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "audit log cut off at "+seg+" (seq 4): the log ends at seq 3, before the entry 4 the external checkpoint covers")

	// Files that are not what they should be.
	code, _, errOut = runCmd("-key", ckFile, dir)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "unsupported checkpoint key")
	code, _, errOut = runCmd("-against", keyFile, dir)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "invalid audit checkpoint")
	code, _, _ = runCmd("-key", filepath.Join(t.TempDir(), "missing"), dir)
	assert.Equal(t, 2, code)

	// No checkpoint at all, when one is required.
	plain := filepath.Join(t.TempDir(), "plain")
	l, err := audit.Open(plain)
	require.NoError(t, err)
	_, err = l.Append(audit.Entry{Event: "daemon.start"})
	require.NoError(t, err)
	require.NoError(t, l.Close())
	code, _, errOut = runCmd("-require-checkpoint", plain)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no checkpoint")
}
