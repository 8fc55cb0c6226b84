package pgp

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dataprep/dataprep/crypto/hsm"
)

const mib = 1 << 20

// csv is a small synthetic cardholder file (test PANs, made-up names).
func csv(rows int) []byte {
	var b bytes.Buffer
	b.WriteString("pan,name,expiry,service_code\n")
	for i := range rows {
		fmt.Fprintf(&b, "4111111111111111,TEST CARDHOLDER %05d,2912,201\n", i)
	}
	return b.Bytes()
}

// issuerFile is what a bank sends: gpg --encrypt --sign with stock gpg.
func issuerFile(t testing.TB, plaintext []byte, extra ...string) []byte {
	t.Helper()
	args := append([]string{"--encrypt", "--sign", "-u", w.issuerFpr, "-r", w.dataRoomFpr}, extra...)
	ct, _ := gpgT(t, plaintext, args...)
	return ct
}

func TestDataRoomKeyHSMAttributes(t *testing.T) {
	for _, k := range []hsm.Key{w.primary, w.encrypt} {
		a, err := w.hsm.Attributes(k)
		require.NoError(t, err)
		assert.True(t, a.Sensitive, "CKA_SENSITIVE")
		assert.False(t, a.Extractable, "CKA_EXTRACTABLE")
		assert.True(t, a.NeverExtractable, "CKA_NEVER_EXTRACTABLE")
		assert.True(t, a.Token, "CKA_TOKEN")
		assert.True(t, a.Private, "CKA_PRIVATE")
	}
	a, _ := w.hsm.Attributes(w.primary)
	assert.True(t, a.Sign)
	assert.False(t, a.Decrypt, "the certification key must not decrypt")
	a, _ = w.hsm.Attributes(w.encrypt)
	assert.True(t, a.Decrypt)
	assert.False(t, a.Sign, "the encryption key must not sign")
}

func TestDataRoomCertificate(t *testing.T) {
	assert.Regexp(t, `^[0-9A-F]{40}$`, w.dataRoomFpr)
	assert.NotContains(t, string(w.cert), "PRIVATE")

	sig, _ := w.dataRoomPub.PrimarySelfSignature()
	require.NotNil(t, sig)
	assert.Equal(t, []uint8{uint8(packet.CipherAES256), uint8(packet.CipherAES128)}, sig.PreferredSymmetric)
	assert.Equal(t, []uint8{8, 10}, sig.PreferredHash)
	assert.Equal(t, []uint8{0}, sig.PreferredCompression)
	assert.True(t, sig.SEIPDv1)
	assert.True(t, sig.SEIPDv2)
	assert.Contains(t, sig.PreferredCipherSuites, [2]uint8{uint8(packet.CipherAES256), uint8(packet.AEADModeGCM)})
	assert.True(t, sig.FlagCertify && sig.FlagSign)
	assert.False(t, sig.FlagEncryptCommunications)
	require.Len(t, w.dataRoomPub.Subkeys, 1)
	sub := w.dataRoomPub.Subkeys[0]
	assert.True(t, sub.Sig.FlagEncryptCommunications && sub.Sig.FlagEncryptStorage)
	assert.False(t, sub.Sig.FlagSign)

	// gpg accepted the certificate (TestMain imported it) and sees these:
	out, _ := gpgT(t, nil, "--with-colons", "--list-keys", w.dataRoomFpr)
	assert.Contains(t, string(out), "pub:-:3072:1:")
	assert.Contains(t, string(out), ":scESC:") // primary sign+certify, subkey encrypt
	assert.Contains(t, string(out), "sub:-:3072:1:")
	assert.Contains(t, string(out), ":e:")
}

func TestAttachHSM(t *testing.T) {
	e, err := AttachHSM(w.cert, w.primary, w.encrypt)
	require.NoError(t, err)
	assert.Equal(t, w.dataRoomFpr, Fingerprint(e))
	pt := csv(3)
	got, _, err := openAll(issuerFile(t, pt), e, w.issuer, mib)
	require.NoError(t, err)
	assert.Equal(t, pt, got)

	_, err = AttachHSM(w.cert, w.encrypt, w.primary)
	assert.ErrorIs(t, err, ErrKeyMismatch)

	sec, _ := gpgT(t, nil, "--armor", "--export-secret-keys", w.issuerFpr)
	_, err = AttachHSM(sec, w.primary, w.encrypt)
	assert.ErrorIs(t, err, ErrSecretKey)
}

