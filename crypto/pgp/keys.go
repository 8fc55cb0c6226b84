// Package pgp reads the OpenPGP files issuers make with stock gpg, and writes
// the data room's own files, with private keys that stay in the HSM.
//
// The data room's key is a v4 OpenPGP key (gpg 2.2 reads nothing newer): an
// RSA certification+signing primary key and an RSA encryption subkey, each a
// separate key in the HSM used only through crypto.Signer / crypto.Decrypter.
// Its self-signatures ask senders for AES-256 or AES-128, SHA-256 or SHA-512,
// no compression, and advertise SEIPDv1 (MDC) and SEIPDv2 (RFC 9580 AEAD).
//
// All of it is built on github.com/ProtonMail/go-crypto/openpgp; this package
// chooses policy and maps failures to a few sentinel errors. Open walks the
// issuer's message with go-crypto's packet layer rather than ReadMessage, to
// accept exactly one signed message and nothing after it (see open.go).
package pgp

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

var (
	// ErrSecretKey is returned where a public key was expected and secret key
	// material was found.
	ErrSecretKey = errors.New("pgp: secret key material where only a public key belongs")
	// ErrNoSigningKey is returned by ReadIssuerKey for a key that cannot sign
	// now: no signing-capable key, or expired, or revoked.
	ErrNoSigningKey = errors.New("pgp: key has no valid signing key")
	// ErrWeakKey is returned for keys below policy (RSA < 2048 bits, DSA, ElGamal).
	ErrWeakKey = errors.New("pgp: key below policy")
	// ErrKeyMismatch is returned by AttachHSM when an HSM key is not the one
	// in the certificate.
	ErrKeyMismatch = errors.New("pgp: HSM key does not match the certificate")
)

// DataRoomMinRSABits is the smallest modulus NewDataRoomKey accepts.
const DataRoomMinRSABits = 3072

// issuerMinRSABits is the smallest RSA key ReadIssuerKey accepts.
const issuerMinRSABits = 2048

// Algorithm preferences written into the data room's self-signatures.
// gpg 2.2 falls back to 3DES when a key states no cipher preference.
var (
	prefSymmetric   = []uint8{uint8(packet.CipherAES256), uint8(packet.CipherAES128)}
	prefHash        = []uint8{8 /* SHA-256 */, 10 /* SHA-512 */}
	prefCompression = []uint8{uint8(packet.CompressionNone)}
	// GCM first: go-crypto decrypts it several times faster than OCB.
	prefCipherSuites = [][2]uint8{
		{uint8(packet.CipherAES256), uint8(packet.AEADModeGCM)},
		{uint8(packet.CipherAES256), uint8(packet.AEADModeOCB)},
		{uint8(packet.CipherAES128), uint8(packet.AEADModeGCM)},
		{uint8(packet.CipherAES128), uint8(packet.AEADModeOCB)},
	}
)

