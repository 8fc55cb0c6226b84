package card

import (
	"errors"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dataprep/dataprep/formats/tlv"
)

// Sentinel errors, one per rule, for errors.Is on a RecordError. Readers
// use the same sentinels for what they find wrong with a record.
var (
	ErrMissing       = errors.New("required field is empty")
	ErrPANDigits     = errors.New("PAN is not all digits")
	ErrPANLength     = errors.New("PAN length is not 12 to 19 digits")
	ErrLuhn          = errors.New("PAN fails the Luhn check")
	ErrPANSeq        = errors.New("PAN sequence number is not 1 or 2 digits")
	ErrExpiry        = errors.New("expiry date is not a valid month")
	ErrExpired       = errors.New("card would be expired")
	ErrEffective     = errors.New("effective date is not a valid month before expiry")
	ErrServiceCode   = errors.New("service code is not 3 digits")
	ErrNameCharset   = errors.New("name has a character that cannot be encoded")
	ErrNameLength    = errors.New("name is not 2 to 26 characters")
	ErrEmbossCharset = errors.New("emboss text has a character that cannot be embossed")
	ErrEmbossLength  = errors.New("emboss line longer than 27 characters")
	ErrTrackCharset  = errors.New("track data has a character outside the track set")
	ErrTrackLength   = errors.New("track data too long")
	ErrCarrierText   = errors.New("carrier text has a control character or invalid UTF-8")
	ErrChipData      = errors.New("chip data is malformed")
	ErrFieldCount    = errors.New("wrong number of fields")
	ErrSyntax        = errors.New("record is malformed")
	ErrConvert       = errors.New("record does not fit the machine layout")
)

// RecordError says why one record was rejected. It never holds the PAN
// or the name: only the masked PAN, and reasons that name positions, not
// characters.
type RecordError struct {
	Line      int
	MaskedPAN string
	Field     string // the record field at fault: "pan", "expiry", "emboss2" …
	Reason    string // human-readable detail, free of cardholder data
	Err       error  // the rule's sentinel
}

func (e *RecordError) Error() string {
	s := "line " + strconv.Itoa(e.Line)
	if e.MaskedPAN != "" {
		s += " (PAN " + e.MaskedPAN + ")"
	}
	s += ": " + e.Field + ": "
	if e.Reason != "" {
		return s + e.Reason
	}
	return s + e.Err.Error()
}

func (e *RecordError) Unwrap() error { return e.Err }

// Reject builds the RecordError for r; readers and converters use it so
// that every reject is masked the same way.
func Reject(r *Record, field string, err error, reason string) *RecordError {
	return &RecordError{Line: r.Line, MaskedPAN: Mask(r.PAN), Field: field, Reason: reason, Err: err}
}

// Policy is what the issuer profile decides about validation.
type Policy struct {
	// JobDate is the day the job prepares; a card whose expiry month is
	// before its month is refused unless AllowExpired.
	JobDate      time.Time
	AllowExpired bool
	// Transliterate folds accented letters to ASCII (é→E, ß→SS) in the
	// name and emboss lines instead of refusing them.
	Transliterate bool
	// Truncate cuts over-long names and emboss lines instead of refusing
	// the record.
	Truncate bool

	// jobMonth caches JobDate's month as YY*100+MM (0: not worked out)
	// for as long as JobDate is still jobMonthOf; see SetJobDate.
	jobMonth   int
	jobMonthOf time.Time
}

// SetJobDate sets JobDate to d and works out its month once, which
// Validate otherwise does for every record (a calendar computation).
func (p *Policy) SetJobDate(d time.Time) {
	p.JobDate = d
	p.jobMonth, p.jobMonthOf = monthOf(d), d
}

// jobYYMM is the month of p.JobDate as YY*100+MM.
func (p *Policy) jobYYMM() int {
	if p.jobMonth != 0 && p.jobMonthOf == p.JobDate {
		// JobDate is the very value the month was worked out from (the
		// same instant in the same location), so it has the same month.
		// A JobDate set since then differs and is worked out below.
		return p.jobMonth
	}
	return monthOf(p.JobDate)
}

