// Package hsm gives the data room its private keys through PKCS#11 without
// ever letting them leave the token.
//
// Keys are generated on the token as CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE
// and not CKA_EXTRACTABLE, and are used through crypto.Signer and
// crypto.Decrypter handles (ThalesGroup/crypto11 over miekg/pkcs11).
//
// A PKCS#11 module is one process-wide library: it is initialised once
// (C_Initialize) and every Open of the same module shares that instance.
// SoftHSM reads SOFTHSM2_CONF only at C_Initialize, so Open refuses to open a
// second SoftHSM configuration while another one is open in the process; when
// the last HSM of a module is closed the module is finalised (C_Finalize) and
// the next Open initialises it again and reads SOFTHSM2_CONF afresh.
package hsm

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

var (
	// ErrKeyNotFound is returned when no key pair with the label is on the token.
	ErrKeyNotFound = errors.New("hsm: key not found")
	// ErrKeyExists is returned by GenerateRSA when the label is already taken.
	ErrKeyExists = errors.New("hsm: a key with this label already exists")
	// ErrTokenNotFound is returned by Open when no token has the configured label.
	ErrTokenNotFound = errors.New("hsm: token not found")
	// ErrBadPIN is returned by Open when the token refuses the user PIN.
	ErrBadPIN = errors.New("hsm: PIN refused by token")
	// ErrPINLocked is returned by Open when the token has locked the user PIN.
	ErrPINLocked = errors.New("hsm: PIN locked")
	// ErrPINFile is returned when the PIN file is missing, empty or readable
	// by anyone but its owner.
	ErrPINFile = errors.New("hsm: unusable PIN file")
	// ErrModuleInUse is returned by Open when the PKCS#11 module is already
	// initialised in this process with another SoftHSM configuration (the
	// module would silently keep using the first one).
	ErrModuleInUse = errors.New("hsm: PKCS#11 module already initialised with another configuration")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("hsm: closed")
)

// MinRSABits is the smallest modulus GenerateRSA accepts.
const MinRSABits = 2048

// Config says which token to use and how to log in to it.
type Config struct {
	Module     string // PKCS#11 module path
	TokenLabel string
	// PINFile holds the user PIN (one line). It must not be readable by group
	// or others. The PIN is never taken from argv and never logged.
	PINFile string
	// SoftHSMConf is for development only: the path of the token's own
	// softhsm2.conf. Open sets SOFTHSM2_CONF from it before loading the module.
	SoftHSMConf string
}

// Key is a private key that stays in the token.
type Key interface {
	crypto.Signer
	crypto.Decrypter
}

// Usage restricts what a generated key may do. The token enforces it
// (CKA_SIGN / CKA_DECRYPT), so a signing key cannot be turned into a
// decryption oracle (and the reverse) even by code that holds its handle.
type Usage int

const (
	UsageSign    Usage = 1 << iota // CKA_SIGN
	UsageDecrypt                   // CKA_DECRYPT
)

// HSM is an open, logged-in session pool on one token. Its methods are safe
// for concurrent use.
type HSM struct {
	ctx  *crypto11.Context
	conf moduleKey

	mu     sync.Mutex // guards closed, and serialises GenerateRSA's exists-check
	closed bool
}

// moduleKey identifies one initialisation of a PKCS#11 module.
type moduleKey struct{ path, softhsmConf string }

// loaded tracks the process-wide module state: crypto11 shares one
// initialised module per path and finalises it when its last Context closes.
var loaded struct {
	sync.Mutex
	key  moduleKey
	refs int
}