// NewDataRoomKey builds the data room's OpenPGP key around two HSM keys: the
// RSA primary key (certify+sign) and the RSA encryption subkey. The HSM makes
// the self-signatures. created becomes the keys' creation time, which is part
// of the fingerprint: keep it, or the same HSM keys get another fingerprint.
func NewDataRoomKey(primary crypto.Signer, encrypt crypto.Decrypter, uid string, created time.Time) (*openpgp.Entity, error) {
	if primary == nil || encrypt == nil {
		return nil, errors.New("pgp: NewDataRoomKey needs both keys")
	}
	pPub, err := rsaPublic(primary.Public(), DataRoomMinRSABits)
	if err != nil {
		return nil, fmt.Errorf("pgp: primary key: %w", err)
	}
	ePub, err := rsaPublic(encrypt.Public(), DataRoomMinRSABits)
	if err != nil {
		return nil, fmt.Errorf("pgp: encryption key: %w", err)
	}
	if pPub.Equal(ePub) {
		return nil, errors.New("pgp: primary and encryption key must be different keys")
	}
	if created.IsZero() || created.Unix() <= 0 || created.Unix() > 1<<32-1 {
		return nil, errors.New("pgp: creation time out of OpenPGP range")
	}
	created = created.Truncate(time.Second)
	id, err := parseUserID(uid)
	if err != nil {
		return nil, err
	}

	// rec records the HSM's signing errors: go-crypto drops an RSA Sign
	// error (packet.Signature.Sign) and reports only a missing signature.
	rec := &recSigner{Signer: primary}
	priv := &packet.PrivateKey{PublicKey: *packet.NewRSAPublicKey(created, pPub), PrivateKey: rec}
	sub := &packet.PrivateKey{PublicKey: *packet.NewRSAPublicKey(created, ePub), PrivateKey: decryptOnly{encrypt}}
	sub.IsSubkey = true
	cfg := &packet.Config{DefaultHash: crypto.SHA256, Time: func() time.Time { return created }}

	isPrimary := true
	uidSig := &packet.Signature{
		Version:               4,
		SigType:               packet.SigTypePositiveCert,
		PubKeyAlgo:            packet.PubKeyAlgoRSA,
		Hash:                  crypto.SHA256,
		CreationTime:          created,
		IssuerKeyId:           &priv.KeyId,
		IssuerFingerprint:     priv.Fingerprint,
		IsPrimaryId:           &isPrimary,
		FlagsValid:            true,
		FlagCertify:           true,
		FlagSign:              true,
		PreferredSymmetric:    prefSymmetric,
		PreferredHash:         prefHash,
		PreferredCompression:  prefCompression,
		SEIPDv1:               true,
		SEIPDv2:               true,
		PreferredCipherSuites: prefCipherSuites,
	}
	if err := uidSig.SignUserId(id.Id, &priv.PublicKey, priv, cfg); err != nil || rec.err != nil {
		return nil, fmt.Errorf("pgp: user ID self-signature: %w", errors.Join(rec.err, err))
	}
	subSig := &packet.Signature{
		Version:                   4,
		SigType:                   packet.SigTypeSubkeyBinding,
		PubKeyAlgo:                packet.PubKeyAlgoRSA,
		Hash:                      crypto.SHA256,
		CreationTime:              created,
		IssuerKeyId:               &priv.KeyId,
		IssuerFingerprint:         priv.Fingerprint,
		FlagsValid:                true,
		FlagEncryptCommunications: true,
		FlagEncryptStorage:        true,
	}
	if err := subSig.SignKey(&sub.PublicKey, priv, cfg); err != nil || rec.err != nil {
		return nil, fmt.Errorf("pgp: subkey binding signature: %w", errors.Join(rec.err, err))
	}

	priv.PrivateKey = signOnly{primary}
	e := &openpgp.Entity{
		PrimaryKey: &priv.PublicKey,
		PrivateKey: priv,
		Identities: map[string]*openpgp.Identity{id.Id: {
			Name:          id.Id,
			UserId:        id,
			SelfSignature: uidSig,
			Signatures:    []*packet.Signature{uidSig},
		}},
		Subkeys: []openpgp.Subkey{{PublicKey: &sub.PublicKey, PrivateKey: sub, Sig: subSig}},
	}

	// Read our own certificate back: go-crypto verifies every self-signature,
	// which proves the HSM signed with the key the certificate names.
	armored, err := ArmorPublic(e)
	if err != nil {
		return nil, err
	}
	attached, err := AttachHSM(armored, primary, encrypt)
	if err != nil {
		return nil, fmt.Errorf("pgp: new key does not verify: %w", err)
	}
	return attached, nil
}

// parseUserID checks uid and splits it the way go-crypto splits a parsed
// User ID packet ("Name (Comment) <email>").
func parseUserID(uid string) (*packet.UserId, error) {
	if strings.TrimSpace(uid) == "" || len(uid) > 1024 || strings.ContainsAny(uid, "\x00\r\n") {
		return nil, fmt.Errorf("pgp: unusable user ID %q", uid)
	}
	var buf bytes.Buffer
	if err := (&packet.UserId{Id: uid}).Serialize(&buf); err != nil {
		return nil, fmt.Errorf("pgp: user ID: %w", err)
	}
	p, err := packet.Read(&buf)
	if err != nil {
		return nil, fmt.Errorf("pgp: user ID: %w", err)
	}
	id, ok := p.(*packet.UserId)
	if !ok || id.Id != uid {
		return nil, fmt.Errorf("pgp: unusable user ID %q", uid)
	}
	return id, nil
}

