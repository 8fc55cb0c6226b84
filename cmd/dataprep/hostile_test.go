package main

// The hostile-input corpus (issue 6, part 2) run end to end: every file of
// testdata/hostile against ONE real daemon, with the expectations of
// testdata/hostile/README.md. See that README for the file formats.

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/formats/card"
)

const (
	hostileDir = "../../testdata/hostile"
	// The test daemon's limits, lowered from the defaults (4 GiB, 16 GiB) so
	// that the sparse file and the bombs hit them in seconds.
	hostileMaxFile  = 64 << 20
	hostileMaxPlain = 32 << 20
	// The daemon's peak RSS over the whole corpus.
	hostileMaxHWM = 256 << 20
)

// hostileCase is one corpus file and what the README says must happen.
type hostileCase struct {
	file     string   // name in testdata/hostile
	outcome  string   // fail, reject-record, good, duplicate, refuse
	kind     string   // csv, recipe, sftp
	reasons  []string // alternatives; "-" for a refusal that needs no audit entry
	accepted int      // -1 when the README gives none
	rejects  []string // "line:field", sorted

	upload string // name on the drop (job cases)
	id     string // the job
}

var (
	hostileRowRE      = regexp.MustCompile("^\\| `([a-z0-9-]+_[^`]+\\.(csv|recipe|sftp))` \\|")
	hostileBacktickRE = regexp.MustCompile("`([^`]*)`")
)

