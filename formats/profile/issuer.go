package profile

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/tlv"
)

// Input formats, charsets and reject policies an issuer profile may name.
const (
	FormatCSV   = "csv"
	FormatFixed = "fixed"
	FormatJSONL = "jsonl"

	CharsetUTF8   = "utf-8"
	CharsetLatin1 = "iso-8859-1"

	RejectRecord = "record" // a bad record is rejected alone
	RejectFile   = "file"   // any bad record fails the whole file
)

// DefaultMaxLine caps an input line (a CSV record, a fixed-width line, a
// JSON object) when the profile does not say: a line longer than any card
// record could be is a broken or hostile file, and the cap keeps memory
// flat whatever the file holds.
const (
	DefaultMaxLine = 8 << 10
	MaxMaxLine     = 1 << 20
)

// Issuer says how to read one issuer's files.
type Issuer struct {
	Profile string `toml:"profile"` // "issuer"
	Name    string `toml:"name"`
	Format  string `toml:"format"`   // csv | fixed | jsonl
	Charset string `toml:"charset"`  // utf-8 (default) | iso-8859-1
	MaxLine int    `toml:"max_line"` // bytes; default DefaultMaxLine

	CSV        CSV        `toml:"csv"`
	Fields     Fields     `toml:"fields"`
	Validation Validation `toml:"validation"`

	mappings []Mapping
}

// CSV is the dialect of a CSV issuer file.
type CSV struct {
	Delimiter string  `toml:"delimiter"` // one character; default ","
	Quote     *string `toml:"quote"`     // `"` (default, RFC 4180) or "" for none
	Header    bool    `toml:"header"`    // first line names the columns
}

// Fields maps record fields to where the issuer file holds them.
type Fields struct {
	PAN           *Input           `toml:"pan"`
	PANSeq        *Input           `toml:"pan_seq"`
	Name          *Input           `toml:"name"`
	Expiry        *Input           `toml:"expiry"`
	Effective     *Input           `toml:"effective"`
	ServiceCode   *Input           `toml:"service_code"`
	Discretionary *Input           `toml:"discretionary"`
	Product       *Input           `toml:"product"`
	Emboss        []Input          `toml:"emboss"`   // at most 4 lines
	Carrier       []Input          `toml:"carrier"`  // carrier lines
	ChipTLV       *Input           `toml:"chip_tlv"` // hex: a series of BER-TLV objects
	Chip          map[string]Input `toml:"chip"`     // EMV tag (hex) → hex value
	DGI           map[string]Input `toml:"dgi"`      // DGI number (hex) → hex value
}

// Input is where one field comes from: exactly one of a CSV header column,
// a CSV position, a JSON key, a fixed-width position, or a constant.
type Input struct {
	Column string  `toml:"column"` // CSV with header
	Index  int     `toml:"index"`  // CSV without header, 1-based
	Key    string  `toml:"key"`    // JSON Lines
	Start  int     `toml:"start"`  // fixed-width, 1-based character position
	Length int     `toml:"length"` // fixed-width, characters
	Value  *string `toml:"value"`  // a constant for every record
	Date   string  `toml:"date"`   // for expiry and effective: the layout, default YYMM

	date DateFormat
}

// DateFormat is the compiled Date layout (YYMM when not given).
func (in *Input) DateFormat() DateFormat { return in.date }

// Validation is what the issuer decided about bad records.
type Validation struct {
	AllowExpired  bool   `toml:"allow_expired"`
	Reject        string `toml:"reject"`        // record (default) | file
	Transliterate *bool  `toml:"transliterate"` // default true
	Overlong      string `toml:"overlong"`      // refuse (default) | truncate
}

// Target names the record field a Mapping fills.
type Target int

const (
	TargetPAN Target = iota
	TargetPANSeq
	TargetName
	TargetExpiry
	TargetEffective
	TargetServiceCode
	TargetDiscretionary
	TargetProduct
	TargetEmboss  // N is the line, 0-based
	TargetCarrier // N is the line, 0-based
	TargetChipTLV
	TargetChip // Tag
	TargetDGI  // DGI
)

