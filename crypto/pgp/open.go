package pgp

import (
	"bufio"
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// The reasons Open and Message.Read refuse a message. Errors wrap exactly one
// of them (ErrTrailingData counts as one: it is a kind of ErrCorrupt); check
// with errors.Is.
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
	// ErrTrailingData: the file holds more than the one signed message it may
	// hold: bytes after the end of the encrypted message (two files glued
	// together, or anything else appended), or packets after the signature
	// inside the encryption (a second signed message, as gpg --no-literal
	// makes; a second literal data packet; a marker packet; ...). Processing
	// only the first message would silently drop records.
	//
	// It is a kind of ErrCorrupt: errors.Is(err, ErrCorrupt) holds as well,
	// so a caller that does not know ErrTrailingData still rejects the file.
	// It is only returned after the integrity check (MDC or AEAD tag) of the
	// whole encrypted data passed, so it says nothing about plaintext an
	// attacker could not read anyway; otherwise the answer is plain
	// ErrCorrupt.
	ErrTrailingData error = &subError{"pgp: more than one message, or data after the end of the signed message", ErrCorrupt}
	// ErrTooLarge: the plaintext exceeds Limits.MaxPlaintext (compression bombs).
	ErrTooLarge = errors.New("pgp: plaintext exceeds the size limit")
	// ErrWeakCipher: the sender used a cipher below policy (3DES, CAST5, ...),
	// typically because it encrypted to an old certificate.
	ErrWeakCipher = errors.New("pgp: message encrypted with a cipher below policy")
	// ErrKeyUnavailable: the session key could not be recovered and the HSM
	// does not answer either: not the file's fault, retry once the HSM is back.
	ErrKeyUnavailable = errors.New("pgp: data room decryption key unavailable")
)

// subError is a sentinel that is also a kind of a more general one.
type subError struct {
	msg    string
	parent error
}

// Bounds on session-key packets: a real message has one per recipient, and
// one (rarely two, for a hidden recipient) that our key can open.
const (
	maxSessionKeyPackets = 16
	maxOurSessionKeys    = 2
)

// ErrWeakHash: the issuer signed over MD5, SHA-1 or RIPEMD-160. Such a
// refusal also satisfies errors.Is(err, ErrBadSignature).
var ErrWeakHash = errors.New("pgp: signature hash too weak")

func (e *subError) Error() string { return e.msg }
func (e *subError) Unwrap() error { return e.parent }

// Limits bounds what Open will produce.
type Limits struct {
	// MaxPlaintext is the largest plaintext accepted, in bytes. Must be > 0.
	MaxPlaintext int64
}

