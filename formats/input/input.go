// Package input reads issuer files into card records, one record at a
// time, as the issuer profile describes them: CSV (with a header or by
// position), fixed-width, or JSON Lines, in UTF-8 or ISO-8859-1.
//
// Memory stays flat whatever the file's size: readers hold one line (capped
// by the profile's max_line) and reuse their buffers. Two kinds of error
// come out of Next:
//
//   - a *card.RecordError: this record is bad (its line number and masked
//     PAN say which); the stream goes on with the next record;
//   - anything else is fatal: the file is not what the profile says (bad
//     header, over-long line, NUL byte, invalid UTF-8, broken CSV quoting)
//     and every later call returns the same error. These wrap the sentinels
//     below.
package input

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/formats/tlv"
)

// Fatal, structural errors, for errors.Is.
var (
	ErrLineTooLong = errors.New("input: line longer than the profile's max_line")
	ErrNUL         = errors.New("input: NUL byte in a text file")
	ErrUTF8        = errors.New("input: invalid UTF-8 in a file declared UTF-8")
	ErrHeader      = errors.New("input: bad CSV header")
	ErrSyntax      = errors.New("input: malformed CSV")
)

// Reader yields the records of an issuer file.
type Reader interface {
	// Next returns the next record, io.EOF after the last one, a
	// *card.RecordError for a bad record (call Next again for the next
	// one), or a fatal error. The record's ChipTags, DGIs and Carrier
	// share memory with the reader until the following call.
	Next() (card.Record, error)
}

// New returns the reader the issuer profile asks for.
func New(r io.Reader, ip *profile.Issuer) (Reader, error) { return newReader(r, ip) }

// reader is what every reader of this package is: it reads records
// whole (Next) or in two steps (Frame, then Fill; see frame.go).
type reader interface {
	Reader
	Framer
}

func newReader(r io.Reader, ip *profile.Issuer) (reader, error) {
	b := bufio.NewReaderSize(r, 64<<10)
	// A UTF-8 byte order mark, as spreadsheet programs write, is not data.
	if ip.Charset == profile.CharsetUTF8 {
		if p, _ := b.Peek(3); bytes.Equal(p, []byte("\xEF\xBB\xBF")) {
			_, _ = b.Discard(3)
		}
	}
	base := base{ip: ip, maps: ip.Mappings()}
	switch {
	case ip.Format == profile.FormatCSV && ip.Quoting():
		return newCSV(b, base), nil
	case ip.Format == profile.FormatCSV:
		return &plainCSV{base: base, lines: newLines(b, ip), sep: ip.Delimiter()}, nil
	case ip.Format == profile.FormatFixed:
		return newFixed(b, base), nil
	case ip.Format == profile.FormatJSONL:
		return newJSONL(b, base), nil
	}
	return nil, fmt.Errorf("input: format %q", ip.Format)
}

// base is what every reader shares: the mapping and the per-record
// scratch memory that is reused from record to record.
type base struct {
	ip      *profile.Issuer
	maps    []profile.Mapping
	chip    []card.ChipTag
	dgis    []card.DGI
	carrier []string
	arena   []byte
	fatal   error
}

// start begins a new record at line. Records are built in the caller's
// local variable, not in the reader: storing a dozen strings into heap
// memory costs a GC write barrier each.
func (b *base) start(line int) card.Record {
	b.arena = b.arena[:0]
	return card.Record{Line: line, ChipTags: b.chip[:0], DGIs: b.dgis[:0], Carrier: b.carrier[:0]}
}

// finish keeps the record's grown slices for the next one. Only if they
// grew: storing a slice into the heap costs a GC write barrier while the
// collector runs, and they seldom grow after the first record.
func (b *base) finish(r *card.Record) {
	if cap(r.ChipTags) != cap(b.chip) {
		b.chip = r.ChipTags
	}
	if cap(r.DGIs) != cap(b.dgis) {
		b.dgis = r.DGIs
	}
	if cap(r.Carrier) != cap(b.carrier) {
		b.carrier = r.Carrier
	}
}

