package testgen

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// AEADMachineKey makes a test-only key pair (Ed25519 primary, X25519
// encryption subkey) for a personalization machine whose software decrypts
// RFC 9580 AEAD: its self-signature advertises SEIPDv2 with AES-256-GCM
// first, so the daemon encrypts production files for it as SEIPDv2. It
// returns the armored certificate and the armored, unprotected secret key.
// gpg 2.2 can make neither such a key nor decrypt what is sent to it.
func AEADMachineKey(uid string) (cert, secret []byte, err error) {
	name, email := uid, ""
	if i := strings.IndexByte(uid, '<'); i > 0 && uid[len(uid)-1] == '>' {
		name, email = uid[:i-1], uid[i+1:len(uid)-1]
	}
	cfg := &packet.Config{
		Algorithm:     packet.PubKeyAlgoEdDSA,
		DefaultHash:   0, // go-crypto's default, SHA-256
		DefaultCipher: packet.CipherAES256,
		AEADConfig:    &packet.AEADConfig{DefaultMode: packet.AEADModeGCM},
	}
	e, err := openpgp.NewEntity(name, "", email, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("testgen: machine key: %w", err)
	}
	if cert, err = armored(openpgp.PublicKeyType, func(w *bytes.Buffer) error { return e.Serialize(w) }); err != nil {
		return nil, nil, err
	}
	if secret, err = armored(openpgp.PrivateKeyType, func(w *bytes.Buffer) error { return e.SerializePrivate(w, nil) }); err != nil {
		return nil, nil, err
	}
	return cert, secret, nil
}

func armored(kind string, write func(*bytes.Buffer) error) ([]byte, error) {
	var raw, out bytes.Buffer
	if err := write(&raw); err != nil {
		return nil, fmt.Errorf("testgen: machine key: %w", err)
	}
	w, err := armor.Encode(&out, kind, nil)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(raw.Bytes()); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
