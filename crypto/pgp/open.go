package pgp

import (
	"bufio"
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// The reasons Open and Message.Read refuse a message. Errors wrap exactly one
// of them; check with errors.Is.
var (
	// ErrNotForUs: the message is not encrypted to the data room's key (or is
	// not encrypted at all). A message with hidden recipients (gpg
	// --throw-keyids) that our key cannot open is ErrCorrupt instead: we
	// cannot tell "not for us" from "corrupt" there.
	ErrNotForUs = errors.New("pgp: message is not encrypted to the data room key")
	// ErrUnsigned: the message is not signed.
	ErrUnsigned = errors.New("pgp: message is not signed")
	// ErrWrongSigner: signed, but not by a key of this issuer.
	ErrWrongSigner = errors.New("pgp: message is not signed by the issuer's key")
	// ErrBadSignature: the issuer's signature does not verify, or the issuer's
	// key is expired or revoked.
	ErrBadSignature = errors.New("pgp: bad signature")
	// ErrCorrupt: tampered, truncated or not OpenPGP, including every failure
	// to recover the session key. It never says which: telling bad RSA
	// padding from a bad session key checksum or a bad MDC is the oracle of
	// Bleichenbacher-style and format-oracle attacks.
	ErrCorrupt = errors.New("pgp: message corrupt or not decryptable")
	// ErrTooLarge: the plaintext exceeds Limits.MaxPlaintext (compression bombs).
	ErrTooLarge = errors.New("pgp: plaintext exceeds the size limit")
	// ErrWeakCipher: the sender used a cipher below policy (3DES, CAST5, ...),
	// typically because it encrypted to an old certificate.
	ErrWeakCipher = errors.New("pgp: message encrypted with a cipher below policy")
	// ErrKeyUnavailable: the session key could not be recovered and the HSM
	// does not answer either: not the file's fault, retry once the HSM is back.
	ErrKeyUnavailable = errors.New("pgp: data room decryption key unavailable")
)

// Limits bounds what Open will produce.
type Limits struct {
	// MaxPlaintext is the largest plaintext accepted, in bytes. Must be > 0.
	MaxPlaintext int64
}

// recordLimit bounds how much of the start of a message Open keeps to read
// its packet headers (recipients, cipher) again.
const recordLimit = 1 << 20

// Message is a decrypting, verifying stream of one issuer message.
type Message struct {
	md     *openpgp.MessageDetails
	src    *source
	max, n int64
	err    error // sticky: io.EOF after a clean end, else why it failed
	cipher string
	signer string
}

// Open starts decrypting r (binary or ASCII-armored) with the data room's
// decryption key and checks that it is signed by one of the issuer's keys.
// It refuses early what it can (ErrNotForUs, ErrWeakCipher, ErrUnsigned,
// ErrWrongSigner, ErrCorrupt); the MDC or AEAD tags and the signature itself
// are checked as the Message is read. Nothing is written to disk.
//
// Open is safe for concurrent use with the same entities. Callers should
// audit and rate-limit ErrCorrupt per sender: every session-key failure is
// one, and a padding oracle needs many.
func Open(r io.Reader, dataRoom *openpgp.Entity, issuer openpgp.EntityList, limits Limits) (*Message, error) {
	if limits.MaxPlaintext <= 0 {
		return nil, errors.New("pgp: Limits.MaxPlaintext must be positive")
	}
	if len(issuer) == 0 {
		return nil, errors.New("pgp: Open needs the issuer's keys")
	}
	kr, err := newKeyRing(dataRoom, issuer)
	if err != nil {
		return nil, err
	}
	src := &source{r: r}
	body, err := dearmor(src)
	if err != nil {
		if src.err != nil {
			return nil, fmt.Errorf("pgp: read message: %w", src.err)
		}
		return nil, ErrCorrupt
	}
	rec := &recorder{r: body}
	// A backstop for what the literal-data count below cannot see (huge
	// packets other than literal data inside a compressed packet). go-crypto
	// reports hitting it only as a generic decryption error, so it must sit
	// above MaxPlaintext: the literal-data count trips first for real bombs.
	decompressLimit := limits.MaxPlaintext + 1<<20
	if decompressLimit < 0 {
		decompressLimit = limits.MaxPlaintext
	}
	cfg := &packet.Config{MaxDecompressedMessageSize: &decompressLimit}

	md, err := openpgp.ReadMessage(rec, kr, nil, cfg)
	rec.done = true
	if err != nil {
		switch {
		case src.err != nil:
			return nil, fmt.Errorf("pgp: read message: %w", src.err)
		case kr.offered:
			return nil, kr.sessionKeyFailure()
		case errors.Is(err, pgperrors.ErrKeyIncorrect):
			// Well-formed up to the encrypted data, and no recipient is us.
			return nil, ErrNotForUs
		default:
			return nil, ErrCorrupt
		}
	}
	if !md.IsEncrypted || md.DecryptedWith.PrivateKey == nil {
		return nil, ErrNotForUs
	}

	m := &Message{md: md, src: src, max: limits.MaxPlaintext}
	cipher, ok := describeCipher(rec.buf.Bytes(), kr.lastAlgo())
	m.cipher = cipher
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrWeakCipher, cipher)
	}

	var refusal error
	switch {
	case !md.IsSigned:
		refusal = ErrUnsigned
	case md.SignedBy == nil:
		refusal = fmt.Errorf("%w: signed by key ID %016X", ErrWrongSigner, md.SignedByKeyId)
	case md.SignatureError != nil:
		refusal = fmt.Errorf("%w: %v", ErrBadSignature, md.SignatureError)
	}
	if refusal != nil {
		// Read to the end first: a tampered message says ErrCorrupt, not
		// whatever its garbled first packets happened to look like.
		if err := m.drain(); err != nil && !errors.Is(err, ErrTooLarge) {
			return nil, err
		}
		return nil, refusal
	}
	m.signer = Fingerprint(md.SignedBy.Entity)
	return m, nil
}

