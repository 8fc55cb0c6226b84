package audit

import (
	"bytes"
	"crypto"
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
//	ok ENTRIES HEAD FIRST CHECKPOINTS UNSEALED
//	tampered FILE LINE SEQ REASON
//	torn FILE LINE SEQ REASON
//	truncated FILE LINE SEQ REASON
//
// The outcome is that of VerifyWith with the test-only key and, when the
// vector has one, the .against checkpoint.
type vector struct {
	name    string
	files   map[string][]byte // segment name → content
	against []byte            // a checkpoint file to verify against, written as NAME.against
	want    string
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

func goldenVectors(t testing.TB) []vector {
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

	add(one("good_empty.jsonl", nil, "ok 0 "+GenesisHash+" 0 0 0"))
	add(one("good_one_entry.jsonl", good[:1], "ok 1 "+head(good[:1])+" 1 0 1"))
	add(one("good_basic.jsonl", good, fmt.Sprintf("ok %d %s 1 0 %d", len(good), head(good), len(good))))

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

	add(vector{name: "fail_empty_segment", files: map[string][]byte{seg1: nil, segmentName(2): join(good)},
		want: tampered(0, 1, "empty segment before the last one")})
	vs = append(vs, checkpointVectors(t, es)...)
	return vs
}

// checkpointVectors are logs with checkpoints, segments and pruning, signed
// with the test-only key.
func checkpointVectors(t testing.TB, es []Entry) []vector {
	key := testRSAKey(t)
	var vs []vector
	add := func(v vector) { vs = append(vs, v) }
	at := func(name string, line int, seq uint64, reason string) string {
		return fmt.Sprintf("%s %d %d %s", name, line, seq, reason)
	}
	seg1, seg2, seg3 := segmentName(1), segmentName(2), segmentName(3)
	ok := func(b *chainBuilder, first uint64) string {
		var entries, unsealed uint64
		for _, l := range b.lines() {
			entries++
			unsealed++
			if isCheckpointLine(l) {
				unsealed = 0
			}
		}
		return fmt.Sprintf("ok %d %s %d %d %d", entries, b.prev, first, len(b.ckpts), unsealed)
	}

	// c1 e2 e3 c4 e5 e6 e7 e8: a checkpoint over the empty log (what a
	// daemon writes when it starts on a new log), one in the middle, and
	// four entries not sealed yet. The checkpoint to alter is the second.
	checkpointsBy := func(key crypto.Signer, h ckptHooks) *chainBuilder {
		b := newChain(t, key)
		b.checkpoint(ckptHooks{})
		for _, e := range es[:2] {
			b.add(e)
		}
		b.checkpoint(h)
		for _, e := range es[2:] {
			b.add(e)
		}
		return b
	}
	checkpoints := func(h ckptHooks) *chainBuilder { return checkpointsBy(key, h) }
	one := func(name string, b *chainBuilder, want string) {
		add(vector{name: name, files: map[string][]byte{seg1: join(b.lines())}, want: want})
	}
	b := checkpoints(ckptHooks{})
	one("good_checkpoints.jsonl", b, ok(b, 1))
	// The same log signed by the trusted ECDSA key instead.
	b = checkpointsBy(testECKey(t), ckptHooks{})
	one("good_checkpoints_ecdsa.jsonl", b, ok(b, 1))
	fail4 := func(reason string) string { return "tampered " + at(seg1, 4, 4, reason) }
	one("fail_checkpoint_bad_signature.jsonl", checkpoints(ckptHooks{after: func(c *Checkpoint) { c.Signature[17] ^= 0x40 }}),
		fail4(reasonCkptBadSig))
	one("fail_checkpoint_other_key.jsonl", checkpoints(ckptHooks{key: otherECKey(t)}), fail4(reasonCkptUnknownKey))
	one("fail_checkpoint_seq_lies.jsonl", checkpoints(ckptHooks{lie: func(c *Checkpoint) { c.Seq-- }}), fail4(reasonCkptSeq))
	one("fail_checkpoint_head_lies.jsonl", checkpoints(ckptHooks{lie: func(c *Checkpoint) { c.Head = strings.Repeat("ab", 32) }}),
		fail4(reasonCkptHead))
	one("fail_checkpoint_time_changed.jsonl", checkpoints(ckptHooks{after: func(c *Checkpoint) { c.Time = c.Time.Add(time.Millisecond) }}),
		fail4(reasonCkptBadSig))
	one("fail_checkpoint_origin_changed.jsonl", checkpoints(ckptHooks{after: func(c *Checkpoint) { c.Origin = "dataroom-2.example" }}),
		fail4(reasonCkptBadSig))
	one("fail_checkpoint_extra_member.jsonl", checkpoints(ckptHooks{entry: func(e *Entry) { e.Detail["note"] = "x" }}),
		fail4(reasonCkptMalformed))
	one("fail_checkpoint_outcome.jsonl", checkpoints(ckptHooks{entry: func(e *Entry) { e.Outcome = OutcomeOK }}),
		fail4(reasonCkptMalformed))
	one("fail_checkpoint_unpadded_signature.jsonl", checkpoints(ckptHooks{entry: func(e *Entry) {
		e.Detail[ckSignature] = strings.TrimRight(e.Detail[ckSignature], "=")
	}}), fail4(reasonCkptMalformed))

	// Against a checkpoint kept elsewhere: c1 e2 e3 c4 e5 e6 e7 e8 c9 e10,
	// c9 covering seq 8.
	full := checkpoints(ckptHooks{})
	c8 := full.checkpoint(ckptHooks{})
	full.add(Entry{Time: c8.Time, Event: "daemon.stop", Outcome: OutcomeOK})
	add(vector{name: "good_against.jsonl", files: map[string][]byte{seg1: join(full.lines())}, against: c8.Marshal(),
		want: ok(full, 1)})
	cut := full.lines()[:6]
	add(vector{name: "truncated_after_checkpoint.jsonl", files: map[string][]byte{seg1: join(cut)}, against: c8.Marshal(),
		want: "truncated " + at(seg1, 0, 7, "the log ends at seq 6, before the entry 8 the external checkpoint covers")})
	rewritten := newChain(t, key)
	for _, l := range cut {
		e, _ := parseLine(l[:len(l)-1])
		rewritten.add(e)
	}
	rewritten.add(Entry{Event: "login", Outcome: OutcomeOK, Actor: "mallory"})
	rewritten.add(Entry{Event: "request.approved", Outcome: OutcomeOK, Actor: "mallory", Approver: "mallory"})
	rewritten.add(Entry{Event: "daemon.stop", Outcome: OutcomeOK})
	add(vector{name: "truncated_rewritten.jsonl", files: map[string][]byte{seg1: join(rewritten.lines())}, against: c8.Marshal(),
		want: "truncated " + at(seg1, 8, 8, "entry is not the one the external checkpoint covers: the log was cut there and written anew")})

	// Segments: e1 e2 e3 c | c e4 e5 c | c e6.
	rotated := func(drop bool) *chainBuilder {
		b := newChain(t, key)
		for _, e := range es[:3] {
			b.add(e)
		}
		b.rotate()
		b.add(es[3])
		if !drop {
			b.add(es[4])
		}
		b.rotate()
		b.add(es[5])
		return b
	}
	r := rotated(false)
	add(vector{name: "good_segments", files: r.files(1), want: ok(r, 1)})
	missing := r.files(1)
	delete(missing, seg2)
	add(vector{name: "fail_segment_missing", files: missing, want: "tampered " + at(seg2, 0, 5, "segment missing")})
	unterminated := r.files(1)
	unterminated[seg1] = unterminated[seg1][:len(unterminated[seg1])-1]
	add(vector{name: "fail_segment_unterminated", files: unterminated,
		want: "tampered " + at(seg1, 4, 4, "line without newline at the end of a segment that is not the last")})
	// The closing checkpoint moved to the start of the next segment.
	noCloseFiles := map[string][]byte{seg1: join(r.segs[0][:3]), seg2: append(bytes.Clone(r.segs[0][3]), join(r.segs[1])...),
		seg3: join(r.segs[2])}
	add(vector{name: "fail_segment_no_closing_checkpoint", files: noCloseFiles,
		want: "tampered " + at(seg1, 3, 3, reasonSegNoEndCkpt)})
	// The opening checkpoint moved to the end of the segment before.
	noOpenFiles := map[string][]byte{seg1: append(join(r.segs[0]), r.segs[1][0]...), seg2: join(r.segs[1][1:]), seg3: join(r.segs[2])}
	add(vector{name: "fail_segment_no_opening_checkpoint", files: noOpenFiles,
		want: "tampered " + at(seg2, 1, 6, reasonSegNoStartCkpt)})

	// Pruned: segments 1 and 2 removed, and the removal recorded in
	// segment 3 (e1 e2 c | c e3 c | c e4 P e5 c | c e6).
	pruned := func(record bool) *chainBuilder {
		b := newChain(t, key)
		b.add(es[0])
		b.add(es[1])
		b.rotate()
		b.add(es[2])
		b.rotate()
		b.add(es[3])
		if record {
			b.add(Entry{Event: EventPruned, Detail: map[string]string{prBefore: "2026-01-16T00:00:00.000000000Z",
				prFirstSegment: "1", prLastSegment: "2", prFirstSeq: "1", prLastSeq: "6"}})
		}
		b.add(es[4])
		b.rotate()
		b.add(es[5])
		return b
	}
	keep := func(b *chainBuilder) map[string][]byte {
		m := b.files(1)
		delete(m, seg1)
		delete(m, seg2)
		return m
	}
	p := pruned(true)
	add(vector{name: "good_pruned", files: keep(p), want: fmt.Sprintf("ok %d %s 7 3 1", len(p.lines())-6, p.prev)})
	add(vector{name: "fail_pruned_unrecorded", files: keep(pruned(false)),
		want: "tampered " + at(seg3, 0, 7, reasonPrunedUnrecorded)})
	// The anchor's signature is what vouches for the entries pruned.
	badAnchor := func() map[string][]byte {
		b := newChain(t, key)
		b.add(es[0])
		b.add(es[1])
		b.rotate()
		b.add(es[2])
		b.checkpoint(ckptHooks{})
		b.segs = append(b.segs, nil)
		b.checkpoint(ckptHooks{after: func(c *Checkpoint) { c.Signature[3] ^= 1 }})
		b.add(es[3])
		b.add(Entry{Event: EventPruned, Detail: map[string]string{prBefore: "2026-01-16T00:00:00.000000000Z",
			prFirstSegment: "1", prLastSegment: "2", prFirstSeq: "1", prLastSeq: "6"}})
		return keep(b)
	}()
	add(vector{name: "fail_pruned_anchor_bad_signature", files: badAnchor, want: "tampered " + at(seg3, 1, 7, reasonCkptBadSig)})
	badRecord := func() map[string][]byte {
		b := newChain(t, key)
		b.add(es[0])
		b.rotate()
		b.add(Entry{Event: EventPruned, Detail: map[string]string{prBefore: "2026-01-16T00:00:00.000000000Z",
			prFirstSegment: "2", prLastSegment: "1", prFirstSeq: "1", prLastSeq: "2"}})
		return b.files(1)
	}()
	add(vector{name: "fail_pruned_record_malformed", files: badRecord, want: "tampered " + at(seg2, 2, 4, reasonPrunedMalformed)})
	return vs
}

// readVectors reads every vector, its .want and its .against from disk.
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
			v.name = base + ".jsonl"
			b, err := os.ReadFile(filepath.Join(goldenDir, v.name))
			require.NoError(t, err)
			v.files[segmentName(1)] = b
		}
		if b, err := os.ReadFile(filepath.Join(goldenDir, base+".against")); err == nil {
			v.against = b
		}
		vs = append(vs, v)
	}
	return vs
}

