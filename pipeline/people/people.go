// Package people holds what the data room knows about a person: their role,
// their passphrase hash (argon2id) and the lockout rule. It is pure: the state
// store persists a Person, the daemon decides with these functions.
package people

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Role is what a person may do. One person has one role: a bureau separates
// duties by giving different people different accounts.
type Role string

const (
	Admin           Role = "admin"
	Operator        Role = "operator"
	Supervisor      Role = "supervisor"
	MachineOperator Role = "machine-operator"
	Auditor         Role = "auditor"
)

// Roles lists every role, in the order help texts show them.
var Roles = []Role{Admin, Operator, Supervisor, MachineOperator, Auditor}

var (
	ErrBadRole        = errors.New("unknown role")
	ErrBadName        = errors.New("invalid user name")
	ErrWeakPassphrase = errors.New("passphrase too weak")
	ErrBadHash        = errors.New("malformed passphrase hash")
)

// ParseRole checks s against the known roles.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("%w: use one of %s", ErrBadRole, RoleList())
}

// RoleList is the roles joined for messages.
func RoleList() string {
	s := make([]string, len(Roles))
	for i, r := range Roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,31}$`)

// CheckName accepts lower-case account names: they end up in audit entries
// and file names, so they are kept to a small, unambiguous alphabet.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: use 1-32 characters a-z 0-9 . _ -, starting with a letter", ErrBadName)
	}
	return nil
}

// MinPassphrase is the shortest passphrase accepted. Length beats character
// classes (NIST SP 800-63B); PCI DSS 4.0 asks for at least 12.
const MinPassphrase = 12

// CheckPassphrase refuses passphrases that are too short or that contain the
// user name.
func CheckPassphrase(name string, p []byte) error {
	if len([]rune(string(p))) < MinPassphrase {
		return fmt.Errorf("%w: use at least %d characters", ErrWeakPassphrase, MinPassphrase)
	}
	if name != "" && strings.Contains(strings.ToLower(string(p)), name) {
		return fmt.Errorf("%w: it must not contain the user name", ErrWeakPassphrase)
	}
	return nil
}

// Argon2id parameters for new hashes: the OWASP Password Storage Cheat
// Sheet's first configuration (19 MiB, 2 passes). RFC 9106's 64 MiB would
// take the daemon past its 64 MiB memory budget whenever someone logs in
// during a preparation; a bureau that prefers it sets [auth]
// kdf_memory_kib = 65536. The cost is stored with each hash, so changing
// it later locks nobody out: old hashes verify at their own cost.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 2
	argonKeyLen  = 32
)

// The largest argon2id cost a stored hash may name (2 GiB, 20 passes): the
// configuration may not ask for more, so no hash is made that would not verify.
const (
	MaxKDFMemoryKiB = 2 * 1024 * 1024
	MaxKDFTime      = 20
)

// KDF is the cost of new passphrase hashes (memory in KiB, passes).
type KDF struct{ MemoryKiB, Time uint32 }

// DefaultKDF is argon2id at 19 MiB and 2 passes.
var DefaultKDF = KDF{MemoryKiB: argonMemory, Time: argonTime}

// HashPassphrase returns a PHC-style argon2id string at the default cost.
func HashPassphrase(p []byte) (string, error) { return HashPassphraseWith(p, DefaultKDF) }

// HashPassphraseWith hashes at cost k; the cost is stored in the string.
func HashPassphraseWith(p []byte, k KDF) (string, error) {
	if k.MemoryKiB == 0 || k.Time == 0 {
		k = DefaultKDF
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading salt: %w", err)
	}
	key := argon2.IDKey(p, salt, k.Time, k.MemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, k.MemoryKiB, k.Time, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// CheckHash reports whether p matches the PHC string h, in constant time.
func CheckHash(h string, p []byte) (bool, error) {
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, ErrBadHash
	}
	var m, t uint32
	var th uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &th); err != nil || m == 0 || t == 0 || th == 0 || m > MaxKDFMemoryKiB || t > MaxKDFTime {
		return false, ErrBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, ErrBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, ErrBadHash
	}
	got := argon2.IDKey(p, salt, t, m, th, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Person is one account as the state store keeps it.
type Person struct {
	Name        string    `json:"name"`
	Role        Role      `json:"role"`
	Hash        string    `json:"hash"`
	Created     time.Time `json:"created"`
	CreatedBy   string    `json:"created_by"`
	Failures    int       `json:"failures"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
	// MustChange is set on accounts made by an administrator: the first
	// passphrase was known to someone else, so the person must choose their own.
	MustChange bool      `json:"must_change"`
	LastLogin  time.Time `json:"last_login,omitzero"`
	// Disabled accounts cannot sign in; they stay for the audit trail.
	Disabled bool `json:"disabled,omitempty"`
}

// Lockout is the rule for repeated failures (PCI DSS 8.3.4: at most 10
// attempts, locked at least 30 minutes).
type Lockout struct {
	MaxFailures int
	Duration    time.Duration
}

// DefaultLockout locks after 5 failures for 30 minutes.
var DefaultLockout = Lockout{MaxFailures: 5, Duration: 30 * time.Minute}

// Locked reports whether p is locked out at now.
func (p *Person) Locked(now time.Time) bool {
	return !p.LockedUntil.IsZero() && now.Before(p.LockedUntil)
}

// Fail records a failed attempt and reports whether it locked the account.
func (p *Person) Fail(now time.Time, rule Lockout) (lockedNow bool) {
	p.Failures++
	if p.Failures >= rule.MaxFailures {
		p.LockedUntil = now.Add(rule.Duration)
		p.Failures = 0
		return true
	}
	return false
}

// Succeed clears the failure count after a good passphrase.
func (p *Person) Succeed(now time.Time) {
	p.Failures = 0
	p.LockedUntil = time.Time{}
	p.LastLogin = now
}
