package audit

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

var (
	// ErrInvalidCheckpoint is returned for a checkpoint file that is not in
	// the form Marshal writes, or whose signature does not verify under the
	// keys given.
	ErrInvalidCheckpoint = errors.New("invalid audit checkpoint")
	// ErrUnsupportedKey is returned for a checkpoint key that is neither RSA
	// (2048 to 8192 bits) nor ECDSA on P-256.
	ErrUnsupportedKey = errors.New("unsupported checkpoint key")
	// ErrNoCheckpointer is returned by Checkpoint and SetPolicy before
	// SetCheckpointer.
	ErrNoCheckpointer = errors.New("audit log has no checkpoint signer")
	// ErrNoCheckpoint means a log holds no checkpoint where one is required
	// (VerifyOptions.RequireCheckpoint, LatestCheckpoint).
	ErrNoCheckpoint = errors.New("no checkpoint in the audit log")
)

// checkpointHeader is the first line of the signed text. The version is in
// it so that a signature over one format can never be read as another.
const checkpointHeader = "dataprep audit checkpoint v1"

// maxSignatureLen bounds a signature: RSA-8192 makes 1024 bytes.
const maxSignatureLen = 1024

// maxOriginLen bounds an origin.
const maxOriginLen = 255

// The detail keys of a checkpoint entry, in the (sorted) order they are
// encoded in.
const (
	ckHead      = "head"
	ckKeyID     = "key_id"
	ckOrigin    = "origin"
	ckSeq       = "seq"
	ckSignature = "signature"
)

// Checkpoint is a signed statement: the log named Origin held Seq entries at
// Time, and the last of them had the hash Head. Because every entry's hash
// covers the one before it, the signature covers entries 1 to Seq.
//
// In the log, a checkpoint is the entry right after the one it covers (an
// EventCheckpoint entry with seq Seq+1 and prev Head). Outside it, Marshal
// gives a small text file to keep somewhere the daemon cannot write, for
// VerifyOptions.Against. audit/README.md defines both byte by byte.
type Checkpoint struct {
	Origin    string    // the log's name, e.g. the data room's host name
	Seq       uint64    // seq of the last entry covered; 0 for an empty log
	Head      string    // hash of entry Seq (GenesisHash when Seq is 0)
	Time      time.Time // when it was made; the checkpoint entry's time
	KeyID     string    // KeyID of the signing key
	Signature []byte    // over the signed text, see audit/README.md
}

// signedText is what the key signs:
//
//	dataprep audit checkpoint v1\n<origin>\n<seq>\n<head>\n<time>\n
func (c Checkpoint) signedText() []byte {
	b := make([]byte, 0, 160+len(c.Origin))
	b = append(b, checkpointHeader...)
	b = append(b, '\n')
	b = append(b, c.Origin...)
	b = append(b, '\n')
	b = strconv.AppendUint(b, c.Seq, 10)
	b = append(b, '\n')
	b = append(b, c.Head...)
	b = append(b, '\n')
	b = c.Time.UTC().AppendFormat(b, timeLayout)
	return append(b, '\n')
}

// sigLinePrefix starts the signature line of a checkpoint file: an em dash
// and a space, as in a C2SP signed note.
const sigLinePrefix = "\u2014 "

// Marshal returns the checkpoint as a text file: the signed text, an empty
// line, and one signature line "— <key id> <base64 signature>".
func (c Checkpoint) Marshal() []byte {
	b := c.signedText()
	b = append(b, '\n')
	b = append(b, sigLinePrefix...)
	b = append(b, c.KeyID...)
	b = append(b, ' ')
	b = base64.StdEncoding.AppendEncode(b, c.Signature)
	return append(b, '\n')
}

// maxCheckpointFile bounds what ParseCheckpoint reads.
const maxCheckpointFile = 4096

