package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	l, dir := openTest(t)
	seq, head := l.Head()
	assert.Equal(t, uint64(0), seq)
	assert.Equal(t, GenesisHash, head)

	var written []Entry
	for i := 1; i <= 5; i++ {
		e, err := l.Append(sampleEntry(i))
		require.NoError(t, err)
		assert.Equal(t, uint64(i), e.Seq)
		assert.Equal(t, time.UTC, e.Time.Location())
		written = append(written, e)
	}
	require.Equal(t, GenesisHash, written[0].Prev)
	for i := 1; i < len(written); i++ {
		require.Equal(t, written[i-1].Hash, written[i].Prev)
	}
	seq, head = l.Head()
	assert.Equal(t, uint64(5), seq)
	assert.Equal(t, written[4].Hash, head)
	require.NoError(t, l.Close())

	rep, err := Verify(dir)
	require.NoError(t, err)
	assert.Equal(t, Report{Entries: 5, First: 1, Last: 5, Head: written[4].Hash, Files: []string{filepath.Join(dir, segmentName(1))}, Unsealed: 5}, rep)

	// What is on disk decodes back to exactly what Append returned.
	lines := readLines(t, rep.Files[0])
	require.Len(t, lines, 5)
	for i, line := range lines {
		got, reason := parseLine(line[:len(line)-1])
		require.Empty(t, reason)
		assert.Equal(t, written[i], got)
	}

	// Reopening continues the chain.
	l2, err := open(dir, testClock(time.Second), nil)
	require.NoError(t, err)
	defer l2.Close()
	seq, head = l2.Head()
	assert.Equal(t, uint64(5), seq)
	assert.Equal(t, written[4].Hash, head)
	e, err := l2.Append(Entry{Event: "login.failed", Outcome: OutcomeRefused, Actor: "mallory"})
	require.NoError(t, err)
	assert.Equal(t, uint64(6), e.Seq)
	assert.Equal(t, written[4].Hash, e.Prev)
	// The test clock restarted at t0, before entry 5: time must not go back.
	assert.Equal(t, written[4].Time, e.Time)
	require.NoError(t, l2.Close())
	rep, err = Verify(dir)
	require.NoError(t, err)
	assert.Equal(t, uint64(6), rep.Entries)
}

func TestLinesAreJSONForJq(t *testing.T) {
	_, seg, entries := writeLog(t, 3)
	for i, line := range readLines(t, seg) {
		var m map[string]any
		require.NoError(t, json.Unmarshal(line, &m), "line %d", i+1)
		assert.Equal(t, entries[i].Hash, m["hash"])
		// encoding/json reads the Entry back through its own tags.
		var e Entry
		require.NoError(t, json.Unmarshal(line, &e))
		assert.Equal(t, entries[i], e)
	}
}

func TestOpenModesAndDirSync(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	l, err := Open(dir)
	require.NoError(t, err)
	defer l.Close()
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	fi, err = os.Stat(filepath.Join(dir, segmentName(1)))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	_, err = l.Append(Entry{Event: "daemon.start", Outcome: OutcomeOK})
	require.NoError(t, err)

	_, err = Open(filepath.Join(dir, segmentName(1)))
	assert.Error(t, err, "a file is not a log directory")
}

func TestOpenLocked(t *testing.T) {
	l, dir := openTest(t)
	_, err := Open(dir)
	require.ErrorIs(t, err, ErrLocked)
	require.NoError(t, l.Close())
	l2, err := Open(dir)
	require.NoError(t, err, "Close releases the lock")
	require.NoError(t, l2.Close())
}