// storeChip stores the hex text s of chip-data mapping m (chip_tlv, a chip
// tag or a DGI) into r. fill stores every other target itself.
func (b *base) storeChip(r *card.Record, m *profile.Mapping, s string) *card.RecordError {
	if s == "" {
		return nil
	}
	v, ok := b.unhex(s)
	if !ok {
		return card.Reject(r, m.Key[len("fields."):], card.ErrChipData, "not hex")
	}
	switch m.Target {
	case profile.TargetChip:
		r.ChipTags = append(r.ChipTags, card.ChipTag{Tag: m.Tag, Value: v})
	case profile.TargetDGI:
		r.DGIs = append(r.DGIs, card.DGI{Tag: m.DGI, Value: v})
	default:
		for len(v) > 0 {
			t, val, rest, err := tlv.Next(v)
			if err != nil {
				return card.Reject(r, "chip_tlv", card.ErrChipData, err.Error())
			}
			r.ChipTags = append(r.ChipTags, card.ChipTag{Tag: t, Value: val})
			v = rest
		}
	}
	return nil
}

// badDate rejects r for the text of date mapping m, not in layout d.
func badDate(r *card.Record, m *profile.Mapping, d profile.DateFormat) *card.RecordError {
	field, err := "expiry", card.ErrExpiry
	if m.Target == profile.TargetEffective {
		field, err = "effective", card.ErrEffective
	}
	return card.Reject(r, field, err, "not a date in layout "+d.String())
}

// unhex decodes s into the record's arena.
func (b *base) unhex(s string) ([]byte, bool) {
	if len(s)%2 != 0 {
		return nil, false
	}
	n := len(b.arena)
	if cap(b.arena)-n < len(s)/2 {
		b.arena = slices.Grow(b.arena, len(s)/2)
	}
	// Only the length changes: no GC write barrier.
	b.arena = b.arena[:n+len(s)/2]
	// As hex.Decode, from the string: hex.Decode wanted a copy of it as
	// a []byte.
	dst := b.arena[n:]
	for i := range dst {
		hi, lo := unhexTable[s[2*i]], unhexTable[s[2*i+1]]
		if hi|lo > 0xf {
			return nil, false
		}
		dst[i] = hi<<4 | lo
	}
	return b.arena[n:len(b.arena):len(b.arena)], true
}

// unhexTable maps a hex digit, either case, to its value, anything else to
// 0xFF.
var unhexTable = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i := range 16 {
		t["0123456789abcdef"[i]] = byte(i)
		t["0123456789ABCDEF"[i]] = byte(i)
	}
	return t
}()