// monthOf is d's month as YY*100+MM. It is never 0 (MM is 1 to 12 and
// YY*100 a multiple of 100), which jobMonth uses for "not worked out".
func monthOf(d time.Time) int {
	y, m, _ := d.Date()
	return (y%100)*100 + int(m)
}

// Track limits of ISO/IEC 7813, counting sentinels, separators and the LRC:
// a record must fit even on a machine that writes the LRC.
const (
	Track1Max = 79
	Track2Max = 40
	NameMax   = 26
	NameMin   = 2
)

// Validate checks r against every rule and normalizes its text fields
// in place (upper case, transliteration, truncation and a two-digit PAN
// sequence number, as p says), so that every encoder downstream sees text it
// can encode. It returns the first failure as a *RecordError.
//
// It does not allocate for a record that is already clean.
func Validate(r *Record, p *Policy) error {
	if err := checkPAN(r); err != nil {
		return err
	}
	switch len(r.PANSeq) {
	case 0:
	case 1:
		if !isDigits(r.PANSeq) {
			return Reject(r, "pan_seq", ErrPANSeq, "")
		}
		r.PANSeq = twoDigits[r.PANSeq[0]-'0']
	case 2:
		if !isDigits(r.PANSeq) {
			return Reject(r, "pan_seq", ErrPANSeq, "")
		}
	default:
		return Reject(r, "pan_seq", ErrPANSeq, "")
	}

	exp, ok := YYMM(r.Expiry)
	if r.Expiry == "" {
		return Reject(r, "expiry", ErrMissing, "")
	}
	if !ok {
		return Reject(r, "expiry", ErrExpiry, "not YYMM with month 01 to 12")
	}
	if !p.AllowExpired {
		if exp < p.jobYYMM() {
			return Reject(r, "expiry", ErrExpired, "expiry month is before the job's month")
		}
	}
	if r.Effective != "" {
		eff, ok := YYMM(r.Effective)
		if !ok {
			return Reject(r, "effective", ErrEffective, "not YYMM with month 01 to 12")
		}
		if eff > exp {
			return Reject(r, "effective", ErrEffective, "effective month is after expiry")
		}
	}

	if r.ServiceCode == "" {
		return Reject(r, "service_code", ErrMissing, "")
	}
	if len(r.ServiceCode) != 3 || !isDigits(r.ServiceCode) {
		return Reject(r, "service_code", ErrServiceCode, "")
	}
	if !isDigits(r.Discretionary) {
		// Track 2 holds digits only, and the same discretionary data goes
		// on both tracks.
		return Reject(r, "discretionary", ErrTrackCharset, "track 2 discretionary data must be digits")
	}

	// The name and emboss lines that normalizing rewrites are collected in
	// t and become one string between them, one allocation per record
	// instead of one per text. They are stored into r at the point where
	// each would have been stored one by one: after the name and all
	// emboss lines pass, or when an emboss line fails, before returning.
	var stack [160]byte // enough for a name and four emboss lines
	buf := stack[:0]
	var t rewrites
	var err error
	if buf, err = checkName(r, p, buf, &t); err != nil {
		return err
	}
	for i := range r.Emboss {
		if buf, err = checkEmboss(r, i, p, buf, &t); err != nil {
			t.store(r, buf)
			return err
		}
	}
	t.store(r, buf)
	for i, l := range r.Carrier {
		if !printable(l) {
			return Reject(r, "carrier"+strconv.Itoa(i+1), ErrCarrierText, "")
		}
	}
	for i, c := range r.ChipTags {
		for _, d := range r.ChipTags[:i] {
			if d.Tag == c.Tag {
				// Two values for one tag: which one the issuer meant is
				// a guess, and a guess is not going on a chip.
				return Reject(r, "chip", ErrChipData, "tag "+c.Tag.String()+" given twice")
			}
		}
		if !c.Tag.Valid() {
			return Reject(r, "chip", ErrChipData, "invalid tag")
		}
		if c.Tag.Constructed() {
			if err := tlv.Check(c.Value); err != nil {
				return Reject(r, "chip", ErrChipData, "tag "+c.Tag.String()+": "+err.Error())
			}
		}
		if len(c.Value) > 0xFFFF {
			return Reject(r, "chip", ErrChipData, "tag "+c.Tag.String()+" value too long")
		}
	}
	for i, d := range r.DGIs {
		for _, e := range r.DGIs[:i] {
			if e.Tag == d.Tag {
				return Reject(r, "dgi", ErrChipData, "DGI given twice")
			}
		}
		if len(d.Value) > 0xFFFF {
			return Reject(r, "dgi", ErrChipData, "DGI value too long")
		}
	}

	// ISO 7813 lengths, with sentinels, separators and LRC.
	if n := 1 + len(r.PAN) + 1 + 4 + 3 + len(r.Discretionary) + 1 + 1; n > Track2Max {
		return Reject(r, "discretionary", ErrTrackLength, "track 2 would be "+strconv.Itoa(n)+" characters, the limit is 40")
	}
	// Track 1 cannot overflow while track 2 fits and the name is at most
	// 26; the check stays so that a change to either rule cannot let an
	// over-long track 1 through.
	if n := 2 + len(r.PAN) + 1 + len(r.Name) + 1 + 4 + 3 + len(r.Discretionary) + 1 + 1; n > Track1Max {
		return Reject(r, "discretionary", ErrTrackLength, "track 1 would be "+strconv.Itoa(n)+" characters, the limit is 79")
	}
	return nil
}

