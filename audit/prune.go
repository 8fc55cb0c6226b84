package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The detail keys of an EventPruned entry.
const (
	prBefore       = "before"
	prFirstSegment = "first_segment"
	prLastSegment  = "last_segment"
	prFirstSeq     = "first_seq"
	prLastSeq      = "last_seq"
)

// PruneResult says what Prune removed.
type PruneResult struct {
	Removed  []string // paths of the segment files removed, oldest first
	FirstSeq uint64   // seq of the first entry removed; 0 when nothing was
	LastSeq  uint64   // seq of the last entry removed
	Record   Entry    // the EventPruned entry written; zero when nothing was removed
}

// Prune opens the log in dir (so the daemon must be stopped: ErrLocked
// otherwise), prunes it like Log.Prune, and closes it. A daemon that has the
// log open calls Log.Prune instead.
func Prune(dir string, before time.Time, keep func(e Entry) bool) (PruneResult, error) {
	l, err := Open(dir)
	if err != nil {
		return PruneResult{}, err
	}
	res, err := l.Prune(before, keep)
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	return res, err
}

// Prune removes the oldest segments of the log, whole, as long as every
// entry in them is older than before and keep (if not nil) returns false
// for each of them: keep is how per-kind retention holds a segment back
// (e.g. card destruction records for 18 months). It stops at the first
// segment that must stay, and never removes the segment being written, so
// the log stays one unbroken chain that starts, after pruning, from the
// signed checkpoint that opens the first segment kept.
//
// Before removing anything it checks the segments it reads (links and
// checkpoint form; not signatures) and refuses a broken log with
// ErrTampered: pruning must not destroy evidence of tampering. Then it
// appends an EventPruned entry naming the segments and seqs (durable
// before any file goes, so that Verify can tell pruning from deletion),
// removes the files oldest first and syncs the directory. If removing fails
// half way, the entry says more than was done; a later Prune finishes.
//
// Segments exist only with a signer and a policy that rotates
// (MaxSegmentSize or MaxSegmentAge); without rotation there is nothing to
// prune.
func (l *Log) Prune(before time.Time, keep func(e Entry) bool) (PruneResult, error) {
	l.pruneMu.Lock()
	defer l.pruneMu.Unlock()
	l.mu.Lock()
	err := l.usableLocked()
	cur := l.segNum
	l.mu.Unlock()
	if err != nil {
		return PruneResult{}, err
	}

	// The segments before cur are closed: only the writer of cur appends,
	// and it holds the lock that Open took. They can be read unlocked.
	segs, err := listSegments(l.dir)
	if err != nil {
		return PruneResult{}, err
	}
	lowest := segs[0]
	st := &chainState{hash: GenesisHash, anchor: lowest > 1}
	var res PruneResult
	last := lowest - 1 // last segment to remove
	stillRemovable := true
	for i, n := range segs {
		if n >= cur {
			break
		}
		path := filepath.Join(l.dir, segmentName(n))
		if n != lowest+i {
			return PruneResult{}, &VerifyError{File: path, Seq: st.seq + 1, Reason: "segment missing", Err: ErrTampered}
		}
		old := true
		st.onEntry = func(e *Entry) {
			if !e.Time.Before(before) || (keep != nil && keep(*e)) {
				old = false
			}
		}
		if err := scanFile(path, st, segPos{num: n, startCkpt: n > 1}); err != nil {
			return PruneResult{}, fmt.Errorf("audit: prune: %w", err)
		}
		if !old {
			// This segment stays; having read it, its link to the
			// segments before it is checked too.
			stillRemovable = false
			break
		}
		if res.FirstSeq == 0 {
			res.FirstSeq = st.segFirstSeq
		}
		res.LastSeq = st.seq
		res.Removed = append(res.Removed, path)
		last = n
	}
	if len(res.Removed) == 0 {
		return PruneResult{}, nil
	}
	if stillRemovable {
		// Every closed segment goes: the one being written must begin
		// with a checkpoint over the last entry removed.
		path := filepath.Join(l.dir, segmentName(last+1))
		line, err := firstLine(path)
		if err != nil {
			return PruneResult{}, fmt.Errorf("audit: prune: %w", err)
		}
		st.onEntry = nil
		if reason := st.next(line, path, 1, true); reason != "" {
			return PruneResult{}, fmt.Errorf("audit: prune: %w",
				&VerifyError{File: path, Line: 1, Seq: st.seq + 1, Reason: reason, Err: ErrTampered})
		}
	}

	rec := Entry{Event: EventPruned, Detail: map[string]string{
		prBefore:       before.UTC().Format(timeLayout),
		prFirstSegment: strconv.Itoa(lowest),
		prLastSegment:  strconv.Itoa(last),
		prFirstSeq:     strconv.FormatUint(res.FirstSeq, 10),
		prLastSeq:      strconv.FormatUint(res.LastSeq, 10),
	}}
	l.mu.Lock()
	if l.segNum <= last { // cannot happen: segments only ever get added
		l.mu.Unlock()
		return PruneResult{}, fmt.Errorf("audit: prune: segment %d is being written", l.segNum)
	}
	rec, err = l.appendLocked(rec)
	l.mu.Unlock()
	if err != nil {
		return PruneResult{}, err
	}
	res.Record = rec
	for i, path := range res.Removed {
		if err := os.Remove(path); err != nil {
			res.Removed = res.Removed[:i]
			return res, fmt.Errorf("audit: prune: %w", err)
		}
	}
	return res, syncDir(l.dir)
}

// prunedThrough checks the form of an EventPruned entry and returns the
// last segment it removes.
func prunedThrough(e *Entry) (int, bool) {
	if e.Outcome != "" || e.Actor != "" || e.OSUser != "" || e.Approver != "" || e.Job != "" ||
		e.Issuer != "" || e.Request != "" || e.Machine != "" || len(e.Detail) != 5 {
		return 0, false
	}
	d := e.Detail
	if t, err := time.Parse(timeLayout, d[prBefore]); err != nil || t.Format(timeLayout) != d[prBefore] {
		return 0, false
	}
	firstSeg, ok1 := parseDecimal(d[prFirstSegment])
	lastSeg, ok2 := parseDecimal(d[prLastSegment])
	firstSeq, ok3 := parseDecimal(d[prFirstSeq])
	lastSeq, ok4 := parseDecimal(d[prLastSeq])
	if !ok1 || !ok2 || !ok3 || !ok4 || firstSeg < 1 || lastSeg < firstSeg || lastSeg > 1<<30 ||
		firstSeq < 1 || lastSeq < firstSeq || lastSeq >= e.Seq {
		return 0, false
	}
	return int(lastSeg), true
}
