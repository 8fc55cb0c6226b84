// Package audit is the tamper-evident audit log of the data room: an
// append-only, hash-chained JSON Lines file that every security-relevant
// action writes to, durably, before it is reported done (design invariants 3
// and 10). The storage format is defined byte by byte in README.md next to
// this file, so that auditors can check a log with their own tools.
package audit

import (
	"crypto"
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

	// The segment being written: its number, size, and the seq and time
	// of its first entry (0 while it is empty).
	segNum      int
	segSize     int64
	segFirstSeq uint64
	segStart    time.Time

	// Checkpoints: the signer (nil until SetCheckpointer), the last
	// checkpoint in the log and the seq of its entry, and since when
	// entries wait for one (zero when none do).
	signer        crypto.Signer
	pub           crypto.PublicKey
	keyID         string
	origin        string
	ckpt          *Checkpoint
	ckptSeq       uint64
	unsealedSince time.Time
	policy        CheckpointPolicy
	retryAt       uint64 // no automatic checkpoint or rotation before this seq (after a failure)

	closing bool
	stop    chan struct{} // closed to stop the policy's timer
	ticker  sync.WaitGroup

	pruneMu sync.Mutex
}

// Open opens the log in dir, creating dir (mode 0700) and the first segment
// when missing, and verifies it first: it refuses, with an error wrapping
// ErrTampered, a log that is broken (the daemon must not start on it). The
// one thing it repairs is a torn tail left by a crash (see ErrTorn): the
// bytes are moved to a .torn file next to the segment, cut off, and an
// EventRepaired entry records what was removed.
//
// trusted are the checkpoint keys to trust (see VerifyOptions.PublicKeys).
// Without them Open checks every link of the whole log, and every
// checkpoint's form but not its signature. With them, when the last
// checkpoint of the last segment was signed by one of them, Open checks only
// the entries from that checkpoint on (a fast start: the signature vouches
// for everything before it); otherwise it checks the whole log, and every
// checkpoint signature against trusted. Give every key the log holds
// checkpoints of, retired ones included, or Open refuses the log.
func Open(dir string, trusted ...crypto.PublicKey) (*Log, error) {
	return open(dir, time.Now, trusted)
}

func open(dir string, now func() time.Time, trusted []crypto.PublicKey) (*Log, error) {
	keys, err := newKeySet(trusted)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := makeDir(dir); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, now: now, lock: lock, hash: GenesisHash}
	if err := l.load(keys); err != nil {
		l.closeFiles()
		return nil, err
	}
	return l, nil
}

// load finds the chain head, repairs a torn tail, and opens the last segment
// for appending (creating the first one in an empty directory).
func (l *Log) load(keys keySet) error {
	var st *chainState
	var err error
	fast := false
	if keys != nil {
		st, fast, err = openFast(l.dir, keys)
	}
	if err == nil && !fast {
		st, err = scan(l.dir, &chainState{keys: keys})
	}
	switch {
	case errors.Is(err, ErrNoLog):
		return l.create(1)
	case err != nil:
		return fmt.Errorf("audit: open %s: %w", l.dir, err)
	}
	l.seq, l.hash, l.last = st.seq, st.hash, st.time
	l.segNum, l.segSize, l.segFirstSeq, l.segStart = st.segNum, st.segSize, st.segFirstSeq, st.segFirstTime
	l.ckpt, l.ckptSeq = st.lastCkpt, st.ckptSeq
	if l.seq > l.ckptSeq {
		l.unsealedSince = time.Now()
	}
	l.path = filepath.Join(l.dir, segmentName(st.segNum))
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	l.f = f
	removeStaleNew(l.dir)
	if st.torn != nil {
		return l.repair(f, st.torn)
	}
	return nil
}

