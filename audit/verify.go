package audit

import (
	"bufio"
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

var (
	// ErrTampered means the log is not what Append wrote: an entry was
	// changed, removed, inserted, reordered or duplicated, a checkpoint's
	// signature does not verify, or a file is missing or out of place.
	// Verify's and Open's errors wrap it, with a *VerifyError that says
	// where.
	ErrTampered = errors.New("audit log tampered with")
	// ErrTruncated means the log does not extend a checkpoint kept outside
	// it (VerifyOptions.Against): it ends before the checkpoint's entry, or
	// holds another entry there, so its tail was cut off (and maybe written
	// anew). It is a kind of tampering: errors.Is(ErrTruncated, ErrTampered)
	// holds.
	ErrTruncated = fmt.Errorf("%w: tail cut off", ErrTampered)
	// ErrTorn means the last line of the last segment is incomplete (no
	// newline): what a crash in the middle of an Append leaves. Open cuts it
	// off, keeps it in a .torn file and records that in the log; Verify
	// reports it so that an auditor can tell it from tampering.
	ErrTorn = errors.New("audit log has a torn tail")
	// ErrNoLog means the directory holds no segment at all.
	ErrNoLog = errors.New("no audit log")
	// ErrPruned means a checkpoint given to VerifyWith covers entries that
	// were pruned, so the log can no longer show that it extends it.
	ErrPruned = errors.New("audit log pruned past the checkpoint")
)

// VerifyError says where the first bad entry of a log is and why.
// It unwraps to ErrTampered, ErrTruncated or ErrTorn.
type VerifyError struct {
	File   string // path of the segment file
	Line   int    // 1-based line in File; 0 when the file itself is the problem
	Seq    uint64 // the sequence number the entry there should have had
	Reason string // never contains field values, which could hold a PAN
	Err    error  // ErrTampered, ErrTruncated or ErrTorn
}

func (e *VerifyError) Error() string {
	at := e.File
	if e.Line > 0 {
		at += ":" + strconv.Itoa(e.Line)
	}
	what := "audit log broken"
	switch {
	case errors.Is(e.Err, ErrTorn):
		what = "audit log has a torn tail"
	case errors.Is(e.Err, ErrTruncated):
		what = "audit log cut off"
	}
	return fmt.Sprintf("%s at %s (seq %d): %s", what, at, e.Seq, e.Reason)
}

func (e *VerifyError) Unwrap() error { return e.Err }

// Report describes a verified log.
type Report struct {
	Entries uint64   // number of entries in the files (after pruning: those kept)
	First   uint64   // seq of the first entry: 1, or after pruning the first kept; 0 for an empty log
	Last    uint64   // seq of the last entry; 0 for an empty log
	Head    string   // hash of the last entry, GenesisHash when there is none
	Files   []string // the segment files read, in order

	Checkpoints       int         // checkpoint entries in the log
	LastCheckpoint    *Checkpoint // the last of them; nil when there is none
	Unsealed          uint64      // entries after the last checkpoint entry (all, without one)
	SignaturesChecked bool        // checkpoint signatures were checked (VerifyOptions.PublicKeys)
	Against           bool        // the log extends VerifyOptions.Against
}

// VerifyOptions are the trust anchors VerifyWith checks a log against.
type VerifyOptions struct {
	// PublicKeys are the checkpoint keys to trust. With none, checkpoints
	// are checked for form and position but not for their signatures.
	// Give every key the log was signed with, retired ones included.
	PublicKeys []crypto.PublicKey
	// Against is a checkpoint kept outside the log (see Checkpoint.Marshal,
	// LatestCheckpoint). The log must hold an entry at Against.Seq whose
	// hash is Against.Head, else ErrTruncated. With PublicKeys, its
	// signature is checked first.
	Against *Checkpoint
	// RequireCheckpoint fails, with ErrNoCheckpoint, a log that holds no
	// checkpoint at all.
	RequireCheckpoint bool
	// Origin, when set, is the only origin a checkpoint may name.
	Origin string
	// Each, when set, is called with every entry in log order once its
	// link (and, for a checkpoint, its signature) has been checked, so that
	// a reader gets the very bytes that were verified instead of reading
	// the files a second time. The verdict on the whole log is VerifyWith's
	// error: discard what Each collected unless it is nil.
	Each func(*Entry)
}

// Verify checks the whole log in dir, reading its files directly: it needs
// no running daemon and works on a copy. It checks every link, and every
// checkpoint entry for its form and for covering the entry before it, but
// not checkpoint signatures: VerifyWith with the public keys does.
func Verify(dir string) (Report, error) {
	return VerifyWith(dir, VerifyOptions{})
}

// VerifyWith checks the whole log in dir like Verify, and also every
// checkpoint's signature against o.PublicKeys, and that the log extends
// o.Against. It returns a nil error only when every segment present is in
// place and every line is a valid, correctly chained entry
// (audit/README.md lists the checks).
//
// Otherwise the error wraps ErrTampered (ErrTruncated for a cut-off tail),
// ErrTorn, ErrNoLog, ErrPruned, ErrNoCheckpoint, ErrInvalidCheckpoint (a bad
// o.Against), ErrUnsupportedKey, or is an I/O error; the first three come
// as a *VerifyError that names the first bad entry. With ErrTorn the Report
// covers the complete entries before the torn tail.
//
// What no verifier can see: entries after the last checkpoint that were
// edited or appended by hand, or cut off, unless o.Against covers them
// (Report.Unsealed says how many there are).
func VerifyWith(dir string, o VerifyOptions) (Report, error) {
	keys, err := newKeySet(o.PublicKeys)
	if err != nil {
		return Report{}, err
	}
	if a := o.Against; a != nil {
		if _, err := ParseCheckpoint(a.Marshal()); err != nil {
			return Report{}, fmt.Errorf("audit: checkpoint to verify against: %w", err)
		}
		if keys != nil {
			if reason := keys.verify(a); reason != "" {
				return Report{}, fmt.Errorf("audit: checkpoint to verify against: %w: %s", ErrInvalidCheckpoint, reason)
			}
		}
		if o.Origin != "" && a.Origin != o.Origin {
			return Report{}, fmt.Errorf("audit: checkpoint to verify against: %w: %s", ErrInvalidCheckpoint, reasonCkptOrigin)
		}
	}
	st, err := scan(dir, &chainState{keys: keys, origin: o.Origin, against: o.Against, onEntry: o.Each})
	if err != nil {
		return Report{}, err
	}
	rep := st.report()
	if a := o.Against; a != nil {
		switch {
		case st.againstFile == "" && a.Seq > st.seq:
			return rep, &VerifyError{File: st.files[len(st.files)-1], Seq: st.seq + 1, Err: ErrTruncated,
				Reason: fmt.Sprintf("the log ends at seq %d, before the entry %d the external checkpoint covers", st.seq, a.Seq)}
		case st.againstFile == "":
			return rep, fmt.Errorf("audit: %s: the external checkpoint covers seq %d, the log starts after seq %d: %w",
				dir, a.Seq, st.first-1, ErrPruned)
		case !st.againstOK:
			return rep, &VerifyError{File: st.againstFile, Line: st.againstLine, Seq: a.Seq, Err: ErrTruncated,
				Reason: "entry is not the one the external checkpoint covers: the log was cut there and written anew"}
		}
		rep.Against = true
	}
	if o.RequireCheckpoint && st.checkpoints == 0 {
		return rep, fmt.Errorf("audit: %s: %w", dir, ErrNoCheckpoint)
	}
	if st.torn != nil {
		return rep, st.torn.err
	}
	return rep, nil
}

// Segment file names: audit-000001.jsonl, audit-000002.jsonl, …
const (
	segPrefix = "audit-"
	segSuffix = ".jsonl"
)

func segmentName(n int) string { return fmt.Sprintf("%s%06d%s", segPrefix, n, segSuffix) }

// segmentNumber returns n for a name that is exactly segmentName(n), n ≥ 1.
func segmentNumber(name string) (int, bool) {
	num, ok := strings.CutPrefix(name, segPrefix)
	if !ok {
		return 0, false
	}
	num, ok = strings.CutSuffix(num, segSuffix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || segmentName(n) != name {
		return 0, false
	}
	return n, true
}

// listSegments returns the numbers of the segments in dir, sorted. It
// refuses a name that would hide a segment and a segment that is not a
// regular file; gaps are left to the scan, which knows the seq there.
func listSegments(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: read %s: %w", dir, err)
	}
	var segs []int
	for _, ent := range ents {
		name := ent.Name()
		n, ok := segmentNumber(name)
		if !ok {
			// A renamed segment would otherwise just disappear from view.
			if strings.HasPrefix(name, segPrefix) && strings.HasSuffix(name, segSuffix) {
				return nil, &VerifyError{File: filepath.Join(dir, name), Reason: "unexpected segment file name", Err: ErrTampered}
			}
			continue
		}
		if !ent.Type().IsRegular() {
			return nil, &VerifyError{File: filepath.Join(dir, name), Reason: "segment is not a regular file", Err: ErrTampered}
		}
		segs = append(segs, n)
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("audit: %s: %w", dir, ErrNoLog)
	}
	sort.Ints(segs)
	return segs, nil
}

// chainState is what a scan knows after the lines read so far.
type chainState struct {
	// Set before the scan.
	keys    keySet      // trusted checkpoint keys; nil: signatures not checked
	origin  string      // if set, the only origin a checkpoint may name
	against *Checkpoint // external checkpoint to look for
	anchor  bool        // the next line starts the chain (a pruned log, or Open's fast path)
	onEntry func(*Entry)

	files   []string
	entries uint64
	first   uint64 // seq of the first entry read
	seq     uint64
	hash    string
	time    time.Time
	torn    *tornTail
	event   string // event of the last entry

	checkpoints   int
	lastCkpt      *Checkpoint
	ckptSeq       uint64 // seq of the last checkpoint entry
	prunedThrough int    // highest last_segment of the audit.pruned entries

	againstFile string // where the entry at against.Seq is ("" if not seen)
	againstLine int
	againstOK   bool

	// The last segment read: its number, the seq and time of its first
	// entry, and the length of its complete lines.
	segNum       int
	segFirstSeq  uint64
	segFirstTime time.Time
	segSize      int64
}

// tornTail is an incomplete last line: its file, where it starts, its bytes,
// and the ErrTorn error Verify reports for it.
type tornTail struct {
	file   string
	offset int64
	data   []byte
	err    *VerifyError
}

// scan reads every segment of dir in order into st and checks the chain.
// A torn tail is not an error here: it is left in st.torn for Open to
// repair and for Verify to report.
func scan(dir string, st *chainState) (*chainState, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	st.hash = GenesisHash
	lowest := segs[0]
	if lowest > 1 {
		// Pruned: the first segment kept starts from a checkpoint, whose
		// signature (with keys) is the trust anchor for what follows.
		st.anchor = true
	} else if a := st.against; a != nil && a.Seq == 0 {
		st.noteAgainst(filepath.Join(dir, segmentName(1)), 0)
	}
	for i, n := range segs {
		if n != lowest+i {
			return nil, &VerifyError{File: filepath.Join(dir, segmentName(lowest+i)), Seq: st.seq + 1, Reason: "segment missing", Err: ErrTampered}
		}
		path := filepath.Join(dir, segmentName(n))
		if err := scanFile(path, st, segPos{num: n, last: i == len(segs)-1, startCkpt: n > 1}); err != nil {
			return nil, err
		}
	}
	if lowest > 1 && st.prunedThrough < lowest-1 {
		return nil, &VerifyError{File: filepath.Join(dir, segmentName(lowest)), Seq: st.first, Reason: reasonPrunedUnrecorded, Err: ErrTampered}
	}
	return st, nil
}

// segPos says where the bytes scanSegment reads are.
type segPos struct {
	num       int   // segment number
	last      bool  // the last segment: may end torn, and need not end in a checkpoint
	startCkpt bool  // line 1 must be a checkpoint (every segment but number 1)
	off       int64 // offset in the file of the first byte read
	line      int   // lines in the file before the first byte read
}

func scanFile(path string, st *chainState, pos segPos) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	if pos.off > 0 {
		if _, err := f.Seek(pos.off, io.SeekStart); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	st.files = append(st.files, path)
	return scanSegment(f, path, st, pos)
}

// scanSegment checks the lines of one segment read from r. path is only used
// in errors.
func scanSegment(r io.Reader, path string, st *chainState, pos segPos) error {
	// The buffer holds a whole line, newline included, so ReadSlice either
	// returns a complete line or reports one that is too long.
	br := bufio.NewReaderSize(r, MaxLineLen)
	off := pos.off
	lineNo := pos.line
	st.segNum, st.segSize, st.segFirstSeq, st.segFirstTime = pos.num, off, 0, time.Time{}
	for {
		line, err := br.ReadSlice('\n')
		first := lineNo == 0
		switch {
		case err == nil:
		case errors.Is(err, bufio.ErrBufferFull):
			return &VerifyError{File: path, Line: lineNo + 1, Seq: st.seq + 1, Reason: reasonTooLong, Err: ErrTampered}
		case errors.Is(err, io.EOF) && len(line) == 0:
			switch {
			case first && !pos.last:
				return &VerifyError{File: path, Seq: st.seq + 1, Reason: "empty segment before the last one", Err: ErrTampered}
			case first && pos.startCkpt:
				return &VerifyError{File: path, Seq: st.seq + 1, Reason: reasonSegNoStartCkpt, Err: ErrTampered}
			case !pos.last && st.event != EventCheckpoint:
				return &VerifyError{File: path, Line: lineNo, Seq: st.seq, Reason: reasonSegNoEndCkpt, Err: ErrTampered}
			}
			return nil
		case errors.Is(err, io.EOF):
			lineNo++
			if !pos.last {
				return &VerifyError{File: path, Line: lineNo, Seq: st.seq + 1,
					Reason: "line without newline at the end of a segment that is not the last", Err: ErrTampered}
			}
			if first && pos.startCkpt {
				// A new segment appears (by rename) with its first
				// line complete, so this is no crash.
				return &VerifyError{File: path, Line: lineNo, Seq: st.seq + 1, Reason: reasonSegNoStartCkpt, Err: ErrTampered}
			}
			st.torn = &tornTail{file: path, offset: off, data: append([]byte(nil), line...),
				err: &VerifyError{File: path, Line: lineNo, Seq: st.seq + 1,
					Reason: fmt.Sprintf("%d bytes after the last complete entry, without newline", len(line)), Err: ErrTorn}}
			return nil
		default:
			return fmt.Errorf("audit: read %s: %w", path, err)
		}
		lineNo++
		if reason := st.next(line[:len(line)-1], path, lineNo, first && pos.startCkpt); reason != "" {
			return &VerifyError{File: path, Line: lineNo, Seq: st.seq + 1, Reason: reason, Err: ErrTampered}
		}
		off += int64(len(line))
		st.segSize = off
	}
}

// next checks one line against the chain so far and advances the chain.
// mustCheckpoint says the line is the first of a segment after the first.
func (st *chainState) next(line []byte, path string, lineNo int, mustCheckpoint bool) string {
	e, reason := parseLine(line)
	if reason != "" {
		return reason
	}
	if (mustCheckpoint || st.anchor) && e.Event != EventCheckpoint {
		return reasonSegNoStartCkpt
	}
	if st.anchor {
		// The chain starts here: the checkpoint says what came before,
		// and its signature (checked below, with keys) vouches for it.
		if e.Seq == 0 {
			return reasonCkptSeq
		}
		st.anchor = false
		st.seq, st.hash = e.Seq-1, e.Prev
		if st.against != nil && st.against.Seq == st.seq {
			st.noteAgainst(path, lineNo)
		}
	}
	if want := st.seq + 1; e.Seq != want {
		return fmt.Sprintf("seq is %d, want %d", e.Seq, want)
	}
	if e.Prev != st.hash {
		return reasonPrev
	}
	if e.Time.Before(st.time) {
		return reasonTimeBackwards
	}
	switch e.Event {
	case EventCheckpoint:
		c, reason := checkpointOf(&e)
		if reason != "" {
			return reason
		}
		if st.keys != nil {
			if reason := st.keys.verify(&c); reason != "" {
				return reason
			}
		}
		if st.origin != "" && c.Origin != st.origin {
			return reasonCkptOrigin
		}
		st.checkpoints++
		st.lastCkpt, st.ckptSeq = &c, e.Seq
	case EventPruned:
		through, ok := prunedThrough(&e)
		if !ok {
			return reasonPrunedMalformed
		}
		st.prunedThrough = max(st.prunedThrough, through)
	}
	if st.first == 0 {
		st.first = e.Seq
	}
	if st.segFirstSeq == 0 {
		st.segFirstSeq, st.segFirstTime = e.Seq, e.Time
	}
	st.seq, st.hash, st.time, st.event = e.Seq, e.Hash, e.Time, e.Event
	st.entries++
	if st.against != nil && st.against.Seq == st.seq {
		st.noteAgainst(path, lineNo)
	}
	if st.onEntry != nil {
		st.onEntry(&e)
	}
	return ""
}

// noteAgainst records that the chain is at the external checkpoint's seq.
func (st *chainState) noteAgainst(path string, line int) {
	st.againstFile, st.againstLine = path, line
	st.againstOK = st.hash == st.against.Head
}

func (st *chainState) report() Report {
	r := Report{
		Entries: st.entries, First: st.first, Last: st.seq, Head: st.hash, Files: st.files,
		Checkpoints: st.checkpoints, Unsealed: st.entries, SignaturesChecked: st.keys != nil,
	}
	if st.entries == 0 {
		r.Last = 0
	}
	if st.lastCkpt != nil {
		c := *st.lastCkpt
		r.LastCheckpoint = &c
		r.Unsealed = st.seq - st.ckptSeq
	}
	return r
}

// openFast is Open's quick start: it trusts the last checkpoint of the last
// segment when one of keys signed it, and checks only the entries from there
// on. It reports ok=false when that is not possible (no such checkpoint, or
// one that does not verify or is not where its seq says), and the caller
// scans the whole log instead.
//
// The checkpoint must sit where it belongs: its line number fits its seq
// (counted from the segment's first entry), and the line before it (the
// last line of the segment before, for a segment's first line) is the entry
// it covers, with the signed seq and hash. A copy of an old checkpoint
// appended to the log therefore does not make Open continue from it.
func openFast(dir string, keys keySet) (st *chainState, ok bool, err error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, false, err
	}
	for i := 1; i < len(segs); i++ {
		if segs[i] != segs[0]+i {
			return nil, false, nil // a gap: the full scan says where
		}
	}
	n := segs[len(segs)-1]
	path := filepath.Join(dir, segmentName(n))
	ck, err := lastCheckpointLine(path)
	if err != nil || ck.line == nil {
		return nil, false, err
	}
	e, reason := parseLine(ck.line)
	if reason != "" {
		return nil, false, nil
	}
	c, reason := checkpointOf(&e)
	if reason != "" || keys.verify(&c) != "" {
		return nil, false, nil
	}
	first := e
	if ck.lineNo > 1 {
		l, err := firstLine(path)
		if err != nil {
			return nil, false, nil
		}
		if first, reason = parseLine(l); reason != "" {
			return nil, false, nil
		}
	}
	if first.Seq+uint64(ck.lineNo-1) != e.Seq {
		return nil, false, nil
	}
	covered := ck.prev
	switch {
	case ck.lineNo == 1 && n == segs[0] && n == 1:
		// The log's first entry: a checkpoint of the empty log.
		if c.Seq != 0 || c.Head != GenesisHash {
			return nil, false, nil
		}
	case ck.lineNo == 1 && n == segs[0]:
		// The first segment kept after pruning: nothing before it.
	case ck.lineNo == 1:
		last, err := lastCheckpointLine(filepath.Join(dir, segmentName(n-1)))
		if err != nil {
			return nil, false, err
		}
		covered = last.last
	}
	if ck.lineNo > 1 || n != segs[0] {
		ce, reason := parseLine(covered)
		if reason != "" || ce.Seq != c.Seq || ce.Hash != c.Head {
			return nil, false, nil
		}
	}

	st = &chainState{keys: keys, anchor: true, hash: GenesisHash}
	if err := scanFile(path, st, segPos{num: n, last: true, startCkpt: true, off: ck.off, line: ck.lineNo - 1}); err != nil {
		return nil, true, err
	}
	// The age of the segment counts from its first entry.
	st.segFirstSeq, st.segFirstTime = first.Seq, first.Time
	return st, true, nil
}