func trimSpace(s string) string {
	if len(s) == 0 || s[0] > ' ' && s[len(s)-1] > ' ' {
		return s // the common case, in one test
	}
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// lines reads capped lines, checks them for NUL and (when UTF-8 is
// declared) invalid UTF-8, and transcodes ISO-8859-1 to UTF-8.
type lines struct {
	br     *bufio.Reader
	max    int
	latin1 bool
	n      int // line number of the last line returned
	conv   []byte
	err    error
}

func newLines(br *bufio.Reader, ip *profile.Issuer) *lines {
	// The buffer holds a whole line, its CR LF, and one byte more so that
	// a line of exactly max bytes is not mistaken for a longer one.
	return &lines{br: bufio.NewReaderSize(br, ip.MaxLine+3), max: ip.MaxLine, latin1: ip.Charset == profile.CharsetLatin1}
}

// next returns the next line without its line ending, aliasing the
// reader's buffer until the next call.
func (l *lines) next() ([]byte, error) {
	if l.err != nil {
		return nil, l.err
	}
	line, err := l.br.ReadSlice('\n')
	l.n++
	switch {
	case err == bufio.ErrBufferFull || len(line) > l.max+2:
		l.err = fmt.Errorf("line %d: %w (%d bytes)", l.n, ErrLineTooLong, l.max)
		return nil, l.err
	case err == io.EOF && len(line) == 0:
		l.err = io.EOF
		return nil, io.EOF
	case err != nil && err != io.EOF:
		l.err = err
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) > l.max {
		l.err = fmt.Errorf("line %d: %w (%d bytes)", l.n, ErrLineTooLong, l.max)
		return nil, l.err
	}
	if bytes.IndexByte(line, 0) >= 0 {
		l.err = fmt.Errorf("line %d: %w", l.n, ErrNUL)
		return nil, l.err
	}
	if l.latin1 {
		l.conv = latin1ToUTF8(l.conv[:0], line)
		return l.conv, nil
	}
	if !utf8.Valid(line) {
		l.err = fmt.Errorf("line %d: %w", l.n, ErrUTF8)
		return nil, l.err
	}
	return line, nil
}

func latin1ToUTF8(dst, src []byte) []byte {
	for _, c := range src {
		if c < utf8.RuneSelf {
			dst = append(dst, c)
		} else {
			dst = append(dst, 0xC0|c>>6, 0x80|c&0x3F)
		}
	}
	return dst
}

// fixed reads fixed-width lines: each mapping's field is a run of
// characters of the line, at the offset and length the profile gives.
type fixed struct {
	base
	*lines
	steps  []step
	fields []span // one per mapping
}

func newFixed(br *bufio.Reader, b base) *fixed {
	return &fixed{base: b, lines: newLines(br, b.ip), steps: planEach(b.maps)}
}

func (f *fixed) Next() (card.Record, error) {
	s, err := f.frame()
	if err != nil {
		return card.Record{}, err
	}
	return fill(&f.base, f.lines.n, f.steps, s, f.fields)
}

// frame reads the next line that is not blank and cuts it into f.fields.
func (f *fixed) frame() (string, error) {
	for {
		line, err := f.lines.next()
		if err != nil {
			return "", err
		}
		if len(line) == 0 {
			continue // a blank line holds no card
		}
		s := string(line) // one allocation per record; fields are substrings
		ascii := isASCII(line)
		f.fields = f.fields[:0]
		for i := range f.maps {
			var sp span
			if in := f.maps[i].Input; in.Value == nil {
				sp = cut(s, in.Start-1, in.Length, ascii)
			}
			f.fields = append(f.fields, sp)
		}
		return s, nil
	}
}

// cut returns where characters [start, start+n) of s lie, clipped to s:
// issuers' fixed-width files often drop trailing blanks.
func cut(s string, start, n int, ascii bool) span {
	if ascii {
		if start >= len(s) {
			return span{}
		}
		return span{start, min(start+n, len(s))}
	}
	i, from, to := 0, len(s), len(s)
	for off := range s {
		if i == start {
			from = off
		}
		if i == start+n {
			to = off
			break
		}
		i++
	}
	if from > to {
		return span{}
	}
	return span{from, to}
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// plainCSV reads delimited lines without quoting: every delimiter splits.
type plainCSV struct {
	base
	*lines
	sep     rune
	header  []string
	steps   []step
	fields  []span
	started bool
}

func (c *plainCSV) Next() (card.Record, error) {
	s, err := c.frame()
	if err != nil {
		return card.Record{}, err
	}
	return fill(&c.base, c.lines.n, c.steps, s, c.fields)
}

// frame reads the next record's line, splits it into c.fields and
// returns it; the header line is read and mapped first.
func (c *plainCSV) frame() (string, error) {
	if c.fatal != nil {
		return "", c.fatal
	}
	for {
		line, err := c.lines.next()
		if err != nil {
			return "", err
		}
		if len(line) == 0 {
			continue
		}
		s := string(line) // one allocation per record; fields are substrings
		c.fields = splitSpans(c.fields[:0], s, string(c.sep))
		if !c.started {
			c.started = true
			idx, err := columns(c.ip, c.maps, texts(s, c.fields))
			if err != nil {
				c.fatal = fmt.Errorf("line %d: %w", c.lines.n, err)
				return "", c.fatal
			}
			c.steps = plan(c.maps, idx)
			if c.ip.CSV.Header {
				continue
			}
		}
		return s, nil
	}
}

// span is where a field lies in its record's text. Splitters store
// offsets, not substrings: a string holds a pointer, and every pointer
// stored into the heap costs a GC write barrier while the collector runs,
// which encoding/csv's []string did a dozen times a record.
type span struct{ from, to int }

func splitSpans(dst []span, s, sep string) []span {
	for at := 0; ; {
		i := strings.Index(s[at:], sep)
		if i < 0 {
			return append(dst, span{at, len(s)})
		}
		dst = append(dst, span{at, at + i})
		at += i + len(sep)
	}
}

// texts returns the fields as strings, for the header.
func texts(s string, fields []span) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = s[f.from:f.to]
	}
	return out
}

