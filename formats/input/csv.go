package input

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"unicode/utf8"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/profile"
)

// The texts of encoding/csv's errors, which this reader replaced: issuers
// and the golden files know them.
var (
	errBareQuote = errors.New(`bare " in non-quoted-field`)
	errQuote     = errors.New(`extraneous or missing " in quoted-field`)
	errDelim     = errors.New("csv: invalid field or comment delimiter")
)

// quotedCSV reads RFC 4180 CSV: the grammar, and the errors, of
// encoding/csv with LazyQuotes off, which it used to wrap. Reading
// physical lines itself lets it check each line once (NUL, UTF-8, the
// max_line cap), in the order of the file, and take the common line,
// whose quoted fields close where they open and hold no doubled quote, as
// one string that its fields are substrings of. Through encoding/csv each
// record went through a guard reader and two more buffers, came back as a
// slice of strings, and had each field checked for UTF-8 again: a third
// of a preparation's time.
type quotedCSV struct {
	base
	br     *bufio.Reader
	max    int
	latin1 bool
	sep    []byte // the delimiter, UTF-8 encoded
	n      int    // line number of the last line read
	start  int    // line number of the record's first line
	run    int    // bytes of the record so far, for the cap
	bad    bool   // the record holds invalid UTF-8
	conv   []byte // the line, transcoded from ISO-8859-1
	unq    []byte // the record's fields, unescaped, when parse reads it
	fields []span
	want   int // the header's field count; 0 for a positional file
	steps  []step
	// started is set once the first record has been read.
	started bool
}

func newCSV(br *bufio.Reader, b base) *quotedCSV {
	d := b.ip.Delimiter()
	c := &quotedCSV{
		base: b,
		// The buffer holds a whole line of max bytes and its line ending;
		// a line that does not fit is too long.
		br:     bufio.NewReaderSize(br, b.ip.MaxLine+3),
		max:    b.ip.MaxLine,
		latin1: b.ip.Charset == profile.CharsetLatin1,
		sep:    utf8.AppendRune(nil, d),
	}
	// The profile lets through a NUL delimiter, which encoding/csv refused
	// before reading anything.
	if d == 0 {
		c.fatal = errDelim
	}
	return c
}

func (c *quotedCSV) Next() (card.Record, error) {
	s, err := c.frame()
	if err != nil {
		return card.Record{}, err
	}
	return fillCounted(&c.base, c.start, c.steps, s, c.fields, c.want)
}

// frame reads the next record, mapping the header first, and returns its
// text; c.start and c.fields say where it starts and where its fields lie.
func (c *quotedCSV) frame() (string, error) {
	for c.fatal == nil {
		s, err := c.record()
		if err != nil {
			c.fatal = err
			break
		}
		if !c.started {
			c.started = true
			if c.fatal = c.columns(s); c.fatal != nil || c.ip.CSV.Header {
				continue
			}
		}
		return s, nil
	}
	return "", c.fatal
}

// columns maps the profile's fields to the first record's.
func (c *quotedCSV) columns(s string) error {
	idx, err := columns(c.ip, c.maps, texts(s, c.fields))
	if err != nil {
		return fmt.Errorf("line %d: %w", c.start, err)
	}
	c.steps = plan(c.maps, idx)
	if c.ip.CSV.Header {
		c.want = len(c.fields)
	}
	return nil
}

// fillCounted is fill for a file whose header has want fields (0: no
// header). A record with another count is rejected alone: it is intact,
// only its field count differs from the header's.
func fillCounted(b *base, line int, steps []step, s string, fields []span, want int) (card.Record, error) {
	rec, err := fill(b, line, steps, s, fields)
	if want > 0 && len(fields) != want {
		return rec, card.Reject(&rec, "record", card.ErrFieldCount, fmt.Sprintf("%d fields, the header has %d", len(fields), want))
	}
	return rec, err
}

// record reads the next record, skipping blank lines, and returns its
// text; c.fields says where each field lies in it. Errors are fatal:
// io.EOF, a read error, or one wrapping a sentinel.
func (c *quotedCSV) record() (string, error) {
	c.bad = false
	for {
		c.run = 0
		line, nl, split, err := c.next(true)
		if err != nil {
			return "", err
		}
		if len(line) == 0 {
			continue // a blank line holds no card
		}
		c.start = c.n
		var s string
		if split {
			s = string(line) // one allocation per record; fields are substrings
		} else {
			c.fields = c.fields[:0]
			if err := c.parse(line, nl); err != nil {
				return "", err
			}
			s = string(c.unq)
		}
		if c.bad {
			// Only now: a record that is also malformed is reported as
			// such, as encoding/csv checked the syntax first.
			return "", fmt.Errorf("line %d: %w", c.start, ErrUTF8)
		}
		return s, nil
	}
}

