package input

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/profile"
)

// fuzzDelims are the delimiters the differential fuzzer tries: the usual
// ones, a space (fields keep their blanks), and multi-byte ones, which
// split never sees.
var fuzzDelims = []rune{',', ';', '|', '\t', ' ', '§', '€'}

// The tricky cases for FuzzCSVMatchesEncodingCSV, run with every delimiter.
var csvTricky = []string{
	"",
	"\n",
	"\r\n\r\n",
	"\r",
	"a",
	"a\r",
	"a\r\r\n",
	"a\rb,c\n",
	"a,b\nc,d",
	"a,b,\n,\n",
	`"a","b"` + "\n",
	`"a""b",c` + "\n",
	`""""` + "\n",
	`"",""` + "\n",
	`"a,b",c` + "\n",
	`"a` + "\n" + `b",c` + "\n",
	`"a` + "\r\n" + `b",c` + "\r\n",
	`"a` + "\r\r\n" + `b"` + "\n",
	`"a` + "\n\n\n" + `b"` + "\n",
	`"a` + "\n",
	`"a`,
	`"a"` + "\r",
	`"a"` + "\r\r\n",
	`"a"b,c` + "\n",
	`a"b,c` + "\n",
	` "a",b` + "\n",
	`"a" ,b` + "\n",
	`a,"b` + "\n" + `c"d,e` + "\n",
	"x,y\n\n\"1\n2\",3\n\n4,\"\"\n",
	`"a;b";"c|d"|"e§f"§"g€h"€i` + "\n",
	"é,\"ü\"\n\xE9,\"\xFC\"\n",
	"a,\xff\n",
	"\"a\xff\nb\",c\n",
	"a,b\x00c\nd\n",
	"\"a\n\x00\",b\n",
	"\xa7\"x\"\xa7\n",
}

// FuzzCSVMatchesEncodingCSV checks quotedCSV's records against encoding/csv,
// which it replaced, run as it was (FieldsPerRecord -1, LazyQuotes off,
// ReuseRecord, on the transcoded text for ISO-8859-1): the same fields,
// from the same line, record after record; a syntax error where and as
// encoding/csv fails; and the checks encoding/csv did not make (NUL bytes,
// invalid UTF-8) exactly where they apply. max_line is set out of reach:
// TestCSVLineCap tests it.
func FuzzCSVMatchesEncodingCSV(f *testing.F) {
	var seeds [][]byte
	for _, s := range csvTricky {
		seeds = append(seeds, []byte(s))
	}
	for _, pattern := range []string{
		filepath.Join(dir, "input", "*.csv"),
		filepath.Join("testdata", "fuzz", "FuzzCSV", "*"),
		filepath.Join("testdata", "fuzz", "FuzzCSVPositional", "*"),
	} {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, corpusBytes(b)...)
		}
	}
	if len(seeds) < len(csvTricky)+10 {
		f.Fatalf("only %d seeds", len(seeds))
	}
	for _, s := range seeds {
		for d := range fuzzDelims {
			f.Add(s, uint8(d), false)
		}
		f.Add(s, uint8(0), true)
		f.Add(s, uint8(1), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, delim uint8, latin1 bool) {
		d := fuzzDelims[int(delim)%len(fuzzDelims)]
		if latin1 && d > 0xFF {
			d = ';' // an ISO-8859-1 file cannot hold it
		}
		compareWithEncodingCSV(t, data, d, latin1)
	})
}

// corpusBytes returns a file's bytes, or the []byte values in it if it is
// a Go fuzz corpus file.
func corpusBytes(b []byte) [][]byte {
	const head = "go test fuzz v1\n"
	if !bytes.HasPrefix(b, []byte(head)) {
		return [][]byte{b}
	}
	var out [][]byte
	for _, l := range strings.Split(string(b[len(head):]), "\n") {
		if v, ok := strings.CutPrefix(l, "[]byte("); ok {
			if s, err := strconv.Unquote(strings.TrimSuffix(v, ")")); err == nil {
				out = append(out, []byte(s))
			}
		}
	}
	return out
}

