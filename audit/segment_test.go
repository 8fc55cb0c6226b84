package audit

import (
	"bytes"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// segmentFiles returns the segment paths of dir, in order.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	segs, err := listSegments(dir)
	require.NoError(t, err)
	var paths []string
	for _, n := range segs {
		paths = append(paths, filepath.Join(dir, segmentName(n)))
	}
	return paths
}

// requireSegmentShape checks the segment rules directly on the files: every
// segment but the first begins with a checkpoint whose prev is the hash of
// the checkpoint that ends the segment before it.
func requireSegmentShape(t testing.TB, dir string) {
	t.Helper()
	paths := segmentFiles(t, dir)
	var prevLast Entry
	for i, p := range paths {
		lines := readLines(t, p)
		require.NotEmpty(t, lines, p)
		first, reason := parseLine(lines[0][:len(lines[0])-1])
		require.Empty(t, reason)
		last, reason := parseLine(lines[len(lines)-1][:len(lines[len(lines)-1])-1])
		require.Empty(t, reason)
		if i > 0 {
			assert.Equal(t, EventCheckpoint, first.Event, "%s begins with a checkpoint", p)
			assert.Equal(t, prevLast.Hash, first.Prev, "%s links to the segment before", p)
		}
		if i < len(paths)-1 {
			assert.Equal(t, EventCheckpoint, last.Event, "%s ends with a checkpoint", p)
		}
		prevLast = last
	}
}

func TestRotationBySize(t *testing.T) {
	l, dir := openSigned(t, testRSAKey(t))
	require.NoError(t, l.SetPolicy(CheckpointPolicy{MaxSegmentSize: 4096}))
	for i := 0; i < 40; i++ {
		_, err := l.Append(sampleEntry(i))
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	paths := segmentFiles(t, dir)
	require.Greater(t, len(paths), 4)
	for _, p := range paths[:len(paths)-1] {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Less(t, fi.Size(), int64(4096+2*MaxLineLen/16), "%s", p)
	}
	requireSegmentShape(t, dir)
	rep, err := VerifyWith(dir, VerifyOptions{PublicKeys: goldenKeys(t), RequireCheckpoint: true})
	require.NoError(t, err)
	assert.Equal(t, paths, rep.Files)
	assert.Equal(t, uint64(0), rep.Unsealed)
	stale, _ := filepath.Glob(filepath.Join(dir, "*.new"))
	assert.Empty(t, stale)

	// The fast Open continues in the last segment, knowing its size.
	l, err = Open(dir, testRSAKey(t).Public())
	require.NoError(t, err)
	fi, err := os.Stat(paths[len(paths)-1])
	require.NoError(t, err)
	assert.Equal(t, fi.Size(), l.segSize)
	assert.Equal(t, len(paths), l.segNum)
	_, err = l.Append(Entry{Event: "a.b"})
	require.NoError(t, err)
	require.NoError(t, l.Close())
	assert.Equal(t, paths, segmentFiles(t, dir))
}

func TestRotationByAge(t *testing.T) {
	clk := &fakeClock{t: t0}
	dir := filepath.Join(t.TempDir(), "audit")
	l, err := open(dir, clk.Now, nil)
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.SetCheckpointer(testRSAKey(t), "dataroom-1.example"))
	require.NoError(t, l.SetPolicy(CheckpointPolicy{MaxSegmentAge: 24 * time.Hour}))
	for day := 0; day < 4; day++ {
		for i := 0; i < 3; i++ {
			_, err := l.Append(Entry{Event: "a.b"})
			require.NoError(t, err)
			clk.Add(time.Hour)
		}
		clk.Add(21 * time.Hour)
	}
	_, err = l.Append(Entry{Event: "a.b"})
	require.NoError(t, err)
	require.NoError(t, l.Close())
	// The first entry of each new day finds its segment a day old, and
	// the segment is closed after it: five segments, the last holding
	// only its opening checkpoint.
	paths := segmentFiles(t, dir)
	require.Len(t, paths, 5)
	assert.Len(t, readLines(t, paths[4]), 1)
	requireSegmentShape(t, dir)
	_, err = VerifyWith(dir, VerifyOptions{PublicKeys: goldenKeys(t)})
	require.NoError(t, err)

	// After a fast Open the age counts from the segment's first entry, not
	// from the start of the daemon.
	l2, err := open(dir, clk.Now, []crypto.PublicKey{testRSAKey(t).Public()})
	require.NoError(t, err)
	defer l2.Close()
	first, err := firstLine(paths[4])
	require.NoError(t, err)
	fe, _ := parseLine(first)
	assert.Equal(t, fe.Seq, l2.segFirstSeq)
	assert.Equal(t, fe.Time, l2.segStart)
}