// Open loads the module, finds the token by label and logs in with the PIN
// read from cfg.PINFile.
func Open(cfg Config) (*HSM, error) {
	if cfg.Module == "" || cfg.TokenLabel == "" || cfg.PINFile == "" {
		return nil, errors.New("hsm: Config needs Module, TokenLabel and PINFile")
	}
	pin, err := readPIN(cfg.PINFile)
	if err != nil {
		return nil, err
	}
	key := moduleKey{cfg.Module, cfg.SoftHSMConf}

	loaded.Lock()
	defer loaded.Unlock()
	if loaded.refs > 0 && loaded.key != key {
		return nil, fmt.Errorf("%w: %s is loaded with SOFTHSM2_CONF=%q, asked for %q; close it first",
			ErrModuleInUse, loaded.key.path, loaded.key.softhsmConf, cfg.SoftHSMConf)
	}
	if loaded.refs == 0 && cfg.SoftHSMConf != "" {
		// SoftHSM reads this at C_Initialize, which crypto11 calls below.
		if err := os.Setenv("SOFTHSM2_CONF", cfg.SoftHSMConf); err != nil {
			return nil, fmt.Errorf("hsm: set SOFTHSM2_CONF: %w", err)
		}
	}

	ctx, err := crypto11.Configure(&crypto11.Config{
		Path:       cfg.Module,
		TokenLabel: cfg.TokenLabel,
		Pin:        pin,
		// A wedged token should fail requests, not hang the daemon.
		PoolWaitTimeout: 30 * time.Second,
	})
	if err != nil {
		return nil, openError(cfg, err)
	}
	loaded.key = key
	loaded.refs++
	return &HSM{ctx: ctx, conf: key}, nil
}

// openError turns crypto11's errors into ours. It never includes the PIN.
func openError(cfg Config, err error) error {
	var p11 pkcs11.Error
	switch {
	case errors.As(err, &p11) && p11 == pkcs11.CKR_PIN_INCORRECT:
		return fmt.Errorf("%w (token %q)", ErrBadPIN, cfg.TokenLabel)
	case errors.As(err, &p11) && p11 == pkcs11.CKR_PIN_LOCKED:
		return fmt.Errorf("%w (token %q)", ErrPINLocked, cfg.TokenLabel)
	case err.Error() == "could not find PKCS#11 token":
		// crypto11 returns its unexported errTokenNotFound unwrapped.
		return fmt.Errorf("%w: no token labelled %q in %s", ErrTokenNotFound, cfg.TokenLabel, cfg.Module)
	}
	return fmt.Errorf("hsm: open token %q with %s: %w", cfg.TokenLabel, cfg.Module, err)
}

func readPIN(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrPINFile, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrPINFile, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %s is not a regular file", ErrPINFile, path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%w: %s has mode %v, want 0600 or stricter", ErrPINFile, path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return "", fmt.Errorf("%w: read %s: %w", ErrPINFile, path, err)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return "", fmt.Errorf("%w: %s is empty", ErrPINFile, path)
	}
	return string(b), nil
}

// Close logs out, closes the sessions and, if this was the module's last
// user in the process, finalises the module. It is safe to call twice.
func (h *HSM) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true

	loaded.Lock()
	defer loaded.Unlock()
	err := h.ctx.Close()
	loaded.refs--
	if err != nil {
		return fmt.Errorf("hsm: close: %w", err)
	}
	return nil
}

func (h *HSM) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// Ping checks that the token still answers on a pooled session. crypto11 does
// not reopen sessions that the token dropped (token removed, HSM restarted):
// when Ping fails, close the HSM and open it again.
func (h *HSM) Ping() error {
	if h.isClosed() {
		return ErrClosed
	}
	r, err := h.ctx.NewRandomReader()
	if err != nil {
		return fmt.Errorf("hsm: ping: %w", err)
	}
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return fmt.Errorf("hsm: ping: %w", err)
	}
	return nil
}

// GenerateRSA generates an RSA key pair on the token, usable for both signing
// and decryption. Prefer GenerateRSAFor, which lets the token enforce one
// purpose per key.
func (h *HSM) GenerateRSA(label string, bits int) (Key, error) {
	return h.GenerateRSAFor(label, bits, UsageSign|UsageDecrypt)
}

