package audit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testKeyFile is the fixed, test-only RSA-2048 key that signs the
// checkpoints of the golden vectors. Its private half is in the repository:
// it proves nothing about any real log.
const testKeyFile = "test-only-checkpoint-key.pem"

// testKeyPubFile is its public half, as verifiers read it (generated).
const testKeyPubFile = "test-only-checkpoint-key.pub"

var (
	testKeyOnce sync.Once
	testKey     *rsa.PrivateKey
	testKeyErr  error
)

// testRSAKey returns the test-only key from testdata/audit.
func testRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	testKeyOnce.Do(func() {
		b, err := os.ReadFile(filepath.Join(goldenDir, testKeyFile))
		if err != nil {
			testKeyErr = err
			return
		}
		block, _ := pem.Decode(b)
		if block == nil {
			testKeyErr = os.ErrInvalid
			return
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			testKeyErr = err
			return
		}
		testKey = k.(*rsa.PrivateKey)
	})
	require.NoError(t, testKeyErr)
	return testKey
}

// testKeyECPubFile is the public half of testECKey (generated).
const testKeyECPubFile = "test-only-checkpoint-key-ecdsa.pub"

// testECKey is a fixed ECDSA P-256 key made from a public seed, trusted by
// the golden vectors next to the RSA key: test-only.
func testECKey(t testing.TB) *ecdsa.PrivateKey {
	return seededECKey(t, "dataprep audit test-only ECDSA checkpoint key")
}

// otherECKey is a fixed key that no vector trusts: a forger's.
func otherECKey(t testing.TB) *ecdsa.PrivateKey {
	return seededECKey(t, "dataprep audit test-only key of somebody else")
}

func seededECKey(t testing.TB, seed string) *ecdsa.PrivateKey {
	t.Helper()
	d := sha256.Sum256([]byte(seed))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	require.NoError(t, err)
	return k
}

// goldenKeys are the keys the golden vectors are verified with.
func goldenKeys(t testing.TB) []crypto.PublicKey {
	return []crypto.PublicKey{testRSAKey(t).Public(), testECKey(t).Public()}
}

// newECKey is a fresh random ECDSA P-256 key.
func newECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

var (
	freshRSAOnce sync.Once
	freshRSA     *rsa.PrivateKey
)

// newRSAKey is an in-memory RSA-2048 key generated once per test binary
// (generation takes a while).
func newRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	freshRSAOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		freshRSA = k
	})
	return freshRSA
}

// signDet signs a checkpoint deterministically (RSA PKCS #1 v1.5 is;
// ECDSA with a nil random source follows RFC 6979), so that golden vectors
// are stable.
func signDet(t testing.TB, key crypto.Signer, c Checkpoint) Checkpoint {
	t.Helper()
	id, err := KeyID(key.Public())
	require.NoError(t, err)
	c.KeyID = id
	digest := sha256.Sum256(c.signedText())
	var sig []byte
	switch k := key.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:])
	case *ecdsa.PrivateKey:
		sig, err = k.Sign(nil, digest[:], crypto.SHA256)
	default:
		t.Fatalf("signDet: %T", key)
	}
	require.NoError(t, err)
	c.Signature = sig
	return c
}

// chainBuilder writes logs the way the daemon would, segment by segment,
// without a Log: for vectors and tests that need exact control.
type chainBuilder struct {
	t      testing.TB
	key    crypto.Signer
	origin string
	seq    uint64
	prev   string
	last   time.Time
	segs   [][][]byte
	ckpts  []Checkpoint
}

func newChain(t testing.TB, key crypto.Signer) *chainBuilder {
	return &chainBuilder{t: t, key: key, origin: "dataroom-1.example", prev: GenesisHash, last: t0.Add(-time.Minute), segs: [][][]byte{nil}}
}

// add seals e (its Time is kept if set, else the last time is reused) as
// the next entry of the current segment.
func (b *chainBuilder) add(e Entry) Entry {
	if e.Time.IsZero() {
		e.Time = b.last
	}
	e.Seq, e.Prev = b.seq+1, b.prev
	line := seal(&e)
	b.segs[len(b.segs)-1] = append(b.segs[len(b.segs)-1], line)
	b.seq, b.prev, b.last = e.Seq, e.Hash, e.Time
	return e
}

// ckptHooks change a checkpoint the builder makes: key signs it instead of
// the builder's key; lie changes what is signed; after changes the
// checkpoint after it is signed; entry changes the entry after it is made.
type ckptHooks struct {
	key   crypto.Signer
	lie   func(*Checkpoint)
	after func(*Checkpoint)
	entry func(*Entry)
}

// checkpoint adds a checkpoint over the head, at the last entry's time.
func (b *chainBuilder) checkpoint(h ckptHooks) Checkpoint {
	key := b.key
	if h.key != nil {
		key = h.key
	}
	c := Checkpoint{Origin: b.origin, Seq: b.seq, Head: b.prev, Time: b.last}
	if h.lie != nil {
		h.lie(&c)
	}
	c = signDet(b.t, key, c)
	if h.after != nil {
		h.after(&c)
	}
	e := checkpointEntry(c)
	if h.entry != nil {
		h.entry(&e)
	}
	b.add(e)
	b.ckpts = append(b.ckpts, c)
	return c
}

// rotate closes the segment (with a checkpoint unless it ends in one) and
// opens the next with a checkpoint, as Log.rotateLocked does.
func (b *chainBuilder) rotate() {
	cur := b.segs[len(b.segs)-1]
	if len(cur) == 0 || !isCheckpointLine(cur[len(cur)-1]) {
		b.checkpoint(ckptHooks{})
	}
	b.segs = append(b.segs, nil)
	b.checkpoint(ckptHooks{})
}

// files returns the segments, numbered from first.
func (b *chainBuilder) files(first int) map[string][]byte {
	m := map[string][]byte{}
	for i, s := range b.segs {
		m[segmentName(first+i)] = join(s)
	}
	return m
}

// lines returns all lines of all segments.
func (b *chainBuilder) lines() [][]byte {
	var all [][]byte
	for _, s := range b.segs {
		all = append(all, s...)
	}
	return all
}

// writeTo lays the segments out in dir.
func (b *chainBuilder) writeTo(t testing.TB, dir string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o700))
	for name, content := range b.files(1) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), content, 0o600))
	}
}