// Read returns plaintext. At the end it checks the MDC or AEAD tag and the
// signature, and returns io.EOF only if both are good; otherwise an error
// wrapping ErrCorrupt, ErrBadSignature or ErrTooLarge (or the input's own
// read error). Everything read is untrusted until Read has returned io.EOF.
func (m *Message) Read(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	n, err := m.readBody(p)
	if err == io.EOF {
		err = m.finish()
	}
	m.err = err
	return n, err
}

// readBody reads plaintext, counting it against the limit, and maps errors
// to ours. io.EOF means the MDC or AEAD tag checked out; the signature is
// finish's business.
func (m *Message) readBody(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	// Never ask for more than one byte past the limit, so that decompression
	// stops right after it.
	if room := m.max - m.n; int64(len(p)) > room+1 {
		p = p[:room+1]
	}
	n, err := m.md.UnverifiedBody.Read(p)
	m.n += int64(n)
	if m.n > m.max {
		return n - int(m.n-m.max), fmt.Errorf("%w: more than %d bytes", ErrTooLarge, m.max)
	}
	switch {
	case err == nil, err == io.EOF:
		return n, err
	case m.src.err != nil:
		return n, fmt.Errorf("pgp: read message: %w", m.src.err)
	default:
		return n, ErrCorrupt
	}
}

// drain reads the rest of a message that is refused anyway, so that a
// tampered one is reported as ErrCorrupt.
func (m *Message) drain() error {
	buf := make([]byte, 64<<10)
	for {
		if _, err := m.readBody(buf); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// finish runs once the plaintext ended and go-crypto has checked the MDC or
// AEAD tag (it returns an error instead of io.EOF when they fail).
func (m *Message) finish() error {
	md := m.md
	if !md.IsSigned || md.SignedBy == nil {
		return ErrUnsigned // Open refused these already; belt and braces
	}
	if md.SignatureError != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, md.SignatureError)
	}
	if md.Signature == nil {
		return fmt.Errorf("%w: no signature packet", ErrBadSignature)
	}
	return io.EOF
}

