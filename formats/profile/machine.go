package profile

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/dataprep/dataprep/formats/cps"
	"github.com/dataprep/dataprep/formats/emboss"
	"github.com/dataprep/dataprep/formats/tlv"
)

// Machine output formats.
const (
	OutFixed = "fixed" // one line of fixed-width (or separated) fields per card
	OutCPS   = "cps"   // the card's CPS DGIs, hex per line or length-prefixed binary
)

// Machine says what one personalization machine takes for each card.
type Machine struct {
	Profile   string `toml:"profile"` // "machine"
	Name      string `toml:"name"`
	Format    string `toml:"format"`    // fixed | cps
	Charset   string `toml:"charset"`   // ascii (default) | utf-8: what fixed-width lines may hold
	LineEnd   string `toml:"line_end"`  // lf (default) | crlf
	Separator string `toml:"separator"` // between fixed fields; default none
	TrackLRC  bool   `toml:"track_lrc"` // write the LRC after track end sentinels
	// CPSEncoding is how format cps writes a card: "hex" (default), the
	// DGIs in upper-case hex on one line; or "binary", a 4-byte big-endian
	// length and the DGIs.
	CPSEncoding string `toml:"cps_encoding"`

	Emboss EmbossOptions `toml:"emboss"`
	Fields []Field       `toml:"field"`
	DGIs   []DGI         `toml:"dgi"`

	// patterns[n] is the grouping for a PAN of n digits, 12 to 19: an
	// array, since Pattern is asked once per card.
	patterns [20]emboss.Pattern
	layout   cps.Layout
}

// EmbossOptions: card number grouping by PAN length, e.g. {"15" = "4-6-5"};
// lengths not listed use emboss.Default.
type EmbossOptions struct {
	Patterns map[string]string `toml:"patterns"`
}

// Field is one field of a fixed-width record.
type Field struct {
	Name      string   `toml:"name"`      // label for messages and previews
	From      []string `toml:"from"`      // sources, concatenated with Sep
	Sep       string   `toml:"sep"`       // between concatenated sources
	Value     *string  `toml:"value"`     // a constant instead of sources
	Transform []string `toml:"transform"` // applied in order; see TransformKind
	Width     int      `toml:"width"`     // characters; 0 = as long as the value
	Align     string   `toml:"align"`     // left (default: pad on the right) | right
	Pad       string   `toml:"pad"`       // one character, default space
	Overflow  string   `toml:"overflow"`  // refuse (default) | truncate

	sources    []Source
	transforms []Transform
}

// Sources and Transforms are the compiled From and Transform.
func (f *Field) Sources() []Source       { return f.sources }
func (f *Field) Transforms() []Transform { return f.transforms }

// PadByte is the padding character.
func (f *Field) PadByte() byte {
	if f.Pad == "" {
		return ' '
	}
	return f.Pad[0]
}

// DGI is one data grouping of the chip-data layout.
type DGI struct {
	Number   string   `toml:"number"`   // 4 hex digits: 0101, 9000, 8000 …
	Template string   `toml:"template"` // tag wrapping the objects ("70"), or none
	Tags     []string `toml:"tags"`     // EMV tags in order
	Optional []string `toml:"optional"` // tags that may be absent
	// Issuer: the value is the issuer-supplied DGI of this number, carried
	// through unchanged. For the 8000 series this is the only way for now:
	// encryption under the machine's transport key is later work.
	Issuer bool `toml:"issuer"`
}

// SourceKind is where a fixed field's text comes from.
type SourceKind int

const (
	SrcPAN SourceKind = iota
	SrcPANSeq
	SrcName
	SrcExpiry    // YYMM; transform date:… rewrites it
	SrcEffective // YYMM
	SrcServiceCode
	SrcDiscretionary
	SrcProduct
	SrcLine         // the record's line number in the issuer file
	SrcEmboss       // name/address line N (1-based)
	SrcCarrier      // carrier line N (1-based)
	SrcTrack1       // ISO 7813 track 1
	SrcTrack2       // ISO 7813 track 2
	SrcEmbossNumber // card number grouped for embossing
	SrcEmbossExpiry // MM/YY
	SrcChip         // issuer chip tag value, in hex
	SrcCPS          // the card's DGIs per [[dgi]], in hex
)