func TestVerifyEmptyDirIsNoLog(t *testing.T) {
	_, err := Verify(t.TempDir())
	require.ErrorIs(t, err, ErrNoLog)
	_, err = Verify(filepath.Join(t.TempDir(), "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestCloseThenAppend(t *testing.T) {
	l, _ := openTest(t)
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "second Close is a no-op")
	_, err := l.Append(Entry{Event: "x.y"})
	require.ErrorIs(t, err, ErrClosed)
}

func TestAppendRefusesInvalidEntries(t *testing.T) {
	l, _ := openTest(t)
	pan := "4111111111111111"
	cases := map[string]Entry{
		"no event":          {},
		"event upper case":  {Event: "Login.failed"},
		"event empty part":  {Event: "login..failed"},
		"event space":       {Event: "login failed"},
		"reserved repaired": {Event: EventRepaired},
		"reserved ckpt":     {Event: EventCheckpoint},
		"bad outcome":       {Event: "a.b", Outcome: "maybe"},
		"pan in actor":      {Event: "a.b", Actor: pan},
		"pan in job":        {Event: "a.b", Job: "job " + pan},
		"pan in os_user":    {Event: "a.b", OSUser: pan},
		"pan in approver":   {Event: "a.b", Approver: pan},
		"pan in issuer":     {Event: "a.b", Issuer: pan},
		"pan in request":    {Event: "a.b", Request: pan},
		"pan in machine":    {Event: "a.b", Machine: pan},
		"pan in detail":     {Event: "a.b", Detail: map[string]string{"track2": ";" + pan + "=2512101?"}},
		"pan spaced":        {Event: "a.b", Detail: map[string]string{"x": "4111 1111 1111 1111"}},
		"pan as detail key": {Event: "a.b", Detail: map[string]string{pan: "x"}},
		"bad detail key":    {Event: "a.b", Detail: map[string]string{"a b": "x"}},
		"empty detail key":  {Event: "a.b", Detail: map[string]string{"": "x"}},
		"invalid utf8":      {Event: "a.b", Actor: "\xff"},
		"too long":          {Event: "a.b", Detail: map[string]string{"big": string(make([]byte, MaxLineLen))}},
	}
	for name, e := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := l.Append(e)
			require.ErrorIs(t, err, ErrInvalidEntry)
			assert.NotContains(t, err.Error(), pan, "errors never echo a PAN")
			assert.NotContains(t, err.Error(), "4111 1111")
		})
	}
	// None of that hurt the log.
	e, err := l.Append(Entry{Event: "a.b", Detail: map[string]string{"masked": "411111******1111"}})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), e.Seq)
}

func TestAppendCopiesDetail(t *testing.T) {
	l, _ := openTest(t)
	d := map[string]string{"k": "v"}
	e, err := l.Append(Entry{Event: "a.b", Detail: d})
	require.NoError(t, err)
	d["k"] = "changed"
	assert.Equal(t, "v", e.Detail["k"])
}

func TestConcurrentAppend(t *testing.T) {
	l, dir := openTest(t)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	seqs := make(chan uint64, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				e, err := l.Append(Entry{Event: "file.received", Actor: "w" + strconv.Itoa(w)})
				if !assert.NoError(t, err) {
					return
				}
				seqs <- e.Seq
				l.Head()
			}
		}()
	}
	wg.Wait()
	close(seqs)
	var got []int
	for s := range seqs {
		got = append(got, int(s))
	}
	sort.Ints(got)
	require.Len(t, got, workers*each)
	for i, s := range got {
		require.Equal(t, i+1, s)
	}
	require.NoError(t, l.Close())
	rep, err := Verify(dir)
	require.NoError(t, err)
	assert.Equal(t, uint64(workers*each), rep.Entries)
}

// failingFile stands in for the segment file to inject write and fsync
// failures; after failing once it works again, which is the point: the log
// must stay failed anyway.
type failingFile struct {
	f         *os.File
	failWrite bool // fail the next Write after writing half of it
	failSync  bool // fail the next Sync
	writes    int
}

func (ff *failingFile) Write(p []byte) (int, error) {
	ff.writes++
	if ff.failWrite {
		ff.failWrite = false
		n, _ := ff.f.Write(p[:len(p)/2])
		return n, syscall.ENOSPC
	}
	return ff.f.Write(p)
}