// Why Open reads the packets itself rather than calling openpgp.ReadMessage
//
// ReadMessage (go-crypto v1.5.2, openpgp/read.go) accepts more than one
// message and says nothing: after the literal data it reads every remaining
// packet, looks only at signatures and drops anything else (a second signed
// message, a second literal data packet); and it never looks at the input
// after the encrypted data packet (a second file glued to the first). The
// first batch of records verified, the second one vanished. Its packet
// source cannot be observed from outside: the decrypted and decompressed
// streams are made and pushed inside it, and packet.Reader.Next skips marker
// and unknown packets. So Open walks the message with go-crypto's packet
// layer and accepts exactly this grammar, and nothing after it:
//
//	file      = [ASCII armor of] message
//	message   = *(PKESK / SKESK) encrypted EOF
//	encrypted = SEIPDv1 / SEIPDv2 / LibrePGP AEAD packet whose decrypted
//	            content is:  (compressed(signed) / signed) EOF
//	signed    = one-pass-signature literal-data signature
//
// A literal data packet alone (no one-pass signature) is read far enough to
// refuse it as ErrUnsigned. Everything else is refused: several one-pass
// signatures (several signers), nested compression, marker, padding or
// unknown packets inside the encryption, and the old signature-first form
// (gpg 2.2 never writes it, whatever --pgp6/7/8, --rfc2440 or
// --force-v3-sigs says; checked). In the outer packets, marker and unknown
// packets are skipped as ReadMessage does; they are unauthenticated and
// carry nothing.
//
// All cryptography stays go-crypto's: EncryptedKey.Decrypt (RSA through the
// HSM's crypto.Decrypter), SymmetricallyEncrypted / AEADEncrypted Decrypt
// with their MDC and tag checks, decompression, PublicKey.VerifySignature.
// Open only decides which packets may come in which order, feeds the literal
// data into the hash its one-pass signature names, and repeats (signerValid)
// the checks of the signing key that ReadMessage made in an unexported
// function.
//
// What an attacker who can change ciphertext learns: every failure to get a
// session key, to parse, to decrypt or to check integrity is the same bare
// ErrCorrupt (Open asks the HSM after each one it sees once a session key
// was addressed to us, see sessionKeyFailure). Every
// other verdict (ErrWeakCipher, ErrUnsigned, ErrWrongSigner, ErrBadSignature,
// ErrTrailingData) is given only after the whole encrypted packet passed its
// integrity check, that is about a message somebody really encrypted as it
// is. ErrTooLarge is given as soon as the plaintext passes the limit.
//
// One thing the grammar cannot see: go-crypto discards whatever follows the
// end of the compressed stream inside a compressed packet without parsing it
// (packet/compressed.go, decompressionReader). Those bytes are covered by the
// MDC or AEAD tag, are never parsed as packets and never reach the caller.

// Message is a decrypting, verifying stream of one issuer message.
type Message struct {
	src *source
	in  *input
	// plain is the decrypted content of the encrypted data packet; Close
	// checks its MDC or final AEAD tag.
	plain io.ReadCloser
	// layer is where the signed message's packets come from: plain, or the
	// decompressed body of the one compressed packet that plain holds.
	layer      io.Reader
	compressed bool

	ops     *packet.OnePassSignature
	opsErr  error        // the one-pass signature cannot be used (unsupported)
	signer  *openpgp.Key // the issuer's key the one-pass signature names
	h       hash.Hash    // the signature's hash
	wh      hash.Hash    // what the literal data is written to: h, or canonical text over h
	text    bool         // a text-mode signature: the literal must already be canonical
	textBad bool         // a bare CR or LF was seen
	lastCR  bool         // the previous byte was CR
	lit     *packet.LiteralData

	max, n    int64
	err       error // sticky: io.EOF after a clean end, else why it failed
	cipher    string
	signerFpr string
}

// Open starts decrypting r (binary or ASCII-armored) with the data room's
// decryption key and checks that it is one message signed by one of the
// issuer's keys. It refuses early what it can (ErrNotForUs, ErrWeakCipher,
// ErrUnsigned, ErrWrongSigner, ErrCorrupt); the MDC or AEAD tags, the
// signature itself and that nothing follows the message (ErrTrailingData)
// are checked as the Message is read. Nothing is written to disk, and the
// plaintext is never buffered.
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
	in, err := dearmor(src)
	if err != nil {
		if src.err != nil {
			return nil, readError(src.err)
		}
		return nil, ErrCorrupt
	}
	m := &Message{src: src, in: in, max: limits.MaxPlaintext}

	ek, edp, err := m.decrypt(kr)
	if err == nil {
		err = m.readHead(kr)
	}
	if err != nil {
		switch {
		case src.err != nil:
			return nil, readError(src.err)
		case err == ErrCorrupt && kr.offered:
			return nil, kr.sessionKeyFailure()
		}
		return nil, err
	}

	cipher, ok := describeCipher(edp, ek)
	m.cipher = cipher
	var refusal error
	switch {
	case !ok:
		refusal = fmt.Errorf("%w: %s", ErrWeakCipher, cipher)
	case m.ops == nil:
		refusal = ErrUnsigned
	case m.opsErr != nil:
		refusal = fmt.Errorf("%w: %w", ErrBadSignature, m.opsErr)
	case m.signer == nil:
		refusal = fmt.Errorf("%w: signed by key ID %016X", ErrWrongSigner, m.ops.KeyId)
	}
	if refusal != nil {
		// Only a message that really was encrypted as it is gets an answer
		// other than ErrCorrupt.
		if err := m.authenticate(); err != nil {
			return nil, err
		}
		return nil, refusal
	}
	m.signerFpr = Fingerprint(m.signer.Entity)
	return m, nil
}

