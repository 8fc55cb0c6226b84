package card

import (
	"strings"
	"unicode/utf8"
)

// The character sets are kept as tables over all 256 byte values (false
// from 0x80 up): checking a byte is one load, with no range check, which
// matters at a million records a second.
type charset [256]bool

func newCharset(s string) (c charset) {
	for i := 0; i < len(s); i++ {
		c[s[i]] = true
	}
	return c
}

const (
	upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digits = "0123456789"
)

var (
	// embossSet is the character set embossers carry for the name and
	// address area (ISO/IEC 7811-1 with the usual OCR-B/Farrington 7B
	// punctuation): upper-case letters, digits, space and & ' , - . /
	embossSet = newCharset(upper + digits + " &',-./")

	// track1NameSet is what track 1's name field may hold: the data
	// characters of the ISO/IEC 7811-2 6-bit alphabet, without the
	// sentinels and separator (% ^ ?), the characters the standard keeps
	// for hardware control (! " & ' * + , : ; < = > @ _), the one kept
	// for extra graphics (#) and the national ones ([ \ ]).
	track1NameSet = newCharset(upper + digits + " $()-./")
)

// InEmbossSet reports whether every byte of s is in the emboss set.
func InEmbossSet(s string) bool { return in(&embossSet, s) < 0 }

// InTrack1NameSet reports whether s may stand in track 1's name field.
func InTrack1NameSet(s string) bool { return in(&track1NameSet, s) < 0 }

// in returns the byte offset of the first byte of s not in c, or -1.
func in(c *charset, s string) int {
	for i := 0; i < len(s); i++ {
		if !c[s[i]] {
			return i
		}
	}
	return -1
}

// fold maps letters outside ASCII to what embossers and tracks print for
// them. It covers Latin-1 and the Latin Extended-A letters European
// issuers send; anything else is refused rather than guessed.
var fold = map[rune]string{
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
	for r, s := range fold {
		if l := []rune(strings.ToLower(string(r))); len(l) == 1 && l[0] != r {
			if _, ok := fold[l[0]]; !ok {
				fold[l[0]] = strings.ToLower(s)
			}
		}
	}
	for r, s := range fold {
		if r >= foldLo && r < foldHi {
			foldLatin[r-foldLo] = s
		}
	}
}

// foldLatin is fold for U+00A0 to U+017F (Latin-1 and Latin Extended-A,
// where nearly every folding is) as a table: one indexed load per
// character instead of a map lookup. An empty entry means no folding
// (no folding in fold is the empty string; TestFoldTable checks the table
// against the map).
const foldLo, foldHi = 0xA0, 0x180

var foldLatin [foldHi - foldLo]string

// folding returns what fold holds for r. (Callers ask only for runes
// outside ASCII; fold also holds 'i', from İ's lower case, never used.)
func folding(r rune) (string, bool) {
	if r >= foldLo && r < foldHi {
		s := foldLatin[r-foldLo]
		return s, s != ""
	}
	s, ok := fold[r]
	return s, ok
}

// AppendFolded appends s with accented letters folded to ASCII, keeping
// case (é→e, É→E, ß→ss) and other ASCII as it is; a character with no
// folding becomes '?'. It is for free text such as carrier lines, where
// the emboss rules do not apply.
func AppendFolded(dst []byte, s string) []byte {
	for _, r := range s {
		if r < utf8.RuneSelf {
			dst = append(dst, byte(r))
		} else if f, ok := folding(r); ok {
			dst = append(dst, f...)
		} else {
			dst = append(dst, '?')
		}
	}
	return dst
}

// AppendFoldedBytes is AppendFolded for text held in a []byte, which it
// reads as it is, without a copy into a string.
func AppendFoldedBytes(dst, s []byte) []byte {
	for len(s) > 0 {
		// Runs of ASCII are copied as they are, in one append.
		n := 0
		for n < len(s) && s[n] < utf8.RuneSelf {
			n++
		}
		dst = append(dst, s[:n]...)
		if s = s[n:]; len(s) == 0 {
			break
		}
		// As range over a string does: invalid UTF-8 is RuneError, one
		// byte at a time.
		r, size := utf8.DecodeRune(s)
		s = s[size:]
		if f, ok := folding(r); ok {
			dst = append(dst, f...)
		} else {
			dst = append(dst, '?')
		}
	}
	return dst
}

// appendNormalized is the rule for name and emboss text: s upper-cased
// and, if transliterate is set, with accented letters folded to ASCII
// (é→E, ß→SS, Ø→O) and the byte drop left out. When s is in set already
// it returns dst unchanged and changed false: s stands as it is. Otherwise
// it appends the normalized text to dst. bad is the 1-based position of
// the first character that would remain outside set, or 0; dst is then
// not to be used.
func appendNormalized(dst []byte, s string, set *charset, transliterate bool, drop byte) (_ []byte, changed bool, bad int) {
	i := in(set, s)
	if i < 0 {
		return dst, false, 0
	}
	dst = append(dst, s[:i]...)
	// Every byte of s[:i] is in the set, so ASCII: i bytes, i characters.
	pos := i
	for _, r := range s[i:] {
		pos++
		if r < utf8.RuneSelf {
			c := byte(r)
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			switch {
			case set[c]:
				dst = append(dst, c)
			case transliterate && c == drop && drop != 0:
			default:
				return dst, true, pos
			}
			continue
		}
		f, ok := folding(r)
		if !ok || !transliterate {
			return dst, true, pos
		}
		for j := 0; j < len(f); j++ {
			c := f[j]
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			switch {
			case set[c]:
				dst = append(dst, c)
			case c == drop && drop != 0: // transliterate is set here
			default:
				return dst, true, pos
			}
		}
	}
	return dst, true, 0
}

// normalize is appendNormalized for one string: s itself when it is in the
// set already (no allocation), else a new string.
func normalize(s string, set *charset, transliterate bool, drop byte) (out string, bad int) {
	var buf [64]byte // enough for any valid name or emboss line: no allocation but the result
	b, changed, bad := appendNormalized(buf[:0], s, set, transliterate, drop)
	switch {
	case bad > 0:
		return "", bad
	case !changed:
		return s, 0
	}
	return string(b), 0
}

// EmbossText normalizes s for the emboss area; see Validate for the rules.
// bad is the 1-based position of the first character that cannot be
// embossed, or 0.
func EmbossText(s string, transliterate bool) (out string, bad int) {
	return normalize(s, &embossSet, transliterate, 0)
}

// Track1Name normalizes s for track 1's name field and tag 5F20. Track 1
// has no apostrophe, so transliteration drops it (O'HARE → OHARE), as
// bureaus do.
func Track1Name(s string, transliterate bool) (out string, bad int) {
	return normalize(s, &track1NameSet, transliterate, '\'')
}