// hostileSplitRow splits a markdown table row on unescaped '|' and unescapes "\|".
func hostileSplitRow(row string) []string {
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(row); i++ {
		switch {
		case row[i] == '\\' && i+1 < len(row) && row[i+1] == '|':
			cur.WriteByte('|')
			i++
		case row[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(row[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// loadHostileCorpus reads the README's table and checks it lists exactly the files.
func loadHostileCorpus(t *testing.T) []*hostileCase {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(hostileDir, "README.md"))
	require.NoError(t, err)
	byFile := map[string]*hostileCase{}
	for _, line := range strings.Split(string(readme), "\n") {
		m := hostileRowRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		cells := hostileSplitRow(line)
		require.Len(t, cells, 5, "README row %q", line)
		c := &hostileCase{file: m[1], kind: m[2], accepted: -1}
		c.outcome, _, _ = strings.Cut(c.file, "_")
		require.Contains(t, []string{"fail", "reject-record", "good", "duplicate", "refuse"}, c.outcome, c.file)
		for _, tok := range hostileBacktickRE.FindAllStringSubmatch(cells[3], -1) {
			s := tok[1]
			switch {
			case strings.HasPrefix(s, "accepted "):
				c.accepted, err = strconv.Atoi(strings.TrimPrefix(s, "accepted "))
				require.NoError(t, err, c.file)
			case strings.HasPrefix(s, "rejects "):
				c.rejects = strings.Fields(strings.TrimPrefix(s, "rejects "))
				sort.Strings(c.rejects)
			case c.reasons == nil:
				c.reasons = strings.Split(s, "|")
			}
		}
		switch c.outcome {
		case "fail", "duplicate", "refuse":
			require.NotEmpty(t, c.reasons, "%s: the README gives no reason", c.file)
		default:
			require.GreaterOrEqual(t, c.accepted, 0, "%s: the README gives no `accepted N`", c.file)
		}
		require.NotContains(t, byFile, c.file, "README lists %s twice", c.file)
		byFile[c.file] = c
	}
	ents, err := os.ReadDir(hostileDir)
	require.NoError(t, err)
	var out []*hostileCase
	for _, e := range ents {
		if e.Name() == "README.md" {
			continue
		}
		c, ok := byFile[e.Name()]
		require.True(t, ok, "%s has no row in testdata/hostile/README.md", e.Name())
		delete(byFile, e.Name())
		out = append(out, c)
	}
	require.Empty(t, byFile, "README rows without a file")
	require.GreaterOrEqual(t, len(out), 30)
	return out
}

func hostileSeed(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64() >> 2)
}

// hostileWorld is staffed() with lowered size limits: the daemon starts only
// after dataprep.toml has been edited. It also makes the other keys the
// recipes name.
func hostileWorld(t *testing.T) (*world, *issuer, map[string]string) {
	dir := t.TempDir()
	w := &world{t: t, dir: dir, home: filepath.Join(dir, "home"), bin: dataprepBin(t), gnupg: filepath.Join(dir, "gnupg"),
		stderr: &lockedBuffer{}, outputs: &lockedBuffer{}}
	require.NoError(t, os.MkdirAll(w.gnupg, 0o700))
	w.secret("alice", adminPass)
	out, err := w.cli("", "init", "--admin", "alice", "--dev", "--admin-passphrase-file", w.passFile("alice"))
	require.NoError(t, err, out)
	cfgPath := filepath.Join(w.home, "dataprep.toml")
	cfg, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	// The corpus sends dozens of broken OpenPGP files for one issuer within
	// minutes: lift the per-issuer hold on starts that would otherwise stop it.
	for key, v := range map[string]int{"max_file_size": hostileMaxFile, "max_plaintext": hostileMaxPlain, "max_crypto_failures_per_hour": 1000} {
		re := regexp.MustCompile(`(?m)^` + key + ` = \d+$`)
		require.Len(t, re.FindAll(cfg, -1), 1, "%s in %s", key, cfg)
		cfg = re.ReplaceAll(cfg, []byte(fmt.Sprintf("%s = %d", key, v)))
	}
	require.NoError(t, os.WriteFile(cfgPath, cfg, 0o600))
	w.start()

	w.person("bob", "operator")
	w.person("carol", "supervisor")
	w.person("dave", "machine-operator")
	acme := w.newIssuer("acme")
	acme.register()
	other := w.newIssuer("other-bank") // keys in gpg, not registered
	w.gpg(nil, "--quick-gen-key", "Not the data room <test-only-stranger@example.invalid>", "rsa2048", "encrypt", "never")
	w.addMachine("emb1")
	w.ok("alice", "machine", "authorize", "emb1", "--operator", "dave")
	fpr := w.dataRoomCert()
	keys := map[string]string{"ISSUER": acme.email, "OTHER_ISSUER": other.email,
		"STRANGER": "test-only-stranger@example.invalid", "DATAROOM": fpr}
	return w, acme, keys
}

// hostileGPG runs the stock gpg with stdin streamed from r.
func (w *world) hostileGPG(t *testing.T, r io.Reader, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("gpg", append([]string{"--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "",
		"--trust-model", "always"}, append(args, "--output", "-")...)...)
	cmd.Env = w.env()
	cmd.Stdin = r
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), "gpg %v: %s", args, errb.String())
	return out.Bytes()
}

type hostileZeros struct{}

func (hostileZeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// hostileRepeat yields s over and over.
type hostileRepeat struct {
	s   []byte
	off int
}

func (r *hostileRepeat) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.off:])
		n += c
		r.off = (r.off + c) % len(r.s)
	}
	return n, nil
}

func hostileSize(t *testing.T, s string) int64 {
	t.Helper()
	mult := int64(1)
	for suf, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSuffix(s, suf), m
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err, "size %q", s)
	return n * mult
}

// hostileOffset resolves N, N% or -N (from the end) against a length.
func hostileOffset(t *testing.T, s string, n int) int {
	t.Helper()
	var off int
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.Atoi(p)
		require.NoError(t, err)
		off = n * v / 100
	} else {
		v, err := strconv.Atoi(s)
		require.NoError(t, err)
		off = v
		if v < 0 {
			off = n + v
		}
	}
	require.True(t, off >= 0 && off <= n, "offset %s out of %d bytes", s, n)
	return off
}

// hostileQuoted takes a Go-quoted string off the front of s.
func hostileQuoted(t *testing.T, s string) (string, string) {
	t.Helper()
	s = strings.TrimSpace(s)
	q, err := strconv.QuotedPrefix(s)
	require.NoError(t, err, "want a Go-quoted string: %s", s)
	v, err := strconv.Unquote(q)
	require.NoError(t, err)
	return v, strings.TrimSpace(s[len(q):])
}