// AttachHSM reads the data room's armored public certificate and attaches the
// HSM keys to it, after checking that their public halves are the
// certificate's primary key and its encryption subkey.
func AttachHSM(cert []byte, primary crypto.Signer, encrypt crypto.Decrypter) (*openpgp.Entity, error) {
	if primary == nil || encrypt == nil {
		return nil, errors.New("pgp: AttachHSM needs both keys")
	}
	el, err := readArmoredPublic(cert)
	if err != nil {
		return nil, fmt.Errorf("pgp: data room certificate: %w", err)
	}
	if len(el) != 1 {
		return nil, fmt.Errorf("pgp: data room certificate holds %d keys, want 1", len(el))
	}
	e := el[0]
	if !publicEqual(e.PrimaryKey, primary.Public()) {
		return nil, fmt.Errorf("%w: primary key %s", ErrKeyMismatch, Fingerprint(e))
	}
	found := -1
	for i, s := range e.Subkeys {
		if s.Sig != nil && s.Sig.FlagsValid && (s.Sig.FlagEncryptCommunications || s.Sig.FlagEncryptStorage) &&
			publicEqual(s.PublicKey, encrypt.Public()) {
			found = i
		}
	}
	if found < 0 {
		return nil, fmt.Errorf("%w: no encryption subkey of %s is the HSM's key", ErrKeyMismatch, Fingerprint(e))
	}

	e.PrivateKey = &packet.PrivateKey{PublicKey: *e.PrimaryKey, PrivateKey: signOnly{primary}}
	e.PrimaryKey = &e.PrivateKey.PublicKey
	s := &e.Subkeys[found]
	s.PrivateKey = &packet.PrivateKey{PublicKey: *s.PublicKey, PrivateKey: decryptOnly{encrypt}}
	s.PublicKey = &s.PrivateKey.PublicKey
	return e, nil
}

func publicEqual(pk *packet.PublicKey, pub crypto.PublicKey) bool {
	a, ok := pk.PublicKey.(*rsa.PublicKey)
	return ok && a.Equal(pub)
}

func rsaPublic(pub crypto.PublicKey, minBits int) (*rsa.PublicKey, error) {
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%T is not an RSA key", pub)
	}
	if k.N.BitLen() < minBits {
		return nil, fmt.Errorf("%w: RSA-%d, need %d bits", ErrWeakKey, k.N.BitLen(), minBits)
	}
	return k, nil
}

// ArmorPublic returns the entity's public certificate, ASCII-armored. It never
// contains private key material.
func ArmorPublic(e *openpgp.Entity) ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, fmt.Errorf("pgp: armor: %w", err)
	}
	if err := e.Serialize(w); err != nil {
		return nil, fmt.Errorf("pgp: serialize certificate: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("pgp: armor: %w", err)
	}
	buf.WriteByte('\n') // go-crypto's armor ends without one; gpg wants lines
	return buf.Bytes(), nil
}

// Fingerprint is the primary key's fingerprint in upper-case hex, as gpg
// prints it (without spaces).
func Fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

// ReadIssuerKey reads an issuer's armored public key(s). It refuses secret
// keys, and keys that cannot sign now (expired, revoked, no signing
// capability) or are below policy.
func ReadIssuerKey(armored []byte) (openpgp.EntityList, error) {
	el, err := readArmoredPublic(armored)
	if err != nil {
		return nil, fmt.Errorf("pgp: issuer key: %w", err)
	}
	now := time.Now()
	for _, e := range el {
		k, ok := e.SigningKey(now)
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrNoSigningKey, Fingerprint(e))
		}
		if err := checkStrength(k.PublicKey); err != nil {
			return nil, fmt.Errorf("pgp: issuer key %s: %w", Fingerprint(e), err)
		}
	}
	return el, nil
}

