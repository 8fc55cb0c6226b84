// Package audit is the tamper-evident audit log of the data room: an
// append-only, hash-chained JSON Lines file that every security-relevant
// action writes to, durably, before it is reported done (design invariants 3
// and 10). The storage format is defined byte by byte in README.md next to
// this file, so that auditors can check a log with their own tools.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

var (
	// ErrClosed is returned by Append after Close.
	ErrClosed = errors.New("audit log closed")
	// ErrFailed is returned by every Append after one write or fsync has
	// failed. It is sticky: the log cannot say what reached the disk, and
	// after a failed fsync Linux may have dropped the dirty pages, so
	// retrying could report an entry durable that is not. The daemon must
	// fail the action (invariant 3) and be restarted; Open then repairs a
	// torn tail.
	ErrFailed = errors.New("audit log failed; refusing appends")
	// ErrInvalidEntry is returned by Append for an entry it refuses to
	// write, e.g. one that holds a card number. The log stays usable.
	ErrInvalidEntry = errors.New("invalid audit entry")
	// ErrLocked is returned by Open when another Log, in this process or
	// another, has the directory open.
	ErrLocked = errors.New("audit log already open")
)

const lockName = "audit.lock"

// segmentFile is the part of *os.File that Append uses; tests put a failing
// one in its place.
type segmentFile interface {
	io.Writer
	Sync() error
	Close() error
}

// Log is an open audit log. Its methods are safe for concurrent use.
type Log struct {
	dir  string
	now  func() time.Time
	lock *os.File

	mu     sync.Mutex
	path   string // segment being appended to
	f      segmentFile
	seq    uint64
	hash   string
	last   time.Time
	failed error // sticky, see ErrFailed
	closed bool
}

// Open opens the log in dir, creating dir (mode 0700) and the first segment
// when missing. It verifies the whole chain first and refuses, with an error
// wrapping ErrTampered, a log that is broken anywhere: the daemon must not
// start on it. The one thing it repairs is a torn tail left by a crash (see
// ErrTorn): the bytes are moved to a .torn file next to the segment, cut off,
// and an EventRepaired entry records what was removed.
func Open(dir string) (*Log, error) {
	return open(dir, time.Now)
}

func open(dir string, now func() time.Time) (*Log, error) {
	if err := makeDir(dir); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, now: now, lock: lock, hash: GenesisHash}
	if err := l.load(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// load finds the chain head, repairs a torn tail, and opens the last segment
// for appending (creating the first one in an empty directory).
func (l *Log) load() error {
	st, err := scan(l.dir)
	switch {
	case errors.Is(err, ErrNoLog):
		return l.create(1)
	case err != nil:
		return fmt.Errorf("audit: open %s: %w", l.dir, err)
	}
	l.seq, l.hash, l.last = st.seq, st.hash, st.time
	l.path = st.files[len(st.files)-1]
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	l.f = f
	if st.torn != nil {
		return l.repair(f, st.torn)
	}
	return nil
}

// makeDir creates dir with mode 0700 if it is missing, and then syncs its
// parent so that the directory entry itself survives a crash.
func makeDir(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("audit: %s is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("audit: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return syncDir(filepath.Dir(filepath.Clean(dir)))
}

// create makes segment n and syncs it and the directory before anything is
// written to it: a new file is durable only once its directory entry is.
func (l *Log) create(n int) error {
	path := filepath.Join(l.dir, segmentName(n))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("audit: sync %s: %w", path, err)
	}
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return err
	}
	l.path, l.f = path, f
	return nil
}