// hostileRecipeLines are the steps of a recipe, comments and blank lines dropped.
func hostileRecipeLines(t *testing.T, file string) []string {
	raw, err := os.ReadFile(filepath.Join(hostileDir, file))
	require.NoError(t, err)
	var out []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// hostileRecipe builds the bytes a recipe describes; plains collects the
// synthetic plaintexts it used (for the PAN scan).
func (w *world) hostileRecipe(t *testing.T, c *hostileCase, keys map[string]string, plains *[][]byte) []byte {
	var cur []byte
	var lazy io.Reader
	var stack [][]byte
	materialize := func() {
		if lazy != nil {
			b, err := io.ReadAll(lazy)
			require.NoError(t, err)
			cur, lazy = b, nil
		}
	}
	input := func() io.Reader {
		if lazy != nil {
			return lazy
		}
		return bytes.NewReader(cur)
	}
	for i, line := range hostileRecipeLines(t, c.file) {
		f := strings.Fields(line)
		rest := strings.TrimSpace(strings.TrimPrefix(line, f[0]))
		switch f[0] {
		case "plain":
			lazy = nil
			switch f[1] {
			case "synthetic":
				n, err := strconv.Atoi(f[2])
				require.NoError(t, err)
				cur = syntheticCSV(t, n, hostileSeed(c.file)+int64(i))
				*plains = append(*plains, cur)
			case "text":
				s, _ := hostileQuoted(t, strings.TrimPrefix(rest, "text"))
				cur = []byte(s)
			case "zeros":
				cur, lazy = nil, io.LimitReader(hostileZeros{}, hostileSize(t, f[2]))
			default:
				t.Fatalf("%s: unknown plain %q", c.file, f[1])
			}
		case "append":
			require.Equal(t, "repeat", f[1], line)
			s, size := hostileQuoted(t, strings.TrimPrefix(rest, "repeat"))
			lazy = io.MultiReader(input(), io.LimitReader(&hostileRepeat{s: []byte(s)}, hostileSize(t, size)))
		case "random":
			n, err := strconv.Atoi(f[1])
			require.NoError(t, err)
			rng := rand.New(rand.NewPCG(uint64(hostileSeed(c.file)), 1))
			cur, lazy = make([]byte, n), nil
			for j := range cur {
				cur[j] = byte(rng.UintN(256))
			}
		case "empty":
			cur, lazy = []byte{}, nil
		case "gpg":
			args := f[1:]
			for j, a := range args {
				if k, ok := keys[a]; ok {
					args[j] = k
				}
			}
			cur = w.hostileGPG(t, input(), args...)
			lazy = nil
		case "truncate":
			materialize()
			cur = cur[:hostileOffset(t, f[1], len(cur))]
		case "flip":
			materialize()
			off := hostileOffset(t, f[1], len(cur))
			cur = append([]byte(nil), cur...)
			cur[off] ^= 0x40
		case "push":
			materialize()
			stack = append(stack, cur)
		case "cat":
			materialize()
			require.NotEmpty(t, stack, "%s: cat without push", c.file)
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			cur = append(append([]byte(nil), top...), cur...)
		default:
			t.Fatalf("%s: unknown recipe step %q", c.file, line)
		}
	}
	materialize()
	return cur
}

// hostileRawSFTP is a hostile client: pkg/sftp over x/crypto/ssh, which sends any
// path bytes it is given.
func (is *issuer) hostileRawSFTP(t *testing.T) *sftp.Client {
	w := is.w
	key, err := os.ReadFile(is.sshKey)
	require.NoError(t, err)
	signer, err := ssh.ParsePrivateKey(key)
	require.NoError(t, err)
	hk, err := os.ReadFile(filepath.Join(w.home, "keys", "drop-host-ed25519"))
	require.NoError(t, err)
	host, err := ssh.ParsePrivateKey(hk)
	require.NoError(t, err)
	conn, err := ssh.Dial("tcp", w.drop, &ssh.ClientConfig{User: is.name, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(host.PublicKey()), Timeout: 10 * time.Second})
	require.NoError(t, err)
	c, err := sftp.NewClient(conn)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); conn.Close() })
	return c
}

// hostileHomeFiles lists the files under the home that a refused transfer must not
// change: everything but the audit log, the state store and the socket.
func (w *world) hostileHomeFiles(t *testing.T) []string {
	var out []string
	filepath.WalkDir(w.home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(w.home, p)
		if rel == "audit" && d.IsDir() {
			return filepath.SkipDir
		}
		if strings.HasPrefix(rel, "state.db") || rel == "control.sock" {
			return nil
		}
		out = append(out, rel)
		return nil
	})
	return out
}

