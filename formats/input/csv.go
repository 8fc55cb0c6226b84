package input

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/dataprep/dataprep/formats/card"
)

// quotedCSV reads RFC 4180 CSV with encoding/csv. encoding/csv has no
// limit on a record's size, so it reads through guard, which enforces one.
type quotedCSV struct {
	base
	g       *guard
	cr      *csv.Reader
	index   []int
	started bool
}

func newCSV(r io.Reader, b base) *quotedCSV {
	g := &guard{r: r, max: b.ip.MaxLine, latin1: b.ip.Charset == "iso-8859-1"}
	cr := csv.NewReader(g)
	cr.Comma = b.ip.Delimiter()
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1 // counted against the header below, per record
	return &quotedCSV{base: b, g: g, cr: cr}
}

func (c *quotedCSV) Next() (card.Record, error) {
	if c.fatal != nil {
		return card.Record{}, c.fatal
	}
	for {
		fields, err := c.cr.Read()
		var wrongCount bool
		if errors.Is(err, csv.ErrFieldCount) {
			// The record is intact, only its field count differs from
			// the header's: reject it alone.
			wrongCount, err = true, nil
		}
		if err != nil {
			var pe *csv.ParseError
			switch {
			case err == io.EOF:
				c.fatal = io.EOF
			case c.g.err != nil:
				c.fatal = c.g.err
			case errors.As(err, &pe):
				c.fatal = fmt.Errorf("line %d: %w: %v", pe.StartLine, ErrSyntax, pe.Err)
			default:
				c.fatal = err
			}
			return card.Record{}, c.fatal
		}
		// FieldPos panics unless a record was read: only now is it safe.
		line, _ := c.cr.FieldPos(0)
		for _, f := range fields {
			if c.g.latin1 {
				break // transcoded by the guard: valid by construction
			}
			if !utf8.ValidString(f) {
				c.fatal = fmt.Errorf("line %d: %w", line, ErrUTF8)
				return card.Record{}, c.fatal
			}
		}
		if !c.started {
			c.started = true
			idx, err := columns(c.ip, c.maps, fields)
			if err != nil {
				c.fatal = fmt.Errorf("line %d: %w", line, err)
				return card.Record{}, c.fatal
			}
			c.index = idx
			if c.ip.CSV.Header {
				c.cr.FieldsPerRecord = len(fields)
				continue
			}
		}
		rec, err := fill(&c.base, line, c.index, fields)
		if wrongCount {
			err = card.Reject(&rec, "record", card.ErrFieldCount, fmt.Sprintf("%d fields, the header has %d", len(fields), c.cr.FieldsPerRecord))
		}
		return rec, err
	}
}

var nl, quote = []byte{'\n'}, []byte{'"'}

// guard sits under encoding/csv. It transcodes ISO-8859-1 to UTF-8,
// refuses NUL bytes, and caps how many bytes a record may span: it tracks
// whether it is inside quotes (RFC 4180 quoting toggles on every '"', with
// "" toggling twice) and counts bytes since the last newline outside
// quotes.
type guard struct {
	r      io.Reader
	max    int
	latin1 bool
	run    int
	quoted bool
	line   int
	buf    []byte
	conv   []byte
	pend   []byte // transcoded, not yet handed out
	rerr   error  // the underlying reader's error, once pend is drained
	err    error
}

func (g *guard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	var n int
	var err error
	if g.latin1 {
		// Transcode a block, then hand it out as p allows: one input byte
		// may become two, so p's size cannot bound the read.
		if len(g.pend) == 0 && g.rerr == nil {
			if g.buf == nil {
				g.buf = make([]byte, 16<<10)
			}
			m, rerr := g.r.Read(g.buf)
			g.conv = latin1ToUTF8(g.conv[:0], g.buf[:m])
			g.pend, g.rerr = g.conv, rerr
		}
		n = copy(p, g.pend)
		g.pend = g.pend[n:]
		if len(g.pend) == 0 {
			err = g.rerr
		}
	} else {
		n, err = g.r.Read(p)
	}
	if i := bytes.IndexByte(p[:n], 0); i >= 0 {
		g.line += bytes.Count(p[:i], nl)
		g.err = fmt.Errorf("line %d: %w", g.line+1, ErrNUL)
		return i, nil
	}
	// Walk the chunk line by line with the vectorised bytes functions: a
	// byte-at-a-time loop here cost more than encoding/csv itself.
	chunk := p[:n]
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		seg := chunk
		if i >= 0 {
			seg = chunk[:i]
		}
		if bytes.Count(seg, quote)%2 == 1 {
			g.quoted = !g.quoted
		}
		g.run += len(seg)
		if g.run > g.max {
			// Hand out what came before this line; the error follows.
			g.err = fmt.Errorf("line %d: %w (%d bytes)", g.line+1, ErrLineTooLong, g.max)
			return n - len(chunk), nil
		}
		if i < 0 {
			break
		}
		g.line++
		if g.quoted {
			g.run++ // the newline is part of the quoted field
		} else {
			g.run = 0
		}
		chunk = chunk[i+1:]
	}
	return n, err
}
