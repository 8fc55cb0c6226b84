package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The golden vectors in testdata/audit are made by goldenVectors below and
// checked in, so that a change of the encoding shows up as a diff, and so
// that a verifier written in another language can be checked against them.
// Regenerate with: go test ./audit -run TestGolden -update
var update = flag.Bool("update", false, "rewrite testdata/audit from goldenVectors")

const goldenDir = "../testdata/audit"

// A vector is one log: a single segment (name ends in .jsonl) or a directory
// of segments. want is the content of its .want file:
//
//	ok ENTRIES HEAD
//	tampered FILE LINE SEQ REASON
//	torn FILE LINE SEQ REASON
type vector struct {
	name  string
	files map[string][]byte // segment name → content
	want  string
}

func goldenEntries() []Entry {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	fileHash := sha256.Sum256([]byte("synthetic issuer file"))
	return []Entry{
		{Time: at(0), Event: "daemon.start", Outcome: OutcomeOK, OSUser: "dataprep", Machine: "dataroom-1"},
		{Time: at(12*time.Second + 123456789), Event: "file.received", Outcome: OutcomeOK, Issuer: "bank-north",
			Job: "J-2026-0001", Detail: map[string]string{"name": "CARDS_20260115.pgp", "size": "1048576",
				"sha256": hex.EncodeToString(fileHash[:])}},
		{Time: at(20 * time.Second), Event: "login.failed", Outcome: OutcomeRefused, Actor: "mallory", OSUser: "op2",
			Detail: map[string]string{"reason": "bad password \"twice\"\\ then\nlocked", "tty": "pts/3"}},
		// Same time as the entry before: allowed.
		{Time: at(20 * time.Second), Event: "job.start.requested", Actor: "alice", Job: "J-2026-0001", Request: "R-17"},
		{Time: at(95 * time.Second), Event: "request.approved", Outcome: OutcomeOK, Actor: "alice", Approver: "bob",
			Job: "J-2026-0001", Request: "R-17"},
		{Time: at(96*time.Second + 1), Event: "job.decrypt.start", Outcome: OutcomeOK, Actor: "alice", Job: "J-2026-0001",
			Detail: map[string]string{"note": "Zürich\ttab \x01 <&> \u2028", "first_reject": "411111******1111"}},
	}
}

// chain seals entries as a chain starting at seq with prev, and returns the
// lines; the entries' Seq, Prev and Hash are overwritten.
func chain(entries []Entry, seq uint64, prev string) [][]byte {
	var lines [][]byte
	for _, e := range entries {
		e.Seq, e.Prev = seq, prev
		lines = append(lines, seal(&e))
		seq, prev = seq+1, e.Hash
	}
	return lines
}

// resealRaw recomputes the hash of a hand-edited line by the README's
// definition, so that the vector shows exactly one fault.
func resealRaw(line []byte) []byte {
	body := append(bytes.Clone(line[:len(line)-hashSuffixLen-1]), '}')
	return appendLine(nil, body, hashBody(body))
}

func replaceIn(line []byte, old, new string) []byte {
	if !bytes.Contains(line, []byte(old)) {
		panic(fmt.Sprintf("%q not in %s", old, line))
	}
	return bytes.Replace(line, []byte(old), []byte(new), 1)
}

