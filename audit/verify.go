package audit

import (
	"bufio"
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
	// changed, removed, inserted, reordered or duplicated, or a file is
	// missing or out of place. Verify's and Open's errors wrap it, with a
	// *VerifyError that says where.
	ErrTampered = errors.New("audit log tampered with")
	// ErrTorn means the last line of the last segment is incomplete (no
	// newline): what a crash in the middle of an Append leaves. Open cuts it
	// off, keeps it in a .torn file and records that in the log; Verify
	// reports it so that an auditor can tell it from tampering.
	ErrTorn = errors.New("audit log has a torn tail")
	// ErrNoLog means the directory holds no segment at all.
	ErrNoLog = errors.New("no audit log")
)

// VerifyError says where the first bad entry of a log is and why.
// It unwraps to ErrTampered or ErrTorn.
type VerifyError struct {
	File   string // path of the segment file
	Line   int    // 1-based line in File; 0 when the file itself is the problem
	Seq    uint64 // the sequence number the entry there should have had
	Reason string // never contains field values, which could hold a PAN
	Err    error  // ErrTampered or ErrTorn
}

func (e *VerifyError) Error() string {
	at := e.File
	if e.Line > 0 {
		at += ":" + strconv.Itoa(e.Line)
	}
	what := "audit log broken"
	if errors.Is(e.Err, ErrTorn) {
		what = "audit log has a torn tail"
	}
	return fmt.Sprintf("%s at %s (seq %d): %s", what, at, e.Seq, e.Reason)
}

func (e *VerifyError) Unwrap() error { return e.Err }

// Report describes a verified log.
type Report struct {
	Entries uint64   // number of entries
	Head    string   // hash of the last entry, GenesisHash when there is none
	Files   []string // the segment files read, in order
}

// Verify checks the whole log in dir, reading its files directly: it needs
// no running daemon and works on a copy. It returns a nil error only when
// every segment is present and every line is a valid, correctly chained
// entry (audit/README.md lists the checks).
//
// Otherwise the error wraps ErrTampered, ErrTorn or ErrNoLog, or is an I/O
// error; the first two come as a *VerifyError for the first bad entry. With
// ErrTorn the Report covers the complete entries before the torn tail.
//
// Verify cannot tell a log that was cut short or rewritten from its first
// changed entry onwards from a genuine one; signed checkpoints (issue 5) will.
func Verify(dir string) (Report, error) {
	st, err := scan(dir)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Entries: st.entries, Head: st.hash, Files: st.files}
	if st.torn != nil {
		return rep, st.torn.err
	}
	return rep, nil
}

// Segment file names: audit-000001.jsonl, audit-000002.jsonl, … Issue 5
// adds rotation; until then Open writes to the last segment only.
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

// chainState is what a scan knows after the lines read so far.
type chainState struct {
	files   []string
	entries uint64
	seq     uint64
	hash    string
	time    time.Time
	torn    *tornTail
}

// tornTail is an incomplete last line: its file, where it starts, its bytes,
// and the ErrTorn error Verify reports for it.
type tornTail struct {
	file   string
	offset int64
	data   []byte
	err    *VerifyError
}

// scan reads every segment of dir in order and checks the chain. A torn
// tail is not an error here: it is left in st.torn for Open to repair and
// for Verify to report.
func scan(dir string) (*chainState, error) {
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

	st := &chainState{hash: GenesisHash}
	for i, n := range segs {
		if n != i+1 {
			return nil, &VerifyError{File: filepath.Join(dir, segmentName(i+1)), Seq: st.seq + 1, Reason: "segment missing", Err: ErrTampered}
		}
		path := filepath.Join(dir, segmentName(n))
		if err := scanFile(path, st, i == len(segs)-1); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func scanFile(path string, st *chainState, last bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	st.files = append(st.files, path)
	return scanSegment(f, path, st, last)
}

// scanSegment checks the lines of one segment read from r. path is only used
// in errors. last says whether this is the last segment, the only one that
// may be empty or end in a torn line.
func scanSegment(r io.Reader, path string, st *chainState, last bool) error {
	// The buffer holds a whole line, newline included, so ReadSlice either
	// returns a complete line or reports one that is too long.
	br := bufio.NewReaderSize(r, MaxLineLen)
	var off int64
	lineNo := 0
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
		case errors.Is(err, bufio.ErrBufferFull):
			return &VerifyError{File: path, Line: lineNo + 1, Seq: st.seq + 1, Reason: reasonTooLong, Err: ErrTampered}
		case errors.Is(err, io.EOF) && len(line) == 0:
			if lineNo == 0 && !last {
				return &VerifyError{File: path, Seq: st.seq + 1, Reason: "empty segment before the last one", Err: ErrTampered}
			}
			return nil
		case errors.Is(err, io.EOF):
			lineNo++
			if !last {
				return &VerifyError{File: path, Line: lineNo, Seq: st.seq + 1,
					Reason: "line without newline at the end of a segment that is not the last", Err: ErrTampered}
			}
			st.torn = &tornTail{file: path, offset: off, data: append([]byte(nil), line...),
				err: &VerifyError{File: path, Line: lineNo, Seq: st.seq + 1,
					Reason: fmt.Sprintf("%d bytes after the last complete entry, without newline", len(line)), Err: ErrTorn}}
			return nil
		default:
			return fmt.Errorf("audit: read %s: %w", path, err)
		}
		lineNo++
		if reason := st.next(line[:len(line)-1]); reason != "" {
			return &VerifyError{File: path, Line: lineNo, Seq: st.seq + 1, Reason: reason, Err: ErrTampered}
		}
		off += int64(len(line))
	}
}

// next checks one line against the chain so far and advances the chain.
func (st *chainState) next(line []byte) string {
	e, reason := parseLine(line)
	if reason != "" {
		return reason
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
	// Issue 5: an EventCheckpoint entry gets its HSM signature over
	// (Seq, Prev) checked here.
	st.seq, st.hash, st.time = e.Seq, e.Hash, e.Time
	st.entries++
	return ""
}
