package profile

import (
	"embed"
	"fmt"
)

// Defaults holds the demo profiles: issuer-csv.toml (what testgen.CSV
// writes), machine-fixed.toml (an embosser line) and machine-cps.toml (chip
// data).
//
//go:embed defaults/*.toml
var Defaults embed.FS

// Default returns the bytes of the default profile name ("issuer-csv").
func Default(name string) ([]byte, error) {
	return Defaults.ReadFile("defaults/" + name + ".toml")
}

// DefaultIssuer is the demo issuer profile, parsed.
func DefaultIssuer() *Issuer {
	b, err := Default("issuer-csv")
	if err != nil {
		panic(err) // embedded at build time
	}
	ip, err := ParseIssuer(b)
	if err != nil {
		panic(fmt.Sprintf("embedded issuer-csv.toml: %v", err)) // caught by the tests
	}
	return ip
}

// DefaultMachine is a demo machine profile, "machine-fixed" or
// "machine-cps", parsed.
func DefaultMachine(name string) (*Machine, error) {
	b, err := Default(name)
	if err != nil {
		return nil, err
	}
	return ParseMachine(b)
}