// Mapping is one field of the issuer profile, resolved.
type Mapping struct {
	Key    string // the profile key, for messages: "fields.emboss[2]"
	Target Target
	N      int
	Tag    tlv.Tag
	DGI    uint16
	Input  *Input
}

// Mappings lists every mapped field, in a fixed order.
func (ip *Issuer) Mappings() []Mapping { return ip.mappings }

func (ip *Issuer) Kind() string        { return "issuer" }
func (ip *Issuer) ProfileName() string { return ip.Name }

// Delimiter is the CSV delimiter as a rune.
func (ip *Issuer) Delimiter() rune {
	if ip.CSV.Delimiter == "" {
		return ','
	}
	return []rune(ip.CSV.Delimiter)[0]
}

// Quoting reports whether CSV fields may be quoted.
func (ip *Issuer) Quoting() bool { return ip.CSV.Quote == nil || *ip.CSV.Quote != "" }

// RejectsFile reports whether one bad record fails the whole file.
func (ip *Issuer) RejectsFile() bool { return ip.Validation.Reject == RejectFile }

// Policy is the validation policy for a job prepared on jobDate.
func (ip *Issuer) Policy(jobDate time.Time) card.Policy {
	p := card.Policy{
		AllowExpired:  ip.Validation.AllowExpired,
		Transliterate: ip.Validation.Transliterate == nil || *ip.Validation.Transliterate,
		Truncate:      ip.Validation.Overlong == "truncate",
	}
	p.SetJobDate(jobDate) // the job's month worked out once, not per record
	return p
}

// ParseIssuer parses and checks an issuer profile.
func ParseIssuer(data []byte) (*Issuer, error) {
	ip := new(Issuer)
	if err := decodeStrict(data, ip); err != nil {
		return nil, err
	}
	if err := ip.check(); err != nil {
		return nil, err
	}
	return ip, nil
}

