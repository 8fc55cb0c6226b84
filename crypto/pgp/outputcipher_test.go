package pgp

import (
	"bytes"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/stretchr/testify/require"
)

// TestOutputCipherMatchesWhatIsWritten encrypts to recipients with different
// preferences and reads the choice back from the packets themselves: the
// SEIPDv2 header names its cipher and mode, and a SEIPDv1 session key
// packet names its cipher once decrypted with the recipient's test-only key.
func TestOutputCipherMatchesWhatIsWritten(t *testing.T) {
	newKey := func(aead *packet.AEADConfig, edit func(*packet.Signature)) *openpgp.Entity {
		e, err := openpgp.NewEntity("test-only recipient", "", "test-only-recipient@example.invalid",
			&packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, DefaultCipher: packet.CipherAES256, AEADConfig: aead})
		require.NoError(t, err)
		if edit != nil {
			sig, _ := e.PrimarySelfSignature()
			require.NotNil(t, sig)
			edit(sig)
		}
		return e
	}
	gcm := &packet.AEADConfig{DefaultMode: packet.AEADModeGCM}
	ocb := &packet.AEADConfig{DefaultMode: packet.AEADModeOCB}
	cases := []struct {
		name string
		to   *openpgp.Entity
		want string
	}{
		{"AEAD key preferring GCM", newKey(gcm, nil), "SEIPDv2 AES-256-GCM"},
		{"AEAD key listing OCB only", newKey(ocb, nil), "SEIPDv2 AES-256-OCB"},
		{"AEAD key listing no suites", newKey(gcm, func(s *packet.Signature) { s.PreferredCipherSuites = nil }), "SEIPDv2 AES-128-OCB"},
		{"AEAD key listing AES-128-GCM only", newKey(gcm, func(s *packet.Signature) {
			s.PreferredCipherSuites = [][2]uint8{{uint8(packet.CipherAES128), uint8(packet.AEADModeGCM)}}
		}), "SEIPDv2 AES-128-GCM"},
		{"v1 key", newKey(nil, nil), "SEIPDv1 AES-256"},
		{"v1 key listing AES-128 only", newKey(nil, func(s *packet.Signature) { s.PreferredSymmetric = []uint8{uint8(packet.CipherAES128)} }), "SEIPDv1 AES-128"},
		{"v1 key listing no AES", newKey(nil, func(s *packet.Signature) { s.PreferredSymmetric = []uint8{uint8(packet.Cipher3DES)} }), "SEIPDv1 AES-128"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, OutputCipher(c.to))
			var buf bytes.Buffer
			wc, err := Encrypt(&buf, c.to, nil)
			require.NoError(t, err)
			_, err = wc.Write([]byte("test-only production data\n"))
			require.NoError(t, err)
			require.NoError(t, wc.Close())
			require.Equal(t, c.want, writtenCipher(t, buf.Bytes(), c.to))
		})
	}
	t.Run("the data room's own certificate", func(t *testing.T) {
		require.Equal(t, "SEIPDv2 AES-256-GCM", OutputCipher(w.dataRoomPub))
	})
}

// writtenCipher reads the encryption of an Encrypt output back from its packets.
func writtenCipher(t *testing.T, msg []byte, to *openpgp.Entity) string {
	t.Helper()
	pr := packet.NewReader(bytes.NewReader(msg))
	p, err := pr.Next()
	require.NoError(t, err)
	ek, ok := p.(*packet.EncryptedKey)
	require.True(t, ok, "first packet %T", p)
	p, err = pr.Next()
	require.NoError(t, err)
	se, ok := p.(*packet.SymmetricallyEncrypted)
	require.True(t, ok, "second packet %T", p)
	if se.Version == 2 {
		return "SEIPDv2 " + cipherName(se.Cipher) + "-" + aeadName(se.Mode)
	}
	require.Len(t, to.Subkeys, 1)
	require.NoError(t, ek.Decrypt(to.Subkeys[0].PrivateKey, nil))
	return "SEIPDv1 " + cipherName(ek.CipherFunc)
}
