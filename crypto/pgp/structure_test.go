package pgp

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The packets of one signed message, made separately with go-crypto's packet
// writers by the go-crypto issuer, to put together in ways gpg will not.
type signedParts struct{ ops, lit, sig []byte }

func (s signedParts) all() []byte { return cat(s.ops, s.lit, s.sig) }

func goSignedParts(t *testing.T, pt []byte) signedParts {
	t.Helper()
	priv := w.goIssuer.PrivateKey
	var s signedParts

	var ops bytes.Buffer
	require.NoError(t, (&packet.OnePassSignature{
		Version: 3, SigType: packet.SigTypeBinary, Hash: crypto.SHA256,
		PubKeyAlgo: priv.PubKeyAlgo, KeyId: priv.KeyId, IsLast: true,
	}).Serialize(&ops))
	s.ops = ops.Bytes()

	s.lit = literal(t, pt)

	sig := &packet.Signature{
		SigType: packet.SigTypeBinary, PubKeyAlgo: priv.PubKeyAlgo, Hash: crypto.SHA256,
		CreationTime: time.Now(), IssuerKeyId: &priv.KeyId,
	}
	h := crypto.SHA256.New()
	h.Write(pt)
	require.NoError(t, sig.Sign(h, priv, nil))
	var sb bytes.Buffer
	require.NoError(t, sig.Serialize(&sb))
	s.sig = sb.Bytes()
	return s
}

func literal(t *testing.T, pt []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	wc, err := packet.SerializeLiteral(nopCloser{&b}, true, "", 0)
	require.NoError(t, err)
	_, err = wc.Write(pt)
	require.NoError(t, err)
	require.NoError(t, wc.Close())
	return b.Bytes()
}

func compressed(t *testing.T, algo packet.CompressionAlgo, inner []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	wc, err := packet.SerializeCompressed(nopCloser{&b}, algo, nil)
	require.NoError(t, err)
	_, err = wc.Write(inner)
	require.NoError(t, err)
	require.NoError(t, wc.Close())
	return b.Bytes()
}

// encryptRawV2 is encryptRaw with a v6 PKESK and SEIPDv2 (AES-256-GCM).
func encryptRawV2(t *testing.T, inner []byte, pub *packet.PublicKey) []byte {
	t.Helper()
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, packet.SerializeEncryptedKeyAEAD(&buf, pub, packet.CipherAES256, true, key, nil))
	suite := packet.CipherSuite{Cipher: packet.CipherAES256, Mode: packet.AEADModeGCM}
	wc, err := packet.SerializeSymmetricallyEncrypted(&buf, packet.CipherAES256, true, suite, key, &packet.Config{})
	require.NoError(t, err)
	_, err = wc.Write(inner)
	require.NoError(t, err)
	require.NoError(t, wc.Close())
	return buf.Bytes()
}

// marker is an OpenPGP marker packet (tag 10, "PGP"), which readers must
// otherwise ignore.
var marker = []byte{0xCA, 0x03, 'P', 'G', 'P'}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func flipLast(b []byte) []byte {
	b = bytes.Clone(b)
	b[len(b)-1] ^= 0x01
	return b
}

func TestErrTrailingDataIsErrCorrupt(t *testing.T) {
	assert.ErrorIs(t, ErrTrailingData, ErrCorrupt)
	assert.NotEqual(t, ErrCorrupt.Error(), ErrTrailingData.Error())
	assert.False(t, errors.Is(ErrCorrupt, ErrTrailingData))
}

