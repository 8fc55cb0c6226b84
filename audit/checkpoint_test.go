package audit

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openSigned opens a log with a test clock and signer as checkpoint key.
func openSigned(t testing.TB, signer crypto.Signer) (*Log, string) {
	t.Helper()
	l, dir := openTest(t)
	require.NoError(t, l.SetCheckpointer(signer, "dataroom-1.example"))
	return l, dir
}

func TestCheckpointRSAAndECDSA(t *testing.T) {
	for name, signer := range map[string]crypto.Signer{"rsa": newRSAKey(t), "ecdsa": newECKey(t)} {
		t.Run(name, func(t *testing.T) {
			l, dir := openSigned(t, signer)
			_, ok := l.LatestCheckpoint()
			assert.False(t, ok)
			var last Entry
			for i := 1; i <= 3; i++ {
				var err error
				last, err = l.Append(sampleEntry(i))
				require.NoError(t, err)
			}
			c, err := l.Checkpoint()
			require.NoError(t, err)
			id, err := KeyID(signer.Public())
			require.NoError(t, err)
			assert.Equal(t, Checkpoint{Origin: "dataroom-1.example", Seq: 3, Head: last.Hash, Time: c.Time,
				KeyID: id, Signature: c.Signature}, c)
			assert.False(t, c.Time.Before(last.Time))
			require.NoError(t, c.Verify(signer.Public()))
			got, ok := l.LatestCheckpoint()
			require.True(t, ok)
			assert.Equal(t, c, got)
			seq, _ := l.Head()
			assert.Equal(t, uint64(4), seq, "the checkpoint is entry 4")

			// Nothing after the checkpoint: Close adds none.
			require.NoError(t, l.Close())
			rep, err := VerifyWith(dir, VerifyOptions{PublicKeys: []crypto.PublicKey{signer.Public()}, RequireCheckpoint: true})
			require.NoError(t, err)
			assert.Equal(t, uint64(4), rep.Entries)
			assert.Equal(t, 1, rep.Checkpoints)
			assert.Equal(t, uint64(0), rep.Unsealed)
			assert.True(t, rep.SignaturesChecked)
			assert.Equal(t, &c, rep.LastCheckpoint)

			// Reopened (fast, from the checkpoint), one more entry, and
			// Close seals it.
			l, err = Open(dir, signer.Public())
			require.NoError(t, err)
			got, ok = l.LatestCheckpoint()
			require.True(t, ok)
			assert.Equal(t, c, got, "Open finds the last checkpoint")
			require.NoError(t, l.SetCheckpointer(signer, "dataroom-1.example"))
			_, err = l.Append(Entry{Event: "daemon.stop"})
			require.NoError(t, err)
			require.NoError(t, l.Close())
			rep, err = VerifyWith(dir, VerifyOptions{PublicKeys: []crypto.PublicKey{signer.Public()}})
			require.NoError(t, err)
			assert.Equal(t, uint64(6), rep.Entries)
			assert.Equal(t, 2, rep.Checkpoints)
			assert.Equal(t, uint64(0), rep.Unsealed)
			latest, err := LatestCheckpoint(dir)
			require.NoError(t, err)
			assert.Equal(t, *rep.LastCheckpoint, latest)
			assert.Equal(t, uint64(5), latest.Seq)
		})
	}
}

func TestCheckpointOfEmptyLog(t *testing.T) {
	l, dir := openSigned(t, testRSAKey(t))
	c, err := l.Checkpoint()
	require.NoError(t, err)
	assert.Equal(t, uint64(0), c.Seq)
	assert.Equal(t, GenesisHash, c.Head)
	require.NoError(t, l.Close())
	rep, err := VerifyWith(dir, VerifyOptions{PublicKeys: goldenKeys(t), Against: &c})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), rep.Entries)
	assert.True(t, rep.Against)
}