func TestOpenGPGFile(t *testing.T) {
	pt := csv(200)
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"binary", nil},
		{"armored", []string{"--armor"}},
		{"hidden recipient", []string{"--throw-keyids"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := issuerFile(t, pt, tc.extra...)
			got, m, err := openAll(ct, w.dataRoom, w.issuer, mib)
			require.NoError(t, err)
			assert.Equal(t, pt, got)
			assert.Equal(t, "SEIPDv1 AES-256", m.Cipher(), "gpg must pick AES-256 from the certificate's preferences")
			assert.Equal(t, w.issuerFpr, m.SignerFingerprint())
			assert.Equal(t, int64(len(pt)), m.PlaintextBytes())
		})
	}

	t.Run("gpg's view of the packets", func(t *testing.T) {
		// gpg cannot decrypt (the key is in the HSM) and exits non-zero,
		// but lists the outer packets.
		o, _, _ := w.gpg(issuerFile(t, pt), "--list-packets")
		sub := strings.ToUpper(w.dataRoom.Subkeys[0].PublicKey.KeyIdString())
		assert.Contains(t, string(o), "algo 1, keyid "+sub)
		assert.Contains(t, string(o), "mdc_method: 2")
	})

	t.Run("exactly at the size limit", func(t *testing.T) {
		got, _, err := openAll(issuerFile(t, pt), w.dataRoom, w.issuer, int64(len(pt)))
		require.NoError(t, err)
		assert.Equal(t, pt, got)
	})
}

func TestOpenSEIPDv2(t *testing.T) {
	pt := csv(500)
	t.Run("Encrypt picks SEIPDv2 for our certificate", func(t *testing.T) {
		var ct bytes.Buffer
		wc, err := Encrypt(&ct, w.dataRoomPub, w.goIssuer)
		require.NoError(t, err)
		_, err = wc.Write(pt)
		require.NoError(t, err)
		require.NoError(t, wc.Close())
		got, m, err := openAll(ct.Bytes(), w.dataRoom, w.goIssuerPub, mib)
		require.NoError(t, err)
		assert.Equal(t, pt, got)
		assert.Equal(t, "SEIPDv2 AES-256-GCM", m.Cipher())
		assert.Equal(t, Fingerprint(w.goIssuer), m.SignerFingerprint())
	})
	t.Run("OCB", func(t *testing.T) {
		var ct bytes.Buffer
		cfg := &packet.Config{AEADConfig: &packet.AEADConfig{DefaultMode: packet.AEADModeOCB}}
		// Only OCB in common: a recipient copy that lists only OCB suites.
		to := *w.dataRoomPub
		id := *to.Identities[firstIdentity(&to)]
		sig := *id.SelfSignature
		sig.PreferredCipherSuites = [][2]uint8{{uint8(packet.CipherAES256), uint8(packet.AEADModeOCB)}}
		id.SelfSignature = &sig
		to.Identities = map[string]*openpgp.Identity{id.Name: &id}
		wc, err := openpgp.Encrypt(&ct, []*openpgp.Entity{&to}, w.goIssuer, nil, cfg)
		require.NoError(t, err)
		_, err = wc.Write(pt)
		require.NoError(t, err)
		require.NoError(t, wc.Close())
		got, m, err := openAll(ct.Bytes(), w.dataRoom, w.goIssuerPub, mib)
		require.NoError(t, err)
		assert.Equal(t, pt, got)
		assert.Equal(t, "SEIPDv2 AES-256-OCB", m.Cipher())
	})
}

func firstIdentity(e *openpgp.Entity) string {
	for k := range e.Identities {
		return k
	}
	return ""
}

