package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIssuerWithItsOwnProfile: a bank that sends JSON Lines is registered
// with its profile; its file is prepared by it, and the machine's key
// decrypts the production file to the formats package's golden output.
func TestIssuerWithItsOwnProfile(t *testing.T) {
	t.Parallel()
	w, _, fpr := staffed(t)
	jb := w.newIssuer("jbank")
	pub := filepath.Join(w.dir, "jbank-signing.asc")
	require.NoError(t, os.WriteFile(pub, w.gpg(nil, "--armor", "--export", jb.email), 0o644))
	prof := filepath.Join("..", "..", "testdata", "formats", "issuer", "jsonl.toml")
	bad := filepath.Join(w.dir, "bad.toml")
	require.NoError(t, os.WriteFile(bad, []byte("profile = \"issuer\"\nformat = \"jsonl\"\nmisspelt_key = 1\n"), 0o644))
	w.fails("alice", "--profile", "issuer", "add", "jbank", "--signing-key", pub, "--ssh-key", jb.sshKey+".pub", "--profile", bad)
	w.ok("alice", "issuer", "add", "jbank", "--signing-key", pub, "--ssh-key", jb.sshKey+".pub", "--profile", prof)

	plain, err := os.ReadFile(filepath.Join("..", "..", "testdata", "formats", "input", "mixed_records.jsonl"))
	require.NoError(t, err)
	out, err := jb.put(jb.encrypt(plain, fpr), "batch.jsonl.gpg")
	require.NoError(t, err, out)
	id := w.waitArrival("batch.jsonl.gpg")
	w.startJob(id)
	j := w.waitJob("bob", id, "ready", "rejected")
	require.Equal(t, "ready", j["state"], "%v", j)
	counts := j["counts"].(map[string]any)
	require.Positive(t, counts["rejected"], "the corpus mixes bad lines in")

	enc, err := os.ReadFile(filepath.Join(w.home, "spool", "production", id+".pgp"))
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join("..", "..", "testdata", "formats", "output", "mixed_records.jsonl.machine-fixed.golden"))
	require.NoError(t, err)
	require.Equal(t, string(want), string(w.gpg(enc, "--decrypt")))

	rep, err := os.ReadFile(filepath.Join(w.home, "drop", "jbank", "outbox", id+"-report.txt.asc"))
	require.NoError(t, err)
	w.gpg(rep, "--verify")
	require.Contains(t, string(rep), "rejected records (line, masked PAN, field, reason)")
	require.NotContains(t, string(rep), "4000000000158495", "the report masks PANs")
}
