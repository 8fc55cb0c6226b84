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
		job := (p.JobDate.Year()%100)*100 + int(p.JobDate.Month())
		if exp < job {
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

	if err := checkName(r, p); err != nil {
		return err
	}
	for i := range r.Emboss {
		if err := checkEmboss(r, i, p); err != nil {
			return err
		}
	}
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
			if _, err := tlv.Decode(c.Value); err != nil {
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
	switch {
	case r.PAN == "":
		return Reject(r, "pan", ErrMissing, "")
	case !isDigits(r.PAN):
		return Reject(r, "pan", ErrPANDigits, "")
	case len(r.PAN) < 12 || len(r.PAN) > 19:
		return Reject(r, "pan", ErrPANLength, strconv.Itoa(len(r.PAN))+" digits")
	case !Luhn(r.PAN):
		return Reject(r, "pan", ErrLuhn, "")
	}
	return nil
}

func checkName(r *Record, p *Policy) error {
	if r.Name == "" {
		return Reject(r, "name", ErrMissing, "")
	}
	n, bad := Track1Name(r.Name, p.Transliterate)
	if bad > 0 {
		return Reject(r, "name", ErrNameCharset, "character "+strconv.Itoa(bad)+" cannot go on track 1 or the chip")
	}
	if len(n) > NameMax {
		if !p.Truncate {
			return Reject(r, "name", ErrNameLength, strconv.Itoa(len(n))+" characters")
		}
		n = n[:NameMax]
	}
	if len(n) < NameMin {
		return Reject(r, "name", ErrNameLength, strconv.Itoa(len(n))+" characters")
	}
	r.Name = n
	return nil
}

func checkEmboss(r *Record, i int, p *Policy) error {
	if r.Emboss[i] == "" {
		return nil
	}
	field := embossField[i]
	s, bad := EmbossText(r.Emboss[i], p.Transliterate)
	if bad > 0 {
		return Reject(r, field, ErrEmbossCharset, "character "+strconv.Itoa(bad)+" cannot be embossed")
	}
	if len(s) > EmbossWidth {
		if !p.Truncate {
			return Reject(r, field, ErrEmbossLength, strconv.Itoa(len(s))+" characters")
		}
		s = s[:EmbossWidth]
	}
	r.Emboss[i] = s
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
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

// YYMM parses a YYMM month and returns it as the number YY*100+MM, which
// orders months correctly within a century.
func YYMM(s string) (int, bool) {
	if len(s) != 4 || !isDigits(s) {
		return 0, false
	}
	yy := int(s[0]-'0')*10 + int(s[1]-'0')
	mm := int(s[2]-'0')*10 + int(s[3]-'0')
	if mm < 1 || mm > 12 {
		return 0, false
	}
	return yy*100 + mm, true
}