// next reads a physical line of the record and returns it without its
// '\n' and without one '\r' before it or before the end of the file, as
// encoding/csv dropped those; nl says whether a '\n' ended it. The cap
// counts what encoding/csv's guard counted: every byte of the record but
// its final '\n', after transcoding (the caller adds the '\n's inside
// quotes). A record's first line is also split (see split), and split
// says whether that worked.
func (c *quotedCSV) next(first bool) (line []byte, nl, split bool, err error) {
	raw, err := c.br.ReadSlice('\n')
	if len(raw) == 0 && err != nil {
		return nil, false, false, err // io.EOF, or the file could not be read
	}
	c.n++
	line, nl = raw, err == nil
	if nl {
		line = raw[:len(raw)-1]
	}
	if bytes.IndexByte(line, 0) >= 0 {
		return nil, false, false, fmt.Errorf("line %d: %w", c.n, ErrNUL)
	}
	if err == bufio.ErrBufferFull {
		return nil, false, false, fmt.Errorf("line %d: %w (%d bytes)", c.n, ErrLineTooLong, c.max)
	}
	if c.latin1 {
		c.conv = latin1ToUTF8(c.conv[:0], line)
		line = c.conv
	}
	if c.run += len(line); c.run > c.max {
		return nil, false, false, fmt.Errorf("line %d: %w (%d bytes)", c.n, ErrLineTooLong, c.max)
	}
	if err != nil && err != io.EOF {
		return nil, false, false, err
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	ascii := false
	if first {
		ascii, split = c.split(line)
	}
	if !c.latin1 && !ascii && !utf8.Valid(line) {
		c.bad = true
	}
	return line, nl, split, nil
}

// split splits a record's first line into c.fields if every quoted field
// on it closes on it and holds no doubled quote, the common case where
// each field is a run of the line (ok); any other line, valid or not, is
// left to parse. It also reports whether the line is all ASCII, which
// spares it the UTF-8 check.
//
// It looks at the line 64 bytes at a time: a bitmap of the delimiters and
// quotes in them, made without a branch, then a walk over its set bits.
// Searching for each delimiter in turn, with bytes.IndexByte or a loop,
// mispredicts a branch at the end of every field, as fields' lengths
// vary: with the UTF-8 check this spares ASCII lines, that cost a fifth
// more on testgen's records.
func (c *quotedCSV) split(line []byte) (ascii, ok bool) {
	if len(c.sep) != 1 {
		return false, false // a multi-byte delimiter is rare: parse does it
	}
	sep := c.sep[0]
	sepW := ones * uint64(sep)
	f := c.fields[:0]
	var all uint64
	// at is where the current field starts, at its opening quote if it is
	// quoted; past is the bit of the next block's first byte when that is
	// a delimiter already dealt with, after a closing quote.
	at, quoted, past := 0, false, uint64(0)
	for base := 0; base < len(line); base += 64 {
		var m, a uint64
		if len(line)-base >= 64 {
			m, a = block((*[64]byte)(line[base:]), sepW)
		} else {
			tail := padding
			copy(tail[:], line[base:])
			m, a = block(&tail, sepW)
		}
		all |= a
		m &^= past
		past = 0
		for ; m != 0; m &= m - 1 {
			p := base + bits.TrailingZeros64(m)
			if line[p] == sep {
				if !quoted {
					f = append(f, span{at, p})
					at = p + 1
				}
				continue
			}
			switch {
			case !quoted && p == at:
				quoted = true
				continue
			case !quoted:
				return false, false // a bare quote
			case p+1 == len(line):
				f = append(f, span{at + 1, p})
				at, quoted = p+2, false // past the end: no field follows
				continue
			case line[p+1] != sep:
				return false, false // a doubled quote, or a syntax error
			}
			f = append(f, span{at + 1, p})
			at, quoted = p+2, false
			if b := (p + 1) & 63; b != 0 {
				m &^= 1 << b
			} else {
				past = 1
			}
		}
	}
	if quoted {
		return false, false // the field goes on to the next line
	}
	if at <= len(line) {
		f = append(f, span{at, len(line)})
	}
	c.fields = f
	return all&highs == 0, true
}

// Word-at-a-time byte tests, eight bytes to a uint64.
const (
	ones   = 0x0101010101010101
	highs  = 0x8080808080808080
	lows   = 0x7f7f7f7f7f7f7f7f
	quoteW = ones * '"'
	// gather moves the top bit of each byte of a word into its top byte.
	gather = 0x0102040810204080
)

// padding fills out the last block of a line: '\n' is neither a
// delimiter nor a quote, and no line holds one.
var padding = func() (p [64]byte) {
	for i := range p {
		p[i] = '\n'
	}
	return p
}()

// block returns a bitmap of the delimiters and quotes in b, bit i for
// b[i], and the OR of its bytes. It is unrolled, and apart from split, so
// that the compiler keeps it all in registers.
func block(b *[64]byte, sepW uint64) (m, all uint64) {
	w0 := binary.LittleEndian.Uint64(b[0:])
	w1 := binary.LittleEndian.Uint64(b[8:])
	w2 := binary.LittleEndian.Uint64(b[16:])
	w3 := binary.LittleEndian.Uint64(b[24:])
	w4 := binary.LittleEndian.Uint64(b[32:])
	w5 := binary.LittleEndian.Uint64(b[40:])
	w6 := binary.LittleEndian.Uint64(b[48:])
	w7 := binary.LittleEndian.Uint64(b[56:])
	all = w0 | w1 | w2 | w3 | w4 | w5 | w6 | w7
	m = specials(w0, sepW) | specials(w1, sepW)<<8 | specials(w2, sepW)<<16 | specials(w3, sepW)<<24 |
		specials(w4, sepW)<<32 | specials(w5, sepW)<<40 | specials(w6, sepW)<<48 | specials(w7, sepW)<<56
	return m, all
}

// specials returns a byte with bit i set if byte i of w is the delimiter
// or a quote. The test for a zero byte (of w^sepW, of w^quoteW) is exact:
// unlike the usual (x-ones)&^x, no borrow runs into the next byte.
func specials(w, sepW uint64) uint64 {
	t, u := w^sepW, w^quoteW
	z := (t&lows + lows | t) & (u&lows + lows | u) // a byte's top bit: neither
	return (^z & highs) >> 7 * gather >> 56
}

// cut returns the position of the first delimiter in b, or -1.
func (c *quotedCSV) cut(b []byte) int {
	if len(c.sep) == 1 {
		return bytes.IndexByte(b, c.sep[0])
	}
	return bytes.Index(b, c.sep)
}

// parse reads a record as encoding/csv's readRecord does with LazyQuotes
// off, starting from its first line: it unescapes the fields into c.unq,
// reads on while a quoted field spans lines, and fails where and as
// readRecord failed.
func (c *quotedCSV) parse(line []byte, nl bool) error {
	c.unq = c.unq[:0]
	for {
		from := len(c.unq)
		if len(line) == 0 || line[0] != '"' {
			i := c.cut(line)
			field := line
			if i >= 0 {
				field = line[:i]
			}
			if bytes.IndexByte(field, '"') >= 0 {
				return c.syntax(errBareQuote)
			}
			c.unq = append(c.unq, field...)
			c.fields = append(c.fields, span{from, len(c.unq)})
			if i < 0 {
				return nil
			}
			line = line[i+len(c.sep):]
			continue
		}
		line = line[1:]
	quoted:
		for {
			i := bytes.IndexByte(line, '"')
			if i < 0 {
				// The field goes on past this line, with a '\n' for the
				// line ending whatever it was.
				c.unq = append(c.unq, line...)
				if !nl {
					return c.syntax(errQuote) // the file ends inside the quotes
				}
				c.unq = append(c.unq, '\n')
				c.run++
				var err error
				if line, nl, _, err = c.next(false); err == io.EOF {
					return c.syntax(errQuote)
				} else if err != nil {
					return err
				}
				continue
			}
			c.unq = append(c.unq, line[:i]...)
			line = line[i+1:]
			switch {
			case len(line) > 0 && line[0] == '"':
				c.unq = append(c.unq, '"')
				line = line[1:]
			case len(line) == 0:
				c.fields = append(c.fields, span{from, len(c.unq)})
				return nil
			case bytes.HasPrefix(line, c.sep):
				c.fields = append(c.fields, span{from, len(c.unq)})
				line = line[len(c.sep):]
				break quoted
			default:
				return c.syntax(errQuote)
			}
		}
	}
}

func (c *quotedCSV) syntax(err error) error {
	return fmt.Errorf("line %d: %w: %v", c.start, ErrSyntax, err)
}
