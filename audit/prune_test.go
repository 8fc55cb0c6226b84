package audit

import (
	"crypto"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dailyLog writes days days of entries, a segment a day (the first entry
// of a day closes the segment of the day before), with a card destruction
// record on day destructionDay. It returns the open log, its directory and
// clock, and the checkpoint after each day.
func dailyLog(t *testing.T, days, destructionDay int) (*Log, string, *fakeClock, []Checkpoint) {
	t.Helper()
	clk := &fakeClock{t: t0}
	dir := filepath.Join(t.TempDir(), "audit")
	l, err := open(dir, clk.Now, nil)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	require.NoError(t, l.SetCheckpointer(testRSAKey(t), "dataroom-1.example"))
	require.NoError(t, l.SetPolicy(CheckpointPolicy{MaxSegmentAge: 24 * time.Hour}))
	var ckpts []Checkpoint
	for day := 0; day < days; day++ {
		for i := 0; i < 3; i++ {
			e := Entry{Event: "job.counts", Job: "J-" + strconv.Itoa(day)}
			if day == destructionDay && i == 1 {
				e = Entry{Event: "card.destruction", Job: "J-" + strconv.Itoa(day), Detail: map[string]string{"count": "12"}}
			}
			_, err := l.Append(e)
			require.NoError(t, err)
			clk.Add(time.Hour)
		}
		c, err := l.Checkpoint()
		require.NoError(t, err)
		ckpts = append(ckpts, c)
		clk.Add(21 * time.Hour)
	}
	return l, dir, clk, ckpts
}

// keepDestructions is per-kind retention as the daemon would pass it:
// destruction records stay, everything else goes at the horizon.
func keepDestructions(e Entry) bool { return e.Event == "card.destruction" }

func TestPruneKeepsVerifiability(t *testing.T) {
	l, dir, clk, ckpts := dailyLog(t, 8, 2)
	keys := []crypto.PublicKey{testRSAKey(t).Public()}
	paths := segmentFiles(t, dir)
	require.Len(t, paths, 8)

	// Everything before day 6 may go, but day 2 holds a destruction record:
	// segments 1 and 2 go, 3 stays, and so does everything after it.
	res, err := l.Prune(t0.Add(6*24*time.Hour), keepDestructions)
	require.NoError(t, err)
	assert.Equal(t, paths[:2], res.Removed)
	assert.Equal(t, uint64(1), res.FirstSeq)
	assert.Equal(t, EventPruned, res.Record.Event)
	assert.Equal(t, map[string]string{"before": "2026-01-21T09:30:00.000000000Z", "first_segment": "1",
		"last_segment": "2", "first_seq": "1", "last_seq": strconv.FormatUint(res.LastSeq, 10)}, res.Record.Detail)
	assert.Equal(t, paths[2:], segmentFiles(t, dir))

	rep, err := VerifyWith(dir, VerifyOptions{PublicKeys: keys, RequireCheckpoint: true})
	require.NoError(t, err)
	assert.Equal(t, res.LastSeq+1, rep.First, "verifiable from the first entry kept, the anchor")
	// An external checkpoint from before the pruning horizon can no longer
	// be checked; a later one can.
	_, err = VerifyWith(dir, VerifyOptions{PublicKeys: keys, Against: &ckpts[0]})
	require.ErrorIs(t, err, ErrPruned)
	rep, err = VerifyWith(dir, VerifyOptions{PublicKeys: keys, Against: &ckpts[5]})
	require.NoError(t, err)
	assert.True(t, rep.Against)

	// Without the destruction hold, up to day 5 goes; the segment being
	// written never does, whatever the horizon.
	res, err = l.Prune(clk.Now().Add(time.Hour), nil)
	require.NoError(t, err)
	assert.Len(t, res.Removed, 5)
	assert.Equal(t, paths[7:], segmentFiles(t, dir))
	res, err = l.Prune(clk.Now().Add(time.Hour), nil)
	require.NoError(t, err)
	assert.Empty(t, res.Removed, "only the segment being written is left")
	assert.Equal(t, Entry{}, res.Record, "nothing removed, nothing recorded")

	require.NoError(t, l.Close())
	rep, err = VerifyWith(dir, VerifyOptions{PublicKeys: keys})
	require.NoError(t, err)
	assert.Equal(t, []string{paths[7]}, rep.Files)
	for _, ks := range [][]crypto.PublicKey{nil, keys} {
		l, err := Open(dir, ks...)
		require.NoError(t, err, "a pruned log opens, fast or not")
		require.NoError(t, l.Close())
	}
}

func TestPruneDetectsDeletionByHand(t *testing.T) {
	l, dir, _, _ := dailyLog(t, 5, -1)
	paths := segmentFiles(t, dir)
	res, err := l.Prune(t0.Add(24*time.Hour+time.Minute), nil)
	require.NoError(t, err)
	require.Equal(t, paths[:1], res.Removed)
	require.NoError(t, l.Close())
	keys := []crypto.PublicKey{testRSAKey(t).Public()}

	// The next segment removed by hand, without a record: tampering.
	require.NoError(t, os.Remove(paths[1]))
	_, err = VerifyWith(dir, VerifyOptions{PublicKeys: keys})
	var ve *VerifyError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, reasonPrunedUnrecorded, ve.Reason)
	assert.Equal(t, paths[2], ve.File)
	_, err = Open(dir)
	require.ErrorIs(t, err, ErrTampered)
}

func TestPruneCrashBeforeRemoval(t *testing.T) {
	// The record is written before the files go: a crash in between
	// leaves files the record says are gone, which is fine, and the next
	// Prune removes them.
	l, dir, _, _ := dailyLog(t, 4, -1)
	paths := segmentFiles(t, dir)
	saved := snapshot(t, dir)
	res, err := l.Prune(t0.Add(2*24*time.Hour+time.Minute), nil)
	require.NoError(t, err)
	require.Len(t, res.Removed, 2)
	require.NoError(t, os.WriteFile(paths[1], []byte(saved[filepath.Base(paths[1])]), 0o600))
	rep, err := VerifyWith(dir, VerifyOptions{PublicKeys: []crypto.PublicKey{testRSAKey(t).Public()}})
	require.NoError(t, err)
	assert.Equal(t, paths[1], rep.Files[0])
	res, err = l.Prune(t0.Add(2*24*time.Hour+time.Minute), nil)
	require.NoError(t, err)
	assert.Equal(t, paths[1:2], res.Removed)
}

func TestPruneRefusesTamperedLog(t *testing.T) {
	l, dir, _, _ := dailyLog(t, 4, -1)
	paths := segmentFiles(t, dir)
	lines := readLines(t, paths[1])
	lines[1] = flipInValue(t, lines[1], "job")
	require.NoError(t, os.WriteFile(paths[1], join(lines), 0o600))
	before := snapshot(t, dir)
	_, err := l.Prune(t0.Add(30*24*time.Hour), nil)
	require.ErrorIs(t, err, ErrTampered)
	assert.Equal(t, before, snapshot(t, dir), "nothing removed, nothing recorded")
}

func TestPruneStoppedDaemon(t *testing.T) {
	l, dir, _, _ := dailyLog(t, 3, -1)
	_, err := Prune(dir, t0.Add(30*24*time.Hour), nil)
	require.ErrorIs(t, err, ErrLocked, "the daemon has the log: it must call Log.Prune")
	require.NoError(t, l.Close())
	res, err := Prune(dir, t0.Add(30*24*time.Hour), nil)
	require.NoError(t, err)
	assert.Len(t, res.Removed, 2)
	rep, err := VerifyWith(dir, VerifyOptions{PublicKeys: []crypto.PublicKey{testRSAKey(t).Public()}})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), rep.Unsealed, "the record, written without a signer")
}

func TestPruneWithoutSegments(t *testing.T) {
	dir, _, _ := writeLog(t, 5)
	res, err := Prune(dir, t0.Add(time.Hour*24*365), nil)
	require.NoError(t, err)
	assert.Empty(t, res.Removed)
}

func TestAppendRefusesPrunedEvent(t *testing.T) {
	l, _ := openTest(t)
	_, err := l.Append(Entry{Event: EventPruned})
	require.ErrorIs(t, err, ErrInvalidEntry)
}