// GenerateRSAFor generates an RSA key pair on the token with the given label,
// allowed only the given usage. The private half is CKA_TOKEN, CKA_PRIVATE,
// CKA_SENSITIVE and not CKA_EXTRACTABLE. It refuses a label that is taken.
func (h *HSM) GenerateRSAFor(label string, bits int, usage Usage) (Key, error) {
	if label == "" {
		return nil, errors.New("hsm: empty key label")
	}
	if bits < MinRSABits {
		return nil, fmt.Errorf("hsm: RSA-%d refused, need at least %d bits", bits, MinRSABits)
	}
	if usage&(UsageSign|UsageDecrypt) == 0 || usage&^(UsageSign|UsageDecrypt) != 0 {
		return nil, fmt.Errorf("hsm: bad key usage %d", usage)
	}

	// Holding h.mu makes check-then-generate atomic within this process; two
	// processes running key ceremonies on one token at once is not supported.
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	exists, err := h.labelExists(label)
	if err != nil {
		return nil, err
	}
	if exists {
		return nil, fmt.Errorf("%w: %q", ErrKeyExists, label)
	}

	// crypto11 pairs the halves by CKA_ID, so give each pair its own.
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("hsm: key id: %w", err)
	}
	pub, err := crypto11.NewAttributeSetWithIDAndLabel(id, []byte(label))
	if err != nil {
		return nil, fmt.Errorf("hsm: attributes: %w", err)
	}
	priv := pub.Copy()
	sign, decrypt := usage&UsageSign != 0, usage&UsageDecrypt != 0
	// crypto11's defaults (GenerateRSAKeyPairWithAttributes): CKA_TOKEN,
	// CKA_SENSITIVE, not CKA_EXTRACTABLE, but CKA_SIGN and CKA_DECRYPT both
	// true and CKA_PRIVATE left to the token. Set everything that matters
	// explicitly rather than rely on its or the token's defaults.
	for _, a := range []struct {
		set crypto11.AttributeSet
		t   crypto11.AttributeType
		v   any
	}{
		{pub, crypto11.CkaToken, true},
		{pub, crypto11.CkaPrivate, false},
		{pub, pkcs11.CKA_VERIFY, sign},
		{pub, pkcs11.CKA_ENCRYPT, decrypt},
		{priv, crypto11.CkaToken, true},
		{priv, crypto11.CkaPrivate, true},
		{priv, crypto11.CkaSensitive, true},
		{priv, crypto11.CkaExtractable, false},
		{priv, crypto11.CkaSign, sign},
		{priv, crypto11.CkaDecrypt, decrypt},
	} {
		if err := a.set.Set(a.t, a.v); err != nil {
			return nil, fmt.Errorf("hsm: attributes: %w", err)
		}
	}

	sd, err := h.ctx.GenerateRSAKeyPairWithAttributes(pub, priv, bits)
	if err != nil {
		return nil, fmt.Errorf("hsm: generate RSA-%d %q: %w", bits, label, err)
	}
	return &rsaKey{sd: sd, h: h, label: label}, nil
}

// labelExists reports whether any private key, or any key pair, has the label.
func (h *HSM) labelExists(label string) (bool, error) {
	privs, err := h.ctx.FindRSAPrivateKeys(nil, []byte(label))
	if err != nil {
		return false, fmt.Errorf("hsm: look up %q: %w", label, err)
	}
	if len(privs) > 0 {
		return true, nil
	}
	pairs, err := h.ctx.FindKeyPairs(nil, []byte(label))
	if err != nil {
		return false, fmt.Errorf("hsm: look up %q: %w", label, err)
	}
	return len(pairs) > 0, nil
}

