package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// t0 is the start of every test clock.
var t0 = time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC)

// testClock returns a clock that starts at t0 and moves by step per call.
func testClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	t := t0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := t
		t = t.Add(step)
		return now
	}
}

// openTest opens a log in a new directory under t.TempDir with a test clock.
func openTest(t testing.TB) (*Log, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "audit")
	l, err := open(dir, testClock(1500*time.Millisecond), nil)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l, dir
}

// sampleEntry is an entry with every field a caller can set.
func sampleEntry(i int) Entry {
	return Entry{
		Event:    "job.decrypt.start",
		Outcome:  OutcomeOK,
		Actor:    "op-" + strconv.Itoa(i),
		OSUser:   "dataprep",
		Approver: "sup-anna",
		Job:      "J-2026-" + strconv.Itoa(1000+i),
		Issuer:   "bank-north",
		Request:  "R-" + strconv.Itoa(i),
		Machine:  "emb-07",
		Detail:   map[string]string{"file": "in_" + strconv.Itoa(i) + ".pgp", "pan": "411111******1111"},
	}
}

// writeLog appends n sample entries to a new log, closes it and returns its
// directory, its segment path and the entries as written.
func writeLog(t testing.TB, n int) (dir, seg string, entries []Entry) {
	t.Helper()
	l, dir := openTest(t)
	for i := 1; i <= n; i++ {
		e, err := l.Append(sampleEntry(i))
		require.NoError(t, err)
		entries = append(entries, e)
	}
	require.NoError(t, l.Close())
	return dir, filepath.Join(dir, segmentName(1)), entries
}

// readLines returns the lines of a file, each with its newline.
func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var lines [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		if i < len(b) {
			i++
		}
		lines = append(lines, b[:i:i])
		b = b[i:]
	}
	return lines
}

func join(lines [][]byte) []byte {
	var b []byte
	for _, l := range lines {
		b = append(b, l...)
	}
	return b
}

// verifyBytes verifies content as the only segment of a fresh directory.
func verifyBytes(t testing.TB, content []byte) (Report, error) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(1)), content, 0o600))
	return Verify(dir)
}

// verifyMem verifies content as the only segment, in memory, the way Verify
// does, for tests that try thousands of variants.
func verifyMem(content []byte) error {
	st := &chainState{hash: GenesisHash}
	if err := scanSegment(bytes.NewReader(content), segmentName(1), st, segPos{num: 1, last: true}); err != nil {
		return err
	}
	if st.torn != nil {
		return st.torn.err
	}
	return nil
}

// requireBroken checks that err is a *VerifyError wrapping want at line.
func requireBroken(t testing.TB, err error, want error, line int) *VerifyError {
	t.Helper()
	require.ErrorIs(t, err, want)
	var ve *VerifyError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, line, ve.Line, "line of the first bad entry; error: %v", err)
	return ve
}

// snapshot returns the names and contents of the files in dir.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	m := map[string]string{}
	for _, e := range ents {
		if e.Name() == lockName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		m[e.Name()] = string(b)
	}
	return m
}
