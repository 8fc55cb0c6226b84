package audit

import (
	"crypto"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dataprep/dataprep/crypto/hsm"
)

// TestCheckpointWithSoftHSM signs checkpoints with a non-extractable,
// sign-only RSA-3072 key on a SoftHSM token through crypto11, as the daemon
// does with its HSM, and checks them with this package, OpenSSL and the
// Python reference verifier. (SoftHSM passes things a real HSM refuses; this
// shows the PKCS #11 mechanism and the encoding agree, not more.)
func TestCheckpointWithSoftHSM(t *testing.T) {
	if _, err := hsm.SoftHSMModule(); err != nil {
		t.Skipf("%v (make test installs softhsm2)", err)
	}
	cfg, err := hsm.InitDev(filepath.Join(t.TempDir(), "hsm"))
	require.NoError(t, err)
	h, err := hsm.Open(cfg)
	require.NoError(t, err)
	defer h.Close()
	key, err := h.GenerateRSAFor("dataprep-audit-checkpoint", 3072, hsm.UsageSign)
	require.NoError(t, err)

	l, dir := openTest(t)
	require.NoError(t, l.SetCheckpointer(key, "dataroom-1.example"))
	require.NoError(t, l.SetPolicy(CheckpointPolicy{Every: 2, MaxSegmentSize: 2048}))
	for i := 0; i < 8; i++ {
		_, err := l.Append(sampleEntry(i))
		require.NoError(t, err)
	}
	require.NoError(t, l.Close(), "the last checkpoint, before the HSM closes")
	rep, err := VerifyWith(dir, VerifyOptions{PublicKeys: []crypto.PublicKey{key.Public()}, RequireCheckpoint: true})
	require.NoError(t, err)
	assert.Greater(t, rep.Checkpoints, 4)
	assert.Greater(t, len(rep.Files), 1)
	assert.Equal(t, uint64(0), rep.Unsealed)
	assert.Len(t, rep.LastCheckpoint.Signature, 384)

	pem, err := MarshalPublicKey(key.Public())
	require.NoError(t, err)
	tmp := t.TempDir()
	keyFile := filepath.Join(tmp, "key.pem")
	require.NoError(t, os.WriteFile(keyFile, pem, 0o600))
	if _, err := exec.LookPath("openssl"); err == nil {
		require.NoError(t, os.WriteFile(filepath.Join(tmp, "signed.txt"), rep.LastCheckpoint.signedText(), 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(tmp, "signature.bin"), rep.LastCheckpoint.Signature, 0o600))
		out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", keyFile, "-signature",
			filepath.Join(tmp, "signature.bin"), filepath.Join(tmp, "signed.txt")).CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Equal(t, "Verified OK\n", string(out))
	}
	if python, err := exec.LookPath("python3"); err == nil {
		script, err := filepath.Abs(filepath.Join(goldenDir, referenceVerifier))
		require.NoError(t, err)
		out, err := exec.Command(python, script, "--key", keyFile, dir).CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Equal(t, outcome(rep, nil)+"\n", string(out))
	}
}