// ReadRecipientKey reads one armored public certificate to encrypt to (a
// personalization machine's key). It refuses secret keys, and keys without a
// valid encryption key or below policy.
func ReadRecipientKey(armored []byte) (*openpgp.Entity, error) {
	el, err := readArmoredPublic(armored)
	if err != nil {
		return nil, fmt.Errorf("pgp: recipient key: %w", err)
	}
	if len(el) != 1 {
		return nil, fmt.Errorf("pgp: recipient key: block holds %d keys, want 1", len(el))
	}
	e := el[0]
	k, ok := e.EncryptionKey(time.Now())
	if !ok {
		return nil, fmt.Errorf("pgp: recipient key %s has no valid encryption key", Fingerprint(e))
	}
	if err := checkStrength(k.PublicKey); err != nil {
		return nil, fmt.Errorf("pgp: recipient key %s: %w", Fingerprint(e), err)
	}
	return e, nil
}

func checkStrength(pk *packet.PublicKey) error {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoDSA, packet.PubKeyAlgoElGamal:
		return fmt.Errorf("%w: algorithm %d", ErrWeakKey, pk.PubKeyAlgo)
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly:
		_, err := rsaPublic(pk.PublicKey, issuerMinRSABits)
		return err
	}
	return nil
}

// readArmoredPublic reads one armored public key block and refuses any
// secret key material in it.
func readArmoredPublic(armored []byte) (openpgp.EntityList, error) {
	block, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("not an ASCII-armored OpenPGP key: %w", err)
	}
	switch block.Type {
	case openpgp.PublicKeyType:
	case openpgp.PrivateKeyType:
		return nil, ErrSecretKey
	default:
		return nil, fmt.Errorf("armored %q, want %q", block.Type, openpgp.PublicKeyType)
	}
	el, err := openpgp.ReadKeyRing(block.Body)
	if err != nil {
		return nil, err
	}
	if len(el) == 0 {
		return nil, errors.New("no key in block")
	}
	for _, e := range el {
		if e.PrivateKey != nil {
			return nil, ErrSecretKey
		}
		for _, s := range e.Subkeys {
			if s.PrivateKey != nil {
				return nil, ErrSecretKey
			}
		}
	}
	return el, nil
}

// signOnly exposes only signing: the certification key must never be used to
// decrypt (a PKCS#1 v1.5 decryption oracle on it would forge signatures).
// Decrypt exists so that go-crypto, which type-asserts, errs instead of
// panicking if anything ever asks it to.
type signOnly struct{ s crypto.Signer }

func (k signOnly) Public() crypto.PublicKey { return k.s.Public() }
func (k signOnly) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return k.s.Sign(r, d, o)
}
func (signOnly) Decrypt(io.Reader, []byte, crypto.DecrypterOpts) ([]byte, error) {
	return nil, errors.New("pgp: the certification key does not decrypt")
}

// decryptOnly is signOnly's counterpart for the encryption subkey.
type decryptOnly struct{ d crypto.Decrypter }

func (k decryptOnly) Public() crypto.PublicKey { return k.d.Public() }
func (k decryptOnly) Decrypt(r io.Reader, m []byte, o crypto.DecrypterOpts) ([]byte, error) {
	return k.d.Decrypt(r, m, o)
}

// Ping passes the HSM health check through (see Open's ErrKeyUnavailable).
func (k decryptOnly) Ping() error {
	if p, ok := k.d.(pinger); ok {
		return p.Ping()
	}
	return nil
}
func (decryptOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("pgp: the encryption key does not sign")
}

// recSigner keeps the first error of the signer it wraps, because go-crypto
// (packet.Signature.Sign, RSA case) drops it.
type recSigner struct {
	crypto.Signer
	err error
}

func (s *recSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	sig, err := s.Signer.Sign(r, d, o)
	if err != nil && s.err == nil {
		s.err = err
	}
	return sig, err
}