func TestCheckpointEntryEncoding(t *testing.T) {
	// The entry is the README's: five detail members, nothing else.
	l, dir := openSigned(t, testRSAKey(t))
	_, err := l.Append(Entry{Event: "a.b"})
	require.NoError(t, err)
	c, err := l.Checkpoint()
	require.NoError(t, err)
	require.NoError(t, l.Close())
	lines := readLines(t, filepath.Join(dir, segmentName(1)))
	require.Len(t, lines, 2)
	e1, _ := parseLine(lines[0][:len(lines[0])-1])
	want := `{"seq":2,"time":"` + c.Time.Format(timeLayout) + `","event":"audit.checkpoint","detail":{` +
		`"head":"` + e1.Hash + `","key_id":"` + c.KeyID + `","origin":"dataroom-1.example","seq":"1",` +
		`"signature":"` + base64.StdEncoding.EncodeToString(c.Signature) + `"},"prev":"` + e1.Hash + `","hash":"`
	assert.True(t, strings.HasPrefix(string(lines[1]), want), "%s", lines[1])
	assert.True(t, isCheckpointLine(lines[1]))
	assert.False(t, isCheckpointLine(lines[0]))
	// A detail member named "event" does not make a checkpoint line.
	fake := Entry{Seq: 1, Time: t0, Event: "a.b", Prev: GenesisHash, Detail: map[string]string{"event": EventCheckpoint}}
	assert.False(t, isCheckpointLine(seal(&fake)))
}

func TestCheckpointFileFormat(t *testing.T) {
	c := Checkpoint{Origin: "dataroom-1.example", Seq: 42, Head: strings.Repeat("ab", 32),
		Time: time.Date(2026, 1, 15, 9, 30, 0, 5, time.UTC), KeyID: strings.Repeat("0f", 32), Signature: []byte{1, 2, 3, 250}}
	text := "dataprep audit checkpoint v1\ndataroom-1.example\n42\n" + strings.Repeat("ab", 32) +
		"\n2026-01-15T09:30:00.000000005Z\n"
	assert.Equal(t, text, string(c.signedText()))
	file := text + "\n\u2014 " + strings.Repeat("0f", 32) + " AQID+g==\n"
	assert.Equal(t, file, string(c.Marshal()))
	got, err := ParseCheckpoint([]byte(file))
	require.NoError(t, err)
	assert.Equal(t, c, got)

	bad := map[string]string{
		"empty":             "",
		"no final newline":  strings.TrimSuffix(file, "\n"),
		"crlf":              strings.ReplaceAll(file, "\n", "\r\n"),
		"other header":      strings.Replace(file, "v1", "v2", 1),
		"space in origin":   strings.Replace(file, "dataroom-1.example", "data room", 1),
		"empty origin":      strings.Replace(file, "dataroom-1.example\n", "\n", 1),
		"leading zero seq":  strings.Replace(file, "\n42\n", "\n042\n", 1),
		"signed seq":        strings.Replace(file, "\n42\n", "\n+42\n", 1),
		"huge seq":          strings.Replace(file, "\n42\n", "\n18446744073709551616\n", 1),
		"upper-case head":   strings.Replace(file, strings.Repeat("ab", 32), strings.Repeat("AB", 32), 1),
		"short head":        strings.Replace(file, strings.Repeat("ab", 32), strings.Repeat("ab", 31), 1),
		"time without nano": strings.Replace(file, "00.000000005Z", "00Z", 1),
		"time with zone":    strings.Replace(file, "00.000000005Z", "00.000000005+00:00", 1),
		"no blank line":     strings.Replace(file, "Z\n\n", "Z\n", 1),
		"extra line":        file + "\n",
		"ascii dash":        strings.Replace(file, "\u2014", "--", 1),
		"no key id":         strings.Replace(file, strings.Repeat("0f", 32)+" ", "", 1),
		"unpadded sig":      strings.Replace(file, "AQID+g==", "AQID+g", 1),
		"url base64 sig":    strings.Replace(file, "AQID+g==", "AQID-g==", 1),
		"non-canonical sig": strings.Replace(file, "AQID+g==", "AQID+h==", 1),
		"empty sig":         strings.Replace(file, " AQID+g==", " ", 1),
		"two sig lines":     file + "\u2014 " + strings.Repeat("0f", 32) + " AQID+g==\n",
		"too long":          file + strings.Repeat("x", maxCheckpointFile),
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := ParseCheckpoint([]byte(b))
			require.ErrorIs(t, err, ErrInvalidCheckpoint)
		})
	}
}