// FindKey returns the RSA key pair with the label, or ErrKeyNotFound.
// crypto11 pairs the private and public halves by CKA_ID: a key made by
// another tool without a CKA_ID (pkcs11-tool without --id) is not found.
func (h *HSM) FindKey(label string) (Key, error) {
	if label == "" {
		return nil, errors.New("hsm: empty key label")
	}
	if h.isClosed() {
		return nil, ErrClosed
	}
	pairs, err := h.ctx.FindKeyPairs(nil, []byte(label))
	if err != nil {
		return nil, fmt.Errorf("hsm: find %q: %w", label, err)
	}
	switch len(pairs) {
	case 0:
		return nil, fmt.Errorf("%w: %q", ErrKeyNotFound, label)
	case 1:
	default:
		return nil, fmt.Errorf("hsm: %d key pairs labelled %q, refusing to guess", len(pairs), label)
	}
	sd, ok := pairs[0].(crypto11.SignerDecrypter)
	if !ok {
		return nil, fmt.Errorf("hsm: key %q is not an RSA key pair", label)
	}
	return &rsaKey{sd: sd, h: h, label: label}, nil
}

// KeyAttributes are the security attributes of a private key as the token
// reports them, for key ceremony records and tests.
type KeyAttributes struct {
	Token, Private                bool
	Sensitive, AlwaysSensitive    bool
	Extractable, NeverExtractable bool
	Sign, Decrypt                 bool
}

// Attributes reads the private half's security attributes from the token.
func (h *HSM) Attributes(k Key) (KeyAttributes, error) {
	rk, ok := k.(*rsaKey)
	if !ok || rk.h != h {
		return KeyAttributes{}, errors.New("hsm: key does not belong to this HSM")
	}
	if h.isClosed() {
		return KeyAttributes{}, ErrClosed
	}
	types := []crypto11.AttributeType{
		crypto11.CkaToken, crypto11.CkaPrivate,
		crypto11.CkaSensitive, crypto11.CkaAlwaysSensitive,
		crypto11.CkaExtractable, crypto11.CkaNeverExtractable,
		crypto11.CkaSign, crypto11.CkaDecrypt,
	}
	set, err := h.ctx.GetAttributes(rk.sd, types)
	if err != nil {
		return KeyAttributes{}, fmt.Errorf("hsm: attributes of %q: %w", rk.label, err)
	}
	b := func(t crypto11.AttributeType) bool {
		a := set[t]
		return a != nil && len(a.Value) == 1 && a.Value[0] != 0
	}
	return KeyAttributes{
		Token: b(crypto11.CkaToken), Private: b(crypto11.CkaPrivate),
		Sensitive: b(crypto11.CkaSensitive), AlwaysSensitive: b(crypto11.CkaAlwaysSensitive),
		Extractable: b(crypto11.CkaExtractable), NeverExtractable: b(crypto11.CkaNeverExtractable),
		Sign: b(crypto11.CkaSign), Decrypt: b(crypto11.CkaDecrypt),
	}, nil
}

// rsaKey is a key pair on the token.
type rsaKey struct {
	sd    crypto11.SignerDecrypter
	h     *HSM
	label string
}

func (k *rsaKey) Public() crypto.PublicKey { return k.sd.Public() }

// Label is the key's CKA_LABEL.
func (k *rsaKey) Label() string { return k.label }

// Ping reports whether the token holding the key still answers. Callers
// that must not reveal why a decryption failed use it to tell a broken HSM
// from bad input.
func (k *rsaKey) Ping() error { return k.h.Ping() }

func (k *rsaKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if k.h.isClosed() {
		return nil, ErrClosed
	}
	sig, err := k.sd.Sign(r, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("hsm: sign with %q: %w", k.label, err)
	}
	return sig, nil
}

// Decrypt does RSA decryption on the token (nil opts: CKM_RSA_PKCS). Its
// errors can tell bad PKCS#1 padding from other failures: callers must never
// pass them on to whoever supplied the ciphertext (Bleichenbacher).
func (k *rsaKey) Decrypt(r io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	if k.h.isClosed() {
		return nil, ErrClosed
	}
	pt, err := k.sd.Decrypt(r, msg, opts)
	if err != nil {
		return nil, fmt.Errorf("hsm: decrypt with %q: %w", k.label, err)
	}
	return pt, nil
}

// randomPIN returns a random PIN of 32 hex digits.
func randomPIN() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