func goldenVectors() []vector {
	es := goldenEntries()
	good := chain(es, 1, GenesisHash)
	head := func(lines [][]byte) string {
		e, _ := parseLine(lines[len(lines)-1][:len(lines[len(lines)-1])-1])
		return e.Hash
	}
	seg1 := segmentName(1)
	one := func(name string, lines [][]byte, want string) vector {
		return vector{name: name, files: map[string][]byte{seg1: join(lines)}, want: want}
	}
	with := func(i int, line []byte) [][]byte { // good with line i (1-based) replaced
		out := append([][]byte(nil), good...)
		out[i-1] = line
		return out
	}
	tampered := func(line, seq int, reason string) string {
		return fmt.Sprintf("tampered %s %d %d %s", seg1, line, seq, reason)
	}
	next := es[0]
	next.Seq, next.Prev, next.Time = 7, head(good), es[5].Time
	nextLine := seal(&next)

	var vs []vector
	add := func(v vector) { vs = append(vs, v) }

	add(one("good_empty.jsonl", nil, "ok 0 "+GenesisHash))
	add(one("good_one_entry.jsonl", good[:1], "ok 1 "+head(good[:1])))
	add(one("good_basic.jsonl", good, fmt.Sprintf("ok %d %s", len(good), head(good))))
	add(vector{name: "good_two_segments", files: map[string][]byte{seg1: join(good[:3]), segmentName(2): join(good[3:])},
		want: fmt.Sprintf("ok %d %s", len(good), head(good))})

	add(one("torn_tail_partial_line.jsonl", append(append([][]byte(nil), good...), nextLine[:len(nextLine)/2]),
		fmt.Sprintf("torn %s 7 7 %d bytes after the last complete entry, without newline", seg1, len(nextLine)/2)))
	add(one("torn_tail_no_newline.jsonl", with(6, good[5][:len(good[5])-1]),
		fmt.Sprintf("torn %s 6 6 %d bytes after the last complete entry, without newline", seg1, len(good[5])-1)))
	add(one("torn_tail_nul_bytes.jsonl", append(append([][]byte(nil), good...), make([]byte, 16)),
		fmt.Sprintf("torn %s 7 7 16 bytes after the last complete entry, without newline", seg1)))

	add(one("fail_changed_value.jsonl", with(3, replaceIn(good[2], "mallory", "mallorz")), tampered(3, 3, reasonHash)))
	add(one("fail_removed_entry.jsonl", append(append([][]byte(nil), good[:2]...), good[3:]...), tampered(3, 3, "seq is 4, want 3")))
	add(one("fail_inserted_copy.jsonl", append(append(append([][]byte(nil), good[:4]...), good[1]), good[4:]...), tampered(5, 5, "seq is 2, want 5")))
	add(one("fail_swapped_entries.jsonl", func() [][]byte {
		out := append([][]byte(nil), good...)
		out[2], out[3] = out[3], out[2]
		return out
	}(), tampered(3, 3, "seq is 4, want 3")))
	add(one("fail_duplicated_entry.jsonl", append(append(append([][]byte(nil), good[:4]...), good[3]), good[4:]...), tampered(5, 5, "seq is 4, want 5")))
	add(one("fail_rehashed_entry.jsonl", func() [][]byte {
		e := es[2]
		e.Actor = "nobody"
		mod := chain([]Entry{e}, 3, head(good[:2]))
		return with(3, mod[0])
	}(), tampered(4, 4, reasonPrev)))
	add(one("fail_removed_and_renumbered.jsonl", func() [][]byte {
		// Entry 3 removed, later ones renumbered and rehashed, but each
		// still points at its original predecessor.
		out := append([][]byte(nil), good[:2]...)
		for i := 3; i < len(good); i++ {
			e, _ := parseLine(good[i][:len(good[i])-1])
			e.Seq--
			out = append(out, seal(&e))
		}
		return out
	}(), tampered(3, 3, reasonPrev)))
	add(one("fail_time_backwards.jsonl", func() [][]byte {
		mod := append([]Entry(nil), es...)
		mod[3].Time = es[2].Time.Add(-time.Nanosecond)
		return chain(mod, 1, GenesisHash)
	}(), tampered(4, 4, reasonTimeBackwards)))
	add(one("fail_first_seq_not_1.jsonl", chain(es, 2, GenesisHash), tampered(1, 1, "seq is 2, want 1")))
	add(one("fail_first_prev_not_genesis.jsonl", chain(es, 1, strings.Repeat("ab", 32)), tampered(1, 1, reasonPrev)))
	add(one("fail_unknown_member.jsonl", with(2, resealRaw(replaceIn(good[1], `,"prev":`, `,"cardholder":"x","prev":`))),
		tampered(2, 2, `unknown member "cardholder"`)))
	add(one("fail_seq_is_string.jsonl", with(2, resealRaw(replaceIn(good[1], `"seq":2,`, `"seq":"2",`))),
		tampered(2, 2, `member "seq" has the wrong type`)))
	add(one("fail_bad_time.jsonl", with(2, resealRaw(replaceIn(good[1], `:12.123456789Z"`, `:12Z"`))), tampered(2, 2, reasonBadTime)))
	add(one("fail_bad_event.jsonl", with(2, resealRaw(replaceIn(good[1], `"file.received"`, `"File.Received"`))), tampered(2, 2, reasonBadEvent)))
	add(one("fail_bad_outcome.jsonl", with(2, resealRaw(replaceIn(good[1], `"outcome":"ok"`, `"outcome":"maybe"`))), tampered(2, 2, reasonBadOutcome)))
	add(one("fail_bad_hash_hex.jsonl", with(2, func() []byte {
		l := bytes.Clone(good[1])
		copy(l[len(l)-66:], bytes.ToUpper(l[len(l)-66:len(l)-3]))
		return l
	}()), tampered(2, 2, reasonBadHex)))
	add(one("fail_hash_not_last.jsonl", with(2, func() []byte {
		l := good[1]
		end := len(l) - 1 - hashSuffixLen // where `,"hash":"…"}` starts
		hashMember := l[end+1 : len(l)-2] // "hash":"…"
		out := append([]byte(`{`), hashMember...)
		out = append(append(out, ','), l[1:end]...)
		return append(out, '}', '\n')
	}()), tampered(2, 2, reasonNotCanonical)))
	add(one("fail_extra_space.jsonl", with(2, replaceIn(good[1], `"seq":2,`, `"seq": 2,`)), tampered(2, 2, reasonNotCanonical)))
	add(one("fail_needless_escape.jsonl", with(3, replaceIn(good[2], `"mallory"`, `"\u006dallory"`)), tampered(3, 3, reasonNotCanonical)))
	add(one("fail_duplicate_member.jsonl", with(3, replaceIn(good[2], `"actor":"mallory"`, `"actor":"alice","actor":"mallory"`)),
		tampered(3, 3, reasonNotCanonical)))
	add(one("fail_crlf.jsonl", func() [][]byte {
		var out [][]byte
		for _, l := range good {
			out = append(out, append(bytes.Clone(l[:len(l)-1]), '\r', '\n'))
		}
		return out
	}(), tampered(1, 1, reasonNotCanonical)))
	add(one("fail_not_json.jsonl", with(2, []byte("not json\n")), tampered(2, 2, reasonNotJSON)))
	add(one("fail_empty_line.jsonl", append(append(append([][]byte(nil), good[:2]...), []byte("\n")), good[2:]...), tampered(3, 3, reasonEmptyLine)))

	add(vector{name: "fail_missing_segment", files: map[string][]byte{seg1: join(good[:2]), segmentName(3): join(good[4:])},
		want: fmt.Sprintf("tampered %s 0 3 segment missing", segmentName(2))})
	add(vector{name: "fail_unterminated_segment", files: map[string][]byte{
		seg1: join(good[:3])[:len(join(good[:3]))-1], segmentName(2): join(good[3:])},
		want: tampered(3, 3, "line without newline at the end of a segment that is not the last")})
	add(vector{name: "fail_empty_segment", files: map[string][]byte{seg1: nil, segmentName(2): join(good)},
		want: tampered(0, 1, "empty segment before the last one")})
	return vs
}