// Source is one compiled source name.
type Source struct {
	Kind SourceKind
	N    int
	Tag  tlv.Tag
}

var sourceNames = map[string]SourceKind{
	"pan": SrcPAN, "pan_seq": SrcPANSeq, "name": SrcName, "expiry": SrcExpiry,
	"effective": SrcEffective, "service_code": SrcServiceCode,
	"discretionary": SrcDiscretionary, "product": SrcProduct, "line": SrcLine,
	"track1": SrcTrack1, "track2": SrcTrack2, "emboss_number": SrcEmbossNumber,
	"emboss_expiry": SrcEmbossExpiry, "cps": SrcCPS,
}

// SourceNames lists what From may name, for messages and documentation.
func SourceNames() []string {
	names := []string{"emboss1…emboss4", "carrier1…carrierN", "chip:TAG"}
	for n := range sourceNames {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ParseSource compiles one source name.
func ParseSource(s string) (Source, error) {
	if k, ok := sourceNames[s]; ok {
		return Source{Kind: k}, nil
	}
	if t, ok := strings.CutPrefix(s, "chip:"); ok {
		tag, err := tlv.ParseTag(t)
		if err != nil {
			return Source{}, err
		}
		return Source{Kind: SrcChip, Tag: tag}, nil
	}
	for prefix, kind := range map[string]SourceKind{"emboss": SrcEmboss, "carrier": SrcCarrier} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 1 || (kind == SrcEmboss && n > 4) || n > 99 || rest[0] == '0' {
				break
			}
			return Source{Kind: kind, N: n}, nil
		}
	}
	return Source{}, fmt.Errorf("unknown source %q (known: %s)", s, strings.Join(SourceNames(), ", "))
}

// TransformKind is one step applied to a field's text.
type TransformKind int

const (
	TUpper         TransformKind = iota // upper-case ASCII letters
	TTransliterate                      // fold accents to ASCII (é→E, ß→SS)
	TMask                               // card.Mask: at most first 6 and last 4 digits
	TTrim                               // strip leading and trailing spaces
	TDate                               // rewrite a YYMM date in another layout: "date:MM/YY"
)

// Transform is one compiled transform.
type Transform struct {
	Kind TransformKind
	Date DateFormat
}

// ParseTransform compiles one transform name.
func ParseTransform(s string) (Transform, error) {
	switch s {
	case "upper":
		return Transform{Kind: TUpper}, nil
	case "transliterate":
		return Transform{Kind: TTransliterate}, nil
	case "mask":
		return Transform{Kind: TMask}, nil
	case "trim":
		return Transform{Kind: TTrim}, nil
	}
	if layout, ok := strings.CutPrefix(s, "date:"); ok {
		d, err := ParseDateFormat(layout)
		return Transform{Kind: TDate, Date: d}, err
	}
	return Transform{}, fmt.Errorf("unknown transform %q (known: upper, transliterate, mask, trim, date:LAYOUT)", s)
}

func (m *Machine) Kind() string        { return "machine" }
func (m *Machine) ProfileName() string { return m.Name }

// LineEndBytes is the line terminator.
func (m *Machine) LineEndBytes() string {
	if m.LineEnd == "crlf" {
		return "\r\n"
	}
	return "\n"
}

// Pattern is the card number grouping for a PAN of n digits.
func (m *Machine) Pattern(n int) emboss.Pattern {
	if n >= 0 && n < len(m.patterns) && m.patterns[n] != nil {
		return m.patterns[n]
	}
	return emboss.Default(n)
}

// ChipLayout is the compiled [[dgi]] list.
func (m *Machine) ChipLayout() cps.Layout { return m.layout }

