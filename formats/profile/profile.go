package profile

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Sentinel errors, for errors.Is on what Check and the Parse functions
// return (a join of one error per problem).
var (
	ErrSyntax     = errors.New("not valid TOML")
	ErrUnknownKey = errors.New("unknown key")
	ErrMissingKey = errors.New("missing key")
	ErrInvalid    = errors.New("invalid value")
	ErrKind       = errors.New(`profile must say profile = "issuer" or profile = "machine"`)
)

// MaxSize bounds a profile: they are a few kilobytes, and the fuzzer and
// an operator's mistake should not make the parser chew on megabytes.
const MaxSize = 1 << 20

// Profile is an *Issuer or a *Machine.
type Profile interface {
	Kind() string
	ProfileName() string
}

// Check parses a profile of either kind and checks it completely.
func Check(data []byte) (Profile, error) {
	var head struct {
		Profile string `toml:"profile"`
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxSize)
	}
	if err := toml.Unmarshal(data, &head); err != nil {
		return nil, decodeErr(err)
	}
	switch head.Profile {
	case "issuer":
		return ParseIssuer(data)
	case "machine":
		return ParseMachine(data)
	}
	return nil, fmt.Errorf("profile: %w", ErrKind)
}

// decodeStrict decodes data into v, refusing unknown keys.
func decodeStrict(data []byte, v any) error {
	if len(data) > MaxSize {
		return fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxSize)
	}
	d := toml.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	return decodeErr(d.Decode(v))
}

// decodeErr turns go-toml's errors into ours, one per problem, each with
// its key and line.
func decodeErr(err error) error {
	if err == nil {
		return nil
	}
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		errs := make([]error, 0, len(strict.Errors))
		for _, e := range strict.Errors {
			row, _ := e.Position()
			errs = append(errs, fmt.Errorf("%s (line %d): %w", strings.Join(e.Key(), "."), row, ErrUnknownKey))
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		key := strings.Join(de.Key(), ".")
		if key != "" {
			key += " "
		}
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		kind := ErrSyntax
		if strings.HasPrefix(msg, "cannot ") {
			kind = ErrInvalid // well-formed TOML, wrong type for the key
		}
		return fmt.Errorf("%s(line %d column %d): %w: %s", key, row, col, kind, msg)
	}
	// Type mismatches and the like come as plain errors naming the key.
	return fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(err.Error(), "toml: "))
}

// problems collects every problem found in a profile.
type problems []error

func (p *problems) add(key string, sentinel error, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %w: %s", key, sentinel, fmt.Sprintf(format, args...)))
}

func (p problems) err() error { return errors.Join(p...) }

func oneOf(s string, allowed ...string) bool {
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	return false
}