// readVectors reads every vector and its .want from disk.
func readVectors(t *testing.T) []vector {
	t.Helper()
	wants, err := filepath.Glob(filepath.Join(goldenDir, "*.want"))
	require.NoError(t, err)
	require.NotEmpty(t, wants)
	var vs []vector
	for _, wantPath := range wants {
		base := strings.TrimSuffix(filepath.Base(wantPath), ".want")
		wantB, err := os.ReadFile(wantPath)
		require.NoError(t, err)
		v := vector{name: base, files: map[string][]byte{}, want: strings.TrimSuffix(string(wantB), "\n")}
		if fi, err := os.Stat(filepath.Join(goldenDir, base)); err == nil && fi.IsDir() {
			ents, err := os.ReadDir(filepath.Join(goldenDir, base))
			require.NoError(t, err)
			for _, e := range ents {
				b, err := os.ReadFile(filepath.Join(goldenDir, base, e.Name()))
				require.NoError(t, err)
				v.files[e.Name()] = b
			}
		} else {
			b, err := os.ReadFile(filepath.Join(goldenDir, base+".jsonl"))
			require.NoError(t, err)
			v.files[segmentName(1)] = b
		}
		vs = append(vs, v)
	}
	return vs
}

// install lays a vector out as a log directory.
func (v vector) install(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range v.files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}
	return dir
}

// outcome renders Verify's result in the .want form.
func outcome(rep Report, err error) string {
	var ve *VerifyError
	switch {
	case err == nil:
		return fmt.Sprintf("ok %d %s", rep.Entries, rep.Head)
	case errors.As(err, &ve):
		kind := "tampered"
		if errors.Is(err, ErrTorn) {
			kind = "torn"
		}
		return fmt.Sprintf("%s %s %d %d %s", kind, filepath.Base(ve.File), ve.Line, ve.Seq, ve.Reason)
	default:
		return "error " + err.Error()
	}
}