// ParseCheckpoint reads a checkpoint file written by Marshal. It accepts
// exactly that form (so Marshal gives back the same bytes) and returns an
// error wrapping ErrInvalidCheckpoint otherwise. It does not check the
// signature: see Verify.
func ParseCheckpoint(b []byte) (Checkpoint, error) {
	bad := func(why string) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("%w: %s", ErrInvalidCheckpoint, why)
	}
	if len(b) > maxCheckpointFile {
		return bad("longer than a checkpoint can be")
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return bad("does not end in a newline")
	}
	lines := strings.Split(string(b[:len(b)-1]), "\n")
	if len(lines) != 7 || lines[0] != checkpointHeader || lines[5] != "" {
		return bad("not a " + checkpointHeader + " file")
	}
	var c Checkpoint
	c.Origin = lines[1]
	if !validOrigin(c.Origin) {
		return bad("origin is not 1 to 255 printable ASCII characters without spaces")
	}
	seq, ok := parseDecimal(lines[2])
	if !ok {
		return bad("seq is not a decimal number")
	}
	c.Seq = seq
	c.Head = lines[3]
	if !validHex64(c.Head) {
		return bad("head is not 64 lower-case hex digits")
	}
	t, err := time.Parse(timeLayout, lines[4])
	if err != nil || t.Format(timeLayout) != lines[4] {
		return bad("time is not in the form 2006-01-02T15:04:05.000000000Z")
	}
	c.Time = t
	sigLine, ok := strings.CutPrefix(lines[6], sigLinePrefix)
	if !ok {
		return bad("no signature line")
	}
	keyID, sig, ok := strings.Cut(sigLine, " ")
	if !ok || !validHex64(keyID) {
		return bad("signature line is not \u201c\u2014 <key id> <base64 signature>\u201d")
	}
	c.KeyID = keyID
	if c.Signature, ok = decodeSignature(sig); !ok {
		return bad("signature is not canonical base64 of 1 to 1024 bytes")
	}
	if !bytes.Equal(c.Marshal(), b) { // belt and braces: one form only
		return bad("not in canonical form")
	}
	return c, nil
}

// Verify checks the checkpoint's signature against the key among keys
// whose KeyID it names. The error wraps ErrInvalidCheckpoint (or
// ErrUnsupportedKey for a key of the wrong kind).
func (c Checkpoint) Verify(keys ...crypto.PublicKey) error {
	ks, err := newKeySet(keys)
	if err != nil {
		return err
	}
	if reason := ks.verify(&c); reason != "" {
		return fmt.Errorf("%w: %s", ErrInvalidCheckpoint, reason)
	}
	return nil
}

// validOrigin: 1 to 255 bytes of printable ASCII, no spaces, so that it is
// one line of the signed text and one word in messages.
func validOrigin(s string) bool {
	if s == "" || len(s) > maxOriginLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// parseDecimal parses a uint64 written without sign or leading zeros.
func parseDecimal(s string) (uint64, bool) {
	if s == "" || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// decodeSignature decodes standard, padded base64 and insists that it is
// the one encoding of its bytes.
func decodeSignature(s string) ([]byte, bool) {
	sig, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(sig) == 0 || len(sig) > maxSignatureLen || base64.StdEncoding.EncodeToString(sig) != s {
		return nil, false
	}
	return sig, true
}

// KeyID names a checkpoint key: the lower-case hex SHA-256 of its PKIX
// (SubjectPublicKeyInfo) DER encoding, which is what
// `openssl pkey -pubin -outform DER | sha256sum` prints for its PEM file.
func KeyID(pub crypto.PublicKey) (string, error) {
	if err := checkKey(pub); err != nil {
		return "", err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnsupportedKey, err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// checkKey accepts RSA keys of 2048 to 8192 bits and ECDSA keys on P-256.
func checkKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil || k.N.BitLen() < 2048 || k.N.BitLen() > 8192 {
			return fmt.Errorf("%w: RSA keys must have 2048 to 8192 bits", ErrUnsupportedKey)
		}
		return nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve != elliptic.P256() {
			return fmt.Errorf("%w: ECDSA keys must be on P-256", ErrUnsupportedKey)
		}
		return nil
	default:
		return fmt.Errorf("%w: %T (want RSA or ECDSA P-256)", ErrUnsupportedKey, pub)
	}
}

// MarshalPublicKey encodes a checkpoint key for verifiers: a PEM block of
// type "PUBLIC KEY" holding its PKIX DER, as `openssl pkey -pubout` writes.
func MarshalPublicKey(pub crypto.PublicKey) ([]byte, error) {
	if err := checkKey(pub); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupportedKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKey reads the first PEM block of b, which must be a "PUBLIC
// KEY" (PKIX) holding a key MarshalPublicKey accepts. Text before the block
// is ignored, as PEM allows.
func ParsePublicKey(b []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrUnsupportedKey)
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%w: PEM block is %q, want \"PUBLIC KEY\"", ErrUnsupportedKey, block.Type)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupportedKey, err)
	}
	if err := checkKey(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// keySet maps key ids to trusted keys. A nil keySet checks no signatures.
type keySet map[string]crypto.PublicKey

func newKeySet(keys []crypto.PublicKey) (keySet, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	ks := keySet{}
	for _, k := range keys {
		id, err := KeyID(k)
		if err != nil {
			return nil, err
		}
		ks[id] = k
	}
	return ks, nil
}

// verify returns "" when a key of the set made c's signature, and a reason
// otherwise.
func (ks keySet) verify(c *Checkpoint) string {
	pub, ok := ks[c.KeyID]
	if !ok {
		return reasonCkptUnknownKey
	}
	if !verifySignature(pub, c.signedText(), c.Signature) {
		return reasonCkptBadSig
	}
	return ""
}

// verifySignature: RSASSA-PKCS1-v1_5 with SHA-256 for RSA keys, ECDSA with
// SHA-256 and an ASN.1 DER signature for P-256 keys.
func verifySignature(pub crypto.PublicKey, text, sig []byte) bool {
	digest := sha256.Sum256(text)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig) == nil
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, digest[:], sig)
	}
	return false
}

