package input

import (
	"io"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/profile"
)

// Reading a record is two jobs: framing, which must go through the file in
// order (where does the record end, which line is it on, is the file still
// well-formed), and filling, which makes a card.Record of a framed record
// and needs nothing but its text. A Framer does the first on one goroutine;
// Fillers, one per goroutine, do the second, so that the caller can spread
// it over several cores. Frame then Fill yield what Next yields, record
// for record and error for error.

// Framer cuts an issuer file into frames.
type Framer interface {
	// Frame reads the next record into f, reusing f's memory: io.EOF
	// after the last record, or a fatal error as Next would return it
	// (and returns again). A bad record is no error here: Fill says so.
	Frame(f *Frame) error
	// Filler returns a Filler for this Framer's frames, for one goroutine.
	Filler() *Filler
}

// NewFramer returns the framer the issuer profile asks for.
func NewFramer(r io.Reader, ip *profile.Issuer) (Framer, error) { return newReader(r, ip) }

// Frame is one record as framed: its line, its text and where its fields
// lie in it. Its memory is its own, so it can be handed to another
// goroutine.
type Frame struct {
	line   int
	text   string
	fields []span
	steps  []step // the reader's field plan, read-only once framing began
	want   int    // the header's field count, 0 for none
}

// set stores a framed record into f.
func (f *Frame) set(line int, text string, fields []span, steps []step, want int) {
	f.line, f.text, f.steps, f.want = line, text, steps, want
	f.fields = append(f.fields[:0], fields...)
}

// Size is the bytes of record text f holds, for a caller that bounds how
// much it keeps in flight.
func (f *Frame) Size() int { return len(f.text) }

// Filler makes records of frames. It reuses memory from one record to the
// next, as a Reader does: a record's ChipTags, DGIs and Carrier are valid
// until the following Fill.
type Filler struct {
	base base
	json *jsonObject // JSON Lines: the frame's text is the object
}

func newFiller(b *base) *Filler { return &Filler{base: base{ip: b.ip, maps: b.maps}} }

// Fill returns the record of f, or a *card.RecordError for a bad record.
func (fl *Filler) Fill(f *Frame) (card.Record, error) {
	if fl.json != nil {
		return fl.json.record(&fl.base, f.line, f.text)
	}
	return fillCounted(&fl.base, f.line, f.steps, f.text, f.fields, f.want)
}

func (c *quotedCSV) Frame(f *Frame) error {
	s, err := c.frame()
	if err != nil {
		return err
	}
	f.set(c.start, s, c.fields, c.steps, c.want)
	return nil
}

func (c *quotedCSV) Filler() *Filler { return newFiller(&c.base) }

func (c *plainCSV) Frame(f *Frame) error {
	s, err := c.frame()
	if err != nil {
		return err
	}
	f.set(c.lines.n, s, c.fields, c.steps, 0)
	return nil
}

func (c *plainCSV) Filler() *Filler { return newFiller(&c.base) }

func (x *fixed) Frame(f *Frame) error {
	s, err := x.frame()
	if err != nil {
		return err
	}
	f.set(x.lines.n, s, x.fields, x.steps, 0)
	return nil
}

func (x *fixed) Filler() *Filler { return newFiller(&x.base) }

func (j *jsonl) Frame(f *Frame) error {
	line, err := j.frame()
	if err != nil {
		return err
	}
	f.set(j.lines.n, string(line), nil, nil, 0)
	return nil
}

func (j *jsonl) Filler() *Filler {
	fl := newFiller(&j.base)
	fl.json = newJSONObject(j.maps)
	return fl
}