// TestREADMECheckpointRecipe verifies a checkpoint file with openssl,
// following the README's shell recipe: the signed text is the first five
// lines, the signature the base64 after the key id.
func TestREADMECheckpointRecipe(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	for name, signer := range map[string]crypto.Signer{"rsa": testRSAKey(t), "ecdsa": testECKey(t)} {
		t.Run(name, func(t *testing.T) {
			l, dir := openSigned(t, signer)
			_, err := l.Append(Entry{Event: "a.b"})
			require.NoError(t, err)
			c, err := l.Checkpoint()
			require.NoError(t, err)
			tmp := t.TempDir()
			ckFile, keyFile := filepath.Join(tmp, "checkpoint"), filepath.Join(tmp, "key.pem")
			require.NoError(t, os.WriteFile(ckFile, c.Marshal(), 0o600))
			pem, err := MarshalPublicKey(signer.Public())
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(keyFile, pem, 0o600))
			script := `set -e
cd "$1"
head -n 5 checkpoint > signed.txt
sed -n 7p checkpoint | cut -d' ' -f3 | base64 -d > signature.bin
openssl dgst -sha256 -verify key.pem -signature signature.bin signed.txt
openssl pkey -pubin -in key.pem -outform DER | sha256sum | cut -d' ' -f1
sed -n 7p checkpoint | cut -d' ' -f2
`
			out, err := exec.Command("sh", "-c", script, "sh", tmp).CombinedOutput()
			require.NoError(t, err, "%s", out)
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			require.Len(t, lines, 3, "%s", out)
			assert.Equal(t, "Verified OK", lines[0])
			assert.Equal(t, c.KeyID, lines[1], "key id = sha256 of the PKIX DER")
			assert.Equal(t, c.KeyID, lines[2])
			_ = dir
		})
	}
}

func TestPublicKeyPEM(t *testing.T) {
	for name, pub := range map[string]crypto.PublicKey{"rsa": testRSAKey(t).Public(), "ecdsa": testECKey(t).Public()} {
		t.Run(name, func(t *testing.T) {
			b, err := MarshalPublicKey(pub)
			require.NoError(t, err)
			assert.True(t, bytes.HasPrefix(b, []byte("-----BEGIN PUBLIC KEY-----\n")))
			got, err := ParsePublicKey(append([]byte("a comment before the block\n"), b...))
			require.NoError(t, err)
			assert.True(t, got.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub))
			id, err := KeyID(pub)
			require.NoError(t, err)
			der, _ := x509.MarshalPKIXPublicKey(pub)
			sum := sha256.Sum256(der)
			assert.Equal(t, hex.EncodeToString(sum[:]), id)
		})
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	for name, pub := range map[string]crypto.PublicKey{"p384": p384.Public(), "ed25519": edPub, "rsa1024": small.Public(), "nil": nil} {
		t.Run("refuses "+name, func(t *testing.T) {
			_, err := MarshalPublicKey(pub)
			require.ErrorIs(t, err, ErrUnsupportedKey)
			_, err = KeyID(pub)
			require.ErrorIs(t, err, ErrUnsupportedKey)
			if der, err := x509.MarshalPKIXPublicKey(pub); err == nil {
				_, err = ParsePublicKey(pemBlock("PUBLIC KEY", der))
				require.ErrorIs(t, err, ErrUnsupportedKey)
			}
		})
	}
	priv, err := os.ReadFile(filepath.Join(goldenDir, testKeyFile))
	require.NoError(t, err)
	for name, b := range map[string][]byte{"private key": priv, "garbage": []byte("not pem"), "empty": nil,
		"bad der": pemBlock("PUBLIC KEY", []byte{0x30, 0x03, 1, 2, 3})} {
		_, err := ParsePublicKey(b)
		require.ErrorIs(t, err, ErrUnsupportedKey, name)
	}
}

func pemBlock(typ string, der []byte) []byte {
	return []byte("-----BEGIN " + typ + "-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END " + typ + "-----\n")
}

func TestSetCheckpointerRefuses(t *testing.T) {
	l, _ := openTest(t)
	for name, origin := range map[string]string{"empty": "", "space": "data room", "newline": "a\nb",
		"non-ascii": "dätaroom", "long": strings.Repeat("a", 256), "pan": "4111111111111111"} {
		require.Error(t, l.SetCheckpointer(testRSAKey(t), origin), name)
	}
	require.NoError(t, l.SetCheckpointer(testRSAKey(t), strings.Repeat("a", 255)))
	require.ErrorIs(t, l.SetCheckpointer(nil, "x"), ErrUnsupportedKey)
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	require.ErrorIs(t, l.SetCheckpointer(edPriv, "x"), ErrUnsupportedKey)
	require.NoError(t, l.Close())
	require.ErrorIs(t, l.SetCheckpointer(testRSAKey(t), "x"), ErrClosed)
}