// segmentLines is what lastCheckpointLine finds in a segment.
type segmentLines struct {
	off    int64  // offset of the last checkpoint line
	lineNo int    // its 1-based line number
	line   []byte // the last line that starts like a checkpoint entry; nil if none
	prev   []byte // the line before it
	last   []byte // the last complete line of the segment
}

// lastCheckpointLine reads the segment at path and returns its last
// complete line that starts like a checkpoint entry, where it is, and the
// line before it (lines without their newline). Reading a segment this way
// costs no hashing: it only looks at line starts.
func lastCheckpointLine(path string) (segmentLines, error) {
	f, err := os.Open(path)
	if err != nil {
		return segmentLines{}, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, MaxLineLen)
	var r segmentLines
	var pos int64
	n := 0
	for {
		l, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, bufio.ErrBufferFull) {
				return r, nil
			}
			return segmentLines{}, fmt.Errorf("audit: read %s: %w", path, err)
		}
		n++
		if isCheckpointLine(l) {
			r.off, r.lineNo = pos, n
			r.line = append(r.line[:0], l[:len(l)-1]...)
			r.prev = append(r.prev[:0], r.last...)
		}
		r.last = append(r.last[:0], l[:len(l)-1]...)
		pos += int64(len(l))
	}
}

// firstLine returns the first line of a file, without its newline.
func firstLine(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	l, err := bufio.NewReaderSize(f, MaxLineLen).ReadSlice('\n')
	if err != nil {
		return nil, &VerifyError{File: path, Line: 1, Reason: "first line incomplete", Err: ErrTampered}
	}
	return bytes.Clone(l[:len(l)-1]), nil
}

