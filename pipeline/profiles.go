package pipeline

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/dataprep/dataprep/formats/convert"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/formats/testgen"
)

// CheckProfile validates an issuer or machine profile and describes it; for
// a machine layout it shows what a synthetic sample record becomes, with
// the PAN masked wherever it appears.
func CheckProfile(data []byte) (string, error) {
	p, err := profile.Check(data)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ok: %s profile %q\n", p.Kind(), p.ProfileName())
	m, ok := p.(*profile.Machine)
	if !ok {
		return b.String(), nil
	}
	rec := testgen.Sample()
	var out bytes.Buffer
	if err := convert.NewPreview(m).Write(&out, &rec); err != nil {
		return "", fmt.Errorf("the sample record does not fit this layout: %w", err)
	}
	fmt.Fprintf(&b, "a synthetic sample record becomes (PAN masked):\n%s", out.String())
	if !strings.HasSuffix(out.String(), "\n") {
		b.WriteString("\n")
	}
	return b.String(), nil
}