// One file, one signed message: nothing before it but session keys, nothing
// after it, inside the encryption or outside.
func TestOpenOneMessageOnly(t *testing.T) {
	a, b := csv(50), csv(70)
	first, second := issuerFile(t, a), issuerFile(t, b)

	// gpg --no-literal: gpg encrypts the bytes it is given as they are.
	gpgSigned := func(pt []byte) []byte { return gpgOut(t, pt, "--sign", "-z", "0", "-u", w.issuerFpr) }
	noLiteral := func(inner []byte) []byte {
		return gpgOut(t, inner, "--encrypt", "--no-literal", "-r", w.dataRoomFpr)
	}
	// The hostile corpus recipe fail_two-signed-messages-inside, as it is.
	twoInside := noLiteral(cat(gpgSigned(a), gpgSigned(b)))

	sa, sb := goSignedParts(t, a), goSignedParts(t, b)
	sub := w.dataRoomPub.Subkeys[0].PublicKey
	raw := func(inner []byte) []byte { return encryptRaw(t, inner, sub) }
	opsNotLast := bytes.Clone(sa.ops)
	opsNotLast[len(opsNotLast)-1] = 0 // "another one-pass signature follows"

	cases := []struct {
		name   string
		ct     []byte
		issuer openpgp.EntityList
		want   error
	}{
		// Bytes after the encrypted message.
		{"two gpg files concatenated", cat(first, second), nil, ErrTrailingData},
		{"two armored gpg files concatenated", cat(issuerFile(t, a, "--armor"), issuerFile(t, b, "--armor")), nil, ErrTrailingData},
		{"two SEIPDv2 files concatenated", cat(goEncrypted(t, a), goEncrypted(t, b)), w.goIssuerPub, ErrTrailingData},
		{"a newline after a binary file", cat(first, []byte("\n")), nil, ErrTrailingData},
		{"a zero byte after a binary file", cat(first, []byte{0}), nil, ErrTrailingData},
		{"text after the armor", cat(issuerFile(t, a, "--armor"), []byte("hello\n")), nil, ErrTrailingData},
		{"a marker packet after the encrypted data", cat(first, marker), nil, ErrTrailingData},
		{"two files, the first one's MDC broken", cat(flipLast(first), second), nil, ErrCorrupt},

		// Packets after the signed message, inside the encryption.
		{"two signed messages inside (gpg --no-literal)", twoInside, nil, ErrTrailingData},
		{"two signed messages inside (packet writers)", raw(cat(sa.all(), sb.all())), w.goIssuerPub, ErrTrailingData},
		{"two signed messages inside SEIPDv2", encryptRawV2(t, cat(sa.all(), sb.all()), sub), w.goIssuerPub, ErrTrailingData},
		{"a marker packet after the signature", raw(cat(sa.all(), marker)), w.goIssuerPub, ErrTrailingData},
		{"a second literal data packet after the signature", raw(cat(sa.all(), literal(t, b))), w.goIssuerPub, ErrTrailingData},
		{"a second literal data packet before the signature", raw(cat(sa.ops, sa.lit, literal(t, b), sa.sig)), w.goIssuerPub, ErrTrailingData},
		{"a second signature", raw(cat(sa.all(), sa.sig)), w.goIssuerPub, ErrTrailingData},
		{"two compressed packets", raw(cat(compressed(t, packet.CompressionZLIB, sa.all()), compressed(t, packet.CompressionZLIB, sb.all()))), w.goIssuerPub, ErrTrailingData},
		{"a marker packet after the compressed packet", raw(cat(compressed(t, packet.CompressionZIP, sa.all()), marker)), w.goIssuerPub, ErrTrailingData},
		{"a marker packet inside the compressed packet", raw(compressed(t, packet.CompressionZLIB, cat(sa.all(), marker))), w.goIssuerPub, ErrTrailingData},
		{"two signed messages inside, MDC broken", flipLast(raw(cat(sa.all(), sb.all()))), w.goIssuerPub, ErrCorrupt},
		{"two signed messages inside SEIPDv2, tag broken", flipLast(encryptRawV2(t, cat(sa.all(), sb.all()), sub)), w.goIssuerPub, ErrCorrupt},

		// Not the one grammar before the literal data.
		{"a marker packet before the one-pass signature", raw(cat(marker, sa.all())), w.goIssuerPub, ErrCorrupt},
		{"a marker packet before the literal data", raw(cat(sa.ops, marker, sa.lit, sa.sig)), w.goIssuerPub, ErrCorrupt},
		{"signature first (old style)", raw(cat(sa.sig, sa.lit)), w.goIssuerPub, ErrCorrupt},
		{"two one-pass signatures, nested", raw(cat(opsNotLast, sb.ops, sb.lit, sb.sig, sa.sig)), w.goIssuerPub, ErrCorrupt},
		{"two one-pass signatures, both last", raw(cat(sa.ops, sa.ops, sa.lit, sa.sig, sa.sig)), w.goIssuerPub, ErrCorrupt},
		{"two signers (gpg -u -u)", gpgOut(t, a, "--encrypt", "--sign", "-u", w.otherSigner, "-u", w.issuerFpr, "-r", w.dataRoomFpr), nil, ErrCorrupt},
		{"nested compression", raw(compressed(t, packet.CompressionZLIB, compressed(t, packet.CompressionZLIB, sa.all()))), w.goIssuerPub, ErrCorrupt},

		// Refused for what they lack, whatever follows.
		{"no signature after the literal data", raw(cat(sa.ops, sa.lit)), w.goIssuerPub, ErrBadSignature},
		{"two literal data packets, unsigned", raw(cat(literal(t, a), literal(t, b))), w.goIssuerPub, ErrUnsigned},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			issuer := tc.issuer
			if issuer == nil {
				issuer = w.issuer
			}
			_, _, err := openAll(tc.ct, w.dataRoom, issuer, 16*mib)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.want)
			switch tc.want {
			case ErrTrailingData:
				assert.ErrorIs(t, err, ErrCorrupt, "existing callers must still reject it")
				assert.Equal(t, ErrTrailingData.Error(), err.Error())
			case ErrCorrupt:
				assert.NotErrorIs(t, err, ErrTrailingData)
				assert.Equal(t, ErrCorrupt.Error(), err.Error(), "one constant message")
			default:
				assert.NotErrorIs(t, err, ErrCorrupt)
			}
		})
	}
}