// encryptRaw wraps arbitrary packets in a PKESK to pub and a SEIPDv1 packet,
// with a valid MDC: for messages gpg will not make.
func encryptRaw(t *testing.T, inner []byte, pub *packet.PublicKey) []byte {
	t.Helper()
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, packet.SerializeEncryptedKeyAEAD(&buf, pub, packet.CipherAES256, false, key, nil))
	wc, err := packet.SerializeSymmetricallyEncrypted(&buf, packet.CipherAES256, false, packet.CipherSuite{}, key, nil)
	require.NoError(t, err)
	_, err = wc.Write(inner)
	require.NoError(t, err)
	require.NoError(t, wc.Close())
	return buf.Bytes()
}

// goSigned is a signed (not encrypted) message by the go-crypto issuer.
func goSigned(t *testing.T, pt []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	wc, err := openpgp.Sign(&buf, w.goIssuer, &openpgp.FileHints{IsBinary: true}, nil)
	require.NoError(t, err)
	_, err = wc.Write(pt)
	require.NoError(t, err)
	require.NoError(t, wc.Close())
	return buf.Bytes()
}

func TestOpenRefusals(t *testing.T) {
	pt := csv(2000) // ~100 KB: the middle of the encrypted body is literal data
	good := issuerFile(t, pt)

	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x01

	zeros := make([]byte, 8*mib)
	bomb, _ := gpgT(t, zeros, "--encrypt", "--sign", "-u", w.issuerFpr, "-r", w.dataRoomFpr,
		"--compress-algo", "zlib", "-z", "9")
	require.Less(t, len(bomb), 64<<10, "the bomb should be small")

	garbage := make([]byte, 4096)
	_, err := rand.Read(garbage)
	require.NoError(t, err)
	garbage[0] = 0x85 // an old-format packet tag, so it is not rejected at byte one

	signedOnly, _ := gpgT(t, pt, "--sign", "-u", w.issuerFpr)
	symOut, _, err := w.gpgRaw(pt, "--homedir", w.gnupg, "--batch", "--pinentry-mode", "loopback",
		"--passphrase", "test-only", "--symmetric")
	require.NoError(t, err)

	// Signed by the issuer, then one plaintext byte changed before encryption:
	// the MDC is good, the signature is not.
	forged := goSigned(t, pt)
	i := bytes.Index(forged, []byte("TEST CARDHOLDER 00001"))
	require.Positive(t, i)
	forged[i] = 'B'

	dataRoomSigned := func() []byte {
		var buf bytes.Buffer
		wc, err := Encrypt(&buf, w.dataRoomPub, w.dataRoom)
		require.NoError(t, err)
		wc.Write(pt)
		require.NoError(t, wc.Close())
		return buf.Bytes()
	}()

	cases := []struct {
		name   string
		ct     []byte
		issuer openpgp.EntityList
		max    int64
		want   error
	}{
		{"encrypted to another key", gpgOut(t, pt, "--encrypt", "--sign", "-u", w.issuerFpr, "-r", w.otherRcpt), nil, 0, ErrNotForUs},
		{"not encrypted, only signed", signedOnly, nil, 0, ErrNotForUs},
		{"passphrase-encrypted", symOut, nil, 0, ErrNotForUs},
		{"session key sent to our certification key", encryptRaw(t, goSigned(t, pt), w.dataRoomPub.PrimaryKey), w.goIssuerPub, 0, ErrNotForUs},
		{"unsigned", gpgOut(t, pt, "--encrypt", "-r", w.dataRoomFpr), nil, 0, ErrUnsigned},
		{"signed by another key", issuerFileBy(t, pt, w.otherSigner), nil, 0, ErrWrongSigner},
		{"signed by the data room itself", dataRoomSigned, nil, 0, ErrWrongSigner},
		{"signature does not match", encryptRaw(t, forged, w.dataRoomPub.Subkeys[0].PublicKey), w.goIssuerPub, 0, ErrBadSignature},
		{"signed with SHA-1", gpgOut(t, pt, "--encrypt", "--sign", "--digest-algo", "SHA1", "-u", w.issuerFpr, "-r", w.dataRoomFpr), nil, 0, ErrWeakHash},
		{"flipped byte mid-body", flipped, nil, 0, ErrCorrupt},
		{"truncated in half", good[:len(good)/2], nil, 0, ErrCorrupt},
		{"last byte missing", good[:len(good)-1], nil, 0, ErrCorrupt},
		{"truncated in the session key packet", good[:200], nil, 0, ErrCorrupt},
		{"garbage", garbage, nil, 0, ErrCorrupt},
		{"text", []byte("hello, this is not OpenPGP\n"), nil, 0, ErrCorrupt},
		{"armor of the wrong kind", w.cert, nil, 0, ErrCorrupt},
		{"empty", nil, nil, 0, ErrCorrupt},
		{"compression bomb", bomb, nil, 1 * mib, ErrTooLarge},
		{"plain too large", good, nil, int64(len(pt)) - 1, ErrTooLarge},
		{"3DES", issuerFile(t, pt, "--cipher-algo", "3DES"), nil, 0, ErrWeakCipher},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			issuer := tc.issuer
			if issuer == nil {
				issuer = w.issuer
			}
			max := tc.max
			if max == 0 {
				max = 16 * mib
			}
			_, _, err := openAll(tc.ct, w.dataRoom, issuer, max)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.want)
			for _, other := range []error{ErrNotForUs, ErrUnsigned, ErrWrongSigner, ErrBadSignature, ErrCorrupt, ErrTooLarge, ErrWeakCipher, ErrKeyUnavailable} {
				if other != tc.want && !(tc.want == ErrWeakHash && other == ErrBadSignature) { // a weak hash is a bad signature too
					assert.NotErrorIs(t, err, other)
				}
			}
			if tc.want == ErrCorrupt {
				// One constant message: nothing about padding, MDC or parsing.
				assert.Equal(t, ErrCorrupt.Error(), err.Error())
			}
		})
	}
}