// decrypt reads the packets up to the encrypted data packet, recovers the
// session key with the data room's key and starts decrypting (m.plain). It
// returns ErrNotForUs or ErrCorrupt; Open turns ErrCorrupt into
// sessionKeyFailure once a session key was offered to our key.
func (m *Message) decrypt(kr *keyRing) (*packet.EncryptedKey, packet.EncryptedDataPacket, error) {
	type candidate struct {
		ek  *packet.EncryptedKey
		key *packet.PrivateKey
	}
	var cands []candidate
	var edp packet.EncryptedDataPacket
	sawESK := false
	// packet.Reader skips marker, unknown and unsupported packets (PKESKs of
	// other versions) as ReadMessage did. It reads the header and then the
	// packet's own contents straight from m.in, buffering nothing, so m.in
	// is positioned right after the encrypted data packet once that is done.
	pr := packet.NewReader(m.in)
	esks := 0
	for edp == nil {
		p, err := pr.Next()
		if err != nil {
			return nil, nil, ErrCorrupt
		}
		switch p := p.(type) {
		case *packet.EncryptedKey:
			sawESK = true
			// Each candidate is one RSA decryption in the HSM: a file may not
			// buy more than a couple (a denial of service on the HSM, and
			// many padding-oracle queries for the price of one start).
			if esks++; esks > maxSessionKeyPackets {
				return nil, nil, ErrCorrupt
			}
			var keys []openpgp.Key
			if p.KeyId == 0 {
				keys = kr.DecryptionKeys() // hidden recipient
			} else {
				keys = kr.KeysById(p.KeyId)
			}
			for _, k := range keys {
				cands = append(cands, candidate{p, k.PrivateKey})
			}
		case *packet.SymmetricKeyEncrypted:
			sawESK = true // a passphrase: never ours
		case *packet.SymmetricallyEncrypted:
			if !p.IntegrityProtected {
				return nil, nil, ErrCorrupt // no MDC: never
			}
			edp = p
		case *packet.AEADEncrypted:
			edp = p
		case *packet.Compressed, *packet.LiteralData, *packet.OnePassSignature, *packet.Signature:
			if sawESK {
				return nil, nil, ErrCorrupt // session keys for nothing
			}
			return nil, nil, ErrNotForUs // not encrypted at all
		default:
			return nil, nil, ErrCorrupt // keys, user IDs, padding...: not a message
		}
	}
	if len(cands) == 0 {
		return nil, nil, ErrNotForUs
	}
	if len(cands) > maxOurSessionKeys {
		return nil, nil, ErrCorrupt
	}
	for _, c := range cands {
		if c.key == nil || c.key.Encrypted {
			continue
		}
		if len(c.ek.Key) == 0 {
			// Bad padding, bad checksum, unknown cipher: the next candidate,
			// and in the end one ErrCorrupt for all of them (no oracle).
			if err := c.ek.Decrypt(c.key, nil); err != nil {
				continue
			}
		}
		plain, err := edp.Decrypt(c.ek.CipherFunc, c.ek.Key)
		if err != nil {
			return nil, nil, ErrCorrupt
		}
		m.plain = plain
		return c.ek, edp, nil
	}
	return nil, nil, ErrCorrupt
}