// ParseMachine parses and checks a machine profile.
func ParseMachine(data []byte) (*Machine, error) {
	m := new(Machine)
	if err := decodeStrict(data, m); err != nil {
		return nil, err
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Machine) check() error {
	var p problems
	if m.Profile != "machine" {
		p.add("profile", ErrInvalid, `must be "machine"`)
	}
	if m.Name == "" {
		p.add("name", ErrMissingKey, "the profile needs a name")
	}
	if !oneOf(m.Format, OutFixed, OutCPS) {
		p.add("format", ErrInvalid, "%q: must be fixed or cps", m.Format)
	}
	if !oneOf(m.Charset, "", "ascii", "utf-8") {
		p.add("charset", ErrInvalid, "%q: must be ascii or utf-8", m.Charset)
	}
	if !oneOf(m.LineEnd, "", "lf", "crlf") {
		p.add("line_end", ErrInvalid, "%q: must be lf or crlf", m.LineEnd)
	}
	if !oneOf(m.CPSEncoding, "", "hex", "binary") {
		p.add("cps_encoding", ErrInvalid, "%q: must be hex or binary", m.CPSEncoding)
	}
	if m.Format == OutCPS && m.CPSEncoding == "" {
		m.CPSEncoding = "hex"
	}
	if m.Format != OutCPS && m.CPSEncoding != "" {
		p.add("cps_encoding", ErrInvalid, "only for format = \"cps\"")
	}
	if strings.ContainsAny(m.Separator, "\r\n") {
		p.add("separator", ErrInvalid, "may not hold a line break")
	}
	m.patterns = [20]emboss.Pattern{}
	for n := 12; n <= 19; n++ {
		m.patterns[n] = emboss.Default(n) // computed once, not per card
	}
	for _, k := range sortedKeys(m.Emboss.Patterns) {
		key := "emboss.patterns." + k
		n, err := strconv.Atoi(k)
		if err != nil || n < 12 || n > 19 {
			p.add(key, ErrInvalid, "key must be a PAN length, 12 to 19")
			continue
		}
		pat, err := emboss.ParsePattern(m.Emboss.Patterns[k])
		if err != nil {
			p.add(key, ErrInvalid, "%v", err)
			continue
		}
		if pat.Digits() != n {
			p.add(key, ErrInvalid, "pattern %v holds %d digits, not %d", pat, pat.Digits(), n)
		}
		m.patterns[n] = pat
	}

	usesCPS := m.Format == OutCPS
	switch m.Format {
	case OutFixed:
		if len(m.Fields) == 0 {
			p.add("field", ErrMissingKey, "a fixed layout needs at least one [[field]]")
		}
	case OutCPS:
		if len(m.Fields) > 0 {
			p.add("field", ErrInvalid, "a cps layout has no [[field]]: it writes the DGIs")
		}
	}
	for i := range m.Fields {
		if m.checkField(&p, i) {
			usesCPS = true
		}
	}
	m.layout = nil
	for i, d := range m.DGIs {
		m.checkDGI(&p, fmt.Sprintf("dgi[%d]", i+1), d)
	}
	if usesCPS && len(m.DGIs) == 0 {
		p.add("dgi", ErrMissingKey, "chip data needs at least one [[dgi]]")
	}
	if !usesCPS && len(m.DGIs) > 0 {
		p.add("dgi", ErrInvalid, "[[dgi]] given but no field uses source \"cps\"")
	}
	return p.err()
}

// checkField compiles field i and reports whether it uses the cps source.
func (m *Machine) checkField(p *problems, i int) (usesCPS bool) {
	f := &m.Fields[i]
	key := fmt.Sprintf("field[%d]", i+1)
	if f.Name != "" {
		key += " (" + f.Name + ")"
	}
	if (len(f.From) == 0) == (f.Value == nil) {
		p.add(key, ErrInvalid, "give either from = [sources] or value = \"constant\"")
	}
	f.sources = f.sources[:0]
	dates := 0
	for _, s := range f.From {
		src, err := ParseSource(s)
		if err != nil {
			p.add(key+".from", ErrInvalid, "%v", err)
			continue
		}
		switch src.Kind {
		case SrcCPS:
			usesCPS = true
		case SrcExpiry, SrcEffective:
			dates++
		}
		f.sources = append(f.sources, src)
	}
	f.transforms = f.transforms[:0]
	for _, s := range f.Transform {
		t, err := ParseTransform(s)
		if err != nil {
			p.add(key+".transform", ErrInvalid, "%v", err)
			continue
		}
		if t.Kind == TDate && (dates != 1 || len(f.From) != 1) {
			p.add(key+".transform", ErrInvalid, "date:… applies to a field whose only source is expiry or effective")
		}
		f.transforms = append(f.transforms, t)
	}
	if f.Width < 0 || f.Width > 4096 {
		p.add(key+".width", ErrInvalid, "%d: must be 0 (as long as the value) to 4096", f.Width)
	}
	if !oneOf(f.Align, "", "left", "right") {
		p.add(key+".align", ErrInvalid, "%q: must be left or right", f.Align)
	}
	if len(f.Pad) > 1 || (len(f.Pad) == 1 && (f.Pad[0] < 0x20 || f.Pad[0] > 0x7E)) {
		p.add(key+".pad", ErrInvalid, "must be one printable ASCII character")
	}
	if !oneOf(f.Overflow, "", "refuse", "truncate") {
		p.add(key+".overflow", ErrInvalid, "%q: must be refuse or truncate", f.Overflow)
	}
	if f.Width == 0 && (f.Overflow != "" || f.Align != "" || f.Pad != "") {
		p.add(key, ErrInvalid, "align, pad and overflow need a width")
	}
	if f.Value != nil && f.Width > 0 && len(*f.Value) > f.Width {
		p.add(key+".value", ErrInvalid, "constant longer than the width")
	}
	return usesCPS
}

func (m *Machine) checkDGI(p *problems, key string, d DGI) {
	n, err := strconv.ParseUint(d.Number, 16, 16)
	if err != nil || len(d.Number) != 4 {
		p.add(key+".number", ErrInvalid, "%q: a DGI is 4 hex digits", d.Number)
	}
	g := cps.Group{DGI: uint16(n), Issuer: d.Issuer}
	if d.Issuer && (len(d.Tags) > 0 || d.Template != "" || len(d.Optional) > 0) {
		p.add(key, ErrInvalid, "issuer = true takes the issuer's DGI whole: no template or tags")
	}
	if !d.Issuer && len(d.Tags) == 0 {
		p.add(key+".tags", ErrMissingKey, "list the tags, or set issuer = true")
	}
	if cps.Sensitive(uint16(n)) && !d.Issuer {
		// Sensitive DGIs must be encrypted under the transport key, which
		// is not implemented: building one in the clear would ship keys.
		p.add(key, ErrInvalid, "8000-series DGIs can only be carried through from the issuer (issuer = true)")
	}
	if d.Template != "" {
		t, err := tlv.ParseTag(d.Template)
		switch {
		case err != nil:
			p.add(key+".template", ErrInvalid, "%v", err)
		case !t.Constructed():
			p.add(key+".template", ErrInvalid, "%v is not a constructed tag", t)
		}
		g.Template = t
	}
	seen := map[tlv.Tag]bool{}
	for _, s := range d.Tags {
		t, err := tlv.ParseTag(s)
		if err != nil {
			p.add(key+".tags", ErrInvalid, "%v", err)
			continue
		}
		if seen[t] {
			p.add(key+".tags", ErrInvalid, "tag %v listed twice", t)
		}
		seen[t] = true
		g.Tags = append(g.Tags, t)
	}
	for _, s := range d.Optional {
		t, err := tlv.ParseTag(s)
		if err != nil {
			p.add(key+".optional", ErrInvalid, "%v", err)
			continue
		}
		if !seen[t] {
			p.add(key+".optional", ErrInvalid, "tag %v is not in tags", t)
		}
		g.Optional = append(g.Optional, t)
	}
	m.layout = append(m.layout, g)
}
