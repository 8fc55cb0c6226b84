// Package card holds the card record every issuer input is read into and
// every machine output is made from, with the rules a record must pass
// before it is produced.
//
// A record carries a full PAN and a cardholder name, so its String, Format,
// GoString, MarshalJSON and LogValue methods show only the line number and
// the masked PAN: a record printed by accident into a log or an error does
// not leak cardholder data (design.md invariant 5).
package card

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/dataprep/dataprep/formats/tlv"
)

// EmbossLines and EmbossWidth are the ISO/IEC 7811-1 name and address area:
// four lines of 27 characters.
const (
	EmbossLines = 4
	EmbossWidth = 27
)

// Record is one card as the issuer ordered it.
//
// Readers reuse the backing memory of ChipTags and DGIs between records;
// a caller that keeps a record past the next read must Clone it.
type Record struct {
	// Line is the 1-based line of the issuer file the record starts on.
	Line int

	PAN    string // primary account number, digits only
	PANSeq string // PAN sequence number, two digits, or empty
	Name   string // cardholder name as it goes on track 1 and tag 5F20

	Expiry    string // YYMM
	Effective string // YYMM, or empty

	ServiceCode   string // three digits
	Discretionary string // track discretionary data, digits

	Emboss  [EmbossLines]string // name and address area, top to bottom
	Carrier []string            // carrier (mailer) text lines
	Product string              // issuer's product or card type code

	// ChipTags are issuer-supplied EMV data objects, in the order given.
	ChipTags []ChipTag
	// DGIs are issuer-supplied whole CPS data groupings (for example 8000
	// keys already under the transport key), carried through as given.
	DGIs []DGI
}

// ChipTag is one issuer-supplied EMV data object.
type ChipTag struct {
	Tag   tlv.Tag
	Value []byte
}

// DGI is one issuer-supplied CPS data grouping.
type DGI struct {
	Tag   uint16
	Value []byte
}

// Chip returns the issuer-supplied value of tag t.
func (r *Record) Chip(t tlv.Tag) ([]byte, bool) {
	for _, c := range r.ChipTags {
		if c.Tag == t {
			return c.Value, true
		}
	}
	return nil, false
}

// Clone returns a copy that shares no memory with r.
func (r Record) Clone() Record {
	c := r
	c.Carrier = append([]string(nil), r.Carrier...)
	c.ChipTags = make([]ChipTag, len(r.ChipTags))
	for i, t := range r.ChipTags {
		c.ChipTags[i] = ChipTag{t.Tag, append([]byte(nil), t.Value...)}
	}
	c.DGIs = make([]DGI, len(r.DGIs))
	for i, d := range r.DGIs {
		c.DGIs[i] = DGI{d.Tag, append([]byte(nil), d.Value...)}
	}
	return c
}

// String shows the line and the masked PAN, never the PAN or the name.
func (r Record) String() string {
	return "card.Record{line " + strconv.Itoa(r.Line) + ", PAN " + Mask(r.PAN) + "}"
}

// GoString is String: %#v must not dump the fields either.
func (r Record) GoString() string { return r.String() }

// Format makes every fmt verb (%v, %+v, %#v, %s, %q, %x …) print the masked
// form; without it %x or %+v would print the fields.
func (r Record) Format(f fmt.State, verb rune) {
	_, _ = f.Write([]byte(r.String()))
}

// MarshalJSON encodes only the line and the masked PAN.
func (r Record) MarshalJSON() ([]byte, error) {
	b := []byte(`{"line":`)
	b = strconv.AppendInt(b, int64(r.Line), 10)
	b = append(b, `,"pan":`...)
	b = strconv.AppendQuote(b, Mask(r.PAN))
	return append(b, '}'), nil
}

// LogValue keeps slog to the masked form too.
func (r Record) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("line", r.Line), slog.String("pan", Mask(r.PAN)))
}
