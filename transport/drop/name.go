package drop

import (
	"errors"
	"fmt"

	"github.com/dataprep/dataprep/audit"
)

var (
	// ErrBadName is returned for a file name that is not a plain, safe name.
	ErrBadName = errors.New("drop: bad file name")
	// ErrBadIssuer is returned for an issuer name that does not match
	// [a-z0-9][a-z0-9._-]{0,63}.
	ErrBadIssuer = errors.New("drop: bad issuer name")
)

// maxNameLen bounds file names well below NAME_MAX (255) so that the hidden
// temporary names and anything the pipeline appends still fit.
const maxNameLen = 200

// cleanName vets a file name that an issuer chose. It does not rewrite
// hostile names into something else (that way lies confusion about which
// file is which in the audit log); it either returns the name unchanged or
// refuses it.
//
// Accepted: 1 to 200 bytes of [A-Za-z0-9._-], starting with a letter or a
// digit. That rules out path separators, "." and "..", hidden and temporary
// names (leading dot), names that look like command-line options (leading
// dash), control characters, spaces and non-ASCII (which would have several
// Unicode spellings of the same name).
func cleanName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty", ErrBadName)
	}
	if len(name) > maxNameLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrBadName, maxNameLen)
	}
	if !isAlnum(name[0]) {
		return "", fmt.Errorf("%w: %q must start with a letter or digit", ErrBadName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return "", fmt.Errorf("%w: %s: only A-Z a-z 0-9 . _ - are allowed", ErrBadName, withholdPAN(fmt.Sprintf("%q", name)))
		}
	}
	if audit.ContainsPANInText(name) { // the strict form: "4111.1111…", digests and UUIDs glued on

		return "", fmt.Errorf("%w: the name looks like a card number; name files without cardholder data", ErrBadName)
	}
	return name, nil
}

// withholdPAN replaces a text that holds something shaped like a card
// number (audit.ContainsPAN) by a fixed note: the drop logs and audits what
// it refuses, and a refused name must not carry a PAN there.
func withholdPAN(s string) string {
	if audit.ContainsPAN(s) {
		return "(withheld: it looks like a card number)"
	}
	return s
}

// checkIssuer vets an issuer name, which doubles as the SSH login name and
// the jail's directory name.
func checkIssuer(issuer string) error {
	if issuer == "" || len(issuer) > 64 {
		return fmt.Errorf("%w: %q", ErrBadIssuer, issuer)
	}
	if !isLowerAlnum(issuer[0]) {
		return fmt.Errorf("%w: %q", ErrBadIssuer, issuer)
	}
	for i := 1; i < len(issuer); i++ {
		c := issuer[i]
		if !isLowerAlnum(c) && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("%w: %q", ErrBadIssuer, issuer)
		}
	}
	return nil
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
func isAlnum(c byte) bool      { return isLowerAlnum(c) || c >= 'A' && c <= 'Z' }