// readHead reads the decrypted packets up to the start of the literal data:
// [compressed:] [one-pass signature] literal data. It sets up the signature
// hash when the signer is one of the issuer's keys.
func (m *Message) readHead(kr *keyRing) error {
	// A backstop for what the literal-data count cannot see (packets other
	// than literal data inside a compressed packet). Above MaxPlaintext so
	// that the literal-data count trips first for real bombs.
	limit := m.max + 1<<20
	if limit < 0 {
		limit = m.max
	}
	m.layer = m.plain
	p, err := packet.Read(m.layer)
	if c, ok := p.(*packet.Compressed); ok && err == nil {
		m.layer, m.compressed = c.LimitedBodyReader(&limit), true
		p, err = packet.Read(m.layer)
	}
	if ops, ok := p.(*packet.OnePassSignature); ok {
		m.ops = ops
		switch {
		case err != nil && isUnsupported(err):
			m.opsErr = err // packet.Read consumed it; refused as ErrBadSignature
		case err != nil:
			return ErrCorrupt
		case !ops.IsLast:
			return ErrCorrupt // another one-pass signature follows: several signers
		default:
			m.startHash(kr)
		}
		p, err = packet.Read(m.layer)
	}
	lit, ok := p.(*packet.LiteralData)
	if !ok || err != nil {
		return ErrCorrupt
	}
	m.lit = lit
	return nil
}

// startHash finds the issuer's key the one-pass signature names and the
// hash it announces, as ReadMessage does.
func (m *Message) startHash(kr *keyRing) {
	ops := m.ops
	keys := kr.KeysByIdUsage(ops.KeyId, packet.KeyFlagSign)
	if len(keys) == 0 {
		return // ErrWrongSigner
	}
	if ops.SigType != packet.SigTypeBinary && ops.SigType != packet.SigTypeText {
		m.opsErr = fmt.Errorf("unsupported signature type %d", ops.SigType)
		return
	}
	if !ops.Hash.Available() {
		m.opsErr = fmt.Errorf("hash %v not available", ops.Hash)
		return
	}
	switch ops.Hash {
	case crypto.MD5, crypto.SHA1, crypto.RIPEMD160:
		// Collisions for SHA-1 are practical (SHA-1 is a Shambles, 2020):
		// an issuer's signature over it proves too little. gpg 2.2 signs
		// with SHA-256 or better unless told otherwise.
		m.opsErr = fmt.Errorf("%w: the signature uses %v: sign with SHA-256 or better", ErrWeakHash, ops.Hash)
		return
	}
	signer := &keys[0]
	// The key that actually signs must meet the policy, not only the
	// newest signing key that ReadIssuerKey checked.
	if err := checkStrength(signer.PublicKey); err != nil {
		m.opsErr = err
		return
	}
	// Versions must agree: a v6 one-pass signature feeds its salt into the
	// hash, so a v6 one before a v4 signature would let the first bytes of
	// signed data be moved into the salt, and the other way round.
	if (ops.Version == 6) != (signer.PublicKey.Version == 6) ||
		(ops.Version == 6 && !bytes.Equal(ops.KeyFingerprint, signer.PublicKey.Fingerprint)) {
		m.opsErr = errors.New("the one-pass signature's version or fingerprint does not match the signing key")
		return
	}
	m.signer = signer
	m.text = ops.SigType == packet.SigTypeText
	m.h = ops.Hash.New()
	if ops.Version == 6 {
		m.h.Write(ops.Salt)
	}
	// Text mode needs no canonicalising hash: the literal must already be
	// canonical (checkCanonical), and canonical text hashes as itself.
	m.wh = m.h
}

// Read returns plaintext. At the end it checks that the signature packet
// follows and nothing after it, the MDC or AEAD tag, and the signature, and
// returns io.EOF only if all are good; otherwise an error wrapping
// ErrCorrupt, ErrTrailingData, ErrBadSignature or ErrTooLarge (or the
// input's own read error). Everything read is untrusted until Read has
// returned io.EOF.
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

