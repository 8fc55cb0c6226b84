// Package formats turns a decrypted issuer file into a machine's production
// file: it reads issuer records per the issuer profile (formats/input),
// validates each (formats/card), and converts it per the machine profile
// (formats/convert), streaming: records go in batches over the cores and
// come out in file order (batch.go), and memory does not grow with the
// file.
//
// The packages below it hold one thing each: card (the record and its
// rules), tlv (BER-TLV), track (ISO 7813), emboss (ISO 7811), cps (EMV CPS
// DGIs), profile (the TOML profiles), input, convert, and testgen
// (synthetic files).
package formats

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/input"
	"github.com/dataprep/dataprep/formats/profile"
)

// Sentinel errors, for errors.Is.
var (
	// ErrFileRejected: the issuer profile says any reject fails the whole
	// file (reject = "file"), and at least one record was rejected. The
	// error also wraps the first record's *card.RecordError.
	ErrFileRejected = errors.New("formats: file rejected")
	// ErrNoRecords: the file held no records at all.
	ErrNoRecords = errors.New("formats: no records in the file")
)

// Options are the per-job settings.
type Options struct {
	// JobDate is the date expiry is checked against; zero means now.
	JobDate time.Time

	// batchBytes caps a batch's record data; zero means the default.
	// Tests make it tiny so that batch boundaries fall everywhere.
	batchBytes int
}

// Counts are what a preparation saw. Read = Accepted + Rejected.
type Counts struct{ Read, Accepted, Rejected int }

// Prepare reads issuer records from r per ip, validates them, converts the
// good ones per ml and writes them to w, calling reject (if not nil) for
// each bad record, in file order and on the caller's goroutine.
//
// The records are framed on one goroutine and filled, validated and
// converted in batches on several (see batch.go); the output, the counts,
// the rejects and the errors are those of one record at a time, in file
// order, except after a write error: then Prepare stops at the batch that
// failed to be written, and the counts and rejects cover the records up
// to it. Memory is bounded by the batches in flight: it does not grow with
// the file.
//
// Errors: a structural problem with the input (wrapping input.ErrLineTooLong,
// input.ErrNUL, input.ErrUTF8, input.ErrHeader, input.ErrSyntax), a write
// error, ErrNoRecords, or ErrFileRejected when ip rejects whole files. When
// Prepare returns an error, what it wrote to w is partial and must be
// discarded; under reject = "file" it stops writing at the first reject but
// reads on, so that the issuer's report lists every bad record. Prepare
// returns only once its goroutines are done with r.
func Prepare(r io.Reader, ip *profile.Issuer, ml *profile.Machine, opts Options, w io.Writer, reject func(card.RecordError)) (Counts, error) {
	var n Counts
	rd, err := input.NewFramer(r, ip)
	if err != nil {
		return n, err
	}
	if opts.JobDate.IsZero() {
		opts.JobDate = time.Now()
	}
	bp := startBatches(rd, ip.Policy(opts.JobDate), ml, opts.batchBytes)
	defer bp.stop()

	rejectsFile := ip.RejectsFile()
	var first *card.RecordError
	for b := range bp.done() {
		// Under reject = "file" nothing is written after the first reject:
		// the file will not be produced, but every record is still
		// converted so that the report lists what the layout refuses too.
		stopped := first != nil && rejectsFile
		limit := len(b.out)
		for i := range b.items {
			it := &b.items[i]
			n.Read++
			if it.err == nil {
				n.Accepted++
				continue
			}
			re := recordError(it.err)
			if re == nil {
				return n, it.err
			}
			n.Rejected++
			if first == nil {
				first = re
				if rejectsFile && !stopped {
					limit = it.end
				}
			}
			if reject != nil {
				reject(*re)
			}
		}
		if b.fatal != nil {
			// The output is void: write no more of it.
			return n, fmt.Errorf("formats: %w", b.fatal)
		}
		if !stopped && limit > 0 {
			if _, err := w.Write(b.out[:limit]); err != nil {
				return n, fmt.Errorf("formats: writing: %w", err)
			}
		}
		bp.recycle(b)
	}
	if n.Read == 0 {
		return n, ErrNoRecords
	}
	if first != nil && rejectsFile {
		return n, fmt.Errorf("%w: %d of %d records rejected, the first: %w", ErrFileRejected, n.Rejected, n.Read, first)
	}
	return n, nil
}

// recordError returns err as a *card.RecordError, or nil. The type switch
// comes first: errors.As would make its target escape, one allocation per
// record.
func recordError(err error) *card.RecordError {
	if err == nil {
		return nil
	}
	if re, ok := err.(*card.RecordError); ok {
		return re
	}
	var re *card.RecordError
	if errors.As(err, &re) {
		return re
	}
	return nil
}
