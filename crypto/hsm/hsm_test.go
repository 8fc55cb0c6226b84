package hsm

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newToken makes a fresh SoftHSM token under t.TempDir() and opens it. Each
// test uses its own token; Close at cleanup finalises the module so that the
// next test's Open reads its own SOFTHSM2_CONF (see TestReopenReadsNewConf).
func newToken(t *testing.T) (*HSM, Config) {
	t.Helper()
	if _, err := SoftHSMModule(); err != nil {
		t.Fatalf("%v (make test installs softhsm2)", err)
	}
	cfg, err := InitDev(filepath.Join(t.TempDir(), "hsm"))
	require.NoError(t, err)
	h, err := Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, h.Close()) })
	return h, cfg
}

func TestInitDev(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hsm")
	cfg, err := InitDev(dir)
	require.NoError(t, err)
	assert.Equal(t, DevTokenLabel, cfg.TokenLabel)
	assert.Equal(t, filepath.Join(dir, "softhsm2.conf"), cfg.SoftHSMConf)
	for _, f := range []string{"softhsm2.conf", "so-pin.DEV-ONLY", "user-pin.DEV-ONLY"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), f)
	}
	so, err := os.ReadFile(filepath.Join(dir, "so-pin.DEV-ONLY"))
	require.NoError(t, err)
	user, err := os.ReadFile(filepath.Join(dir, "user-pin.DEV-ONLY"))
	require.NoError(t, err)
	assert.Len(t, user, 33)
	assert.NotEqual(t, so, user)

	_, err = InitDev(dir)
	assert.ErrorIs(t, err, ErrAlreadyInitialised)
}

func TestOpenRefusals(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hsm")
	cfg, err := InitDev(dir)
	require.NoError(t, err)

	t.Run("group-readable PIN file", func(t *testing.T) {
		c := cfg
		c.PINFile = filepath.Join(t.TempDir(), "pin")
		require.NoError(t, os.WriteFile(c.PINFile, []byte("1234\n"), 0o640))
		_, err := Open(c)
		assert.ErrorIs(t, err, ErrPINFile)
	})
	t.Run("missing PIN file", func(t *testing.T) {
		c := cfg
		c.PINFile = filepath.Join(t.TempDir(), "nope")
		_, err := Open(c)
		assert.ErrorIs(t, err, ErrPINFile)
	})
	t.Run("wrong PIN", func(t *testing.T) {
		c := cfg
		c.PINFile = filepath.Join(t.TempDir(), "pin")
		require.NoError(t, os.WriteFile(c.PINFile, []byte("not-the-pin\n"), 0o600))
		_, err := Open(c)
		assert.ErrorIs(t, err, ErrBadPIN)
		assert.NotContains(t, err.Error(), "not-the-pin")
	})
	t.Run("unknown token", func(t *testing.T) {
		c := cfg
		c.TokenLabel = "no-such-token"
		_, err := Open(c)
		assert.ErrorIs(t, err, ErrTokenNotFound)
	})
	// A failed Open must not leave the module counted as loaded.
	h, err := Open(cfg)
	require.NoError(t, err)
	require.NoError(t, h.Close())
}