// repair keeps the torn bytes as evidence in a new file, syncs it, cuts them
// off the segment and records the repair in the log. Every step is durable
// before the next one, so a crash during repair at worst leaves a second
// copy of the same torn bytes for the next Open.
func (l *Log) repair(f *os.File, t *tornTail) error {
	saved, err := saveTorn(t)
	if err != nil {
		return err
	}
	if err := f.Truncate(t.offset); err != nil {
		return fmt.Errorf("audit: cut torn tail off %s: %w", t.file, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("audit: sync %s: %w", t.file, err)
	}
	sum := sha256.Sum256(t.data)
	_, err = l.append(Entry{
		Event:   EventRepaired,
		Outcome: OutcomeOK,
		Detail: map[string]string{
			"file":     filepath.Base(t.file),
			"offset":   strconv.FormatInt(t.offset, 10),
			"bytes":    strconv.Itoa(len(t.data)),
			"sha256":   hex.EncodeToString(sum[:]),
			"saved_to": filepath.Base(saved),
		},
	})
	return err
}

// saveTorn writes the torn bytes to <segment>.<offset>.torn, or a numbered
// variant if a previous repair at the same offset left one.
func saveTorn(t *tornTail) (string, error) {
	for i := 0; i < 100; i++ {
		path := fmt.Sprintf("%s.%d.torn", t.file, t.offset)
		if i > 0 {
			path = fmt.Sprintf("%s.%d-%d.torn", t.file, t.offset, i)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("audit: keep torn tail: %w", err)
		}
		_, err = f.Write(t.data)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("audit: keep torn tail in %s: %w", path, err)
		}
		return path, syncDir(filepath.Dir(path))
	}
	return "", fmt.Errorf("audit: keep torn tail of %s: too many .torn files", t.file)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit: sync directory %s: %w", dir, err)
	}
	return nil
}

// Append writes e to the log and returns it as written, with Seq, Time,
// Prev and Hash filled in (whatever e held there is ignored). The entry is
// on disk (written and fsynced) when Append returns nil; callers report
// their action done only then (invariant 3).
//
// Append refuses, with ErrInvalidEntry, an entry whose Event is not a dotted
// lower-case name or is reserved to this package, whose Outcome is not one
// of the Outcome constants, or whose fields hold invalid UTF-8 or something
// ContainsPAN flags. After a failed write or fsync it returns ErrFailed, now
// and for good.
func (l *Log) Append(e Entry) (Entry, error) {
	if e.Event == EventRepaired || e.Event == EventCheckpoint {
		return Entry{}, fmt.Errorf("%w: event %s is written by the audit package only", ErrInvalidEntry, e.Event)
	}
	// Copy Detail so that the caller's map is not shared with the returned
	// entry, and cannot change between the checks and the write.
	e.Detail = maps.Clone(e.Detail)
	if err := validate(&e); err != nil {
		return Entry{}, err
	}
	return l.append(e)
}

func (l *Log) append(e Entry) (Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Entry{}, ErrClosed
	}
	if l.failed != nil {
		return Entry{}, fmt.Errorf("audit: %w: %w", ErrFailed, l.failed)
	}
	// Times never go backwards in the log (Verify checks it): when the wall
	// clock steps back, the entry keeps the previous entry's time.
	now := l.now().UTC()
	if now.Before(l.last) {
		now = l.last
	}
	e.Seq, e.Time, e.Prev = l.seq+1, now, l.hash
	if len(e.Detail) == 0 {
		e.Detail = nil
	}
	line := seal(&e)
	if len(line) > MaxLineLen {
		return Entry{}, fmt.Errorf("%w: entry is %d bytes encoded, more than %d", ErrInvalidEntry, len(line), MaxLineLen)
	}
	// One write of the whole line: with O_APPEND it lands at the end even
	// if someone else appended, and a crash leaves at most one torn line.
	if _, err := l.f.Write(line); err != nil {
		l.failed = fmt.Errorf("write %s: %w", l.path, err)
		return Entry{}, fmt.Errorf("audit: %w: %w", ErrFailed, l.failed)
	}
	if err := l.f.Sync(); err != nil {
		l.failed = fmt.Errorf("fsync %s: %w", l.path, err)
		return Entry{}, fmt.Errorf("audit: %w: %w", ErrFailed, l.failed)
	}
	l.seq, l.hash, l.last = e.Seq, e.Hash, e.Time
	return e, nil
}

// Head returns the sequence number and hash of the last entry: 0 and
// GenesisHash for an empty log.
func (l *Log) Head() (seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.hash
}

// Close closes the segment and releases the directory lock. Appends after
// Close return ErrClosed; closing twice is a no-op.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var err error
	if l.f != nil {
		if cerr := l.f.Close(); cerr != nil && l.failed == nil {
			err = fmt.Errorf("audit: close %s: %w", l.path, cerr)
		}
	}
	if l.lock != nil {
		l.lock.Close() // closing the file releases the flock
	}
	return err
}