func (ip *Issuer) check() error {
	var p problems
	if ip.Profile != "issuer" {
		p.add("profile", ErrInvalid, `must be "issuer"`)
	}
	if ip.Name == "" {
		p.add("name", ErrMissingKey, "the profile needs a name")
	}
	if !oneOf(ip.Format, FormatCSV, FormatFixed, FormatJSONL) {
		p.add("format", ErrInvalid, "%q: must be csv, fixed or jsonl", ip.Format)
	}
	if ip.Charset == "" {
		ip.Charset = CharsetUTF8
	}
	if !oneOf(ip.Charset, CharsetUTF8, CharsetLatin1) {
		p.add("charset", ErrInvalid, "%q: must be utf-8 or iso-8859-1", ip.Charset)
	}
	if ip.MaxLine == 0 {
		ip.MaxLine = DefaultMaxLine
	}
	if ip.MaxLine < 16 || ip.MaxLine > MaxMaxLine {
		p.add("max_line", ErrInvalid, "%d: must be 16 to %d", ip.MaxLine, MaxMaxLine)
	}
	if ip.Format == FormatCSV {
		if d := []rune(ip.CSV.Delimiter); len(ip.CSV.Delimiter) > 0 && (len(d) != 1 || d[0] == '"' || d[0] == '\r' || d[0] == '\n' || d[0] == 0xFFFD) {
			p.add("csv.delimiter", ErrInvalid, "must be one character other than a quote or line break")
		}
		if q := ip.CSV.Quote; q != nil && *q != `"` && *q != "" {
			p.add("csv.quote", ErrInvalid, `must be "\"" or "" (no quoting)`)
		}
	} else if ip.CSV != (CSV{}) {
		p.add("csv", ErrInvalid, "only for format = \"csv\"")
	}
	if !oneOf(ip.Validation.Reject, "", RejectRecord, RejectFile) {
		p.add("validation.reject", ErrInvalid, "%q: must be record or file", ip.Validation.Reject)
	}
	if !oneOf(ip.Validation.Overlong, "", "refuse", "truncate") {
		p.add("validation.overlong", ErrInvalid, "%q: must be refuse or truncate", ip.Validation.Overlong)
	}
	ip.mappings = ip.mappings[:0]
	f := &ip.Fields
	one := func(key string, t Target, in *Input) {
		if in != nil {
			ip.mappings = append(ip.mappings, Mapping{Key: "fields." + key, Target: t, Input: in})
		}
	}
	one("pan", TargetPAN, f.PAN)
	one("pan_seq", TargetPANSeq, f.PANSeq)
	one("name", TargetName, f.Name)
	one("expiry", TargetExpiry, f.Expiry)
	one("effective", TargetEffective, f.Effective)
	one("service_code", TargetServiceCode, f.ServiceCode)
	one("discretionary", TargetDiscretionary, f.Discretionary)
	one("product", TargetProduct, f.Product)
	for i := range f.Emboss {
		ip.mappings = append(ip.mappings, Mapping{Key: fmt.Sprintf("fields.emboss[%d]", i+1), Target: TargetEmboss, N: i, Input: &f.Emboss[i]})
	}
	for i := range f.Carrier {
		ip.mappings = append(ip.mappings, Mapping{Key: fmt.Sprintf("fields.carrier[%d]", i+1), Target: TargetCarrier, N: i, Input: &f.Carrier[i]})
	}
	one("chip_tlv", TargetChipTLV, f.ChipTLV)
	for _, k := range sortedKeys(f.Chip) {
		in := f.Chip[k]
		key := "fields.chip." + k
		t, err := tlv.ParseTag(k)
		if err != nil {
			p.add(key, ErrInvalid, "%v", err)
		}
		ip.mappings = append(ip.mappings, Mapping{Key: key, Target: TargetChip, Tag: t, Input: &in})
	}
	for _, k := range sortedKeys(f.DGI) {
		in := f.DGI[k]
		key := "fields.dgi." + k
		n, err := strconv.ParseUint(k, 16, 16)
		if err != nil || len(k) != 4 {
			p.add(key, ErrInvalid, "a DGI is 4 hex digits")
		}
		ip.mappings = append(ip.mappings, Mapping{Key: key, Target: TargetDGI, DGI: uint16(n), Input: &in})
	}
	if f.PAN == nil {
		p.add("fields.pan", ErrMissingKey, "every profile maps the PAN")
	}
	if f.Expiry == nil {
		p.add("fields.expiry", ErrMissingKey, "every profile maps the expiry date")
	}
	if len(f.Emboss) > card.EmbossLines {
		p.add("fields.emboss", ErrInvalid, "at most %d lines", card.EmbossLines)
	}
	for _, m := range ip.mappings {
		ip.checkInput(&p, m)
	}
	return p.err()
}

func (ip *Issuer) checkInput(p *problems, m Mapping) {
	in := m.Input
	set := 0
	for _, b := range []bool{in.Column != "", in.Index != 0, in.Key != "", in.Start != 0 || in.Length != 0, in.Value != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		p.add(m.Key, ErrInvalid, "give exactly one of column, index, key, start+length or value")
		return
	}
	if in.Date != "" && m.Target != TargetExpiry && m.Target != TargetEffective {
		p.add(m.Key+".date", ErrInvalid, "only for expiry and effective")
	}
	layout := in.Date
	if layout == "" {
		layout = "YYMM"
	}
	d, err := ParseDateFormat(layout)
	if err != nil {
		p.add(m.Key+".date", ErrInvalid, "%v", err)
	}
	in.date = d
	if in.Value != nil {
		return
	}
	switch ip.Format {
	case FormatCSV:
		if ip.CSV.Header && in.Column == "" {
			p.add(m.Key, ErrInvalid, "a CSV file with a header names its column: column = \"…\"")
		}
		if !ip.CSV.Header && in.Index < 1 {
			p.add(m.Key, ErrInvalid, "a CSV file without header gives the 1-based position: index = N")
		}
	case FormatFixed:
		if in.Start < 1 || in.Length < 1 || in.Start+in.Length-1 > ip.MaxLine {
			p.add(m.Key, ErrInvalid, "a fixed-width field needs start ≥ 1 and length ≥ 1 within max_line")
		}
	case FormatJSONL:
		if in.Key == "" {
			p.add(m.Key, ErrInvalid, "a JSON Lines field gives its key: key = \"…\"")
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