func gpgOut(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	o, _ := gpgT(t, stdin, args...)
	return o
}

func issuerFileBy(t *testing.T, pt []byte, signer string) []byte {
	return gpgOut(t, pt, "--encrypt", "--sign", "-u", signer, "-r", w.dataRoomFpr)
}

// A dead HSM is not the file's fault: ErrKeyUnavailable, not ErrCorrupt.
func TestOpenHSMGone(t *testing.T) {
	h, err := hsm.Open(w.hsmCfg) // a second handle on the same token
	require.NoError(t, err)
	p, err := h.FindKey(labelPrimary)
	require.NoError(t, err)
	e, err := h.FindKey(labelEncrypt)
	require.NoError(t, err)
	dr, err := AttachHSM(w.cert, p, e)
	require.NoError(t, err)
	ct := issuerFile(t, csv(3))
	_, _, err = openAll(ct, dr, w.issuer, mib)
	require.NoError(t, err)

	require.NoError(t, h.Close())
	_, _, err = openAll(ct, dr, w.issuer, mib)
	assert.ErrorIs(t, err, ErrKeyUnavailable)
	assert.NotErrorIs(t, err, ErrCorrupt)
}

// The input's own read errors are passed on, not called corruption.
func TestOpenReadError(t *testing.T) {
	ct := issuerFile(t, csv(2000))
	boom := fmt.Errorf("disk on fire")
	r := io.MultiReader(bytes.NewReader(ct[:len(ct)/2]), errReader{boom})
	m, err := Open(r, w.dataRoom, w.issuer, Limits{MaxPlaintext: mib})
	if err == nil {
		_, err = io.Copy(io.Discard, m)
	}
	assert.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, ErrCorrupt)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestKeyRingSeparation(t *testing.T) {
	kr, err := newKeyRing(w.dataRoom, w.issuer)
	require.NoError(t, err)
	assert.Empty(t, kr.KeysById(w.dataRoom.PrimaryKey.KeyId), "certification key offered for decryption")
	assert.Len(t, kr.KeysById(w.dataRoom.Subkeys[0].PublicKey.KeyId), 1)
	assert.Empty(t, kr.KeysByIdUsage(w.dataRoom.PrimaryKey.KeyId, packet.KeyFlagSign), "data room offered as a signer")
	assert.NotEmpty(t, kr.KeysByIdUsage(w.issuer[0].PrimaryKey.KeyId, packet.KeyFlagSign))

	_, err = signOnly{w.primary}.Decrypt(rand.Reader, []byte{1}, nil)
	assert.Error(t, err)
	_, err = decryptOnly{w.encrypt}.Sign(rand.Reader, make([]byte, 32), nil)
	assert.Error(t, err)
}