// readBody reads literal data, hashing it and counting it against the
// limit, and maps errors to ours. io.EOF means the end of the literal data.
func (m *Message) readBody(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	// Never ask for more than one byte past the limit, so that decompression
	// stops right after it.
	if room := m.max - m.n; room < int64(len(p)) { // room+1 <= len(p): no overflow
		p = p[:room+1]
	}
	n, err := m.lit.Body.Read(p)
	m.wh.Write(p[:n])
	if m.text {
		m.checkCanonical(p[:n], err == io.EOF)
	}
	m.n += int64(n)
	if m.n > m.max {
		return n - int(m.n-m.max), fmt.Errorf("%w: more than %d bytes", ErrTooLarge, m.max)
	}
	switch {
	case err == nil, err == io.EOF:
		return n, err
	case m.src.err != nil:
		return n, readError(m.src.err)
	case errors.Is(err, pgperrors.ErrMessageTooLarge):
		return n, fmt.Errorf("%w: more than %d bytes decompressed", ErrTooLarge, m.max)
	default:
		return n, ErrCorrupt
	}
}

// finish runs once the literal data ended: the signature packet must come
// next and nothing after it, then the integrity check, then the signature.
func (m *Message) finish() error {
	p, err := packet.Read(m.layer)
	sig, isSig := p.(*packet.Signature)
	var sigErr error
	switch {
	case err == io.EOF:
		sigErr = errors.New("no signature packet after the literal data")
	case isSig && err == nil:
	case isSig && isUnsupported(err):
		sigErr = err
	case p != nil || isUnknownPacket(err):
		// Something else where the signature belongs: a second literal
		// data packet, a second message, ...
		return m.trailing()
	default:
		return m.sourceOr(ErrCorrupt)
	}
	if err := m.end(); err != nil {
		return err
	}
	if sigErr == nil {
		sigErr = m.verify(sig)
	}
	if sigErr != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, sigErr)
	}
	return io.EOF
}

// end checks that nothing follows the signature, inside the compressed
// packet, inside the encryption or after it, and the MDC or AEAD tag.
func (m *Message) end() error {
	if m.compressed {
		if more, err := hasMore(m.layer); err != nil {
			return m.sourceOr(ErrCorrupt)
		} else if more {
			return m.trailing()
		}
	}
	if more, err := hasMore(m.plain); err != nil {
		return m.sourceOr(ErrCorrupt)
	} else if more {
		return m.trailing()
	}
	if err := m.plain.Close(); err != nil {
		return m.sourceOr(ErrCorrupt)
	}
	// The encrypted message is complete and good: anything after it in
	// the file is another message, or junk.
	if err := m.in.end(); err != nil {
		return m.sourceOr(err)
	}
	return nil
}

// trailing is the answer when packets follow the signed message inside the
// encryption: ErrTrailingData if the encrypted data is intact, else
// ErrCorrupt.
func (m *Message) trailing() error {
	if err := m.authenticate(); err != nil {
		return err
	}
	return ErrTrailingData
}

// authenticate reads the rest of the decrypted data, without parsing or
// decompressing it, and checks its MDC or final AEAD tag.
func (m *Message) authenticate() error {
	if _, err := io.Copy(io.Discard, m.plain); err != nil {
		return m.sourceOr(ErrCorrupt)
	}
	if err := m.plain.Close(); err != nil {
		return m.sourceOr(ErrCorrupt)
	}
	return nil
}

// verify checks the signature packet against its one-pass signature, the
// hash of the literal data and the issuer's key.
func (m *Message) verify(sig *packet.Signature) error {
	ops := m.ops
	switch {
	case sig.IssuerKeyId == nil || *sig.IssuerKeyId != ops.KeyId:
		return errors.New("the signature is not by the key its one-pass signature names")
	case sig.SigType != ops.SigType || sig.Hash != ops.Hash || sig.PubKeyAlgo != ops.PubKeyAlgo:
		return errors.New("the signature does not match its one-pass signature")
	case sig.Version != m.signer.PublicKey.Version || !bytes.Equal(ops.Salt, sig.Salt()):
		return errors.New("the signature's version or salt does not match its one-pass signature and key")
	case m.text && m.textBad:
		// Canonical-text hashing would accept other line endings than the
		// ones signed; only the canonical form itself (CRLF) is accepted.
		return errors.New("a text-mode signature over bytes that are not in canonical form (CRLF line ends)")
	}
	if sig.Version == 5 && (sig.SigType == packet.SigTypeBinary || sig.SigType == packet.SigTypeText) {
		sig.Metadata = m.lit // as ReadMessage does: v5 signatures hash it
	}
	if err := m.signer.PublicKey.VerifySignature(m.h, sig); err != nil {
		return err
	}
	return signerValid(m.signer, sig, time.Now())
}