// SignerFingerprint is the fingerprint (upper-case hex) of the issuer's
// primary key that the message says signed it. It is proven only once Read
// has returned io.EOF.
func (m *Message) SignerFingerprint() string { return m.signer }

// Cipher describes the encryption, e.g. "SEIPDv1 AES-256" or
// "SEIPDv2 AES-256-GCM".
func (m *Message) Cipher() string { return m.cipher }

// PlaintextBytes is how many plaintext bytes Read has returned so far.
func (m *Message) PlaintextBytes() int64 { return m.n }

// source remembers the input's own read errors, which must not be mistaken
// for corruption (go-crypto folds every error inside encrypted data into a
// generic one).
type source struct {
	r   io.Reader
	err error
}

func (s *source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// dearmor returns the binary OpenPGP stream, taking off ASCII armor if r
// starts with it (binary OpenPGP starts with a byte that has bit 7 set).
func dearmor(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	for {
		b, err := br.Peek(1)
		if err != nil {
			return nil, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			br.ReadByte()
			continue
		case '-':
			block, err := armor.Decode(br)
			if err != nil {
				return nil, err
			}
			if block.Type != openpgp.MessageType {
				return nil, fmt.Errorf("armored %q, not a message", block.Type)
			}
			return block.Body, nil
		}
		return br, nil
	}
}

// recorder keeps what go-crypto reads while Open parses the headers.
type recorder struct {
	r    io.Reader
	buf  bytes.Buffer
	done bool
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if !r.done && r.buf.Len() < recordLimit {
		r.buf.Write(p[:min(n, recordLimit-r.buf.Len())])
	}
	return n, err
}

// describeCipher reads the packet headers again to name the cipher, and says
// whether it meets policy (AES only). algo is the symmetric algorithm octet
// from the decrypted v3 session key, 0 if unknown.
func describeCipher(head []byte, algo byte) (string, bool) {
	pr := packet.NewReader(bytes.NewReader(head))
	for {
		p, err := pr.Next()
		if err != nil {
			return "unknown", false
		}
		switch p := p.(type) {
		case *packet.SymmetricallyEncrypted:
			if p.Version == 2 {
				name := cipherName(p.Cipher) + "-" + aeadName(p.Mode)
				return "SEIPDv2 " + name, isAES(p.Cipher)
			}
			c := packet.CipherFunction(algo)
			return "SEIPDv1 " + cipherName(c), isAES(c)
		case *packet.AEADEncrypted:
			// The LibrePGP (gpg 2.3+) OCB packet; its header fields are not
			// exported by go-crypto, the session key names the cipher.
			c := packet.CipherFunction(algo)
			return "LibrePGP-AEAD " + cipherName(c), isAES(c)
		}
	}
}

func isAES(c packet.CipherFunction) bool {
	return c == packet.CipherAES128 || c == packet.CipherAES192 || c == packet.CipherAES256
}

func cipherName(c packet.CipherFunction) string {
	switch c {
	case packet.CipherAES128:
		return "AES-128"
	case packet.CipherAES192:
		return "AES-192"
	case packet.CipherAES256:
		return "AES-256"
	case packet.Cipher3DES:
		return "3DES"
	case packet.CipherCAST5:
		return "CAST5"
	}
	return fmt.Sprintf("cipher-%d", c)
}

func aeadName(m packet.AEADMode) string {
	switch m {
	case packet.AEADModeGCM:
		return "GCM"
	case packet.AEADModeOCB:
		return "OCB"
	case packet.AEADModeEAX:
		return "EAX"
	}
	return fmt.Sprintf("aead-%d", m)
}

// keyRing is what ReadMessage sees: only the data room's decryption subkeys
// for session keys, and only the issuer's keys for signatures. A message
// addressed to the data room's certification key, or signed by the data room
// itself, finds nothing.
type keyRing struct {
	dec     []openpgp.Key
	recs    []*recDecrypter
	issuer  openpgp.EntityList
	offered bool // a session key was offered to one of our keys
}

func newKeyRing(dataRoom *openpgp.Entity, issuer openpgp.EntityList) (*keyRing, error) {
	if dataRoom == nil {
		return nil, errors.New("pgp: Open needs the data room key")
	}
	kr := &keyRing{issuer: issuer}
	for _, s := range dataRoom.Subkeys {
		if s.PrivateKey == nil || s.Sig == nil || !s.Sig.FlagsValid ||
			!(s.Sig.FlagEncryptCommunications || s.Sig.FlagEncryptStorage) {
			continue
		}
		dec, ok := s.PrivateKey.PrivateKey.(decrypter)
		if !ok {
			continue // not RSA (we only make RSA keys); go-crypto handles others itself
		}
		// A per-Open copy whose decrypter records what happened, for naming
		// the cipher and telling a dead HSM from a bad message.
		rd := &recDecrypter{d: dec}
		pk := *s.PrivateKey
		pk.PrivateKey = rd
		kr.recs = append(kr.recs, rd)
		kr.dec = append(kr.dec, openpgp.Key{
			Entity: dataRoom, PublicKey: s.PublicKey, PrivateKey: &pk,
			SelfSignature: s.Sig, Revocations: s.Revocations,
		})
	}
	if len(kr.dec) == 0 {
		return nil, errors.New("pgp: data room key has no private decryption subkey")
	}
	return kr, nil
}

func (kr *keyRing) KeysById(id uint64) []openpgp.Key {
	var keys []openpgp.Key
	for _, k := range kr.dec {
		if k.PublicKey.KeyId == id {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		kr.offered = true
	}
	return keys
}

func (kr *keyRing) KeysByIdUsage(id uint64, usage byte) []openpgp.Key {
	if usage != packet.KeyFlagSign {
		return nil
	}
	return kr.issuer.KeysByIdUsage(id, usage)
}

// DecryptionKeys is asked for when a recipient is hidden (wildcard key ID).
func (kr *keyRing) DecryptionKeys() []openpgp.Key {
	kr.offered = true
	return kr.dec
}

// lastAlgo is the cipher octet of the last session key that decrypted.
func (kr *keyRing) lastAlgo() byte {
	for _, r := range kr.recs {
		if r.algo != 0 {
			return r.algo
		}
	}
	return 0
}

// sessionKeyFailure is the answer when a session key addressed to us could
// not be used. It is ErrCorrupt, whatever went wrong, unless the HSM itself
// is gone. The HSM is asked on every such failure, not only when the RSA
// decryption failed, so that asking adds no padding-dependent timing.
func (kr *keyRing) sessionKeyFailure() error {
	for _, r := range kr.recs {
		if p, ok := r.d.(pinger); ok {
			if err := p.Ping(); err != nil {
				return fmt.Errorf("%w: %w", ErrKeyUnavailable, err)
			}
		}
	}
	return ErrCorrupt
}

type decrypter interface {
	Public() crypto.PublicKey
	Decrypt(io.Reader, []byte, crypto.DecrypterOpts) ([]byte, error)
}

// pinger is implemented by HSM keys (hsm.Key's concrete type).
type pinger interface{ Ping() error }

// recDecrypter notes the symmetric algorithm octet of the session key it
// recovers. Its errors go back to go-crypto, which only skips the key; they
// never reach the caller.
type recDecrypter struct {
	d    decrypter
	algo byte
}

func (r *recDecrypter) Public() crypto.PublicKey { return r.d.Public() }

func (r *recDecrypter) Decrypt(rand io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	pt, err := r.d.Decrypt(rand, msg, opts)
	// A v3 session key is algo || key || 2-byte checksum: 19, 27 or 35 bytes.
	if err == nil && (len(pt) == 19 || len(pt) == 27 || len(pt) == 35) {
		r.algo = pt[0]
	}
	return pt, err
}