// hostileSFTPCase plays one transport-level case as the issuer.
func (w *world) hostileSFTPCase(t *testing.T, c *hostileCase, acme *issuer, keys map[string]string, plains *[][]byte) {
	local := filepath.Join(w.dir, "upload-"+c.file)
	dl := filepath.Join(w.dir, "upload-dl-"+c.file)
	defer os.Remove(local)
	defer os.Remove(dl)
	var data []byte
	var batch strings.Builder
	type rawOp struct{ op, a, b string }
	var raws []rawOp
	for _, line := range hostileRecipeLines(t, c.file) {
		f := strings.Fields(line)
		rest := strings.TrimSpace(strings.TrimPrefix(line, f[0]))
		switch f[0] {
		case "data":
			switch f[1] {
			case "good":
				plain := syntheticCSV(t, 5, hostileSeed(c.file))
				*plains = append(*plains, plain)
				data = acme.encrypt(plain, keys["DATAROOM"])
				require.NoError(t, os.WriteFile(local, data, 0o600))
			case "sparse":
				fh, err := os.Create(local)
				require.NoError(t, err)
				require.NoError(t, fh.Truncate(hostileSize(t, f[2])))
				require.NoError(t, fh.Close())
			default:
				t.Fatalf("%s: unknown data %q", c.file, f[1])
			}
		case "sftp":
			r := strings.NewReplacer("{local}", local, "{out}", dl)
			batch.WriteString(r.Replace(rest) + "\n")
		case "raw":
			a, more := hostileQuoted(t, strings.TrimPrefix(rest, f[1]))
			op := rawOp{op: f[1], a: a}
			if more != "" {
				op.b, _ = hostileQuoted(t, more)
			}
			raws = append(raws, op)
		case "plant":
			p := filepath.Join(w.home, "drop", "acme", f[1])
			require.NoError(t, os.Symlink(f[2], p))
			defer os.Remove(p)
		default:
			t.Fatalf("%s: unknown step %q", c.file, line)
		}
	}
	before := w.hostileHomeFiles(t)
	from := w.auditHead()
	var clientSaw []string
	if batch.Len() > 0 {
		out, err := acme.sftp(batch.String())
		assert.Error(t, err, "the stock sftp client must see a failure:\n%s\n%s", batch.String(), out)
		clientSaw = append(clientSaw, out)
	}
	if len(raws) > 0 {
		cl := acme.hostileRawSFTP(t)
		for _, r := range raws {
			var err error
			switch r.op {
			case "put", "append":
				flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
				if r.op == "append" {
					flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
				}
				var fh *sftp.File
				fh, err = cl.OpenFile("/"+r.a, flags)
				if err == nil {
					_, err = fh.Write(data)
					if cerr := fh.Close(); err == nil {
						err = cerr
					}
				}
			case "get":
				var fh *sftp.File
				fh, err = cl.Open("/" + r.a)
				if err == nil {
					var n int
					n, err = fh.Read(make([]byte, 4096))
					require.Zero(t, n, "read from incoming/")
					fh.Close()
				}
			case "link":
				err = cl.Link("/"+r.a, "/"+r.b)
			case "rename":
				err = cl.Rename("/"+r.a, "/"+r.b)
			default:
				t.Fatalf("%s: unknown raw op %q", c.file, r.op)
			}
			// pkg/sftp's client folds the status message into os.ErrPermission
			// and the like: the reason is checked in the audit log below.
			require.Error(t, err, "%s %q must be refused", r.op, r.a)
			clientSaw = append(clientSaw, err.Error())
		}
	}

	// The audit log says why.
	if c.reasons[0] != "-" {
		var found bool
		for _, e := range w.auditEntries() {
			if e.Seq > from && e.Event == "drop.refused" && e.Issuer == "acme" && hostileContainsAny(e.Detail["reason"], c.reasons) {
				found = true
			}
		}
		assert.True(t, found, "no drop.refused audit entry with %q\nclient saw: %s\ndaemon:\n%s", c.reasons, clientSaw, hostileTail(w.stderr.String(), 3000))
	}
	// Nothing was written anywhere: not in the home, not outside the jail,
	// nothing downloaded.
	assert.Equal(t, before, w.hostileHomeFiles(t), "a refused transfer changed the home")
	for _, p := range []string{"/etc/escape.gpg", filepath.Join(w.dir, "escape.gpg"), filepath.Join(w.home, "escape.gpg"),
		filepath.Join(w.home, "drop", "escape.gpg")} {
		assert.NoFileExists(t, p)
	}
	if fi, err := os.Stat(dl); err == nil {
		assert.Zero(t, fi.Size(), "a refused download wrote data")
	}
}