func compareWithEncodingCSV(t *testing.T, data []byte, d rune, latin1 bool) {
	t.Helper()
	ip := *profile.DefaultIssuer()
	ip.CSV.Delimiter = string(d)
	ip.MaxLine = 2*len(data) + 16 // every line fits, even transcoded
	text := data                  // what encoding/csv reads
	if latin1 {
		ip.Charset = profile.CharsetLatin1
		text = latin1ToUTF8(nil, data)
	}
	c := newCSV(bufio.NewReaderSize(bytes.NewReader(data), 16), base{ip: &ip})
	cr := csv.NewReader(bytes.NewReader(text))
	cr.Comma = d
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true

	// nulLine is the line of the first NUL, nulAt its offset in text.
	nulAt, nulLine := bytes.IndexByte(text, 0), 0
	if nulAt >= 0 {
		nulLine = bytes.Count(text[:nulAt], []byte{'\n'}) + 1
	}
	for k := 0; ; k++ {
		s, err := c.record()
		var got []string
		if err == nil {
			got = texts(s, c.fields)
		}
		want, werr := cr.Read()
		var pe *csv.ParseError
		errors.As(werr, &pe)
		switch {
		case err == io.EOF:
			if werr != io.EOF {
				t.Fatalf("record %d: EOF, encoding/csv: %q, %v", k, want, werr)
			}
			return
		case errors.Is(err, ErrSyntax):
			if pe == nil || pe.StartLine != c.start || !strings.HasSuffix(err.Error(), pe.Err.Error()) {
				t.Fatalf("record %d: %v (from line %d), encoding/csv: %q, %v", k, err, c.start, want, werr)
			}
			return
		case errors.Is(err, ErrNUL):
			// The line with the NUL is refused before it is parsed: the
			// record encoding/csv reads instead reaches that line.
			switch {
			case c.n != nulLine:
				t.Fatalf("record %d: %v at line %d, the first NUL is on line %d", k, err, c.n, nulLine)
			case pe != nil && pe.Line < nulLine,
				werr == nil && cr.InputOffset() <= int64(nulAt),
				werr == io.EOF:
				t.Fatalf("record %d: %v, encoding/csv: %q, %v", k, err, want, werr)
			}
			return
		case errors.Is(err, ErrUTF8):
			if latin1 || werr != nil || !slices.ContainsFunc(want, func(f string) bool { return !utf8.ValidString(f) }) {
				t.Fatalf("record %d: %v, encoding/csv: %q, %v", k, err, want, werr)
			}
			if line, _ := cr.FieldPos(0); line != c.start || !strings.HasPrefix(err.Error(), "line "+strconv.Itoa(line)+":") {
				t.Fatalf("record %d: %v, encoding/csv: line %d", k, err, line)
			}
			return
		case err != nil:
			t.Fatalf("record %d: %v", k, err)
		}
		if werr != nil {
			t.Fatalf("record %d: %q from line %d, encoding/csv: %v", k, got, c.start, werr)
		}
		if line, _ := cr.FieldPos(0); !slices.Equal(got, want) || line != c.start {
			t.Fatalf("record %d: %q from line %d, encoding/csv: %q from line %d", k, got, c.start, want, line)
		}
		if !latin1 && slices.ContainsFunc(want, func(f string) bool { return !utf8.ValidString(f) }) {
			t.Fatalf("record %d: %q has invalid UTF-8", k, got)
		}
		if nulAt >= 0 && cr.InputOffset() > int64(nulAt) {
			t.Fatalf("record %d: %q holds a NUL", k, got)
		}
	}
}

func TestCSVMatchesEncodingCSV(t *testing.T) {
	for _, s := range csvTricky {
		for _, d := range fuzzDelims {
			compareWithEncodingCSV(t, []byte(s), d, false)
		}
		compareWithEncodingCSV(t, []byte(s), ',', true)
	}
	// Quotes and delimiters at every place around split's 64-byte
	// blocks.
	for n := range 140 {
		a := strings.Repeat("a", n)
		for _, s := range []string{
			`"` + a + `",b`, a + `,"x",y`, `"` + a + `","",z`, a + `,"x""y",z`, a + `"x,y`,
			`"` + a + "\n" + `x",y`, `"` + a + `"x,y`, a + `,"`, a + "\xff,\"\xff\",x",
		} {
			compareWithEncodingCSV(t, []byte(s+"\n"+s), ',', false)
		}
	}
}