// signerValid is what go-crypto v1.5.2's ReadMessage checked after a good
// signature (checkMessageSignatureDetails in openpgp/read.go, unexported):
// no unknown critical notation in the signature or the key's self
// signatures, the key and its primary user ID not revoked, not expired, and
// no signature involved expired.
func signerValid(key *openpgp.Key, sig *packet.Signature, now time.Time) error {
	primarySig, primaryID := key.Entity.PrimarySelfSignature()
	if primarySig == nil {
		return errors.New("the signer's key has no valid self-signature")
	}
	bySubkey := key.PublicKey != key.Entity.PrimaryKey
	sigs := []*packet.Signature{sig, primarySig}
	if bySubkey {
		if key.SelfSignature == nil || key.SelfSignature.EmbeddedSignature == nil {
			return errors.New("the signing subkey has no binding signature")
		}
		sigs = append(sigs, key.SelfSignature, key.SelfSignature.EmbeddedSignature)
	}
	for _, s := range sigs {
		for _, n := range s.Notations {
			if n.IsCritical {
				return pgperrors.SignatureError("unknown critical notation: " + n.Name)
			}
		}
	}
	if key.Entity.Revoked(now) || (bySubkey && key.Revoked(now)) ||
		(primaryID != nil && primaryID.Revoked(now)) {
		return pgperrors.ErrKeyRevoked
	}
	if key.Entity.PrimaryKey.KeyExpired(primarySig, now) ||
		(bySubkey && key.PublicKey.KeyExpired(key.SelfSignature, now)) {
		return pgperrors.ErrKeyExpired
	}
	for _, s := range sigs {
		if s.SigExpired(now) {
			return pgperrors.ErrSignatureExpired
		}
	}
	return nil
}

// SignerFingerprint is the fingerprint (upper-case hex) of the issuer's
// primary key that the message says signed it. It is proven only once Read
// has returned io.EOF.
func (m *Message) SignerFingerprint() string { return m.signerFpr }

// Cipher describes the encryption, e.g. "SEIPDv1 AES-256" or
// "SEIPDv2 AES-256-GCM".
func (m *Message) Cipher() string { return m.cipher }

// PlaintextBytes is how many plaintext bytes Read has returned so far.
func (m *Message) PlaintextBytes() int64 { return m.n }

// sourceOr returns the input's own read error if there was one, else err.
func (m *Message) sourceOr(err error) error {
	if m.src.err != nil {
		return readError(m.src.err)
	}
	return err
}

func readError(err error) error { return fmt.Errorf("pgp: read message: %w", err) }

// hasMore reports whether r has at least one more byte.
func hasMore(r io.Reader) (bool, error) {
	var b [1]byte
	n, err := io.ReadFull(r, b[:])
	switch {
	case n == 1:
		return true, nil
	case err == io.EOF:
		return false, nil
	}
	return false, err
}

func isUnsupported(err error) bool {
	var u pgperrors.UnsupportedError
	return errors.As(err, &u)
}

func isUnknownPacket(err error) bool {
	var u pgperrors.UnknownPacketTypeError
	var c pgperrors.CriticalUnknownPacketTypeError
	return errors.As(err, &u) || errors.As(err, &c)
}

// source remembers the input's own read errors, which must not be mistaken
// for corruption.
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

// input is the binary OpenPGP stream of the file, and what surrounds it.
type input struct {
	r       io.Reader     // the binary stream: br itself, or the armor's body
	br      *bufio.Reader // the file
	armored bool
}

func (in *input) Read(p []byte) (int, error) { return in.r.Read(p) }

