// Package testgen makes synthetic issuer files for tests, benchmarks and
// the demo: Luhn-valid PANs in test BIN ranges (400000, 510000, 999999) and
// obviously made-up names. Nothing it writes resembles real cardholder
// data.
package testgen

import (
	"bufio"
	"io"
	"math/rand/v2"
	"strconv"

	"github.com/dataprep/dataprep/formats/card"
)

// Header is the first line CSV writes; profile/defaults/issuer-csv.toml
// reads it.
const Header = "PAN,PAN_SEQ,TRACK_NAME,EXPIRY,EFFECTIVE,SERVICE_CODE,DISCRETIONARY,PRODUCT,EMBOSS_NAME,EMBOSS_LINE2,CARRIER1,CARRIER2,CHIP_TLV"

var (
	bins = []string{"400000", "510000", "999999"}
	// Mostly plain upper case, as issuers send; some accents, an
	// apostrophe and lower case exercise transliteration.
	given    = []string{"ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "GOLF", "HOTEL", "INDIA", "JULIETT", "José", "ZOË"}
	family   = []string{"SAMPLE", "TESTER", "EXAMPLE", "DEMO", "PROBE", "MUSTER", "SPECIMEN", "DUMMY", "MÜLLER-TEST", "Østergård-Demo", "O'TEST", "STRAßE-PROBE"}
	products = []string{"CLAS", "GOLD", "PLAT", "DEBT"}
)

// PAN returns a Luhn-valid 16-digit synthetic PAN from a test BIN.
func PAN(rng *rand.Rand) string {
	var b [16]byte
	copy(b[:], bins[rng.IntN(len(bins))])
	for i := 6; i < 15; i++ {
		b[i] = byte('0' + rng.IntN(10))
	}
	b[15] = card.LuhnDigit(string(b[:15]))
	return string(b[:])
}

// CSV writes a header and n synthetic records to w, the same records for
// the same seed. Expiry dates fall in 2028–2031.
func CSV(w io.Writer, n int, seed int64) error {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(Header + "\n")
	var line []byte
	for i := 0; i < n; i++ {
		line = appendRecord(line[:0], rng)
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func appendRecord(b []byte, rng *rand.Rand) []byte {
	g, f := given[rng.IntN(len(given))], family[rng.IntN(len(family))]
	b = append(b, PAN(rng)...)
	b = append(b, ",0"...)
	b = strconv.AppendInt(b, int64(rng.IntN(3)), 10)
	b = append(b, ',')
	b = append(b, f...)
	b = append(b, '/')
	b = append(b, g...)
	mm := 1 + rng.IntN(12)
	yy := 28 + rng.IntN(4)
	b = append(b, ',')
	b = append2(b, mm)
	b = append(b, '/')
	b = append2(b, yy)
	b = append(b, ',')
	b = append2(b, mm)
	b = append(b, '/')
	b = append2(b, yy-4)
	b = append(b, ",201,"...)
	for range 7 {
		b = append(b, byte('0'+rng.IntN(10)))
	}
	b = append(b, ',')
	b = append(b, products[rng.IntN(len(products))]...)
	b = append(b, ',')
	b = append(b, g...)
	b = append(b, ' ')
	b = append(b, f...)
	b = append(b, ",SYNTHETIC TEST BANK,"...)
	// A comma inside the carrier greeting makes every record exercise
	// CSV quoting.
	b = append(b, `"Dear `...)
	b = append(b, g...)
	b = append(b, `, this is a test card"`...)
	b = append(b, ",Synthetic data - not a real card,"...)
	b = append(b, "5F28020250"...) // issuer country code
	b = append(b, "9F0702FF00"...) // application usage control
	return append(b, '\n')
}

func append2(b []byte, n int) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

// Sample is one synthetic record, already valid, that profile previews
// show converted (with its PAN masked).
func Sample() card.Record {
	return card.Record{
		Line: 1, PAN: "4000001234567899", PANSeq: "01", Name: "SAMPLE/ALPHA",
		Expiry: "2912", Effective: "2601", ServiceCode: "201", Discretionary: "0001234",
		Emboss:  [4]string{"ALPHA SAMPLE", "SYNTHETIC TEST BANK"},
		Carrier: []string{"Dear Alpha, this is a test card", "Synthetic data - not a real card"},
		Product: "GOLD",
		ChipTags: []card.ChipTag{
			{Tag: 0x5F28, Value: []byte{0x02, 0x50}},
			{Tag: 0x9F07, Value: []byte{0xFF, 0x00}},
			{Tag: 0x9F08, Value: []byte{0x00, 0x02}},
		},
	}
}