func TestCheckpointNeedsSigner(t *testing.T) {
	l, _ := openTest(t)
	_, err := l.Checkpoint()
	require.ErrorIs(t, err, ErrNoCheckpointer)
	require.ErrorIs(t, l.SetPolicy(CheckpointPolicy{Every: 10}), ErrNoCheckpointer)
	require.NoError(t, l.SetPolicy(CheckpointPolicy{}), "a zero policy needs no signer")
	require.Error(t, l.SetPolicy(CheckpointPolicy{Interval: -1}))
}

// badSigner fails, or signs with another key than the one it claims.
type badSigner struct {
	crypto.Signer
	fail  atomic.Bool
	other crypto.Signer
	calls atomic.Int32
}

func (s *badSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.calls.Add(1)
	if s.fail.Load() {
		return nil, errors.New("CKR_DEVICE_REMOVED")
	}
	if s.other != nil {
		return s.other.Sign(r, digest, opts)
	}
	return s.Signer.Sign(r, digest, opts)
}

func TestCheckpointSignerFailsWritesNothing(t *testing.T) {
	bs := &badSigner{Signer: testRSAKey(t)}
	bs.fail.Store(true)
	l, dir := openSigned(t, bs)
	_, err := l.Append(Entry{Event: "a.b"})
	require.NoError(t, err)
	_, err = l.Checkpoint()
	require.ErrorContains(t, err, "CKR_DEVICE_REMOVED")
	_, err = l.Append(Entry{Event: "a.b"})
	require.NoError(t, err, "a failed signature leaves the log usable")

	// A key that signs with another private half than its public one.
	bs.fail.Store(false)
	bs.other = testECKey(t)
	_, err = l.Checkpoint()
	require.ErrorContains(t, err, "does not verify under its public key")

	// Close tries the last checkpoint, reports its failure, and closes.
	bs.fail.Store(true)
	require.ErrorContains(t, l.Close(), "CKR_DEVICE_REMOVED")
	_, err = l.Append(Entry{Event: "a.b"})
	require.ErrorIs(t, err, ErrClosed)
	rep, err := VerifyWith(dir, VerifyOptions{PublicKeys: goldenKeys(t)})
	require.NoError(t, err)
	assert.Equal(t, 0, rep.Checkpoints)
	assert.Equal(t, uint64(2), rep.Entries)
}

func TestCheckpointWriteFailureFailsLog(t *testing.T) {
	l, _ := openSigned(t, testRSAKey(t))
	_, err := l.Append(Entry{Event: "a.b"})
	require.NoError(t, err)
	l.f = &failingFile{f: l.f.(*os.File), failSync: true}
	_, err = l.Checkpoint()
	require.ErrorIs(t, err, ErrFailed)
	_, err = l.Append(Entry{Event: "a.b"})
	require.ErrorIs(t, err, ErrFailed)
	_, err = l.Checkpoint()
	require.ErrorIs(t, err, ErrFailed)
}

func TestPolicyEvery(t *testing.T) {
	l, dir := openSigned(t, testRSAKey(t))
	require.NoError(t, l.SetPolicy(CheckpointPolicy{Every: 3}))
	var seqs []uint64
	for i := 0; i < 10; i++ {
		e, err := l.Append(Entry{Event: "a.b"})
		require.NoError(t, err)
		seqs = append(seqs, e.Seq)
	}
	// A checkpoint follows every third entry.
	assert.Equal(t, []uint64{1, 2, 3, 5, 6, 7, 9, 10, 11, 13}, seqs)
	require.NoError(t, l.Close())
	rep, err := VerifyWith(dir, VerifyOptions{PublicKeys: goldenKeys(t)})
	require.NoError(t, err)
	assert.Equal(t, 4, rep.Checkpoints, "three by the policy (entries 4, 8, 12), one by Close after entry 13")
	assert.Equal(t, uint64(0), rep.Unsealed)
}