func hostileContainsAny(s string, alts []string) bool {
	for _, a := range alts {
		if strings.Contains(s, a) {
			return true
		}
	}
	return false
}

func hostileRequireAny(t *testing.T, s string, alts []string, msg string) {
	t.Helper()
	require.True(t, hostileContainsAny(s, alts), "%s: want one of %q in:\n%s", msg, alts, s)
}

func hostileTail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// hostileVmHWM is the daemon's peak resident set size in bytes.
func (w *world) hostileVmHWM(t *testing.T) int64 {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.daemon.Process.Pid))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB$`).FindSubmatch(st)
	require.NotNil(t, m, "%s", st)
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

var (
	hostileRejectRE = regexp.MustCompile(`(?m)^  line (\d+)\t([^\t\n]*)\t([^\t\n]*)\t([^\n]*)$`)
	hostileMaskedRE = regexp.MustCompile(`^(-|[0-9]{0,6}\*+[0-9]{0,4})$`)
)

// hostileSignedText is what a clear-signed report says, dash-escaping undone.
func hostileSignedText(t *testing.T, rep []byte) string {
	t.Helper()
	s := string(rep)
	_, body, ok := strings.Cut(s, "-----BEGIN PGP SIGNED MESSAGE-----\n")
	require.True(t, ok, "report is not clear-signed:\n%s", s)
	_, body, ok = strings.Cut(body, "\n\n") // armor headers
	require.True(t, ok)
	body, _, ok = strings.Cut(body, "\n-----BEGIN PGP SIGNATURE-----")
	require.True(t, ok)
	lines := strings.Split(body, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "- ")
	}
	return strings.Join(lines, "\n")
}

// hostileReport verifies a report with stock gpg and checks that no field of
// it could run as a spreadsheet formula or carries control characters.
func (w *world) hostileReport(t *testing.T, path string) string {
	t.Helper()
	rep, err := os.ReadFile(path)
	require.NoError(t, err, "the issuer's report")
	w.gpg(rep, "--verify")
	text := hostileSignedText(t, rep)
	for _, line := range strings.Split(text, "\n") {
		for _, r := range line {
			require.False(t, r < 0x20 && r != '\t' || r == 0x7f, "control character in report line %q", line)
		}
		for _, field := range strings.Split(line, "\t") {
			field = strings.TrimSpace(field)
			if _, v, ok := strings.Cut(field, ":  "); ok && !strings.HasPrefix(field, "line ") {
				field = strings.TrimSpace(v) // "reason:    …"
			}
			bad := field != "" && (strings.ContainsRune("=+@", rune(field[0])) || field[0] == '-' && len(field) > 1)
			require.False(t, bad, "report field %q could run as a spreadsheet formula", field)
		}
	}
	return text
}

// hostileReportRejects are the "line:field" pairs a report lists, checking masks.
func hostileReportRejects(t *testing.T, text string) []string {
	t.Helper()
	var out []string
	for _, m := range hostileRejectRE.FindAllStringSubmatch(text, -1) {
		require.Regexp(t, hostileMaskedRE, m[2], "masked PAN in %q", m[0])
		require.NotEmpty(t, m[4], "a reason for %q", m[0])
		out = append(out, m[1]+":"+m[3])
	}
	sort.Strings(out)
	return out
}

// hostileUnauthReasons are the OpenPGP-level refusals: whatever the file
// decrypted to was never proven to come from the issuer.
var hostileUnauthReasons = []string{"corrupt, truncated", "signature does not match", "not signed", "not this issuer's",
	"not encrypted to", "cipher this data room refuses", "larger than the configured limit"}

// hostileOneLine checks what the issuer, operator and auditor are told.
func hostileOneLine(t *testing.T, reason string) {
	t.Helper()
	require.NotEmpty(t, reason)
	require.NotContains(t, reason, "\n")
	require.Less(t, len(reason), 400, "a one-line reason, not a dump: %s", reason)
	for _, bad := range []string{"goroutine", "panic", "padding", "openpgp:", "%!", "PKCS"} {
		require.NotContains(t, reason, bad, "internals in the reason")
	}
}

// TestHostileCorpus runs every case of testdata/hostile against one daemon.
func TestHostileCorpus(t *testing.T) {
	t.Parallel() // each test owns its world: home, token, ports, sshd
	cases := loadHostileCorpus(t)
	start := time.Now()
	w, acme, keys := hostileWorld(t)
	t.Logf("world ready in %v; daemon VmHWM %d MiB", time.Since(start).Round(time.Millisecond), w.hostileVmHWM(t)>>20)
	var plains [][]byte

	// 1. Transport: refused over SFTP before any job exists.
	for _, c := range cases {
		if c.kind != "sftp" {
			continue
		}
		t.Run(c.file, func(t *testing.T) {
			defer func(old *testing.T) { w.t = old }(w.t)
			w.t = t
			w.hostileSFTPCase(t, c, acme, keys, &plains)
		})
	}
	var js []map[string]any
	w.jsonOK("bob", &js, "job", "list")
	for _, j := range js {
		t.Errorf("a refused transfer became job %v (%v)", j["id"], j["file_name"])
	}
	t.Logf("transport cases done at %v; daemon VmHWM %d MiB", time.Since(start).Round(time.Millisecond), w.hostileVmHWM(t)>>20)

	// 2. Files: make each (gpg at test time), upload them one after the
	// other in one stock sftp session.
	var jobs []*hostileCase
	var batch strings.Builder
	batch.WriteString("cd incoming\n")
	for _, c := range cases {
		var data []byte
		switch c.kind {
		case "csv":
			plain, err := os.ReadFile(filepath.Join(hostileDir, c.file))
			require.NoError(t, err)
			plains = append(plains, plain)
			data = acme.encrypt(plain, keys["DATAROOM"])
		case "recipe":
			data = w.hostileRecipe(t, c, keys, &plains)
		default:
			continue
		}
		c.upload = c.file + ".gpg"
		local := filepath.Join(w.dir, "upload-"+c.upload)
		require.NoError(t, os.WriteFile(local, data, 0o600))
		defer os.Remove(local)
		fmt.Fprintf(&batch, "put %s %s\n", local, c.upload)
		if c.outcome == "duplicate" {
			fmt.Fprintf(&batch, "put %s %s\n", local, "again-"+c.upload)
		}
		jobs = append(jobs, c)
	}
	t.Logf("%d files made at %v", len(jobs), time.Since(start).Round(time.Millisecond))
	out, err := acme.sftp(batch.String())
	require.NoError(t, err, "%s\ndaemon:\n%s", out, hostileTail(w.stderr.String(), 3000))

	// Every upload is a received job; the duplicate is not.
	byName := map[string]map[string]any{}
	w.jsonOK("bob", &js, "job", "list")
	for _, j := range js {
		byName[j["file_name"].(string)] = j
	}
	for _, c := range jobs {
		j, ok := byName[c.upload]
		require.True(t, ok, "no job for %s", c.upload)
		require.Equal(t, "received", j["state"], c.upload)
		c.id = j["id"].(string)
	}

	// Start them all (bob asks, carol approves), then wait for the end states.
	for _, c := range jobs {
		w.startJob(c.id)
	}
	t.Logf("%d jobs started at %v; daemon VmHWM %d MiB", len(jobs), time.Since(start).Round(time.Millisecond), w.hostileVmHWM(t)>>20)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		w.jsonOK("bob", &js, "job", "list")
		pending := 0
		for _, j := range js {
			byName[j["file_name"].(string)] = j
			if s := j["state"]; s != "ready" && s != "rejected" {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		require.False(t, time.Now().After(deadline), "%d jobs still preparing\n%s", pending, hostileTail(w.stderr.String(), 4000))
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("all jobs done at %v; daemon VmHWM %d MiB", time.Since(start).Round(time.Millisecond), w.hostileVmHWM(t)>>20)

	entries := w.auditEntries()
	outbox := filepath.Join(w.home, "drop", "acme", "outbox")
	for _, c := range jobs {
		t.Run(c.file, func(t *testing.T) {
			defer func(old *testing.T) { w.t = old }(w.t)
			w.t = t
			j := byName[c.upload]
			state, reason := j["state"].(string), fmt.Sprint(j["reason"])
			counts, _ := j["counts"].(map[string]any)
			t.Logf("%s: %s, counts %v, reason %q", c.id, state, counts, j["reason"])
			report := filepath.Join(outbox, c.id+"-report.txt.asc")
			quarantined := filepath.Join(w.home, "quarantine", c.id+".pgp")
			production := filepath.Join(w.home, "spool", "production", c.id+".pgp")
			received := filepath.Join(w.home, "spool", "received", c.id+".pgp")
			require.NoFileExists(t, production+".part")
			switch c.outcome {
			case "fail":
				require.Equal(t, "rejected", state, "the whole file must be rejected: %v", j)
				hostileOneLine(t, reason)
				hostileRequireAny(t, reason, c.reasons, "job reason")
				require.FileExists(t, quarantined)
				require.NoFileExists(t, received, "a rejected file leaves the spool for quarantine")
				require.NoFileExists(t, production, "nothing of a rejected file may be produced")
				var audited bool
				for _, e := range entries {
					if e.Job == c.id && e.Event == "job.rejected" && e.Outcome == "failed" && e.Detail["reason"] == reason {
						audited = true
					}
				}
				require.True(t, audited, "no job.rejected audit entry with the reason")
				text := w.hostileReport(t, report)
				require.Contains(t, text, "state:     rejected")
				require.Contains(t, text, reason)
				if c.rejects != nil {
					require.Equal(t, c.rejects, hostileReportRejects(t, text), "the report lists every bad record")
				}
				// Nothing of a rejected file is produced, so nothing of it was
				// accepted; and what a file that failed its integrity or
				// signature check decrypted to is nobody's data to list.
				assert.NotRegexp(t, `[1-9][0-9]* accepted`, text, "REPORT-COUNTS: the report of a rejected file claims accepted records")
				assert.EqualValues(t, 0, counts["accepted"], "REPORT-COUNTS: a rejected job has accepted records")
				if hostileContainsAny(reason, hostileUnauthReasons) {
					assert.Empty(t, hostileReportRejects(t, text), "REPORT-COUNTS: records of an unauthenticated file are listed in the report")
				}
			case "good", "reject-record", "duplicate":
				require.Equal(t, "ready", state, "%v", j)
				require.FileExists(t, production)
				require.FileExists(t, received, "the issuer's file stays until the supervised deletion")
				require.NoFileExists(t, quarantined)
				want := c.rejects
				if want == nil {
					want = []string{}
				}
				if c.outcome != "duplicate" {
					require.EqualValues(t, c.accepted, counts["accepted"], "accepted records: %v", j)
					require.EqualValues(t, len(want), counts["rejected"], "rejected records: %v", j)
					require.EqualValues(t, c.accepted+len(want), counts["read"])
				}
				var audited bool
				for _, e := range entries {
					if e.Job == c.id && e.Event == "job.ready" && e.Detail["records_rejected"] == fmt.Sprint(counts["rejected"]) {
						audited = true
					}
				}
				require.True(t, audited, "no job.ready audit entry with the counts")
				text := w.hostileReport(t, report)
				require.Contains(t, text, "state:     ready")
				got := hostileReportRejects(t, text)
				if got == nil {
					got = []string{}
				}
				require.Equal(t, want, got, "the report lists exactly the bad records, masked")
			}
			if c.outcome == "duplicate" {
				again := "again-" + c.upload
				_, isJob := byName[again]
				require.False(t, isJob, "a duplicate must not become a job")
				var e audit.Entry
				for _, x := range entries {
					if x.Event == "file.duplicate" && x.Outcome == "refused" && x.Detail["file"] == again {
						e = x
					}
				}
				require.NotZero(t, e.Seq, "no file.duplicate audit entry for %s", again)
				hostileRequireAny(t, e.Detail["reason"], c.reasons, "duplicate reason")
				q, _ := filepath.Glob(filepath.Join(w.home, "quarantine", "duplicate-*-"+again))
				require.Len(t, q, 1, "the duplicate is quarantined")
				r, _ := filepath.Glob(filepath.Join(outbox, "duplicate-"+e.Detail["sha256"][:16]+"-report.txt.asc"))
				require.Len(t, r, 1, "the issuer is told about the duplicate")
				require.Contains(t, w.hostileReport(t, r[0]), again)
			}
		})
	}

	// 3. After all of it the daemon still serves a good file, in bounded memory.
	good := syntheticCSV(t, 10, 606)
	plains = append(plains, good)
	w.prepareJob(acme, keys["DATAROOM"], good, "after-hostile.gpg")
	hwm := w.hostileVmHWM(t)
	t.Logf("daemon VmHWM %d MiB; all done at %v", hwm>>20, time.Since(start).Round(time.Millisecond))
	require.Less(t, hwm, int64(hostileMaxHWM), "daemon peak RSS")

	w.stop()
	out, err = w.cli("", "audit", "verify")
	require.NoError(t, err, out)
	assertNoHostilePAN(t, w)
	assertNoPAN(t, w, bytes.Join(plains, nil))
}

// hostileCorpusPANs are the card-number-like digit runs (12–20 digits, single
// spaces or hyphens allowed between groups) of the corpus files, Luhn-valid
// or not: a PAN with a typo is still somebody's card number.
func hostileCorpusPANs(t *testing.T) map[string]string {
	t.Helper()
	re := regexp.MustCompile(`\d(?:[ -]?\d){11,19}`)
	out := map[string]string{}
	files, err := filepath.Glob(filepath.Join(hostileDir, "*"))
	require.NoError(t, err)
	for _, f := range files {
		if strings.HasSuffix(f, ".md") {
			continue
		}
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range re.FindAll(data, -1) {
			digits := strings.NewReplacer(" ", "", "-", "").Replace(string(m))
			out[digits] = filepath.Base(f)
		}
	}
	return out
}

// assertNoHostilePAN scans everything the daemon wrote or printed for the
// corpus's card numbers, with or without separators, and lists every find.
func assertNoHostilePAN(t *testing.T, w *world) {
	t.Helper()
	pans := hostileCorpusPANs(t)
	require.NotEmpty(t, pans)
	var finds []string
	check := func(where string, data []byte) {
		if len(data) == 0 {
			return
		}
		// Separators between digits are dropped so that "4000 0012 …" counts.
		norm := regexp.MustCompile(`(\d)[ -](\d)`).ReplaceAll(data, []byte("$1$2"))
		norm = regexp.MustCompile(`(\d)[ -](\d)`).ReplaceAll(norm, []byte("$1$2"))
		for p, from := range pans {
			if bytes.Contains(norm, []byte(p)) {
				finds = append(finds, fmt.Sprintf("%s (from %s) in %s", card.Mask(p), from, where))
			}
		}
	}
	check("CLI output", []byte(w.outputs.String()))
	check("daemon log", []byte(w.stderr.String()))
	filepath.WalkDir(w.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), "upload-") {
			return nil
		}
		data, _ := os.ReadFile(path)
		check(path, data)
		return nil
	})
	sort.Strings(finds)
	assert.Empty(t, finds, "corpus card numbers found whole")
}

// TestHostileCorpusIsSynthetic: every Luhn-valid card number in the corpus
// is in a test BIN, so nothing in it can be somebody's card.
func TestHostileCorpusIsSynthetic(t *testing.T) {
	t.Parallel() // each test owns its world: home, token, ports, sshd
	for p, f := range hostileCorpusPANs(t) {
		if len(p) < 12 || len(p) > 19 || !card.Luhn(p) {
			continue
		}
		ok := false
		for _, bin := range []string{"400000", "510000", "999999"} {
			ok = ok || strings.HasPrefix(p, bin)
		}
		require.True(t, ok, "%s: %s is Luhn-valid outside the test BINs", f, card.Mask(p))
	}
	// And the README describes the files that are there.
	loadHostileCorpus(t)
}