func TestRotationByAgeOnTimer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	l, err := Open(dir)
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.SetCheckpointer(testECKey(t), "dataroom-1.example"))
	for i := 0; i < 2; i++ {
		_, err := l.Append(Entry{Event: "a.b"})
		require.NoError(t, err)
	}
	require.NoError(t, l.SetPolicy(CheckpointPolicy{MaxSegmentAge: 50 * time.Millisecond}))
	require.Eventually(t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.segNum == 2
	}, 5*time.Second, 10*time.Millisecond, "an idle log rotates when its segment is old")
	// The new segment holds only its opening checkpoint: no more rotation.
	time.Sleep(200 * time.Millisecond)
	l.mu.Lock()
	assert.Equal(t, 2, l.segNum)
	l.mu.Unlock()
}

func TestRotationDoesNotClobber(t *testing.T) {
	l, dir := openSigned(t, testRSAKey(t))
	var got []error
	require.NoError(t, l.SetPolicy(CheckpointPolicy{MaxSegmentSize: 1, OnError: func(err error) { got = append(got, err) }}))
	stray := filepath.Join(dir, segmentName(2))
	require.NoError(t, os.WriteFile(stray, []byte("in the way\n"), 0o600))
	for i := 0; i < 2; i++ {
		_, err := l.Append(Entry{Event: "a.b"})
		require.NoError(t, err)
	}
	require.NotEmpty(t, got)
	require.ErrorIs(t, got[0], os.ErrExist)
	b, err := os.ReadFile(stray)
	require.NoError(t, err)
	assert.Equal(t, "in the way\n", string(b))
	// The log goes on in segment 1, and rotates once the way is clear.
	require.NoError(t, os.Remove(stray))
	_, err = l.Append(Entry{Event: "a.b"})
	require.NoError(t, err)
	require.NoError(t, l.Close())
	requireSegmentShape(t, dir)
	_, err = VerifyWith(dir, VerifyOptions{PublicKeys: goldenKeys(t)})
	require.NoError(t, err)
	assert.Len(t, segmentFiles(t, dir), 2)
}

// Every state a crash during a rotation can leave opens, verifies, and
// goes on.
func TestRotationCrashStates(t *testing.T) {
	key := testRSAKey(t)
	build := func() *chainBuilder {
		b := newChain(t, key)
		for i := 0; i < 3; i++ {
			b.add(sampleEntry(i))
		}
		return b
	}
	states := map[string]func(t *testing.T, dir string){
		"closing checkpoint written, no new segment": func(t *testing.T, dir string) {
			b := build()
			b.checkpoint(ckptHooks{})
			b.writeTo(t, dir)
		},
		"new segment still a temporary file": func(t *testing.T, dir string) {
			b := build()
			b.rotate()
			require.NoError(t, os.MkdirAll(dir, 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(1)), join(b.segs[0]), 0o600))
			require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(2)+".new"), join(b.segs[1]), 0o600))
		},
		"new segment linked, temporary name left": func(t *testing.T, dir string) {
			b := build()
			b.rotate()
			b.writeTo(t, dir)
			require.NoError(t, os.Link(filepath.Join(dir, segmentName(2)), filepath.Join(dir, segmentName(2)+".new")))
		},
	}
	for name, state := range states {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "audit")
			state(t, dir)
			_, err := VerifyWith(dir, VerifyOptions{PublicKeys: goldenKeys(t)})
			require.NoError(t, err)
			for _, keys := range [][]crypto.PublicKey{nil, {key.Public()}} {
				l, err := Open(dir, keys...)
				require.NoError(t, err)
				require.NoError(t, l.SetCheckpointer(key, "dataroom-1.example"))
				require.NoError(t, l.SetPolicy(CheckpointPolicy{MaxSegmentSize: 1}))
				for i := 0; i < 3; i++ {
					_, err = l.Append(Entry{Event: "a.b"})
					require.NoError(t, err)
				}
				require.NoError(t, l.Close())
				stale, _ := filepath.Glob(filepath.Join(dir, "*.new"))
				assert.Empty(t, stale, "Open removes what a rotation left")
				requireSegmentShape(t, dir)
				_, err = VerifyWith(dir, VerifyOptions{PublicKeys: goldenKeys(t)})
				require.NoError(t, err)
			}
		})
	}
}