// TestCSVLineCap: max_line caps a record's bytes as the guard under
// encoding/csv did: all of them but the final line ending, a '\r' before
// it included, a '\n' inside quotes counted as one, after transcoding;
// the error names the line where the record goes past the cap.
func TestCSVLineCap(t *testing.T) {
	const max = 16
	a := func(n int) string { return strings.Repeat("a", n) }
	e := func(n int) string { return strings.Repeat("é", n) }
	for _, tc := range []struct {
		in     string
		latin1 bool
		line   int // of the ErrLineTooLong; 0 for none
	}{
		{in: a(16) + "\n" + a(16), line: 0},
		{in: a(16) + "\r\n", line: 1},
		{in: a(15) + "\r\n", line: 0},
		{in: a(17) + "\n", line: 1},
		{in: "x\n" + a(20), line: 2},
		{in: "x\n" + a(16) + "\r", line: 2},
		{in: a(100000), line: 1},
		{in: `"` + a(6) + "\n" + a(7) + `"` + "\n", line: 0}, // 7 + 1 + 8
		{in: `"` + a(7) + "\n" + a(7) + `"` + "\n", line: 2},
		{in: `"` + a(12) + "\n\n" + `"` + "\n", line: 0}, // 13 + 1 + 0 + 1 + 1
		{in: `"` + a(13) + "\n\n" + `"` + "\n", line: 3},
		{in: `"` + a(15) + "\n\n" + `"` + "\n", line: 2}, // an empty line past the cap
		{in: `"` + a(5) + "\r\n" + a(8) + `"` + "\n", line: 2},
		{in: "\n\n\n" + a(16) + "\n" + a(17) + "\n", line: 5},
		{in: e(8) + "\n", line: 0},
		{in: strings.Repeat("\xe9", 8) + "\n", latin1: true, line: 0},
		{in: strings.Repeat("\xe9", 9) + "\n", latin1: true, line: 1}, // 18 bytes once transcoded
		{in: strings.Repeat("\xe9", 9) + "\n", line: 0},               // invalid UTF-8 instead
	} {
		ip := *profile.DefaultIssuer()
		ip.MaxLine = max
		ip.CSV.Header = false
		if tc.latin1 {
			ip.Charset = profile.CharsetLatin1
		}
		rd, _ := New(strings.NewReader(tc.in), &ip)
		var err error
		for err == nil || errors.As(err, new(*card.RecordError)) {
			_, err = rd.Next()
		}
		switch {
		case tc.line == 0 && errors.Is(err, ErrLineTooLong):
			t.Errorf("%q: %v", tc.in, err)
		case tc.line > 0 && (!errors.Is(err, ErrLineTooLong) || !strings.HasPrefix(err.Error(), "line "+strconv.Itoa(tc.line)+":")):
			t.Errorf("%q: %v, want line %d too long", tc.in, err, tc.line)
		}
	}
}

// TestCSVDelimiterNUL: the profile lets a NUL delimiter through;
// encoding/csv refused it on the first read, and so does quotedCSV.
func TestCSVDelimiterNUL(t *testing.T) {
	ip := *profile.DefaultIssuer()
	ip.CSV.Delimiter = "\x00"
	for _, in := range []string{"", "a,b\n"} {
		rd, _ := New(strings.NewReader(in), &ip)
		if _, err := rd.Next(); err == nil || err.Error() != "csv: invalid field or comment delimiter" {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// TestCSVRecordErrors covers the errors past the first record: the line
// numbers, a short record among good ones, and that the UTF-8 check waits
// for the syntax.
func TestCSVRecordErrors(t *testing.T) {
	head := testHeader + "\n"
	good := "4000000000079303,01,SAMPLE/ALPHA,12/29,,201,,GOLD,A,,\"c,1\",,\n"
	for _, tc := range []struct {
		in, want string
	}{
		{head + good + "\n\"a\nb\",\xff\n", "line 4: " + ErrUTF8.Error()},
		{head + good + "\"a\nb\xff\"\"x,c\n", "line 3: " + ErrSyntax.Error() + `: extraneous or missing " in quoted-field`},
		{head + good + "\xff,a\"b\n", "line 3: " + ErrSyntax.Error() + `: bare " in non-quoted-field`},
		{head + good + "\r\n\"4000000000079303\",b\n" + good, "reject: line 4 (PAN 400000******9303): record: 2 fields, the header has 13\nline 5: "},
		{head + good + "\"\n\n" + good, "line 3: " + ErrSyntax.Error() + `: extraneous or missing " in quoted-field`},
	} {
		got, _ := readAll(t, []byte(tc.in), issuer(t, ""))
		if !strings.Contains(got, tc.want) {
			t.Errorf("%q:\n%s\nwant %s", tc.in, got, tc.want)
		}
	}
}

const testHeader = "PAN,PAN_SEQ,TRACK_NAME,EXPIRY,EFFECTIVE,SERVICE_CODE,DISCRETIONARY,PRODUCT,EMBOSS_NAME,EMBOSS_LINE2,CARRIER1,CARRIER2,CHIP_TLV"