func goEncrypted(t *testing.T, pt []byte) []byte {
	t.Helper()
	var ct bytes.Buffer
	wc, err := Encrypt(&ct, w.dataRoomPub, w.goIssuer)
	require.NoError(t, err)
	_, err = wc.Write(pt)
	require.NoError(t, err)
	require.NoError(t, wc.Close())
	return ct.Bytes()
}

// Everything a real issuer's gpg makes still opens.
func TestOpenGoodVariants(t *testing.T) {
	pt := csv(300)
	sa := goSignedParts(t, pt)
	sub := w.dataRoomPub.Subkeys[0].PublicKey
	armored := issuerFile(t, pt, "--armor")
	cases := []struct {
		name   string
		ct     []byte
		issuer openpgp.EntityList
		cipher string
		want   []byte // if not pt
	}{
		{"gpg zlib", issuerFile(t, pt, "--compress-algo", "zlib", "-z", "6"), nil, "SEIPDv1 AES-256", nil},
		{"gpg zip", issuerFile(t, pt, "--compress-algo", "zip", "-z", "6"), nil, "SEIPDv1 AES-256", nil},
		{"gpg bzip2", issuerFile(t, pt, "--compress-algo", "bzip2", "-z", "6"), nil, "SEIPDv1 AES-256", nil},
		// gpg puts text with CRLF line ends into the literal data.
		{"gpg textmode", issuerFile(t, pt, "--textmode"), nil, "SEIPDv1 AES-256", bytes.ReplaceAll(pt, []byte("\n"), []byte("\r\n"))},
		{"gpg from a pipe, armored, blank lines after", cat(armored, []byte("\n\r\n  \n")), nil, "SEIPDv1 AES-256", nil},
		{"gpg armored without the final newline", bytes.TrimRight(armored, "\n"), nil, "SEIPDv1 AES-256", nil},
		{"gpg --no-literal, one signed message", gpgOut(t, gpgOut(t, pt, "--sign", "-z", "0", "-u", w.issuerFpr),
			"--encrypt", "--no-literal", "-r", w.dataRoomFpr), nil, "SEIPDv1 AES-256", nil},
		{"packet writers", encryptRaw(t, sa.all(), sub), w.goIssuerPub, "SEIPDv1 AES-256", nil},
		{"packet writers, compressed", encryptRaw(t, compressed(t, packet.CompressionZLIB, sa.all()), sub), w.goIssuerPub, "SEIPDv1 AES-256", nil},
		{"packet writers, SEIPDv2", encryptRawV2(t, sa.all(), sub), w.goIssuerPub, "SEIPDv2 AES-256-GCM", nil},
		{"go-crypto SEIPDv2", goEncrypted(t, pt), w.goIssuerPub, "SEIPDv2 AES-256-GCM", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			issuer := tc.issuer
			if issuer == nil {
				issuer = w.issuer
			}
			want := tc.want
			if want == nil {
				want = pt
			}
			got, m, err := openAll(tc.ct, w.dataRoom, issuer, mib)
			require.NoError(t, err)
			assert.Equal(t, want, got)
			assert.Equal(t, tc.cipher, m.Cipher())
			assert.Equal(t, Fingerprint(issuer[0]), m.SignerFingerprint())
		})
	}
}