// The fast start trusts the last checkpoint's signature for everything
// before it, and checks everything after it.
func TestOpenFast(t *testing.T) {
	key := testRSAKey(t)
	pub := key.Public()
	// c1, e2..e21, c22, e23..e27
	build := func(h ckptHooks) (string, [][]byte) {
		b := newChain(t, key)
		b.checkpoint(ckptHooks{})
		for i := 0; i < 20; i++ {
			b.add(sampleEntry(i))
		}
		b.checkpoint(h)
		for i := 0; i < 5; i++ {
			b.add(sampleEntry(i))
		}
		dir := filepath.Join(t.TempDir(), "audit")
		b.writeTo(t, dir)
		return dir, b.lines()
	}
	seg := func(dir string) string { return filepath.Join(dir, segmentName(1)) }
	flip := func(t *testing.T, dir string, lines [][]byte, line int) {
		mod := append([][]byte(nil), lines...)
		mod[line-1] = flipInValue(t, lines[line-1], "actor")
		require.NoError(t, os.WriteFile(seg(dir), join(mod), 0o600))
	}

	t.Run("good", func(t *testing.T) {
		dir, lines := build(ckptHooks{})
		l, err := Open(dir, pub)
		require.NoError(t, err)
		seq, head := l.Head()
		e, _ := parseLine(lines[26][:len(lines[26])-1])
		assert.Equal(t, uint64(27), seq)
		assert.Equal(t, e.Hash, head)
		c, ok := l.LatestCheckpoint()
		require.True(t, ok)
		assert.Equal(t, uint64(21), c.Seq)
		require.NoError(t, l.Close())
	})
	t.Run("fault before the last checkpoint is left to Verify", func(t *testing.T) {
		dir, lines := build(ckptHooks{})
		flip(t, dir, lines, 10)
		_, err := Open(dir)
		require.ErrorIs(t, err, ErrTampered, "the full check sees it")
		l, err := Open(dir, pub)
		require.NoError(t, err, "the fast start does not read it")
		require.NoError(t, l.Close())
		_, err = VerifyWith(dir, VerifyOptions{PublicKeys: []crypto.PublicKey{pub}})
		requireBroken(t, err, ErrTampered, 10)
	})
	t.Run("fault after the last checkpoint", func(t *testing.T) {
		dir, lines := build(ckptHooks{})
		flip(t, dir, lines, 25)
		before := snapshot(t, dir)
		_, err := Open(dir, pub)
		requireBroken(t, err, ErrTampered, 25)
		assert.Equal(t, before, snapshot(t, dir))
	})
	t.Run("last checkpoint's signature bad", func(t *testing.T) {
		dir, _ := build(ckptHooks{after: func(c *Checkpoint) { c.Signature[0] ^= 1 }})
		_, err := Open(dir, pub)
		ve := requireBroken(t, err, ErrTampered, 22)
		assert.Equal(t, reasonCkptBadSig, ve.Reason, "the whole log is checked, signatures included")
		l, err := Open(dir)
		require.NoError(t, err, "without keys only links are checked")
		require.NoError(t, l.Close())
	})
	t.Run("key not given", func(t *testing.T) {
		dir, _ := build(ckptHooks{})
		_, err := Open(dir, otherECKey(t).Public())
		ve := requireBroken(t, err, ErrTampered, 1)
		assert.Equal(t, reasonCkptUnknownKey, ve.Reason)
	})
	t.Run("torn tail after the checkpoint", func(t *testing.T) {
		dir, lines := build(ckptHooks{})
		require.NoError(t, os.WriteFile(seg(dir), append(join(lines), `{"seq":28,"ti`...), 0o600))
		l, err := Open(dir, pub)
		require.NoError(t, err)
		require.NoError(t, l.Close())
		rep, err := VerifyWith(dir, VerifyOptions{PublicKeys: []crypto.PublicKey{pub}})
		require.NoError(t, err)
		assert.Equal(t, uint64(28), rep.Entries, "27 and the repair record")
	})
	t.Run("no checkpoint", func(t *testing.T) {
		dir, _, _ := writeLog(t, 3)
		l, err := Open(dir, pub)
		require.NoError(t, err)
		require.NoError(t, l.Close())
	})
	t.Run("old checkpoint replayed at the end", func(t *testing.T) {
		for name, extra := range map[string][]int{"checkpoint": {22}, "covered entry and checkpoint": {21, 22}} {
			t.Run(name, func(t *testing.T) {
				dir, lines := build(ckptHooks{})
				mod := append([][]byte(nil), lines...)
				for _, i := range extra {
					mod = append(mod, lines[i-1])
				}
				require.NoError(t, os.WriteFile(seg(dir), join(mod), 0o600))
				_, err := Open(dir, pub)
				requireBroken(t, err, ErrTampered, 28)
			})
		}
	})
	t.Run("segment anchors", func(t *testing.T) {
		b := newChain(t, key)
		b.add(sampleEntry(1))
		b.add(sampleEntry(2))
		b.rotate()
		b.add(sampleEntry(3))
		b.rotate()
		b.add(sampleEntry(4))
		dir := filepath.Join(t.TempDir(), "audit")
		b.writeTo(t, dir)
		// A change in place in segment 1 is not read by the fast start,
		// which anchors at the first line of segment 3.
		lines := b.segs[0]
		mod := append([][]byte(nil), lines...)
		mod[1] = flipInValue(t, lines[1], "actor")
		require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(1)), join(mod), 0o600))
		l, err := Open(dir, pub)
		require.NoError(t, err)
		require.NoError(t, l.Close())
		_, err = Open(dir)
		require.ErrorIs(t, err, ErrTampered)
		require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(1)), join(lines), 0o600))

		// A new last segment made of an old opening checkpoint does not
		// follow the segment before it.
		require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(4)), b.segs[1][0], 0o600))
		_, err = Open(dir, pub)
		require.ErrorIs(t, err, ErrTampered)
	})
	t.Run("segment gap", func(t *testing.T) {
		b := newChain(t, key)
		b.add(sampleEntry(1))
		b.rotate()
		b.add(sampleEntry(2))
		b.rotate()
		b.add(sampleEntry(3))
		dir := filepath.Join(t.TempDir(), "audit")
		b.writeTo(t, dir)
		require.NoError(t, os.Remove(filepath.Join(dir, segmentName(2))))
		_, err := Open(dir, pub)
		require.ErrorIs(t, err, ErrTampered)
	})
}