func (ff *failingFile) Sync() error {
	if ff.failSync {
		ff.failSync = false
		return syscall.EIO
	}
	return ff.f.Sync()
}

func (ff *failingFile) Close() error { return ff.f.Close() }

func TestFailClosedOnFsyncError(t *testing.T) {
	l, dir := openTest(t)
	_, err := l.Append(Entry{Event: "a.b"})
	require.NoError(t, err)
	ff := &failingFile{f: l.f.(*os.File), failSync: true}
	l.f = ff

	_, err = l.Append(Entry{Event: "job.decrypt.start"})
	require.ErrorIs(t, err, ErrFailed)
	require.ErrorIs(t, err, syscall.EIO)
	seq, _ := l.Head()
	assert.Equal(t, uint64(1), seq, "a failed append does not advance the head")

	// The disk works again, but the log stays failed and writes nothing.
	for i := 0; i < 3; i++ {
		_, err = l.Append(Entry{Event: "job.decrypt.start"})
		require.ErrorIs(t, err, ErrFailed)
		require.ErrorIs(t, err, syscall.EIO, "the first cause is kept")
	}
	assert.Equal(t, 1, ff.writes)
	require.NoError(t, l.Close())

	// The entry whose fsync failed was written, so it may be on disk: the
	// action it announced failed, and the log says it was attempted.
	rep, err := Verify(dir)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), rep.Entries)
}

func TestFailClosedOnTornWrite(t *testing.T) {
	l, dir := openTest(t)
	_, err := l.Append(Entry{Event: "a.b"})
	require.NoError(t, err)
	l.f = &failingFile{f: l.f.(*os.File), failWrite: true}
	_, err = l.Append(Entry{Event: "job.decrypt.start"})
	require.ErrorIs(t, err, ErrFailed)
	require.ErrorIs(t, err, syscall.ENOSPC)
	_, err = l.Append(Entry{Event: "job.decrypt.start"})
	require.ErrorIs(t, err, ErrFailed)
	require.NoError(t, l.Close())

	// Half a line is on disk: Verify calls it torn, the next Open repairs.
	_, err = Verify(dir)
	requireBroken(t, err, ErrTorn, 2)
	l2, err := Open(dir)
	require.NoError(t, err)
	require.NoError(t, l2.Close())
	rep, err := Verify(dir)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), rep.Entries)
}

func TestFailClosedWhenFileClosedUnderneath(t *testing.T) {
	l, _ := openTest(t)
	_, err := l.Append(Entry{Event: "a.b"})
	require.NoError(t, err)
	// Close the real descriptor behind the log's back: every write now
	// fails with a genuine error from the os package.
	require.NoError(t, l.f.(*os.File).Close())
	for i := 0; i < 2; i++ {
		_, err = l.Append(Entry{Event: "job.decrypt.start"})
		require.ErrorIs(t, err, ErrFailed)
		require.ErrorIs(t, err, os.ErrClosed)
	}
}

func TestOpenFailsOnReadOnlyLog(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores file modes")
	}
	dir, seg, _ := writeLog(t, 2)
	require.NoError(t, os.Chmod(seg, 0o400))
	_, err := Open(dir)
	require.ErrorIs(t, err, os.ErrPermission)
}

