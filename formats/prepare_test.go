package formats

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/formats/testgen"
)

var jobDate = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func mustMachine(t testing.TB, name string) *profile.Machine {
	m, err := profile.DefaultMachine(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPrepareSmoke(t *testing.T) {
	var in, out bytes.Buffer
	testgen.CSV(&in, 20, 1)
	var rejects []card.RecordError
	n, err := Prepare(&in, profile.DefaultIssuer(), mustMachine(t, "machine-fixed"), Options{JobDate: jobDate}, &out, func(e card.RecordError) { rejects = append(rejects, e) })
	t.Logf("%+v %v %v\n%s", n, err, rejects, out.String())
}

func BenchmarkPrepare(b *testing.B) {
	for _, m := range []string{"machine-fixed", "machine-cps"} {
		b.Run(m, func(b *testing.B) {
			var in bytes.Buffer
			const n = 10000
			testgen.CSV(&in, n, 1)
			data := in.Bytes()
			ip, ml := profile.DefaultIssuer(), mustMachine(b, m)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				c, err := Prepare(bytes.NewReader(data), ip, ml, Options{JobDate: jobDate}, io.Discard, nil)
				if err != nil || c.Accepted != n {
					b.Fatal(c, err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