// columns resolves each mapping to a field index from the first record:
// the header's names, or for positional files just the count check.
func columns(ip *profile.Issuer, maps []profile.Mapping, first []string) ([]int, error) {
	idx := make([]int, len(maps))
	if !ip.CSV.Header {
		for i, m := range maps {
			idx[i] = m.Input.Index - 1
			if m.Input.Value != nil {
				idx[i] = -1
			}
		}
		return idx, nil
	}
	names := make(map[string]int, len(first))
	for i, h := range first {
		h = trimSpace(h)
		if j, dup := names[h]; dup {
			// Positions, not the name: if the file has no header after
			// all, this "header" is a card record.
			return nil, fmt.Errorf("%w: columns %d and %d have the same name", ErrHeader, j+1, i+1)
		}
		names[h] = i
	}
	for i, m := range maps {
		if m.Input.Value != nil {
			idx[i] = -1
			continue
		}
		n, ok := names[m.Input.Column]
		if !ok {
			return nil, fmt.Errorf("%w: no column %q (for %s)", ErrHeader, m.Input.Column, m.Key)
		}
		idx[i] = n
	}
	return idx, nil
}

// step is what fill needs of a mapping, in a small array of its own: a
// record then reads a few cache lines of it, not those of every mapping
// and its Input, which the rest of a preparation evicts between records.
type step struct {
	m      *profile.Mapping
	in     *profile.Input // m.Input
	target profile.Target
	field  int // the field's index, or -1 for a constant
	n      int // m.N
}

// plan makes fill's steps from the mappings and their field indexes.
func plan(maps []profile.Mapping, index []int) []step {
	steps := make([]step, len(maps))
	for i := range maps {
		m := &maps[i]
		steps[i] = step{m: m, in: m.Input, target: m.Target, field: index[i], n: m.N}
	}
	return steps
}

// planEach is the plan for readers whose field i is mapping i's own text
// (fixed-width spans, JSON values); a constant mapping has none.
func planEach(maps []profile.Mapping) []step {
	idx := make([]int, len(maps))
	for i := range maps {
		idx[i] = i
		if maps[i].Input.Value != nil {
			idx[i] = -1
		}
	}
	return plan(maps, idx)
}

// fill builds the record from the fields of its text s.
func fill(b *base, line int, steps []step, s string, fields []span) (card.Record, error) {
	rec := b.start(line)
	var rerr *card.RecordError
	for i := range steps {
		st := &steps[i]
		var v string
		if j := st.field; j >= 0 {
			if j >= len(fields) {
				if rerr == nil {
					rerr = card.Reject(&rec, "record", card.ErrFieldCount, fmt.Sprintf("%d fields, %s is field %d", len(fields), st.m.Key, j+1))
				}
				continue
			}
			v = s[fields[j].from:fields[j].to]
		} else if st.in.Value != nil { // columns gives constants -1
			v = *st.in.Value
		}
		// All but the chip data are stored here: into the local record,
		// which the compiler can see is on the stack, so that they need no
		// GC write barrier, nor a call. Through a method's pointer the
		// barriers alone were 6% of the CSV reader's time, the collector
		// running half of it.
		switch v = trimSpace(v); st.target {
		case profile.TargetPAN:
			rec.PAN = v
		case profile.TargetPANSeq:
			rec.PANSeq = v
		case profile.TargetName:
			rec.Name = v
		case profile.TargetServiceCode:
			rec.ServiceCode = v
		case profile.TargetDiscretionary:
			rec.Discretionary = v
		case profile.TargetProduct:
			rec.Product = v
		case profile.TargetEmboss:
			rec.Emboss[st.n] = v
		case profile.TargetExpiry, profile.TargetEffective:
			if v == "" {
				break // absent: validation decides whether that is allowed
			}
			d := st.in.DateFormat()
			yymm, ok := d.Parse(v)
			switch {
			case !ok:
				if rerr == nil {
					rerr = badDate(&rec, st.m, d)
				}
			case st.target == profile.TargetExpiry:
				rec.Expiry = yymm
			default:
				rec.Effective = yymm
			}
		case profile.TargetCarrier:
			for len(rec.Carrier) <= st.n {
				rec.Carrier = append(rec.Carrier, "")
			}
			rec.Carrier[st.n] = v
		default:
			if e := b.storeChip(&rec, st.m, v); e != nil && rerr == nil {
				rerr = e
			}
		}
	}
	b.finish(&rec)
	if rerr != nil {
		// Re-mask: the PAN may have been set after the error was made.
		rerr.MaskedPAN = card.Mask(rec.PAN)
		return rec, rerr
	}
	return rec, nil
}
