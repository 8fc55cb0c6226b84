package convert

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"io"
	"testing"
	"time"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/formats/testgen"
	"github.com/dataprep/dataprep/formats/tlv"
)

var jobDate = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// readRecords makes n synthetic records as BenchmarkPrepare reads them
// (testgen.CSV through the default issuer profile), unvalidated. It maps
// the CSV itself rather than through formats/input, so that these tests
// do not depend on the reader: the columns by name, MM/YY dates as YYMM,
// the chip TLV column as tags followed by the profile's constant 9F08.
func readRecords(t testing.TB, n int, seed int64) ([]card.Record, card.Policy) {
	t.Helper()
	var in bytes.Buffer
	if err := testgen.CSV(&in, n, seed); err != nil {
		t.Fatal(err)
	}
	rd := csv.NewReader(&in)
	head, err := rd.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	yymm := func(mmyy string) string {
		if len(mmyy) != 5 || mmyy[2] != '/' {
			t.Fatalf("date %q", mmyy)
		}
		return mmyy[3:] + mmyy[:2]
	}
	var recs []card.Record
	for line := 2; ; line++ {
		f, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		get := func(name string) string { return f[col[name]] }
		r := card.Record{
			Line: line, PAN: get("PAN"), PANSeq: get("PAN_SEQ"), Name: get("TRACK_NAME"),
			Expiry: yymm(get("EXPIRY")), Effective: yymm(get("EFFECTIVE")),
			ServiceCode: get("SERVICE_CODE"), Discretionary: get("DISCRETIONARY"), Product: get("PRODUCT"),
			Emboss:  [card.EmbossLines]string{get("EMBOSS_NAME"), get("EMBOSS_LINE2")},
			Carrier: []string{get("CARRIER1"), get("CARRIER2")},
		}
		chip, err := hex.DecodeString(get("CHIP_TLV"))
		if err != nil {
			t.Fatal(err)
		}
		for len(chip) > 0 {
			tag, v, rest, err := tlv.Next(chip)
			if err != nil {
				t.Fatal(err)
			}
			r.ChipTags = append(r.ChipTags, card.ChipTag{Tag: tag, Value: v})
			chip = rest
		}
		r.ChipTags = append(r.ChipTags, card.ChipTag{Tag: 0x9F08, Value: []byte{0x00, 0x02}})
		recs = append(recs, r)
	}
	if len(recs) != n {
		t.Fatalf("%d records, want %d", len(recs), n)
	}
	return recs, profile.DefaultIssuer().Policy(jobDate)
}

// BenchmarkValidateConvert is the part of BenchmarkPrepare this package
// and card own: validating and converting the same records, without
// reading them. Each iteration does all 10 000 records; records/s is the
// figure to compare.
func BenchmarkValidateConvert(b *testing.B) {
	recs, pol := readRecords(b, 10000, 1)
	b.Run("validate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i := range recs {
				r := recs[i]
				if err := card.Validate(&r, &pol); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "records/s")
	})
	for _, name := range []string{"machine-fixed", "machine-cps"} {
		m, err := profile.DefaultMachine(name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			c := New(m)
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				for i := range recs {
					r := recs[i]
					if err := card.Validate(&r, &pol); err != nil {
						b.Fatal(err)
					}
					if buf, err = c.Append(buf[:0], &r); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