// base is the vector's name without .jsonl.
func (v vector) base() string { return strings.TrimSuffix(v.name, ".jsonl") }

// install lays a vector out as a log directory, and its checkpoint to
// verify against, if any, as a file next to it.
func (v vector) install(t *testing.T) (dir, against string) {
	t.Helper()
	parent := t.TempDir()
	dir = filepath.Join(parent, "log")
	require.NoError(t, os.Mkdir(dir, 0o700))
	for name, b := range v.files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}
	if v.against != nil {
		against = filepath.Join(parent, "against")
		require.NoError(t, os.WriteFile(against, v.against, 0o600))
	}
	return dir, against
}

// verifyVector verifies an installed vector the way its .want is meant:
// with the test-only key, and against its checkpoint.
func verifyVector(t *testing.T, v vector, dir string) (Report, error) {
	t.Helper()
	o := VerifyOptions{PublicKeys: goldenKeys(t)}
	if v.against != nil {
		c, err := ParseCheckpoint(v.against)
		require.NoError(t, err)
		o.Against = &c
	}
	return VerifyWith(dir, o)
}

// outcome renders Verify's result in the .want form.
func outcome(rep Report, err error) string {
	var ve *VerifyError
	switch {
	case err == nil:
		return fmt.Sprintf("ok %d %s %d %d %d", rep.Entries, rep.Head, rep.First, rep.Checkpoints, rep.Unsealed)
	case errors.As(err, &ve):
		kind := "tampered"
		if errors.Is(err, ErrTorn) {
			kind = "torn"
		} else if errors.Is(err, ErrTruncated) {
			kind = "truncated"
		}
		return fmt.Sprintf("%s %s %d %d %s", kind, filepath.Base(ve.File), ve.Line, ve.Seq, ve.Reason)
	default:
		return "error " + err.Error()
	}
}

