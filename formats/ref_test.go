package formats

import (
	"bufio"
	"fmt"
	"io"
	"time"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/convert"
	"github.com/dataprep/dataprep/formats/input"
	"github.com/dataprep/dataprep/formats/profile"
)

// prepareSequential is Prepare as it was before it ran in batches on
// several goroutines: one record at a time on the caller's goroutine. The
// differential tests hold Prepare to it.
//
// It reads issuer records from r per ip, validates them, converts the
// good ones per ml and writes them to w, calling reject (if not nil) for
// each bad record. It never holds more than one record: memory does not
// grow with the file.
//
// Errors: a structural problem with the input (wrapping input.ErrLineTooLong,
// input.ErrNUL, input.ErrUTF8, input.ErrHeader, input.ErrSyntax), a write
// error, ErrNoRecords, or ErrFileRejected when ip rejects whole files. When
// Prepare returns an error, what it wrote to w is partial and must be
// discarded; under reject = "file" it stops writing at the first reject but
// reads on, so that the issuer's report lists every bad record.
func prepareSequential(r io.Reader, ip *profile.Issuer, ml *profile.Machine, opts Options, w io.Writer, reject func(card.RecordError)) (Counts, error) {
	var n Counts
	rd, err := input.New(r, ip)
	if err != nil {
		return n, err
	}
	if opts.JobDate.IsZero() {
		opts.JobDate = time.Now()
	}
	policy := ip.Policy(opts.JobDate)
	conv := convert.New(ml)
	bw := bufio.NewWriterSize(w, 64<<10)
	var first *card.RecordError
	bad := func(e *card.RecordError) {
		n.Rejected++
		if first == nil {
			first = e
		}
		if reject != nil {
			reject(*e)
		}
	}
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if re := recordError(err); re != nil {
			n.Read++
			bad(re)
			continue
		}
		if err != nil {
			return n, fmt.Errorf("formats: %w", err)
		}
		n.Read++
		if err := card.Validate(&rec, &policy); err != nil {
			if re := recordError(err); re != nil {
				bad(re)
				continue
			}
			return n, err
		}
		out := io.Writer(bw)
		if first != nil && ip.RejectsFile() {
			// The file will not be produced; convert anyway so that the
			// report lists records the machine layout refuses too.
			out = io.Discard
		}
		if err := conv.Write(out, &rec); err != nil {
			if re := recordError(err); re != nil {
				bad(re)
				continue
			}
			return n, fmt.Errorf("formats: writing: %w", err)
		}
		n.Accepted++
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("formats: writing: %w", err)
	}
	if n.Read == 0 {
		return n, ErrNoRecords
	}
	if first != nil && ip.RejectsFile() {
		return n, fmt.Errorf("%w: %d of %d records rejected, the first: %w", ErrFileRejected, n.Rejected, n.Read, first)
	}
	return n, nil
}
