package card

// This file keeps the validation code as it was before it was tuned for
// speed (commit 87871c0), renamed with a ref prefix. The differential tests
// and FuzzValidateRef hold the tuned code to it: every record must get the
// same verdict, the same error (field, reason, sentinel) and the same
// normalized fields from both. Edit it only to follow an intended change
// of the rules.

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dataprep/dataprep/formats/tlv"
)

func refValidate(r *Record, p *Policy) error {
	if err := refCheckPAN(r); err != nil {
		return err
	}
	switch len(r.PANSeq) {
	case 0:
	case 1:
		if !refIsDigits(r.PANSeq) {
			return Reject(r, "pan_seq", ErrPANSeq, "")
		}
		r.PANSeq = twoDigits[r.PANSeq[0]-'0']
	case 2:
		if !refIsDigits(r.PANSeq) {
			return Reject(r, "pan_seq", ErrPANSeq, "")
		}
	default:
		return Reject(r, "pan_seq", ErrPANSeq, "")
	}

	exp, ok := refYYMM(r.Expiry)
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
		eff, ok := refYYMM(r.Effective)
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
	if len(r.ServiceCode) != 3 || !refIsDigits(r.ServiceCode) {
		return Reject(r, "service_code", ErrServiceCode, "")
	}
	if !refIsDigits(r.Discretionary) {
		// Track 2 holds digits only, and the same discretionary data goes
		// on both tracks.
		return Reject(r, "discretionary", ErrTrackCharset, "track 2 discretionary data must be digits")
	}

	if err := refCheckName(r, p); err != nil {
		return err
	}
	for i := range r.Emboss {
		if err := refCheckEmboss(r, i, p); err != nil {
			return err
		}
	}
	for i, l := range r.Carrier {
		if !refPrintable(l) {
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

func refCheckPAN(r *Record) error {
	switch {
	case r.PAN == "":
		return Reject(r, "pan", ErrMissing, "")
	case !refIsDigits(r.PAN):
		return Reject(r, "pan", ErrPANDigits, "")
	case len(r.PAN) < 12 || len(r.PAN) > 19:
		return Reject(r, "pan", ErrPANLength, strconv.Itoa(len(r.PAN))+" digits")
	case !refLuhn(r.PAN):
		return Reject(r, "pan", ErrLuhn, "")
	}
	return nil
}

func refCheckName(r *Record, p *Policy) error {
	if r.Name == "" {
		return Reject(r, "name", ErrMissing, "")
	}
	n, bad := refTrack1Name(r.Name, p.Transliterate)
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

func refCheckEmboss(r *Record, i int, p *Policy) error {
	if r.Emboss[i] == "" {
		return nil
	}
	field := embossField[i]
	s, bad := refEmbossText(r.Emboss[i], p.Transliterate)
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

func refPrintable(s string) bool {
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
func refYYMM(s string) (int, bool) {
	if len(s) != 4 || !refIsDigits(s) {
		return 0, false
	}
	yy := int(s[0]-'0')*10 + int(s[1]-'0')
	mm := int(s[2]-'0')*10 + int(s[3]-'0')
	if mm < 1 || mm > 12 {
		return 0, false
	}
	return yy*100 + mm, true
}

type refCharset [128]bool

func refNewCharset(s string) (c refCharset) {
	for i := 0; i < len(s); i++ {
		c[s[i]] = true
	}
	return c
}

var (
	// refEmbossSet is the character set embossers carry for the name and
	// address area (ISO/IEC 7811-1 with the usual OCR-B/Farrington 7B
	// punctuation): upper-case letters, digits, space and & ' , - . /
	refEmbossSet = refNewCharset(upper + digits + " &',-./")

	// refTrack1NameSet is what track 1's name field may hold: the data
	// characters of the ISO/IEC 7811-2 6-bit alphabet, without the
	// sentinels and separator (% ^ ?), the characters the standard keeps
	// for hardware control (! " & ' * + , : ; < = > @ _), the one kept
	// for extra graphics (#) and the national ones ([ \ ]).
	refTrack1NameSet = refNewCharset(upper + digits + " $()-./")
)

// in returns the byte offset of the first byte of s not in c, or -1.
func refIn(c *refCharset, s string) int {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b >= 0x80 || !c[b] {
			return i
		}
	}
	return -1
}

// refFold maps letters outside ASCII to what embossers and tracks print for
// them. It covers Latin-1 and the Latin Extended-A letters European
// issuers send; anything else is refused rather than guessed.
var refFold = map[rune]string{
	'À': "A", 'Á': "A", 'Â': "A", 'Ã': "A", 'Ä': "A", 'Å': "A", 'Æ': "AE",
	'Ç': "C", 'È': "E", 'É': "E", 'Ê': "E", 'Ë': "E", 'Ì': "I", 'Í': "I",
	'Î': "I", 'Ï': "I", 'Ð': "D", 'Ñ': "N", 'Ò': "O", 'Ó': "O", 'Ô': "O",
	'Õ': "O", 'Ö': "O", 'Ø': "O", 'Ù': "U", 'Ú': "U", 'Û': "U", 'Ü': "U",
	'Ý': "Y", 'Þ': "TH", 'ß': "ss", 'ÿ': "y", 'Ÿ': "Y",
	'Ā': "A", 'Ă': "A", 'Ą': "A", 'Ć': "C", 'Ĉ': "C", 'Ċ': "C", 'Č': "C",
	'Ď': "D", 'Đ': "D", 'Ē': "E", 'Ĕ': "E", 'Ė': "E", 'Ę': "E", 'Ě': "E",
	'Ĝ': "G", 'Ğ': "G", 'Ġ': "G", 'Ģ': "G", 'Ĥ': "H", 'Ħ': "H", 'Ĩ': "I",
	'Ī': "I", 'Ĭ': "I", 'Į': "I", 'İ': "I", 'Ĳ': "IJ", 'Ĵ': "J", 'Ķ': "K",
	'Ĺ': "L", 'Ļ': "L", 'Ľ': "L", 'Ŀ': "L", 'Ł': "L", 'Ń': "N", 'Ņ': "N",
	'Ň': "N", 'Ō': "O", 'Ŏ': "O", 'Ő': "O", 'Œ': "OE", 'Ŕ': "R", 'Ŗ': "R",
	'Ř': "R", 'Ś': "S", 'Ŝ': "S", 'Ş': "S", 'Š': "S", 'Ţ': "T", 'Ť': "T",
	'Ŧ': "T", 'Ũ': "U", 'Ū': "U", 'Ŭ': "U", 'Ů': "U", 'Ű': "U", 'Ų': "U",
	'Ŵ': "W", 'Ŷ': "Y", 'Ź': "Z", 'Ż': "Z", 'Ž': "Z", 'ẞ': "SS",
	// Typographic punctuation that word processors put into names.
	'’': "'", '‘': "'", '‐': "-", '‑': "-", '–': "-", '\u00A0': " ",
}

func init() {
	// Lower-case letters fold like their upper-case forms, in lower case.
	for r, s := range refFold {
		if l := []rune(strings.ToLower(string(r))); len(l) == 1 && l[0] != r {
			if _, ok := refFold[l[0]]; !ok {
				refFold[l[0]] = strings.ToLower(s)
			}
		}
	}
}

// refAppendFolded appends s with accented letters folded to ASCII, keeping
// case (é→e, É→E, ß→ss) and other ASCII as it is; a character with no
// folding becomes '?'. It is for free text such as carrier lines, where
// the emboss rules do not apply.
func refAppendFolded(dst []byte, s string) []byte {
	for _, r := range s {
		if r < utf8.RuneSelf {
			dst = append(dst, byte(r))
		} else if f, ok := refFold[r]; ok {
			dst = append(dst, f...)
		} else {
			dst = append(dst, '?')
		}
	}
	return dst
}

// refNormalize returns s upper-cased and, if transliterate is set, with
// accented letters folded to ASCII (é→E, ß→SS, Ø→O) and the byte drop left
// out. bad is the 1-based position of the first character that would
// remain outside set, or 0. Strings already in the set are returned as
// they are, without allocating.
func refNormalize(s string, set *refCharset, transliterate bool, drop byte) (out string, bad int) {
	i := refIn(set, s)
	if i < 0 {
		return s, 0
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	b.WriteString(s[:i])
	pos := utf8.RuneCountInString(s[:i])
	var one [1]byte
	for _, r := range s[i:] {
		pos++
		var f string
		if r < utf8.RuneSelf {
			one[0] = byte(r)
			if 'a' <= r && r <= 'z' {
				one[0] -= 'a' - 'A'
			}
			f = string(one[:]) // does not allocate: one byte strings are interned
		} else if ff, ok := refFold[r]; ok && transliterate {
			f = ff
		} else {
			return "", pos
		}
		for j := 0; j < len(f); j++ {
			c := f[j]
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			switch {
			case set[c]:
				b.WriteByte(c)
			case transliterate && c == drop && drop != 0:
			default:
				return "", pos
			}
		}
	}
	return b.String(), 0
}

// refEmbossText normalizes s for the emboss area; see Validate for the rules.
// bad is the 1-based position of the first character that cannot be
// embossed, or 0.
func refEmbossText(s string, transliterate bool) (out string, bad int) {
	return refNormalize(s, &refEmbossSet, transliterate, 0)
}

// refTrack1Name normalizes s for track 1's name field and tag 5F20. Track 1
// has no apostrophe, so transliteration drops it (O'HARE → OHARE), as
// bureaus do.
func refTrack1Name(s string, transliterate bool) (out string, bad int) {
	return refNormalize(s, &refTrack1NameSet, transliterate, '\'')
}
func refIsDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Luhn reports whether the digit string s passes the Luhn (mod 10) check
// of ISO/IEC 7812-1. It is false for empty or non-digit input.
func refLuhn(s string) bool {
	if s == "" {
		return false
	}
	sum := 0
	double := false
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i]) - '0'
		if d < 0 || d > 9 {
			return false
		}
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// LuhnDigit returns the check digit that makes partial+digit pass Luhn;