func TestTornTailRepair(t *testing.T) {
	cases := map[string]func(next []byte) []byte{
		"half a line":          func(next []byte) []byte { return next[:len(next)/2] },
		"line without newline": func(next []byte) []byte { return next[:len(next)-1] },
		"nul bytes":            func([]byte) []byte { return make([]byte, 512) },
		"one byte":             func([]byte) []byte { return []byte("{") },
	}
	for name, tail := range cases {
		t.Run(name, func(t *testing.T) {
			dir, seg, entries := writeLog(t, 4)
			// Make the line a fifth Append would have written, and tear it.
			next := Entry{Seq: 5, Time: entries[3].Time, Event: "job.decrypt.start", Prev: entries[3].Hash}
			torn := tail(seal(&next))
			good, err := os.ReadFile(seg)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(seg, append(good, torn...), 0o600))

			rep, err := Verify(dir)
			ve := requireBroken(t, err, ErrTorn, 5)
			assert.False(t, errors.Is(err, ErrTampered), "torn is not tampered")
			assert.Equal(t, uint64(5), ve.Seq)
			assert.Equal(t, uint64(4), rep.Entries, "the complete entries are reported")
			assert.Equal(t, entries[3].Hash, rep.Head)

			l, err := open(dir, testClock(time.Second), nil)
			require.NoError(t, err)
			require.NoError(t, l.Close())

			rep, err = Verify(dir)
			require.NoError(t, err)
			require.Equal(t, uint64(5), rep.Entries)
			lines := readLines(t, seg)
			assert.Equal(t, good, join(lines[:4]), "the complete entries are untouched")
			e, reason := parseLine(lines[4][:len(lines[4])-1])
			require.Empty(t, reason)
			assert.Equal(t, EventRepaired, e.Event)
			sum := sha256.Sum256(torn)
			wantSaved := segmentName(1) + "." + strconv.Itoa(len(good)) + ".torn"
			assert.Equal(t, map[string]string{
				"file":     segmentName(1),
				"offset":   strconv.Itoa(len(good)),
				"bytes":    strconv.Itoa(len(torn)),
				"sha256":   hex.EncodeToString(sum[:]),
				"saved_to": wantSaved,
			}, e.Detail)
			kept, err := os.ReadFile(filepath.Join(dir, wantSaved))
			require.NoError(t, err)
			assert.Equal(t, torn, kept, "the torn bytes are kept as evidence")
			fi, err := os.Stat(filepath.Join(dir, wantSaved))
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		})
	}
}

func TestTornTailOnlyLine(t *testing.T) {
	dir := t.TempDir()
	seg := filepath.Join(dir, segmentName(1))
	require.NoError(t, os.WriteFile(seg, []byte(`{"seq":1,"ti`), 0o600))
	_, err := Verify(dir)
	requireBroken(t, err, ErrTorn, 1)
	l, err := Open(dir)
	require.NoError(t, err)
	e, err := l.Append(Entry{Event: "daemon.start"})
	require.NoError(t, err)
	assert.Equal(t, uint64(2), e.Seq, "entry 1 is the repair record")
	require.NoError(t, l.Close())
	_, err = Verify(dir)
	require.NoError(t, err)
}

func TestTornTailRepairedTwiceAtSameOffset(t *testing.T) {
	// A crash during repair can leave the same torn tail for the next Open;
	// the evidence file must not be overwritten.
	dir, seg, _ := writeLog(t, 2)
	good, err := os.ReadFile(seg)
	require.NoError(t, err)
	torn := []byte(`{"seq":3,`)
	first := seg + "." + strconv.Itoa(len(good)) + ".torn"
	require.NoError(t, os.WriteFile(first, []byte("earlier evidence"), 0o600))
	require.NoError(t, os.WriteFile(seg, append(good, torn...), 0o600))
	l, err := Open(dir)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	kept, err := os.ReadFile(first)
	require.NoError(t, err)
	assert.Equal(t, "earlier evidence", string(kept))
	kept, err = os.ReadFile(seg + "." + strconv.Itoa(len(good)) + "-1.torn")
	require.NoError(t, err)
	assert.Equal(t, torn, kept)
}