// end checks that the file ends with the message: nothing after it in the
// binary stream and, for an armored file, nothing but the armor's end line
// and white space after the armor.
func (in *input) end() error {
	more, err := hasMore(in.r)
	switch {
	case err != nil:
		return ErrCorrupt
	case more:
		return ErrTrailingData
	case !in.armored:
		return nil
	}
	// go-crypto's armor stops at the checksum line or at the end line; the
	// rest is still in br (armor.Decode reads through br itself: bufio's
	// NewReaderSize returns a *bufio.Reader that is big enough unchanged).
	seenEnd := false
	for {
		line, err := in.br.ReadSlice('\n')
		switch t := bytes.TrimSpace(line); {
		case len(t) == 0:
		case !seenEnd && bytes.Equal(t, []byte("-----END "+openpgp.MessageType+"-----")):
			seenEnd = true
		default:
			return ErrTrailingData
		}
		switch err {
		case nil:
		case io.EOF:
			return nil
		case bufio.ErrBufferFull:
			return ErrTrailingData // a 4 KiB line is no armor line
		default:
			return err
		}
	}
}

// dearmor returns the binary OpenPGP stream, taking off ASCII armor if r
// starts with it (binary OpenPGP starts with a byte that has bit 7 set).
func dearmor(r io.Reader) (*input, error) {
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
			return &input{r: block.Body, br: br, armored: true}, nil
		}
		return &input{r: br, br: br}, nil
	}
}

// describeCipher names the cipher of the encrypted data packet and says
// whether it meets policy (AES only). SEIPDv1 and the LibrePGP AEAD packet
// take their cipher from the (v3) session key, SEIPDv2 names its own.
func describeCipher(edp packet.EncryptedDataPacket, ek *packet.EncryptedKey) (string, bool) {
	switch p := edp.(type) {
	case *packet.SymmetricallyEncrypted:
		if p.Version == 2 {
			return "SEIPDv2 " + cipherName(p.Cipher) + "-" + aeadName(p.Mode), isAES(p.Cipher)
		}
		return "SEIPDv1 " + cipherName(ek.CipherFunc), isAES(ek.CipherFunc)
	case *packet.AEADEncrypted:
		// go-crypto does not export this packet's header fields.
		return "LibrePGP-AEAD " + cipherName(ek.CipherFunc), isAES(ek.CipherFunc)
	}
	return "unknown", false
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

// keyRing is what Open looks keys up in: only the data room's decryption
// subkeys for session keys, and only the issuer's keys for signatures. A
// message addressed to the data room's certification key, or signed by the
// data room itself, finds nothing.
type keyRing struct {
	dec     []openpgp.Key
	hsm     []decrypter // the private halves of dec, for sessionKeyFailure
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
		// go-crypto's EncryptedKey.Decrypt type-asserts crypto.Decrypter for
		// RSA keys (we only make RSA keys).
		dec, ok := s.PrivateKey.PrivateKey.(decrypter)
		if !ok {
			continue
		}
		kr.hsm = append(kr.hsm, dec)
		kr.dec = append(kr.dec, openpgp.Key{
			Entity: dataRoom, PublicKey: s.PublicKey, PrivateKey: s.PrivateKey,
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

// sessionKeyFailure is the answer when a session key addressed to us could
// not be used. It is ErrCorrupt, whatever went wrong, unless the HSM itself
// is gone. The HSM is asked on every such failure, not only when the RSA
// decryption failed, so that asking adds no padding-dependent timing.
func (kr *keyRing) sessionKeyFailure() error {
	for _, d := range kr.hsm {
		if p, ok := d.(pinger); ok {
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

// checkCanonical records whether text-mode literal data is in canonical
// form: every CR followed by LF and every LF preceded by CR. gpg writes it
// so; anything else would verify against a signature over other bytes.
func (m *Message) checkCanonical(b []byte, end bool) {
	for _, c := range b {
		if m.lastCR != (c == '\n') {
			m.textBad = true
		}
		m.lastCR = c == '\r'
	}
	if end && m.lastCR {
		m.textBad = true
	}
}