func TestPolicyOnErrorAndRetry(t *testing.T) {
	bs := &badSigner{Signer: testRSAKey(t)}
	l, dir := openSigned(t, bs)
	var errs atomic.Int32
	require.NoError(t, l.SetPolicy(CheckpointPolicy{Every: 2, OnError: func(error) { errs.Add(1) }}))
	bs.fail.Store(true)
	for i := 0; i < 5; i++ {
		_, err := l.Append(Entry{Event: "a.b"})
		require.NoError(t, err, "the entry is durable; the checkpoint's failure is reported apart")
	}
	// Due after entry 2; failed; tried again two entries later, after entry 4.
	assert.Equal(t, int32(2), errs.Load())
	assert.Equal(t, int32(2), bs.calls.Load())
	bs.fail.Store(false)
	_, err := l.Append(Entry{Event: "a.b"})
	require.NoError(t, err)
	c, ok := l.LatestCheckpoint()
	require.True(t, ok)
	assert.Equal(t, uint64(6), c.Seq)
	require.NoError(t, l.Close())
	_, err = VerifyWith(dir, VerifyOptions{PublicKeys: goldenKeys(t)})
	require.NoError(t, err)
}

func TestPolicyInterval(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	l, err := Open(dir)
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.SetCheckpointer(testECKey(t), "dataroom-1.example"))
	require.NoError(t, l.SetPolicy(CheckpointPolicy{Interval: 40 * time.Millisecond}))
	e, err := l.Append(Entry{Event: "a.b"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		c, ok := l.LatestCheckpoint()
		return ok && c.Seq == e.Seq
	}, 5*time.Second, 5*time.Millisecond)
	// Idle: no more checkpoints.
	seq, _ := l.Head()
	time.Sleep(150 * time.Millisecond)
	seq2, _ := l.Head()
	assert.Equal(t, seq, seq2)
	require.NoError(t, l.Close())
	rep, err := VerifyWith(dir, VerifyOptions{PublicKeys: goldenKeys(t)})
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Checkpoints)
}

func TestVerifyAgainst(t *testing.T) {
	l, dir := openSigned(t, testRSAKey(t))
	for i := 0; i < 3; i++ {
		_, err := l.Append(Entry{Event: "a.b"})
		require.NoError(t, err)
	}
	c3, err := l.Checkpoint()
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		_, err := l.Append(Entry{Event: "a.b"})
		require.NoError(t, err)
	}
	c7, err := l.Checkpoint()
	require.NoError(t, err)
	require.NoError(t, l.Close())
	keys := goldenKeys(t)

	for _, c := range []Checkpoint{c3, c7} {
		rep, err := VerifyWith(dir, VerifyOptions{PublicKeys: keys, Against: &c})
		require.NoError(t, err)
		assert.True(t, rep.Against)
		_, err = VerifyWith(dir, VerifyOptions{Against: &c})
		require.NoError(t, err, "without keys the external checkpoint is taken as it is")
	}

	forged := c7
	forged.Seq = 9
	_, err = VerifyWith(dir, VerifyOptions{PublicKeys: keys, Against: &forged})
	require.ErrorIs(t, err, ErrInvalidCheckpoint, "its signature is checked first")
	_, err = VerifyWith(dir, VerifyOptions{Against: &forged})
	require.ErrorIs(t, err, ErrTruncated)
	require.ErrorIs(t, err, ErrTampered, "truncation is tampering")

	_, err = VerifyWith(dir, VerifyOptions{PublicKeys: keys, Against: &c7, Origin: "elsewhere"})
	require.ErrorIs(t, err, ErrInvalidCheckpoint)
	_, err = VerifyWith(dir, VerifyOptions{PublicKeys: keys, Origin: "elsewhere"})
	var ve *VerifyError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, reasonCkptOrigin, ve.Reason)
	_, err = VerifyWith(dir, VerifyOptions{PublicKeys: keys, Origin: "dataroom-1.example"})
	require.NoError(t, err)

	malformed := c7
	malformed.Head = "nothex"
	_, err = VerifyWith(dir, VerifyOptions{Against: &malformed})
	require.ErrorIs(t, err, ErrInvalidCheckpoint)
	_, err = VerifyWith(dir, VerifyOptions{PublicKeys: []crypto.PublicKey{"not a key"}})
	require.ErrorIs(t, err, ErrUnsupportedKey)
}

func TestRequireCheckpoint(t *testing.T) {
	dir, _, _ := writeLog(t, 2)
	_, err := VerifyWith(dir, VerifyOptions{RequireCheckpoint: true})
	require.ErrorIs(t, err, ErrNoCheckpoint)
	_, err = LatestCheckpoint(dir)
	require.ErrorIs(t, err, ErrNoCheckpoint)
	_, err = LatestCheckpoint(t.TempDir())
	require.ErrorIs(t, err, ErrNoLog)
}