// removeStaleNew removes the temporary files a crash during a rotation may
// have left (audit-NNNNNN.jsonl.new): never part of the log, at most a
// second name of a segment that did get linked into place.
func removeStaleNew(dir string) {
	stale, _ := filepath.Glob(filepath.Join(dir, segPrefix+"*"+segSuffix+".new"))
	for _, p := range stale {
		os.Remove(p)
	}
	if len(stale) > 0 {
		syncDir(dir)
	}
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
	l.path, l.f, l.segNum, l.segSize, l.segFirstSeq = path, f, n, 0, 0
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
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err = l.appendLocked(Entry{
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
//
// With a policy set (SetPolicy), Append then writes a checkpoint or starts
// a new segment when one is due. Their failure does not fail the Append,
// whose entry is on disk by then: it goes to CheckpointPolicy.OnError.
func (l *Log) Append(e Entry) (Entry, error) {
	if reserved(e.Event) {
		return Entry{}, fmt.Errorf("%w: event %s is written by the audit package only", ErrInvalidEntry, e.Event)
	}
	// Copy Detail so that the caller's map is not shared with the returned
	// entry, and cannot change between the checks and the write.
	e.Detail = maps.Clone(e.Detail)
	if err := validate(&e); err != nil {
		return Entry{}, err
	}
	l.mu.Lock()
	e, err := l.appendLocked(e)
	var autoErr error
	if err == nil {
		autoErr = l.autoLocked(false)
	}
	onError := l.policy.OnError
	l.mu.Unlock()
	if autoErr != nil && onError != nil {
		onError(autoErr)
	}
	return e, err
}

// usableLocked returns why nothing can be written, or nil.
func (l *Log) usableLocked() error {
	if l.closed {
		return ErrClosed
	}
	if l.failed != nil {
		return fmt.Errorf("audit: %w: %w", ErrFailed, l.failed)
	}
	return nil
}

// nextTimeLocked is the time of the next entry: now, or the previous
// entry's time if the wall clock stepped back (Verify checks that times
// never go backwards).
func (l *Log) nextTimeLocked() time.Time {
	now := l.now().UTC()
	if now.Before(l.last) {
		now = l.last
	}
	return now
}

func (l *Log) appendLocked(e Entry) (Entry, error) {
	if err := l.usableLocked(); err != nil {
		return Entry{}, err
	}
	e.Seq, e.Time, e.Prev = l.seq+1, l.nextTimeLocked(), l.hash
	if len(e.Detail) == 0 {
		e.Detail = nil
	}
	line := seal(&e)
	if len(line) > MaxLineLen {
		return Entry{}, fmt.Errorf("%w: entry is %d bytes encoded, more than %d", ErrInvalidEntry, len(line), MaxLineLen)
	}
	if err := l.writeLocked(line); err != nil {
		return Entry{}, err
	}
	l.advanceLocked(e, nil, len(line))
	return e, nil
}

// writeLocked writes one whole line with one write(2) and fsyncs it. With
// O_APPEND it lands at the end even if someone else appended, and a crash
// leaves at most one torn line. A failure fails the log for good.
func (l *Log) writeLocked(line []byte) error {
	if _, err := l.f.Write(line); err != nil {
		l.failed = fmt.Errorf("write %s: %w", l.path, err)
		return fmt.Errorf("audit: %w: %w", ErrFailed, l.failed)
	}
	if err := l.f.Sync(); err != nil {
		l.failed = fmt.Errorf("fsync %s: %w", l.path, err)
		return fmt.Errorf("audit: %w: %w", ErrFailed, l.failed)
	}
	return nil
}

// advanceLocked moves the head to e, an entry of n bytes just written to
// the current segment; c is the checkpoint e carries, if it is one.
func (l *Log) advanceLocked(e Entry, c *Checkpoint, n int) {
	l.seq, l.hash, l.last = e.Seq, e.Hash, e.Time
	l.segSize += int64(n)
	if l.segFirstSeq == 0 {
		l.segFirstSeq, l.segStart = e.Seq, e.Time
	}
	if c != nil {
		l.ckpt, l.ckptSeq, l.unsealedSince = c, e.Seq, time.Time{}
	} else if l.unsealedSince.IsZero() {
		l.unsealedSince = time.Now()
	}
}

// Head returns the sequence number and hash of the last entry: 0 and
// GenesisHash for an empty log.
func (l *Log) Head() (seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.hash
}

// SetCheckpointer makes signer the log's checkpoint key, and origin the
// name its checkpoints give the log (1 to 255 printable ASCII characters
// without spaces, e.g. the data room's host name). The key must be RSA
// (2048 to 8192 bits; it signs RSASSA-PKCS1-v1_5 with SHA-256) or ECDSA on
// P-256 (SHA-256, ASN.1 signature); in production it is a non-extractable
// HSM key (crypto11). Calling it again replaces the key, e.g. after a key
// ceremony; verifiers then need both public keys.
//
// From then on Checkpoint works, SetPolicy can automate it, and Close
// writes a last checkpoint. SetCheckpointer itself writes nothing.
func (l *Log) SetCheckpointer(signer crypto.Signer, origin string) error {
	if signer == nil {
		return fmt.Errorf("%w: nil signer", ErrUnsupportedKey)
	}
	if !validOrigin(origin) || ContainsPAN(origin) {
		return fmt.Errorf("audit: checkpoint origin must be 1 to %d printable ASCII characters without spaces", maxOriginLen)
	}
	pub := signer.Public()
	id, err := KeyID(pub)
	if err != nil {
		return fmt.Errorf("audit: checkpoint key: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.closing {
		return ErrClosed
	}
	l.signer, l.pub, l.keyID, l.origin = signer, pub, id, origin
	return nil
}

// Checkpoint appends a checkpoint over the whole log now, signed by the
// key of SetCheckpointer, and returns it. Like any entry it is on disk when
// Checkpoint returns; a failed write fails the log (ErrFailed). A failed
// signature writes nothing and leaves the log usable.
func (l *Log) Checkpoint() (Checkpoint, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checkpointLocked()
}

func (l *Log) checkpointLocked() (Checkpoint, error) {
	if err := l.usableLocked(); err != nil {
		return Checkpoint{}, err
	}
	c, e, line, err := l.signLocked()
	if err != nil {
		return Checkpoint{}, err
	}
	if err := l.writeLocked(line); err != nil {
		return Checkpoint{}, err
	}
	l.advanceLocked(e, &c, len(line))
	return c, nil
}

// signLocked makes the checkpoint entry over the current head, without
// writing it. Signing happens under the lock: no entry may come between
// the head it covers and the checkpoint entry.
func (l *Log) signLocked() (Checkpoint, Entry, []byte, error) {
	if l.signer == nil {
		return Checkpoint{}, Entry{}, nil, ErrNoCheckpointer
	}
	c := Checkpoint{Origin: l.origin, Seq: l.seq, Head: l.hash, Time: l.nextTimeLocked(), KeyID: l.keyID}
	sig, err := sign(l.signer, l.pub, c.signedText())
	if err != nil {
		return Checkpoint{}, Entry{}, nil, err
	}
	c.Signature = sig
	e := checkpointEntry(c)
	line := seal(&e)
	return c, e, line, nil
}

// LatestCheckpoint returns the last checkpoint in the log, and false when
// it has none.
func (l *Log) LatestCheckpoint() (Checkpoint, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ckpt == nil {
		return Checkpoint{}, false
	}
	return *l.ckpt, true
}

// CheckpointPolicy says when the log writes checkpoints and starts new
// segments by itself. Zero fields are off. See DefaultPolicy.
type CheckpointPolicy struct {
	// Every: checkpoint once this many entries follow the last checkpoint.
	Every uint64
	// Interval: checkpoint when an entry has waited this long for one.
	// An idle log writes none.
	Interval time.Duration
	// MaxSegmentSize: start a new segment once the current one holds at
	// least this many bytes.
	MaxSegmentSize int64
	// MaxSegmentAge: start a new segment once the current one's first
	// entry is this old (and it holds more than that entry). Prune
	// removes whole segments, so this is the grain of retention.
	MaxSegmentAge time.Duration
	// OnError, if set, gets the errors of automatic checkpoints and
	// rotations (an HSM that does not sign, a full disk). The log goes on
	// and tries again after Every more entries or on the next tick; a
	// failed write fails the log as usual (ErrFailed). It is called
	// without the log's lock held, but must not block for long.
	OnError func(error)
}

// DefaultPolicy is what the daemon should use unless configured otherwise:
// a checkpoint at least every 256 entries and at most a minute after any
// entry, and a new segment every 7 days or 64 MiB.
func DefaultPolicy() CheckpointPolicy {
	return CheckpointPolicy{Every: 256, Interval: time.Minute, MaxSegmentSize: 64 << 20, MaxSegmentAge: 7 * 24 * time.Hour}
}

// SetPolicy makes the log write checkpoints and start new segments by
// itself from now on (replacing an earlier policy). It needs a signer
// (SetCheckpointer) unless p is zero. With Interval or MaxSegmentAge, a
// goroutine wakes up now and then; Close stops it.
func (l *Log) SetPolicy(p CheckpointPolicy) error {
	if p.Interval < 0 || p.MaxSegmentAge < 0 || p.MaxSegmentSize < 0 {
		return errors.New("audit: checkpoint policy: negative limit")
	}
	l.mu.Lock()
	if l.closed || l.closing {
		l.mu.Unlock()
		return ErrClosed
	}
	if l.signer == nil && (p.Every > 0 || p.Interval > 0 || p.MaxSegmentSize > 0 || p.MaxSegmentAge > 0) {
		l.mu.Unlock()
		return fmt.Errorf("audit: checkpoint policy: %w", ErrNoCheckpointer)
	}
	old := l.stop
	l.stop = nil
	l.policy = p
	l.retryAt = 0
	l.mu.Unlock()
	if old != nil {
		close(old)
		l.ticker.Wait()
	}

	period := time.Duration(0)
	for _, d := range []time.Duration{p.Interval, p.MaxSegmentAge} {
		if d > 0 && (period == 0 || d < period) {
			period = d
		}
	}
	if period == 0 {
		return nil
	}
	period = min(max(period/4, 10*time.Millisecond), time.Minute)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.closing {
		return ErrClosed
	}
	stop := make(chan struct{})
	l.stop = stop
	l.ticker.Add(1)
	go l.tick(stop, period)
	return nil
}

// tick does the policy's timed work until stop is closed.
func (l *Log) tick(stop chan struct{}, period time.Duration) {
	defer l.ticker.Done()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		l.mu.Lock()
		err := l.autoLocked(true)
		onError := l.policy.OnError
		l.mu.Unlock()
		if err != nil && onError != nil {
			onError(err)
		}
	}
}

// autoLocked writes the checkpoint or starts the segment the policy asks
// for now; timed says whether the timer is asking (else an Append).
func (l *Log) autoLocked(timed bool) error {
	p := l.policy
	if l.signer == nil || l.usableLocked() != nil || l.seq < l.retryAt {
		return nil
	}
	var err error
	switch {
	case l.seq > l.segFirstSeq && l.segFirstSeq > 0 &&
		((p.MaxSegmentSize > 0 && l.segSize >= p.MaxSegmentSize) ||
			(p.MaxSegmentAge > 0 && l.nextTimeLocked().Sub(l.segStart) >= p.MaxSegmentAge)):
		err = l.rotateLocked()
	case p.Every > 0 && l.seq-l.ckptSeq >= p.Every:
		_, err = l.checkpointLocked()
	case timed && p.Interval > 0 && !l.unsealedSince.IsZero() && time.Since(l.unsealedSince) >= p.Interval:
		_, err = l.checkpointLocked()
	}
	if err != nil {
		if !timed {
			l.retryAt = l.seq + max(p.Every, 1)
		}
		return err
	}
	l.retryAt = 0
	return nil
}

// rotateLocked closes the current segment with a checkpoint (unless its
// last entry is one) and starts the next one with a checkpoint over that.
// The new segment appears whole: its first line is written to a temporary
// file, fsynced, and linked into place, so that no segment after the first
// ever lacks its opening checkpoint, even after a crash.
func (l *Log) rotateLocked() error {
	if err := l.usableLocked(); err != nil {
		return err
	}
	if l.seq == 0 {
		return nil
	}
	if l.seq != l.ckptSeq {
		if _, err := l.checkpointLocked(); err != nil {
			return err
		}
	}
	c, e, line, err := l.signLocked()
	if err != nil {
		return err
	}
	next := l.segNum + 1
	path := filepath.Join(l.dir, segmentName(next))
	tmp := path + ".new"
	if err := writeNewFile(tmp, line); err != nil {
		return err
	}
	// link(2) rather than rename(2): it refuses to replace a file that is
	// already there.
	err = os.Link(tmp, path)
	os.Remove(tmp)
	if err != nil {
		return fmt.Errorf("audit: start segment %s: %w", path, err)
	}
	// From here on the new segment may exist: failures are for good.
	if err := syncDir(l.dir); err != nil {
		l.failed = err
		return fmt.Errorf("audit: %w: %w", ErrFailed, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		l.failed = err
		return fmt.Errorf("audit: %w: %w", ErrFailed, err)
	}
	l.f.Close()
	l.f, l.path, l.segNum, l.segSize, l.segFirstSeq = f, path, next, 0, 0
	l.advanceLocked(e, &c, len(line))
	return nil
}

// writeNewFile writes b to a new file at path (replacing a stale one) and
// fsyncs it.
func writeNewFile(path string, b []byte) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("audit: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("audit: write %s: %w", path, err)
	}
	return nil
}

// Close writes a last checkpoint if a signer is set and entries follow the
// last checkpoint, then closes the segment and releases the directory lock.
// Close the log before the HSM that holds the signer. Appends after Close
// return ErrClosed; closing twice is a no-op. The log is closed even when
// the checkpoint fails; the error says so.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed || l.closing {
		l.mu.Unlock()
		return nil
	}
	l.closing = true
	stop := l.stop
	l.stop = nil
	l.mu.Unlock()
	if stop != nil {
		close(stop)
		l.ticker.Wait()
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	if l.signer != nil && l.failed == nil && l.f != nil && l.seq > l.ckptSeq {
		if _, err := l.checkpointLocked(); err != nil {
			errs = append(errs, fmt.Errorf("audit: last checkpoint: %w", err))
		}
	}
	l.closed = true
	if err := l.closeFiles(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// closeFiles closes the segment and the lock file (which releases the
// flock).
func (l *Log) closeFiles() error {
	var err error
	if l.f != nil {
		if cerr := l.f.Close(); cerr != nil && l.failed == nil {
			err = fmt.Errorf("audit: close %s: %w", l.path, cerr)
		}
		l.f = nil
	}
	if l.lock != nil {
		l.lock.Close()
		l.lock = nil
	}
	return err
}
