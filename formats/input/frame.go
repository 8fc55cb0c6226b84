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

// Frame is one record as framed: its line and text and where its fields
// lie, or, from readers that do not split their work, the whole record.
// Its memory is its own, so it can be handed to another goroutine.
type Frame struct {
	line   int
	text   string
	fields []span
	steps  []step // the reader's field plan, read-only once framing began
	want   int    // the header's field count, 0 for none

	// whole: rec (with err) is the record as Next returned it, with what
	// it shared with the reader copied into chip, dgis, carrier and arena.
	whole   bool
	rec     card.Record
	err     *card.RecordError
	chip    []card.ChipTag
	dgis    []card.DGI
	carrier []string
	arena   []byte
}

// Clear drops the plaintext bytes f holds in its own memory.
func (f *Frame) Clear() { clear(f.arena) }

// Filler makes records of frames. It reuses memory from one record to the
// next, as a Reader does: a record's ChipTags, DGIs and Carrier are valid
// until the following Fill.
type Filler struct{ base base }

// Fill returns the record of f, or a *card.RecordError for a bad record.
func (fl *Filler) Fill(f *Frame) (card.Record, error) {
	if f.whole {
		if f.err != nil {
			return f.rec, f.err
		}
		return f.rec, nil
	}
	return fillCounted(&fl.base, f.line, f.steps, f.text, f.fields, f.want)
}

// NewFramer returns the framer the issuer profile asks for.
func NewFramer(r io.Reader, ip *profile.Issuer) (Framer, error) {
	rd, err := New(r, ip)
	if err != nil {
		return nil, err
	}
	switch rd := rd.(type) {
	case *quotedCSV:
		return rd, nil
	case *plainCSV:
		return rd, nil
	}
	return &wholeRecords{rd: rd, ip: ip}, nil
}

// set stores a framed record into f.
func (f *Frame) set(line int, text string, fields []span, steps []step, want int) {
	f.whole, f.err, f.rec = false, nil, card.Record{}
	f.line, f.text, f.steps, f.want = line, text, steps, want
	f.fields = append(f.fields[:0], fields...)
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

func newFiller(b *base) *Filler {
	return &Filler{base: base{ip: b.ip, maps: b.maps}}
}

// wholeRecords frames the formats whose reading is not split (fixed-width
// and JSON Lines): it reads whole records, and Fill hands them out.
type wholeRecords struct {
	rd Reader
	ip *profile.Issuer
}

func (w *wholeRecords) Frame(f *Frame) error {
	rec, err := w.rd.Next()
	var re *card.RecordError
	if err != nil {
		var ok bool
		if re, ok = err.(*card.RecordError); !ok {
			return err // io.EOF or fatal
		}
	}
	f.whole, f.err, f.text, f.fields = true, re, "", f.fields[:0]
	f.own(rec)
	return nil
}

func (w *wholeRecords) Filler() *Filler { return &Filler{} }

// own stores rec into f, copying what it shares with the reader, which
// reuses that memory for its next record. Its strings are its own already.
func (f *Frame) own(rec card.Record) {
	f.arena = f.arena[:0]
	f.chip = f.chip[:0]
	for _, t := range rec.ChipTags {
		f.chip = append(f.chip, card.ChipTag{Tag: t.Tag, Value: f.keep(t.Value)})
	}
	f.dgis = f.dgis[:0]
	for _, d := range rec.DGIs {
		f.dgis = append(f.dgis, card.DGI{Tag: d.Tag, Value: f.keep(d.Value)})
	}
	f.carrier = append(f.carrier[:0], rec.Carrier...)
	rec.ChipTags, rec.DGIs, rec.Carrier = f.chip, f.dgis, f.carrier
	f.rec = rec
}

// keep copies v into f's arena. When the arena grows, the values before
// keep pointing into the old one, which nothing writes to any more.
func (f *Frame) keep(v []byte) []byte {
	from := len(f.arena)
	f.arena = append(f.arena, v...)
	return f.arena[from:len(f.arena):len(f.arena)]
}

// Size is about the bytes of record text f holds, for a caller that
// bounds how much it keeps in flight.
func (f *Frame) Size() int {
	if !f.whole {
		return len(f.text)
	}
	r := &f.rec
	n := len(f.arena) + len(r.PAN) + len(r.PANSeq) + len(r.Name) + len(r.Expiry) + len(r.Effective) +
		len(r.ServiceCode) + len(r.Discretionary) + len(r.Product)
	for _, s := range r.Emboss {
		n += len(s)
	}
	for _, s := range r.Carrier {
		n += len(s)
	}
	return n
}