func TestReadIssuerKey(t *testing.T) {
	pub := gpgOut(t, nil, "--armor", "--export", w.otherSigner)
	el, err := ReadIssuerKey(pub)
	require.NoError(t, err)
	assert.Equal(t, w.otherSigner, Fingerprint(el[0]))

	sec := gpgOut(t, nil, "--armor", "--export-secret-keys", w.otherSigner)
	_, err = ReadIssuerKey(sec)
	assert.ErrorIs(t, err, ErrSecretKey)
	assert.Contains(t, err.Error(), "secret key")

	_, err = ReadIssuerKey([]byte("not a key"))
	assert.Error(t, err)

	// A key that expired in 2020.
	uid := "Expired <test-only-expired@example.invalid>"
	_, _, err = w.gpg(nil, "--faked-system-time", "20200101T000000", "--quick-gen-key", uid, "ed25519", "sign", "2020-01-02")
	require.NoError(t, err)
	fpr, err := w.fingerprint(uid)
	require.NoError(t, err)
	_, err = ReadIssuerKey(gpgOut(t, nil, "--armor", "--export", fpr))
	assert.ErrorIs(t, err, ErrNoSigningKey)
}

func TestReadRecipientKey(t *testing.T) {
	m, err := ReadRecipientKey(gpgOut(t, nil, "--armor", "--export", w.machineFpr))
	require.NoError(t, err)
	assert.Equal(t, w.machineFpr, Fingerprint(m))
	_, err = ReadRecipientKey(gpgOut(t, nil, "--armor", "--export", w.issuerFpr))
	assert.Error(t, err, "a sign-only key is no recipient")
	_, err = ReadRecipientKey(gpgOut(t, nil, "--armor", "--export-secret-keys", w.machineFpr))
	assert.ErrorIs(t, err, ErrSecretKey)
}

func TestEncryptForGPGMachine(t *testing.T) {
	machine, err := ReadRecipientKey(gpgOut(t, nil, "--armor", "--export", w.machineFpr))
	require.NoError(t, err)
	pt := csv(100)
	var ct bytes.Buffer
	wc, err := Encrypt(&ct, machine, w.dataRoom)
	require.NoError(t, err)
	_, err = wc.Write(pt)
	require.NoError(t, err)
	require.NoError(t, wc.Close())

	out, stderr := gpgT(t, ct.Bytes(), "--verbose", "--decrypt")
	assert.Equal(t, pt, out)
	assert.Contains(t, string(stderr), "AES256", "gpg 2.2 keys do not advertise SEIPDv2: SEIPDv1 AES-256")
	assert.Contains(t, string(stderr), `Good signature from "Data Room (test only)`)

	t.Run("unsigned", func(t *testing.T) {
		var ct bytes.Buffer
		wc, err := Encrypt(&ct, machine, nil)
		require.NoError(t, err)
		wc.Write(pt)
		require.NoError(t, wc.Close())
		out, _ := gpgT(t, ct.Bytes(), "--decrypt")
		assert.Equal(t, pt, out)
	})
	t.Run("signing fails when the HSM is gone", func(t *testing.T) {
		h, err := hsm.Open(w.hsmCfg)
		require.NoError(t, err)
		p, _ := h.FindKey(labelPrimary)
		e, _ := h.FindKey(labelEncrypt)
		dr, err := AttachHSM(w.cert, p, e)
		require.NoError(t, err)
		require.NoError(t, h.Close())
		var ct bytes.Buffer
		wc, err := Encrypt(&ct, machine, dr)
		require.NoError(t, err)
		wc.Write(pt)
		err = wc.Close()
		assert.ErrorIs(t, err, hsm.ErrClosed, "the HSM's error, not go-crypto's 'need to call Sign'")

		var sig bytes.Buffer
		err = ClearSign(&sig, []byte("report"), dr)
		assert.ErrorIs(t, err, hsm.ErrClosed)
		assert.Zero(t, sig.Len(), "nothing written on failure")
	})
}