// LatestCheckpoint returns the last checkpoint in the log in dir, reading
// the files directly: the daemon may be running or stopped. It checks the
// checkpoint entry's form and hash, not its signature (Checkpoint.Verify
// does) nor the rest of the log (VerifyWith does). The error wraps
// ErrNoCheckpoint when the log has none, ErrNoLog, or ErrTampered for a
// malformed checkpoint entry.
//
// This is what `dataprep audit checkpoint export` writes out, with
// Checkpoint.Marshal, for a store the daemon cannot write.
func LatestCheckpoint(dir string) (Checkpoint, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return Checkpoint{}, err
	}
	for i := len(segs) - 1; i >= 0; i-- {
		path := filepath.Join(dir, segmentName(segs[i]))
		ck, err := lastCheckpointLine(path)
		if err != nil {
			return Checkpoint{}, err
		}
		if ck.line == nil {
			continue
		}
		lineNo := ck.lineNo
		e, reason := parseLine(ck.line)
		var c Checkpoint
		if reason == "" {
			c, reason = checkpointOf(&e)
		}
		if reason != "" {
			return Checkpoint{}, &VerifyError{File: path, Line: lineNo, Seq: e.Seq, Reason: reason, Err: ErrTampered}
		}
		return c, nil
	}
	return Checkpoint{}, fmt.Errorf("audit: %s: %w", dir, ErrNoCheckpoint)
}
