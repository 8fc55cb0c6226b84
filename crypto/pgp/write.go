package pgp

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// writeConfig is the policy for everything this package writes. The AEAD
// config only allows SEIPDv2: go-crypto uses it only when every recipient
// advertises SEIPDv2, and otherwise writes SEIPDv1 with the best cipher both
// sides list (AES-256 first).
func writeConfig() *packet.Config {
	return &packet.Config{
		DefaultHash:            crypto.SHA256,
		DefaultCipher:          packet.CipherAES256,
		DefaultCompressionAlgo: packet.CompressionNone, // compression leaks plaintext through length
		AEADConfig:             &packet.AEADConfig{DefaultMode: packet.AEADModeGCM},
	}
}

// Encrypt returns a writer that encrypts to the machine's certificate and,
// if signer is not nil, signs with it. It uses SEIPDv2 (AEAD) when the
// recipient advertises it, else SEIPDv1 with AES-256 (or the recipient's
// best AES); never compression. Close must be called, and its error checked:
// the signature is made there.
func Encrypt(w io.Writer, to *openpgp.Entity, signer *openpgp.Entity) (io.WriteCloser, error) {
	if to == nil {
		return nil, errors.New("pgp: Encrypt needs a recipient")
	}
	cfg := writeConfig()
	if _, ok := to.EncryptionKey(cfg.Now()); !ok {
		return nil, fmt.Errorf("pgp: recipient %s has no valid encryption key", Fingerprint(to))
	}
	var rec *recSigner
	if signer != nil {
		var err error
		if signer, _, rec, err = signingCopy(signer, cfg.Now()); err != nil {
			return nil, err
		}
	}
	pt, err := openpgp.Encrypt(w, []*openpgp.Entity{to}, signer, &openpgp.FileHints{IsBinary: true}, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgp: encrypt to %s: %w", Fingerprint(to), err)
	}
	return &encryptWriter{pt: pt, rec: rec}, nil
}

// OutputCipher names the encryption Encrypt uses for a recipient, in the
// words Message.Cipher uses ("SEIPDv2 AES-256-GCM", "SEIPDv1 AES-256"), for
// the audit log and for operators choosing a machine's key. It follows
// go-crypto's choice under writeConfig: SEIPDv2 when the recipient's
// self-signature advertises it, with the first of go-crypto's cipher suites
// the recipient lists (AES-128-OCB when it lists none); otherwise SEIPDv1
// with AES-256 when listed, else the first cipher both sides list.
// TestOutputCipherMatchesWhatIsWritten parses real output against it, so a
// change of go-crypto's choice fails a test instead of the audit log lying.
func OutputCipher(to *openpgp.Entity) string {
	sig, _ := to.PrimarySelfSignature()
	if sig == nil {
		return "unknown"
	}
	if sig.SEIPDv2 {
		for _, s := range goCryptoSuites {
			for _, p := range sig.PreferredCipherSuites {
				if p == s {
					return "SEIPDv2 " + cipherName(packet.CipherFunction(s[0])) + "-" + aeadName(packet.AEADMode(s[1]))
				}
			}
		}
		return "SEIPDv2 " + cipherName(packet.CipherAES128) + "-" + aeadName(packet.AEADModeOCB)
	}
	var both []packet.CipherFunction
	for _, c := range goCryptoCiphers {
		for _, p := range sig.PreferredSymmetric {
			if uint8(c) == p {
				both = append(both, c)
			}
		}
	}
	switch {
	case len(both) == 0:
		return "SEIPDv1 " + cipherName(packet.CipherAES128)
	case slices.Contains(both, writeConfig().DefaultCipher):
		return "SEIPDv1 " + cipherName(writeConfig().DefaultCipher)
	}
	return "SEIPDv1 " + cipherName(both[0])
}

// goCryptoSuites and goCryptoCiphers are go-crypto's candidate lists, in its
// order of preference (openpgp/write.go, encrypt).
var (
	goCryptoSuites = [][2]uint8{
		{uint8(packet.CipherAES256), uint8(packet.AEADModeGCM)},
		{uint8(packet.CipherAES256), uint8(packet.AEADModeEAX)},
		{uint8(packet.CipherAES256), uint8(packet.AEADModeOCB)},
		{uint8(packet.CipherAES128), uint8(packet.AEADModeGCM)},
		{uint8(packet.CipherAES128), uint8(packet.AEADModeEAX)},
		{uint8(packet.CipherAES128), uint8(packet.AEADModeOCB)},
	}
	goCryptoCiphers = []packet.CipherFunction{packet.CipherAES256, packet.CipherAES128}
)

type encryptWriter struct {
	pt  io.WriteCloser
	rec *recSigner
}

func (e *encryptWriter) Write(p []byte) (int, error) { return e.pt.Write(p) }

