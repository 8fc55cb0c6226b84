// Package machine pushes production files to a personalization machine's
// computer over SFTP, and deletes them again, with the checks the bureau's
// rules need on the transport side:
//
//   - the machine's SSH host key is pinned; a different key refuses to connect;
//   - a file is uploaded under a temporary name, read back and checked against
//     the size and SHA-256 fixed at preparation (invariant 6), and only then
//     renamed to its final name, so the machine never sees a half or wrong file;
//   - a push that fails cleans up after itself and is never doubled on retry;
//   - a deletion is confirmed by looking for the file afterwards.
//
// Deciding whether a push is allowed (the push gate, approvals, audit) is the
// caller's job; Ours gives it what is on the machine.
//
// File names on the machine: the production file of job J is "dp-J.pgp"; while
// it is uploaded it is ".dp-J.part-RANDOM" (a dot name, so tools on the
// machine that skip hidden files don't pick it up).
package machine

import (
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Sentinel errors. Every error returned by this package that fits one of
// them wraps it, so callers test with errors.Is.
var (
	// ErrUnreachable: no SSH connection could be made (refused, timed out,
	// reset during the handshake). Transient: worth retrying.
	ErrUnreachable = errors.New("machine unreachable")
	// ErrHostKeyChanged: the machine offered a host key other than the
	// pinned one. Never retried; someone has to find out why.
	ErrHostKeyChanged = errors.New("machine host key changed")
	// ErrAuth: the machine refused our client key.
	ErrAuth = errors.New("machine refused our key")
	// ErrPermission: the remote directory (or file) is not writable by us.
	ErrPermission = errors.New("permission denied on the machine")
	// ErrDiskFull: the machine's file system has no room for the file.
	ErrDiskFull = errors.New("machine disk full")
	// ErrConnectionLost: an established connection broke. Transient.
	ErrConnectionLost = errors.New("connection to the machine lost")
	// ErrVerify: what was read back (or what the source gave) does not match
	// the size and SHA-256 fixed at preparation.
	ErrVerify = errors.New("production file does not match its recorded hash")
	// ErrExists: the final name is already taken on the machine.
	ErrExists = errors.New("production file already on the machine")
	// ErrStillThere: a file is still on the machine after deleting it.
	ErrStillThere = errors.New("file still on the machine after deletion")
	// ErrBadJobID: a job id that is not [A-Za-z0-9-]{1,64}.
	ErrBadJobID = errors.New("bad job id")
	// ErrBadTarget: a machine address, directory or key that can't be used.
	ErrBadTarget = errors.New("bad machine target")
)

// DefaultTimeout applies when Target.Timeout is zero: for connecting and the
// SSH handshake, and as the keepalive limit of an established connection.
const DefaultTimeout = 15 * time.Second

// Target is one personalization machine's computer.
type Target struct {
	Name string // for messages only
	User string
	Host string
	Port int
	// Dir is the absolute remote directory that receives production files.
	Dir string
	// HostKey is the pinned host key. A machine offering any other key is
	// refused with ErrHostKeyChanged.
	HostKey ssh.PublicKey
	// Signer is our client key for this machine.
	Signer  ssh.Signer
	Timeout time.Duration
}

func (t Target) timeout() time.Duration {
	if t.Timeout > 0 {
		return t.Timeout
	}
	return DefaultTimeout
}

func (t Target) addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// validate checks everything Dial needs before it touches the network.
func (t Target) validate() error {
	if !userRE.MatchString(t.User) {
		return fmt.Errorf("machine %q: user %q: %w", t.Name, t.User, ErrBadTarget)
	}
	if err := checkHost(t.Host); err != nil {
		return fmt.Errorf("machine %q: %w", t.Name, err)
	}
	if t.Port < 1 || t.Port > 65535 {
		return fmt.Errorf("machine %q: port %d: %w", t.Name, t.Port, ErrBadTarget)
	}
	// An absolute, clean directory: remote paths are built by joining our
	// own names to it, and a relative one would depend on the login's home.
	if !strings.HasPrefix(t.Dir, "/") || path.Clean(t.Dir) != t.Dir || strings.ContainsRune(t.Dir, 0) {
		return fmt.Errorf("machine %q: directory %q must be an absolute, clean path: %w", t.Name, t.Dir, ErrBadTarget)
	}
	if t.HostKey == nil {
		return fmt.Errorf("machine %q: no pinned host key: %w", t.Name, ErrBadTarget)
	}
	if _, isCert := t.HostKey.(*ssh.Certificate); isCert {
		return fmt.Errorf("machine %q: pin the host's own key, not a certificate: %w", t.Name, ErrBadTarget)
	}
	if t.Signer == nil {
		return fmt.Errorf("machine %q: no client key: %w", t.Name, ErrBadTarget)
	}
	return nil
}

var (
	// POSIX portable user names, not starting with '-' (it would read as an
	// option to ssh tools people use to check by hand).
	userRE  = regexp.MustCompile(`^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$`)
	labelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	portRE  = regexp.MustCompile(`^[1-9][0-9]{0,4}$`)
)

func checkHost(h string) error {
	if ip := net.ParseIP(h); ip != nil {
		return nil
	}
	if h == "" || len(h) > 253 {
		return fmt.Errorf("host %q: %w", h, ErrBadTarget)
	}
	for _, l := range strings.Split(h, ".") {
		if !labelRE.MatchString(l) {
			return fmt.Errorf("host %q: %w", h, ErrBadTarget)
		}
	}
	return nil
}

// ParseTarget parses "USER@HOST:PORT". HOST is a DNS name, an IPv4 address or
// a bracketed IPv6 address ("[::1]"). All three parts are required; nothing
// else (no path, no spaces, no second '@') is accepted.
func ParseTarget(spec string) (user, host string, port int, err error) {
	bad := func(why string) (string, string, int, error) {
		return "", "", 0, fmt.Errorf("target %q: %s (want USER@HOST:PORT): %w", spec, why, ErrBadTarget)
	}
	user, hostPort, ok := strings.Cut(spec, "@")
	if !ok {
		return bad("no user")
	}
	if !userRE.MatchString(user) {
		return bad("bad user")
	}
	h, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		return bad(err.Error())
	}
	if strings.HasPrefix(hostPort, "[") {
		// Brackets are only for IPv6 literals.
		if ip := net.ParseIP(h); ip == nil || ip.To4() != nil {
			return bad("brackets around something that is not an IPv6 address")
		}
	} else if strings.Contains(h, ":") {
		return bad("IPv6 address without brackets")
	}
	if err := checkHost(h); err != nil {
		return bad("bad host")
	}
	if !portRE.MatchString(p) {
		return bad("bad port")
	}
	port, err = strconv.Atoi(p)
	if err != nil || port > 65535 {
		return bad("port out of range")
	}
	return user, h, port, nil
}