// notGenerated are the files in testdata/audit that goldenVectors does not
// write.
var notGenerated = map[string]bool{referenceVerifier: true, testKeyFile: true}

func TestGolden(t *testing.T) {
	vs := goldenVectors(t)
	pub, err := MarshalPublicKey(testRSAKey(t).Public())
	require.NoError(t, err)
	pubText := append([]byte("TEST ONLY: the public half of "+testKeyFile+", which signs the golden vectors.\n\n"), pub...)
	ecPub, err := MarshalPublicKey(testECKey(t).Public())
	require.NoError(t, err)
	ecPubText := append([]byte("TEST ONLY: an ECDSA P-256 key whose private half is derived from a public seed\n"+
		"in audit/keys_test.go; it signs good_checkpoints_ecdsa.jsonl.\n\n"), ecPub...)
	if *update {
		old, err := os.ReadDir(goldenDir)
		require.NoError(t, err)
		for _, e := range old {
			if !notGenerated[e.Name()] {
				require.NoError(t, os.RemoveAll(filepath.Join(goldenDir, e.Name())))
			}
		}
		require.NoError(t, os.WriteFile(filepath.Join(goldenDir, testKeyPubFile), pubText, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(goldenDir, testKeyECPubFile), ecPubText, 0o644))
		for _, v := range vs {
			if strings.HasSuffix(v.name, ".jsonl") {
				require.NoError(t, os.WriteFile(filepath.Join(goldenDir, v.name), v.files[segmentName(1)], 0o644))
			} else {
				require.NoError(t, os.MkdirAll(filepath.Join(goldenDir, v.name), 0o755))
				for name, b := range v.files {
					require.NoError(t, os.WriteFile(filepath.Join(goldenDir, v.name, name), b, 0o644))
				}
			}
			require.NoError(t, os.WriteFile(filepath.Join(goldenDir, v.base()+".want"), []byte(v.want+"\n"), 0o644))
			if v.against != nil {
				require.NoError(t, os.WriteFile(filepath.Join(goldenDir, v.base()+".against"), v.against, 0o644))
			}
		}
	}

	// The files on disk are exactly what the generator makes: the encoding
	// has not drifted, and no stale vector is left behind.
	disk, err := os.ReadFile(filepath.Join(goldenDir, testKeyPubFile))
	require.NoError(t, err, "run: go test ./audit -run TestGolden -update")
	require.Equal(t, string(pubText), string(disk))
	disk, err = os.ReadFile(filepath.Join(goldenDir, testKeyECPubFile))
	require.NoError(t, err, "run: go test ./audit -run TestGolden -update")
	require.Equal(t, string(ecPubText), string(disk))
	names := []string{testKeyPubFile, testKeyECPubFile}
	for _, v := range vs {
		names = append(names, v.base()+".want", v.name)
		if v.against != nil {
			names = append(names, v.base()+".against")
			disk, err := os.ReadFile(filepath.Join(goldenDir, v.base()+".against"))
			require.NoError(t, err, "run: go test ./audit -run TestGolden -update")
			require.Equal(t, string(v.against), string(disk))
		}
		for name, b := range v.files {
			path := filepath.Join(goldenDir, v.name)
			if !strings.HasSuffix(v.name, ".jsonl") {
				path = filepath.Join(path, name)
			}
			disk, err := os.ReadFile(path)
			require.NoError(t, err, "run: go test ./audit -run TestGolden -update")
			require.Equal(t, string(b), string(disk), "%s drifted from the generator", path)
		}
		if !strings.HasSuffix(v.name, ".jsonl") {
			ents, err := os.ReadDir(filepath.Join(goldenDir, v.name))
			require.NoError(t, err)
			assert.Len(t, ents, len(v.files), "%s holds exactly the generated segments", v.name)
		}
	}
	ents, err := os.ReadDir(goldenDir)
	require.NoError(t, err)
	var onDisk []string
	for _, e := range ents {
		if !notGenerated[e.Name()] {
			onDisk = append(onDisk, e.Name())
		}
	}
	sort.Strings(names)
	assert.Equal(t, names, onDisk, "testdata/audit holds exactly the generated vectors")
}