func (e *encryptWriter) Close() error {
	err := e.pt.Close()
	if e.rec != nil && e.rec.err != nil {
		return fmt.Errorf("pgp: sign: %w", e.rec.err)
	}
	if err != nil {
		return fmt.Errorf("pgp: encrypt: %w", err)
	}
	return nil
}

// ClearSign writes text clear-signed by signer, for reports and receipts
// that people read and check with stock `gpg --verify`. Nothing is written
// to w unless signing succeeded.
func ClearSign(w io.Writer, text []byte, signer *openpgp.Entity) error {
	cfg := writeConfig()
	_, key, rec, err := signingCopy(signer, cfg.Now())
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	pt, err := clearsign.Encode(&buf, key, cfg)
	if err != nil {
		return fmt.Errorf("pgp: clearsign: %w", err)
	}
	if _, err := pt.Write(text); err != nil {
		return fmt.Errorf("pgp: clearsign: %w", err)
	}
	if err := pt.Close(); err != nil || rec.failed() {
		return fmt.Errorf("pgp: clearsign: %w", errors.Join(rec.error(), err))
	}
	out, err := withArmorChecksum(buf.Bytes())
	if err != nil {
		return fmt.Errorf("pgp: clearsign: %w", err)
	}
	_, err = w.Write(out)
	return err
}

// withArmorChecksum re-armors the signature of a clear-signed message with
// the CRC-24 line. go-crypto leaves it out (RFC 9580 makes it optional), and
// gpg 2.2 then fails to find the END line: "invalid radix64 character 2D".
// It also ends the output with a newline, which go-crypto does not.
func withArmorChecksum(msg []byte) ([]byte, error) {
	const begin = "\n-----BEGIN PGP SIGNATURE-----"
	i := bytes.LastIndex(msg, []byte(begin))
	b, _ := clearsign.Decode(msg)
	if i < 0 || b == nil {
		return nil, errors.New("cannot re-read own clear-signed message")
	}
	sig, err := io.ReadAll(b.ArmoredSignature.Body)
	if err != nil {
		return nil, err
	}
	out := bytes.NewBuffer(bytes.Clone(msg[:i+1]))
	aw, err := armor.Encode(out, openpgp.SignatureType, nil)
	if err != nil {
		return nil, err
	}
	if _, err := aw.Write(sig); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// DetachSign writes an armored detached signature (.asc) of data by signer.
// Nothing is written to w unless signing succeeded.
func DetachSign(w io.Writer, data io.Reader, signer *openpgp.Entity) error {
	cfg := writeConfig()
	e, _, rec, err := signingCopy(signer, cfg.Now())
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&buf, e, data, cfg); err != nil || rec.failed() {
		return fmt.Errorf("pgp: detach-sign: %w", errors.Join(rec.error(), err))
	}
	buf.WriteByte('\n') // see ClearSign
	_, err = w.Write(buf.Bytes())
	return err
}

// signingCopy returns a shallow copy of e whose signing key's signer records
// its errors (see recSigner), the copied signing key, and the recorder (nil
// for non-RSA keys, which go-crypto type-asserts to its own types). A copy
// per call keeps concurrent signers apart.
func signingCopy(e *openpgp.Entity, now time.Time) (*openpgp.Entity, *packet.PrivateKey, *recSigner, error) {
	if e == nil {
		return nil, nil, nil, errors.New("pgp: no signer")
	}
	k, ok := e.SigningKey(now)
	if !ok {
		return nil, nil, nil, fmt.Errorf("%w: %s", ErrNoSigningKey, Fingerprint(e))
	}
	if k.PrivateKey == nil || k.PrivateKey.Encrypted {
		return nil, nil, nil, fmt.Errorf("pgp: no usable private signing key in %s", Fingerprint(e))
	}
	s, ok := k.PrivateKey.PrivateKey.(crypto.Signer)
	if !ok || (k.PrivateKey.PubKeyAlgo != packet.PubKeyAlgoRSA && k.PrivateKey.PubKeyAlgo != packet.PubKeyAlgoRSASignOnly) {
		return e, k.PrivateKey, nil, nil
	}
	rec := &recSigner{Signer: s}
	pk := *k.PrivateKey
	pk.PrivateKey = rec
	c := *e
	if k.PublicKey == e.PrimaryKey {
		c.PrivateKey = &pk
	} else {
		c.Subkeys = append([]openpgp.Subkey(nil), e.Subkeys...)
		for i := range c.Subkeys {
			if c.Subkeys[i].PublicKey == k.PublicKey {
				c.Subkeys[i].PrivateKey = &pk
			}
		}
	}
	return &c, &pk, rec, nil
}

func (s *recSigner) failed() bool { return s != nil && s.err != nil }

func (s *recSigner) error() error {
	if s == nil {
		return nil
	}
	return s.err
}
