package pgp

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/stretchr/testify/require"
)

// Cases from a security review of Open: each built by hand with go-crypto's
// packet writers, each accepted by Open before the fix.

// A v6 one-pass signature whose salt is the first bytes of data the issuer
// signed under v4: the hash would come out the same over shorter content.
func TestOpenRefusesSaltShiftedSignature(t *testing.T) {
	priv := w.goIssuer.PrivateKey
	data := []byte("0123456789ABCDEF,amount\nalice,100\nbob,200\n")
	parts := goSignedParts(t, data) // a genuine v4 signature over data
	fpr := make([]byte, 32)
	copy(fpr, priv.Fingerprint[:8]) // the v6 key id is the fingerprint's first 8 bytes
	copy(fpr[:8], keyIDBytes(priv.KeyId))
	var ops bytes.Buffer
	require.NoError(t, (&packet.OnePassSignature{
		Version: 6, SigType: packet.SigTypeBinary, Hash: crypto.SHA256, PubKeyAlgo: priv.PubKeyAlgo,
		KeyId: priv.KeyId, KeyFingerprint: fpr, Salt: data[:16], IsLast: true,
	}).Serialize(&ops))
	msg := encryptRaw(t, cat(ops.Bytes(), literal(t, data[16:]), parts.sig), w.dataRoomPub.Subkeys[0].PublicKey)
	_, _, err := openAll(msg, w.dataRoom, w.goIssuerPub, 16*mib)
	require.ErrorIs(t, err, ErrBadSignature)
}

func keyIDBytes(id uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(id)
		id >>= 8
	}
	return b
}

// A text-mode signature verifies over other line endings than the ones
// signed; Open accepts only literal data already in canonical form.
func TestOpenTextModeNeedsCanonicalLines(t *testing.T) {
	priv := w.goIssuer.PrivateKey
	textSigned := func(signedOver, sent []byte) []byte {
		var ops bytes.Buffer
		require.NoError(t, (&packet.OnePassSignature{Version: 3, SigType: packet.SigTypeText, Hash: crypto.SHA256,
			PubKeyAlgo: priv.PubKeyAlgo, KeyId: priv.KeyId, IsLast: true}).Serialize(&ops))
		sig := &packet.Signature{SigType: packet.SigTypeText, PubKeyAlgo: priv.PubKeyAlgo, Hash: crypto.SHA256,
			CreationTime: time.Now(), IssuerKeyId: &priv.KeyId}
		// signedOver is canonical already, so it is hashed as it is. (Signing
		// through openpgp.NewCanonicalTextHash would also canonicalise the
		// signature trailer Sign appends, and fail whenever its creation
		// time holds a 0x0a byte.)
		h := crypto.SHA256.New()
		h.Write(signedOver)
		require.NoError(t, sig.Sign(h, priv, nil))
		var sb bytes.Buffer
		require.NoError(t, sig.Serialize(&sb))
		return encryptRaw(t, cat(ops.Bytes(), literal(t, sent), sb.Bytes()), w.dataRoomPub.Subkeys[0].PublicKey)
	}
	signed := []byte("a,b\r\n\"x\r\ny\",2\r\n")
	got, _, err := openAll(textSigned(signed, signed), w.dataRoom, w.goIssuerPub, 16*mib)
	require.NoError(t, err, "canonical text as gpg writes it")
	require.Equal(t, signed, got)
	_, _, err = openAll(textSigned(signed, []byte("a,b\n\"x\ny\",2\n")), w.dataRoom, w.goIssuerPub, 16*mib)
	require.ErrorIs(t, err, ErrBadSignature, "bare LFs: other bytes than the ones signed")
	_, _, err = openAll(textSigned(signed, []byte("a,b\r\r\n\"x\r\ny\",2\r\n")), w.dataRoom, w.goIssuerPub, 16*mib)
	require.ErrorIs(t, err, ErrBadSignature, "a stray CR")
}

// Each session-key packet for our key is an HSM decryption: a file may not
// carry many.
func TestOpenRefusesManySessionKeys(t *testing.T) {
	inner := goSignedParts(t, []byte("x,y\n")).all()
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	var buf bytes.Buffer
	for i := 0; i < maxSessionKeyPackets+1; i++ {
		require.NoError(t, packet.SerializeEncryptedKeyAEAD(&buf, w.dataRoomPub.Subkeys[0].PublicKey, packet.CipherAES256, false, key, nil))
	}
	wc, err := packet.SerializeSymmetricallyEncrypted(&buf, packet.CipherAES256, false, packet.CipherSuite{}, key, nil)
	require.NoError(t, err)
	wc.Write(inner)
	require.NoError(t, wc.Close())
	_, _, err = openAll(buf.Bytes(), w.dataRoom, w.goIssuerPub, 16*mib)
	require.ErrorIs(t, err, ErrCorrupt)
}
