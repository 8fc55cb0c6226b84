package formats

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/formats/testgen"
)

// TestExplainGolden renders every shipped and test profile and compares
// with golden files; no output may hold the sample's whole PAN.
func TestExplainGolden(t *testing.T) {
	var files []string
	for _, pat := range []string{"profile/defaults/*.toml", dir + "/issuer/*.toml", dir + "/machine/*.toml"} {
		m, _ := filepath.Glob(pat)
		files = append(files, m...)
	}
	if len(files) < 8 {
		t.Fatalf("found %d profiles", len(files))
	}
	pan := testgen.Sample().PAN
	for _, f := range files {
		name := filepath.Base(filepath.Dir(f)) + "-" + strings.TrimSuffix(filepath.Base(f), ".toml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if _, err := CheckProfile(&out, data, jobDate); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.String(), pan) || strings.Contains(out.String(), pan[6:12]) {
				t.Errorf("output shows the PAN:\n%s", out.String())
			}
			golden(t, filepath.Join(dir, "explain", name+".golden"), out.Bytes())
		})
	}
}

func TestCheckProfileErrors(t *testing.T) {
	_, err := CheckProfile(&bytes.Buffer{}, []byte("profile = \"machine\"\nname = \"x\"\nformat = \"fixed\"\nfeild = 1\n"), jobDate)
	if !errors.Is(err, profile.ErrUnknownKey) || !strings.Contains(err.Error(), "feild") {
		t.Fatal(err)
	}
}