func TestOpenRefusesTamperedLogAndChangesNothing(t *testing.T) {
	dir, seg, _ := writeLog(t, 4)
	lines := readLines(t, seg)
	lines[1], lines[2] = lines[2], lines[1]
	require.NoError(t, os.WriteFile(seg, join(lines), 0o600))
	before := snapshot(t, dir)

	_, err := Open(dir)
	require.ErrorIs(t, err, ErrTampered)
	var ve *VerifyError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, 2, ve.Line)
	assert.Equal(t, before, snapshot(t, dir))

	// A broken last line that does end in a newline is not a torn tail.
	lines = readLines(t, seg)
	lines[1], lines[2] = lines[2], lines[1]
	lines[3] = append(lines[3][:len(lines[3])/2:len(lines[3])/2], '\n')
	require.NoError(t, os.WriteFile(seg, join(lines), 0o600))
	before = snapshot(t, dir)
	_, err = Open(dir)
	require.ErrorIs(t, err, ErrTampered)
	assert.Equal(t, before, snapshot(t, dir))

	// Nor is one in a segment that is not the last.
	lines = readLines(t, seg)
	lines[3] = lines[3][:len(lines[3])/2]
	require.NoError(t, os.WriteFile(seg, join(lines), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(2)), nil, 0o600))
	before = snapshot(t, dir)
	_, err = Open(dir)
	require.ErrorIs(t, err, ErrTampered)
	assert.Equal(t, before, snapshot(t, dir))
}

func TestClockBackwardsKeepsOrder(t *testing.T) {
	l, dir := openTest(t)
	times := []time.Time{t0.Add(time.Hour), t0, t0.Add(2 * time.Hour)}
	i := 0
	l.now = func() time.Time { t := times[i]; i++; return t }
	var got []time.Time
	for range times {
		e, err := l.Append(Entry{Event: "a.b"})
		require.NoError(t, err)
		got = append(got, e.Time)
	}
	assert.Equal(t, []time.Time{t0.Add(time.Hour), t0.Add(time.Hour), t0.Add(2 * time.Hour)}, got)
	require.NoError(t, l.Close())
	_, err := Verify(dir)
	require.NoError(t, err)
}

func TestVerifySegments(t *testing.T) {
	// Segments chain into each other: the log is the concatenation, and
	// each segment after the first begins with a checkpoint over the
	// checkpoint that ends the one before.
	b := newChain(t, testRSAKey(t))
	for i := 1; i <= 3; i++ {
		b.add(sampleEntry(i))
	}
	b.rotate()
	b.add(sampleEntry(4))
	dir := filepath.Join(t.TempDir(), "audit")
	b.writeTo(t, dir)
	seg, seg2 := filepath.Join(dir, segmentName(1)), filepath.Join(dir, segmentName(2))
	rep, err := Verify(dir)
	require.NoError(t, err)
	assert.Equal(t, uint64(6), rep.Entries)
	assert.Equal(t, []string{seg, seg2}, rep.Files)
	assert.Equal(t, 2, rep.Checkpoints)

	// Open appends to the last segment.
	l, err := Open(dir)
	require.NoError(t, err)
	_, err = l.Append(Entry{Event: "a.b"})
	require.NoError(t, err)
	require.NoError(t, l.Close())
	assert.Len(t, readLines(t, seg2), 3)

	// A renamed segment is noticed rather than skipped.
	require.NoError(t, os.Rename(seg2, filepath.Join(dir, "audit-2.jsonl")))
	_, err = Verify(dir)
	require.ErrorIs(t, err, ErrTampered)
	require.NoError(t, os.Rename(filepath.Join(dir, "audit-2.jsonl"), seg2))

	// Other files, like kept torn tails, are ignored.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600))
	_, err = Verify(dir)
	require.NoError(t, err)

	// A symlinked segment is not accepted.
	require.NoError(t, os.Rename(seg2, filepath.Join(dir, "elsewhere")))
	require.NoError(t, os.Symlink("elsewhere", seg2))
	_, err = Verify(dir)
	require.ErrorIs(t, err, ErrTampered)
}

func TestVerifyLineTooLong(t *testing.T) {
	_, seg, _ := writeLog(t, 2)
	good, err := os.ReadFile(seg)
	require.NoError(t, err)
	long := append(append([]byte(nil), good...), make([]byte, MaxLineLen+10)...)
	_, err = verifyBytes(t, append(long, '\n'))
	requireBroken(t, err, ErrTampered, 3)
	// Without a newline it is too long to be a torn Append: tampered too.
	_, err = verifyBytes(t, long)
	requireBroken(t, err, ErrTampered, 3)
}