func TestGolden(t *testing.T) {
	vs := goldenVectors()
	if *update {
		old, err := os.ReadDir(goldenDir)
		require.NoError(t, err)
		for _, e := range old {
			if e.Name() != referenceVerifier {
				require.NoError(t, os.RemoveAll(filepath.Join(goldenDir, e.Name())))
			}
		}
		for _, v := range vs {
			if strings.HasSuffix(v.name, ".jsonl") {
				require.NoError(t, os.WriteFile(filepath.Join(goldenDir, v.name), v.files[segmentName(1)], 0o644))
			} else {
				require.NoError(t, os.MkdirAll(filepath.Join(goldenDir, v.name), 0o755))
				for name, b := range v.files {
					require.NoError(t, os.WriteFile(filepath.Join(goldenDir, v.name, name), b, 0o644))
				}
			}
			want := strings.TrimSuffix(v.name, ".jsonl") + ".want"
			require.NoError(t, os.WriteFile(filepath.Join(goldenDir, want), []byte(v.want+"\n"), 0o644))
		}
	}

	// The files on disk are exactly what the generator makes: the encoding
	// has not drifted, and no stale vector is left behind.
	var names []string
	for _, v := range vs {
		names = append(names, strings.TrimSuffix(v.name, ".jsonl")+".want", v.name)
		for name, b := range v.files {
			path := filepath.Join(goldenDir, v.name)
			if !strings.HasSuffix(v.name, ".jsonl") {
				path = filepath.Join(path, name)
			}
			disk, err := os.ReadFile(path)
			require.NoError(t, err, "run: go test ./audit -run TestGolden -update")
			require.Equal(t, string(b), string(disk), "%s drifted from the generator", path)
		}
	}
	ents, err := os.ReadDir(goldenDir)
	require.NoError(t, err)
	var onDisk []string
	for _, e := range ents {
		if e.Name() != referenceVerifier {
			onDisk = append(onDisk, e.Name())
		}
	}
	sort.Strings(names)
	assert.Equal(t, names, onDisk, "testdata/audit holds exactly the generated vectors")
}

// TestGoldenWant reads the vectors and their .want files from disk, as a
// verifier in another language would, and checks Verify and Open agree.
func TestGoldenWant(t *testing.T) {
	for _, v := range readVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			want := v.want
			prefix := strings.SplitN(v.name, "_", 2)[0]
			wantKind := map[string]string{"good": "ok", "fail": "tampered", "torn": "torn"}[prefix]
			require.Equal(t, wantKind, strings.Fields(want)[0], "the vector's name says its outcome")

			dir := v.install(t)
			got := outcome(Verify(dir))
			require.Equal(t, want, got)

			before := snapshot(t, dir)
			l, err := Open(dir)
			switch prefix {
			case "good":
				require.NoError(t, err)
				seq, head := l.Head()
				assert.Equal(t, want, fmt.Sprintf("ok %d %s", seq, head))
				require.NoError(t, l.Close())
			case "fail":
				require.ErrorIs(t, err, ErrTampered)
				assert.Equal(t, before, snapshot(t, dir), "Open changes nothing in a tampered log")
			case "torn":
				require.NoError(t, err, "Open repairs a torn tail")
				require.NoError(t, l.Close())
				rep, err := Verify(dir)
				require.NoError(t, err)
				assert.Greater(t, rep.Entries, uint64(0))
			}
		})
	}
}

const referenceVerifier = "verify_reference.py"

// TestReferenceVerifier runs the Python verifier, written from README.md
// alone, over the vectors: the format can be checked without this package.
func TestReferenceVerifier(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	script, err := filepath.Abs(filepath.Join(goldenDir, referenceVerifier))
	require.NoError(t, err)
	// One run for all vectors: starting Python is the slow part.
	vs := readVectors(t)
	args := []string{script}
	for _, v := range vs {
		args = append(args, v.install(t))
	}
	out, err := exec.Command(python, args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	require.Len(t, got, len(vs), "%s", out)
	for i, v := range vs {
		// The Go reasons are this package's wording; compare the rest.
		want := strings.Fields(v.want)
		if want[0] != "ok" {
			want = want[:4]
		}
		assert.Equal(t, strings.Join(want, " "), got[i], v.name)
	}
}

var hashSuffix = regexp.MustCompile(`,"hash":"([0-9a-f]{64})"\}$`)

// TestREADMEHashDefinition checks the good vectors by the README's recipe
// alone, without the package's encoder or parser: strip the hash member,
// close the object, SHA-256, compare; chain by prev.
func TestREADMEHashDefinition(t *testing.T) {
	for _, name := range []string{"good_one_entry.jsonl", "good_basic.jsonl"} {
		b, err := os.ReadFile(filepath.Join(goldenDir, name))
		require.NoError(t, err)
		prev := strings.Repeat("0", 64)
		prevRe := regexp.MustCompile(`,"prev":"([0-9a-f]{64})"$`)
		for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			m := hashSuffix.FindStringSubmatch(line)
			require.NotNil(t, m, "%s:%d", name, i+1)
			body := strings.TrimSuffix(line, m[0]) + "}"
			sum := sha256.Sum256([]byte(body))
			require.Equal(t, m[1], hex.EncodeToString(sum[:]), "%s:%d", name, i+1)
			require.True(t, strings.HasPrefix(body, fmt.Sprintf(`{"seq":%d,`, i+1)))
			pm := prevRe.FindStringSubmatch(strings.TrimSuffix(body, "}"))
			require.NotNil(t, pm)
			require.Equal(t, prev, pm[1])
			prev = m[1]
		}
	}
}