// TestGoldenWant reads the vectors and their .want files from disk, as a
// verifier in another language would, and checks VerifyWith, Verify and
// Open agree with them.
func TestGoldenWant(t *testing.T) {
	keys := goldenKeys(t)
	for _, v := range readVectors(t) {
		t.Run(v.base(), func(t *testing.T) {
			want := v.want
			prefix := strings.SplitN(v.name, "_", 2)[0]
			wantKind := map[string]string{"good": "ok", "fail": "tampered", "torn": "torn", "truncated": "truncated"}[prefix]
			require.Equal(t, wantKind, strings.Fields(want)[0], "the vector's name says its outcome")

			dir, _ := v.install(t)
			got := outcome(verifyVector(t, v, dir))
			require.Equal(t, want, got)

			// Without keys nor an external checkpoint, Verify sees the
			// same, except what only a signature or the external
			// checkpoint shows.
			_, plainErr := Verify(dir)
			signatureOnly := strings.HasSuffix(want, reasonCkptBadSig) || strings.HasSuffix(want, reasonCkptUnknownKey)
			switch {
			case prefix == "truncated" || signatureOnly:
				require.NoError(t, plainErr, "only the keys or the external checkpoint catch this")
			case prefix == "good":
				require.NoError(t, plainErr)
			default:
				require.Equal(t, want, outcome(Report{}, plainErr))
			}

			before := snapshot(t, dir)
			l, err := Open(dir)
			switch {
			case plainErr == nil:
				require.NoError(t, err)
				if prefix == "good" {
					seq, head := l.Head()
					rep, _ := Verify(dir)
					assert.Equal(t, rep.Last, seq)
					assert.Equal(t, rep.Head, head)
				}
				require.NoError(t, l.Close())
			case prefix == "torn":
				require.NoError(t, err, "Open repairs a torn tail")
				require.NoError(t, l.Close())
				rep, err := Verify(dir)
				require.NoError(t, err)
				assert.Greater(t, rep.Entries, uint64(0))
				return
			default:
				require.ErrorIs(t, err, ErrTampered)
				assert.Equal(t, before, snapshot(t, dir), "Open changes nothing in a tampered log")
			}

			// Open with the key starts from the last checkpoint when it
			// verifies: it may miss a fault before that checkpoint (the
			// auditor's full VerifyWith does not), never one after it.
			dir, _ = v.install(t)
			l, err = Open(dir, keys...)
			var ve *VerifyError
			if prefix == "good" || prefix == "truncated" || !errors.As(plainErrOr(verifyVector(t, v, dir)), &ve) {
				require.NoError(t, err)
				require.NoError(t, l.Close())
				return
			}
			if err == nil {
				require.NoError(t, l.Close())
				segs, _ := listSegments(dir)
				lastSeg := filepath.Join(dir, segmentName(segs[len(segs)-1]))
				ck, lerr := lastCheckpointLine(lastSeg)
				require.NoError(t, lerr)
				assert.True(t, ve.File != lastSeg || ve.Line < ck.lineNo,
					"Open with the key accepted a fault at or after the last checkpoint: %v", ve)
			} else {
				require.ErrorIs(t, err, ErrTampered)
			}
		})
	}
}

// plainErrOr drops the report.
func plainErrOr(_ Report, err error) error { return err }

const referenceVerifier = "verify_reference.py"

// TestReferenceVerifier runs the Python verifier, written from README.md
// alone, over the vectors: the format can be checked without this package,
// signatures included.
func TestReferenceVerifier(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	script, err := filepath.Abs(filepath.Join(goldenDir, referenceVerifier))
	require.NoError(t, err)
	key, err := filepath.Abs(filepath.Join(goldenDir, testKeyPubFile))
	require.NoError(t, err)
	ecKey, err := filepath.Abs(filepath.Join(goldenDir, testKeyECPubFile))
	require.NoError(t, err)
	// One run for all vectors: starting Python is the slow part.
	vs := readVectors(t)
	args := []string{script, "--key", key, "--key", ecKey}
	for _, v := range vs {
		dir, against := v.install(t)
		if against != "" {
			args = append(args, "--against="+against)
		}
		args = append(args, dir)
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