func TestKeys(t *testing.T) {
	h, _ := newToken(t)

	signKey, err := h.GenerateRSAFor("test-sign", 2048, UsageSign)
	require.NoError(t, err)
	decKey, err := h.GenerateRSAFor("test-decrypt", 2048, UsageDecrypt)
	require.NoError(t, err)

	t.Run("attributes", func(t *testing.T) {
		a, err := h.Attributes(signKey)
		require.NoError(t, err)
		assert.Equal(t, KeyAttributes{
			Token: true, Private: true, Sensitive: true, AlwaysSensitive: true,
			Extractable: false, NeverExtractable: true, Sign: true, Decrypt: false,
		}, a)
		a, err = h.Attributes(decKey)
		require.NoError(t, err)
		assert.True(t, a.Sensitive)
		assert.False(t, a.Extractable)
		assert.True(t, a.Decrypt)
		assert.False(t, a.Sign)
	})

	t.Run("sign", func(t *testing.T) {
		digest := sha256.Sum256([]byte("hello"))
		sig, err := signKey.Sign(rand.Reader, digest[:], crypto.SHA256)
		require.NoError(t, err)
		require.NoError(t, rsa.VerifyPKCS1v15(signKey.Public().(*rsa.PublicKey), crypto.SHA256, digest[:], sig))
		// The token refuses the purpose the key was not made for.
		_, err = decKey.Sign(rand.Reader, digest[:], crypto.SHA256)
		assert.Error(t, err)
	})

	t.Run("decrypt", func(t *testing.T) {
		ct, err := rsa.EncryptPKCS1v15(rand.Reader, decKey.Public().(*rsa.PublicKey), []byte("session key"))
		require.NoError(t, err)
		pt, err := decKey.Decrypt(rand.Reader, ct, nil)
		require.NoError(t, err)
		assert.Equal(t, []byte("session key"), pt)

		ct, err = rsa.EncryptPKCS1v15(rand.Reader, signKey.Public().(*rsa.PublicKey), []byte("session key"))
		require.NoError(t, err)
		_, err = signKey.Decrypt(rand.Reader, ct, nil)
		assert.Error(t, err, "a signing key must not decrypt")
	})

	t.Run("find", func(t *testing.T) {
		k, err := h.FindKey("test-decrypt")
		require.NoError(t, err)
		assert.True(t, k.Public().(*rsa.PublicKey).Equal(decKey.Public()))
		_, err = h.FindKey("missing")
		assert.ErrorIs(t, err, ErrKeyNotFound)
	})

	t.Run("label taken", func(t *testing.T) {
		_, err := h.GenerateRSA("test-sign", 2048)
		assert.ErrorIs(t, err, ErrKeyExists)
	})

	t.Run("weak or bad requests", func(t *testing.T) {
		_, err := h.GenerateRSA("small", 1024)
		assert.Error(t, err)
		_, err = h.GenerateRSAFor("nothing", 2048, 0)
		assert.Error(t, err)
	})
}

// TestReopenReadsNewConf shows what the package relies on: when the last HSM
// of a module closes, crypto11 calls C_Finalize and unloads the module, and
// the next Open's C_Initialize makes SoftHSM read SOFTHSM2_CONF again.
func TestReopenReadsNewConf(t *testing.T) {
	cfgA, err := InitDev(filepath.Join(t.TempDir(), "a"))
	require.NoError(t, err)
	cfgB, err := InitDev(filepath.Join(t.TempDir(), "b"))
	require.NoError(t, err)

	a, err := Open(cfgA)
	require.NoError(t, err)
	_, err = a.GenerateRSA("only-in-a", 2048)
	require.NoError(t, err)

	// While A is open, B's configuration cannot take effect: refuse it.
	_, err = Open(cfgB)
	require.ErrorIs(t, err, ErrModuleInUse)

	// A second handle on the same token shares the module.
	a2, err := Open(cfgA)
	require.NoError(t, err)
	_, err = a2.FindKey("only-in-a")
	require.NoError(t, err)
	require.NoError(t, a2.Close())
	require.NoError(t, a.Ping(), "closing one handle must not finalise the module under the other")
	require.NoError(t, a.Close())

	b, err := Open(cfgB)
	require.NoError(t, err)
	defer b.Close()
	_, err = b.FindKey("only-in-a")
	assert.ErrorIs(t, err, ErrKeyNotFound, "B's token must not see A's key")
}

func TestPingAndClose(t *testing.T) {
	cfg, err := InitDev(filepath.Join(t.TempDir(), "hsm"))
	require.NoError(t, err)
	h, err := Open(cfg)
	require.NoError(t, err)
	k, err := h.GenerateRSA("k", 2048)
	require.NoError(t, err)
	require.NoError(t, h.Ping())

	require.NoError(t, h.Close())
	require.NoError(t, h.Close(), "Close twice is fine")
	assert.True(t, errors.Is(h.Ping(), ErrClosed))
	_, err = h.FindKey("k")
	assert.ErrorIs(t, err, ErrClosed)
	digest := sha256.Sum256(nil)
	_, err = k.Sign(rand.Reader, digest[:], crypto.SHA256)
	assert.ErrorIs(t, err, ErrClosed)

	// The key survives on the token.
	h, err = Open(cfg)
	require.NoError(t, err)
	defer h.Close()
	_, err = h.FindKey("k")
	assert.NoError(t, err)
}