// HostKeyFromAuthorizedLine parses a host key to pin from one line, either in
// authorized_keys / .pub form ("ssh-ed25519 AAAA… comment") or in known_hosts
// form ("host[,host…] ssh-ed25519 AAAA…", hashed hosts included). Marker lines
// (@cert-authority, @revoked), certificates, options and several keys are
// refused: a pin is exactly one plain key.
func HostKeyFromAuthorizedLine(s string) (ssh.PublicKey, error) {
	line := strings.TrimSpace(s)
	if line == "" {
		return nil, fmt.Errorf("host key: empty: %w", ErrBadTarget)
	}
	if strings.ContainsAny(line, "\r\n") {
		return nil, fmt.Errorf("host key: give exactly one line: %w", ErrBadTarget)
	}
	if strings.HasPrefix(line, "@") {
		return nil, fmt.Errorf("host key: known_hosts marker lines can't be pinned: %w", ErrBadTarget)
	}
	var key ssh.PublicKey
	if k, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(line)); err == nil && len(opts) == 0 {
		key = k
	} else if marker, hosts, k, _, _, err := ssh.ParseKnownHosts([]byte(line)); err == nil && marker == "" && plainHosts(hosts) {
		key = k
	} else {
		return nil, fmt.Errorf("host key: neither \"TYPE BASE64\" nor a known_hosts line: %w", ErrBadTarget)
	}
	if _, isCert := key.(*ssh.Certificate); isCert {
		return nil, fmt.Errorf("host key: a certificate, pin the host's own key: %w", ErrBadTarget)
	}
	return key, nil
}

// plainHosts rejects host fields that are really authorized_keys options
// (command="…", from="…"): such a line was not meant as a host key.
func plainHosts(hosts []string) bool {
	for _, h := range hosts {
		if strings.Contains(h, `"`) {
			return false
		}
	}
	return true
}

// FingerprintSHA256 is the fingerprint as OpenSSH prints it
// ("SHA256:base64", no padding), so operators can compare it with
// `ssh-keygen -lf` on the machine.
func FingerprintSHA256(k ssh.PublicKey) string {
	if k == nil {
		return "(none)"
	}
	return ssh.FingerprintSHA256(k)
}

// Names on the machine.

var (
	jobRE   = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
	finalRE = regexp.MustCompile(`^dp-([A-Za-z0-9-]{1,64})\.pgp$`)
	tempRE  = regexp.MustCompile(`^\.dp-([A-Za-z0-9-]{1,64})\.part-(.+)$`)
)

func checkJob(job string) error {
	if !jobRE.MatchString(job) {
		// %q so control characters in a hostile id are shown escaped.
		return fmt.Errorf("job %q: %w", job, ErrBadJobID)
	}
	return nil
}

// FinalName is the name the production file of job has on the machine.
func FinalName(job string) (string, error) {
	if err := checkJob(job); err != nil {
		return "", err
	}
	return "dp-" + job + ".pgp", nil
}

func tempPrefix(job string) string { return ".dp-" + job + ".part-" }

// parseName tells whether name is one of ours, for which job, and whether it
// is a temporary (partial) name.
func parseName(name string) (job string, partial, ok bool) {
	if m := finalRE.FindStringSubmatch(name); m != nil {
		return m[1], false, true
	}
	if m := tempRE.FindStringSubmatch(name); m != nil {
		return m[1], true, true
	}
	return "", false, false
}
