package main

import (
	"bytes"
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
	assert.Equal(t, "ok: 3 entries, head "+head+"\n", out)

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

	for _, args := range [][]string{nil, {"a", "b"}, {"-h"}} {
		code, _, errOut = runCmd(args...)
		assert.Equal(t, 2, code)
		assert.Contains(t, errOut, "usage:")
	}
}