// sign signs text with signer, whose public key is pub, and checks the
// signature before returning it: a signer whose private half does not match
// pub (a mislabelled HSM key) must not write checkpoints nobody can verify.
func sign(signer crypto.Signer, pub crypto.PublicKey, text []byte) ([]byte, error) {
	digest := sha256.Sum256(text)
	// crypto.SHA256 as opts: PKCS #1 v1.5 for RSA (CKM_RSA_PKCS with the
	// DigestInfo prefix in crypto11), ASN.1 DER for ECDSA.
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	if len(sig) == 0 || len(sig) > maxSignatureLen || !verifySignature(pub, text, sig) {
		return nil, errors.New("audit: sign checkpoint: the signer's signature does not verify under its public key")
	}
	return sig, nil
}

// checkpointEntry is the log entry that carries c: seq c.Seq+1, prev
// c.Head, time c.Time, event EventCheckpoint and five detail members.
func checkpointEntry(c Checkpoint) Entry {
	return Entry{
		Seq:   c.Seq + 1,
		Time:  c.Time.UTC(),
		Event: EventCheckpoint,
		Prev:  c.Head,
		Detail: map[string]string{
			ckHead:      c.Head,
			ckKeyID:     c.KeyID,
			ckOrigin:    c.Origin,
			ckSeq:       strconv.FormatUint(c.Seq, 10),
			ckSignature: base64.StdEncoding.EncodeToString(c.Signature),
		},
	}
}

// checkpointOf reads the checkpoint an EventCheckpoint entry carries, and
// checks its form and that it covers the entry right before it. It does
// not check the signature.
func checkpointOf(e *Entry) (Checkpoint, string) {
	if e.Outcome != "" || e.Actor != "" || e.OSUser != "" || e.Approver != "" || e.Job != "" ||
		e.Issuer != "" || e.Request != "" || e.Machine != "" || len(e.Detail) != 5 {
		return Checkpoint{}, reasonCkptMalformed
	}
	d := e.Detail
	c := Checkpoint{Origin: d[ckOrigin], Head: d[ckHead], KeyID: d[ckKeyID], Time: e.Time}
	seq, ok := parseDecimal(d[ckSeq])
	if !ok || !validOrigin(c.Origin) || !validHex64(c.Head) || !validHex64(c.KeyID) {
		return Checkpoint{}, reasonCkptMalformed
	}
	c.Seq = seq
	if c.Signature, ok = decodeSignature(d[ckSignature]); !ok {
		return Checkpoint{}, reasonCkptMalformed
	}
	if e.Seq == 0 || c.Seq != e.Seq-1 {
		return Checkpoint{}, reasonCkptSeq
	}
	if c.Head != e.Prev {
		return Checkpoint{}, reasonCkptHead
	}
	return c, ""
}

// isCheckpointLine reports whether a line starts the way a canonical
// checkpoint entry does: {"seq":N,"time":"…","event":"audit.checkpoint",
// It is a quick filter for finding the last checkpoint of a segment; the
// line is parsed and checked in full afterwards.
func isCheckpointLine(line []byte) bool {
	c := cursor{b: line, ok: true}
	c.expect(`{"seq":`)
	c.uint()
	c.expect(`,"time":"`)
	if !c.ok || len(line)-c.i < len(timeLayout) {
		return false
	}
	c.i += len(timeLayout)
	c.expect(`","event":"` + EventCheckpoint + `",`)
	return c.ok
}