func TestClearSignVerifiesWithGPG(t *testing.T) {
	report := []byte("Issuer report for job 42\r\nrecords: 200\naccepted: 199\nrejected: 1 (PAN 411111******1111: bad Luhn)\n-- dash line\nFrom the data room\n  trailing spaces   \n")
	var out bytes.Buffer
	require.NoError(t, ClearSign(&out, report, w.dataRoom))
	assert.True(t, strings.HasPrefix(out.String(), "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n"))

	f := filepath.Join(t.TempDir(), "report.txt.asc")
	require.NoError(t, os.WriteFile(f, out.Bytes(), 0o600))
	_, stderr := gpgT(t, nil, "--verify", f)
	assert.Contains(t, string(stderr), `Good signature from "Data Room (test only)`)
	assert.Contains(t, string(stderr), w.dataRoomFpr[len(w.dataRoomFpr)-16:])

	// A changed report fails.
	bad := bytes.Replace(out.Bytes(), []byte("accepted: 199"), []byte("accepted: 200"), 1)
	require.NoError(t, os.WriteFile(f, bad, 0o600))
	_, _, err := w.gpg(nil, "--verify", f)
	assert.Error(t, err)
}

func TestDetachSignVerifiesWithGPG(t *testing.T) {
	data := csv(50)
	var sig bytes.Buffer
	require.NoError(t, DetachSign(&sig, bytes.NewReader(data), w.dataRoom))
	assert.True(t, strings.HasPrefix(sig.String(), "-----BEGIN PGP SIGNATURE-----"))

	dir := t.TempDir()
	df, sf := filepath.Join(dir, "receipt.csv"), filepath.Join(dir, "receipt.csv.asc")
	require.NoError(t, os.WriteFile(df, data, 0o600))
	require.NoError(t, os.WriteFile(sf, sig.Bytes(), 0o600))
	_, stderr := gpgT(t, nil, "--verify", sf, df)
	assert.Contains(t, string(stderr), `Good signature from "Data Room (test only)`)

	data[0] ^= 1
	require.NoError(t, os.WriteFile(df, data, 0o600))
	_, _, err := w.gpg(nil, "--verify", sf, df)
	assert.Error(t, err)
}

func TestNewDataRoomKeyRefusals(t *testing.T) {
	created := w.dataRoom.PrimaryKey.CreationTime
	_, err := NewDataRoomKey(w.primary, w.encrypt, "", created)
	assert.Error(t, err)
	_, err = NewDataRoomKey(w.primary, w.encrypt, "a\nb", created)
	assert.Error(t, err)
	_, err = NewDataRoomKey(w.primary, w.primary, "x <x@example.invalid>", created)
	assert.Error(t, err, "one key for both roles")

	// Same HSM keys and creation time: same fingerprint (the certificate can
	// be rebuilt from the HSM).
	e, err := NewDataRoomKey(w.primary, w.encrypt, "Data Room (test only) <test-only-dataroom@example.invalid>", created)
	require.NoError(t, err)
	assert.Equal(t, w.dataRoomFpr, Fingerprint(e))
}

// The daemon shares one data room entity between goroutines.
func TestConcurrentUse(t *testing.T) {
	pt := csv(300)
	ct := issuerFile(t, pt)
	errs := make(chan error, 16)
	for range 8 {
		go func() {
			got, _, err := openAll(ct, w.dataRoom, w.issuer, mib)
			if err == nil && !bytes.Equal(got, pt) {
				err = fmt.Errorf("wrong plaintext")
			}
			errs <- err
		}()
		go func() {
			errs <- ClearSign(io.Discard, []byte("receipt\n"), w.dataRoom)
		}()
	}
	for range 16 {
		assert.NoError(t, <-errs)
	}
}