var embossField = [EmbossLines]string{"emboss1", "emboss2", "emboss3", "emboss4"}

var twoDigits = [10]string{"00", "01", "02", "03", "04", "05", "06", "07", "08", "09"}

func checkPAN(r *Record) error {
	// One pass finds both whether the PAN is all digits and its Luhn sum;
	// the rules are still reported in their order.
	sum, digits := luhnSum(r.PAN)
	switch {
	case r.PAN == "":
		return Reject(r, "pan", ErrMissing, "")
	case !digits:
		return Reject(r, "pan", ErrPANDigits, "")
	case len(r.PAN) < 12 || len(r.PAN) > 19:
		return Reject(r, "pan", ErrPANLength, strconv.Itoa(len(r.PAN))+" digits")
	case sum%10 != 0:
		return Reject(r, "pan", ErrLuhn, "")
	}
	return nil
}

// rewrites says where in a buffer the normalized name and emboss lines of
// one record are until they are stored. (The buffer is passed alongside:
// held in here, the stack array behind it would escape to the heap.)
type rewrites struct {
	// texts lists which text (0 the name, 1 to 4 the emboss lines) is at
	// buf[start:end].
	texts [1 + EmbossLines]struct{ which, start, end int }
	n     int
}

// add records buf[start:end] as the new text of which.
func (t *rewrites) add(which, start, end int) {
	t.texts[t.n] = struct{ which, start, end int }{which, start, end}
	t.n++
}

// store makes one string of buf and puts each rewritten text in r.
func (t *rewrites) store(r *Record, buf []byte) {
	if t.n == 0 {
		return
	}
	all := string(buf)
	for _, x := range t.texts[:t.n] {
		if x.which == 0 {
			r.Name = all[x.start:x.end]
		} else {
			r.Emboss[x.which-1] = all[x.start:x.end]
		}
	}
	t.n = 0
}

// checked is what checkText found about one name or emboss line.
type checked struct {
	same    string // the text, cut if need be, when normalizing left it as it was
	changed bool   // normalizing changed it: the text is buf[start:] as returned
	start   int
	n       int  // its length in characters (before any cut, when tooLong)
	bad     int  // 1-based position of a character outside the set, or 0
	tooLong bool // longer than allowed, and p does not truncate
}

// checkText normalizes s and checks it is at most max characters, cutting
// it to max if p says to truncate; c says what it found. A text that
// normalizing changes is appended to buf; buf comes back as it was given
// unless the text is changed and good.
func checkText(buf []byte, s string, set *charset, p *Policy, drop byte, max int, c *checked) []byte {
	*c = checked{start: len(buf)}
	b, changed, bad := appendNormalized(buf, s, set, p.Transliterate, drop)
	if bad > 0 {
		c.bad = bad
		return buf
	}
	c.n = len(s) // s is in the set, so ASCII: bytes are characters
	if changed {
		c.n = len(b) - c.start
	}
	if c.n > max {
		if !p.Truncate {
			c.tooLong = true
			return buf
		}
		c.n = max
	}
	if changed {
		c.changed = true
		return b[:c.start+c.n]
	}
	c.same = s[:c.n]
	return buf
}