// A line that looks like a checkpoint to the quick filter but is not a
// valid one makes the fast start fall back to the full check.
func TestOpenFastMalformedLastCheckpoint(t *testing.T) {
	b := newChain(t, testRSAKey(t))
	b.checkpoint(ckptHooks{})
	b.add(sampleEntry(1))
	b.checkpoint(ckptHooks{entry: func(e *Entry) { e.Detail["extra"] = "x" }})
	dir := filepath.Join(t.TempDir(), "audit")
	b.writeTo(t, dir)
	_, err := Open(dir, testRSAKey(t).Public())
	ve := requireBroken(t, err, ErrTampered, 3)
	assert.Equal(t, reasonCkptMalformed, ve.Reason)
	_, err = Open(dir)
	require.ErrorIs(t, err, ErrTampered, "malformed checkpoints are refused without keys too")
	_, err = LatestCheckpoint(dir)
	require.ErrorIs(t, err, ErrTampered)
}

func TestLatestCheckpointWhileWriting(t *testing.T) {
	l, dir := openSigned(t, testRSAKey(t))
	_, err := l.Append(Entry{Event: "a.b"})
	require.NoError(t, err)
	c, err := l.Checkpoint()
	require.NoError(t, err)
	// Half a line at the end, as a reader may see while an Append runs.
	f, err := os.OpenFile(filepath.Join(dir, segmentName(1)), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte(`{"seq":3,"time":"2026-01-15T09:30:00.000000000Z","event":"audit.checkpoint",`))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	got, err := LatestCheckpoint(dir)
	require.NoError(t, err)
	assert.Equal(t, c, got)
	assert.True(t, bytes.Equal(c.Marshal(), got.Marshal()))
	assert.False(t, errors.Is(err, ErrNoCheckpoint))
}
