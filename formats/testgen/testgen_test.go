package testgen

import (
	"bytes"
	"encoding/csv"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dataprep/dataprep/formats/card"
)

func TestCSV(t *testing.T) {
	var a, b bytes.Buffer
	if err := CSV(&a, 300, 42); err != nil {
		t.Fatal(err)
	}
	CSV(&b, 300, 42)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same seed, different output")
	}
	rows, err := csv.NewReader(&a).ReadAll()
	if err != nil || len(rows) != 301 || strings.Join(rows[0], ",") != Header {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	for _, r := range rows[1:] {
		pan := r[0]
		if !card.Luhn(pan) || len(pan) != 16 {
			t.Fatalf("PAN %s", card.Mask(pan))
		}
		if !strings.HasPrefix(pan, "400000") && !strings.HasPrefix(pan, "510000") && !strings.HasPrefix(pan, "999999") {
			t.Fatalf("PAN %s outside the test BINs", card.Mask(pan))
		}
	}
}

func TestPAN(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for range 1000 {
		if p := PAN(rng); !card.Luhn(p) {
			t.Fatal(card.Mask(p))
		}
	}
	s := Sample()
	if !card.Luhn(s.PAN) {
		t.Fatal("sample PAN")
	}
}