func checkName(r *Record, p *Policy, buf []byte, t *rewrites) ([]byte, error) {
	if r.Name == "" {
		return buf, Reject(r, "name", ErrMissing, "")
	}
	var c checked
	b := checkText(buf, r.Name, &track1NameSet, p, '\'', NameMax, &c)
	if c.bad > 0 {
		return buf, Reject(r, "name", ErrNameCharset, "character "+strconv.Itoa(c.bad)+" cannot go on track 1 or the chip")
	}
	if c.tooLong || c.n < NameMin {
		return buf, Reject(r, "name", ErrNameLength, strconv.Itoa(c.n)+" characters")
	}
	if c.changed {
		t.add(0, c.start, len(b))
	} else {
		r.Name = c.same
	}
	return b, nil
}

func checkEmboss(r *Record, i int, p *Policy, buf []byte, t *rewrites) ([]byte, error) {
	if r.Emboss[i] == "" {
		return buf, nil
	}
	var c checked
	b := checkText(buf, r.Emboss[i], &embossSet, p, 0, EmbossWidth, &c)
	if c.bad > 0 {
		return buf, Reject(r, embossField[i], ErrEmbossCharset, "character "+strconv.Itoa(c.bad)+" cannot be embossed")
	}
	if c.tooLong {
		return buf, Reject(r, embossField[i], ErrEmbossLength, strconv.Itoa(c.n)+" characters")
	}
	if c.changed {
		t.add(1+i, c.start, len(b))
	} else {
		r.Emboss[i] = c.same
	}
	return b, nil
}

// printable reports whether s is valid UTF-8 without control characters
// (C0, DEL or C1).
func printable(s string) bool {
	i := 0
	// Carrier text is mostly printable ASCII: take it eight bytes at a
	// time while it is, then go on byte by byte from the first word that
	// is not (which starts a character, since all before it was ASCII).
	for ; i+8 <= len(s); i += 8 {
		if !printableASCII8(load64(s[i : i+8])) {
			break
		}
	}
	if i < len(s) && i+8 > len(s) && len(s) >= 8 && printableASCII8(load64(s[len(s)-8:])) {
		// Fewer than eight bytes are left, all within the last eight,
		// which are printable ASCII too.
		return true
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7F {
			return false
		} else if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 || unicode.IsControl(r) {
				return false
			}
			i += size - 1
		}
	}
	return true
}

// Eight bytes in one uint64, for printableASCII8.
const (
	bytes01 = 0x0101010101010101
	bytes20 = 0x2020202020202020
	bytes80 = 0x8080808080808080
)

// load64 returns the 8 bytes of s (len(s) must be 8) as a little-endian
// uint64; the compiler turns this into one load.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// printableASCII8 reports whether all 8 bytes in x are printable ASCII,
// 0x20 to 0x7E. A byte fails when its top bit is set in any of:
//
//   - x itself: the byte is 0x80 or more, not ASCII;
//   - x - 0x20 in every byte: the byte is below 0x20 and borrows. When no
//     byte is 0x80 or more (else x already failed), a borrow only starts at
//     a byte below 0x20, so a borrow it carries into the byte above cannot
//     make a word fail that has no such byte;
//   - x + 0x01 in every byte: the byte is 0x7F. Bytes below 0x80 cannot
//     carry, so no byte affects another.
//
// TestPrintableMatchesReference compares printable with a byte loop.
func printableASCII8(x uint64) bool {
	return (x|(x-bytes20)|(x+bytes01))&bytes80 == 0
}

// YYMM parses a YYMM month and returns it as the number YY*100+MM, which
// orders months correctly within a century.
func YYMM(s string) (int, bool) {
	if len(s) != 4 {
		return 0, false
	}
	// As bytes, c - '0' is above 9 for anything but a digit.
	y1, y2, m1, m2 := s[0]-'0', s[1]-'0', s[2]-'0', s[3]-'0'
	if y1 > 9 || y2 > 9 || m1 > 9 || m2 > 9 {
		return 0, false
	}
	mm := int(m1)*10 + int(m2)
	if mm < 1 || mm > 12 {
		return 0, false
	}
	return (int(y1)*10+int(y2))*100 + mm, true
}
