package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// goldenSeeds returns the contents of the single-file golden vectors.
func goldenSeeds(f *testing.F) [][]byte {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join(goldenDir, "*.jsonl"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no golden vectors: %v", err)
	}
	var seeds [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzVerify feeds whole segments to the line parser and chain checker.
// Whatever the input: no panic; an accepted segment is exactly the lines
// the encoder writes for the decoded entries, chained; a torn tail is only
// ever the bytes after the last newline.
func FuzzVerify(f *testing.F) {
	for _, s := range goldenSeeds(f) {
		f.Add(s)
	}
	keys, err := newKeySet(goldenKeys(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, seg []byte) {
		st := &chainState{hash: GenesisHash, keys: keys}
		err := scanSegment(bytes.NewReader(seg), "seg", st, segPos{num: 1, last: true})
		if err != nil {
			var ve *VerifyError
			if !errors.As(err, &ve) || !errors.Is(err, ErrTampered) {
				t.Fatalf("error is not a tampering report: %v", err)
			}
			if ve.Line < 1 {
				t.Fatalf("no line in %v", err)
			}
			return
		}
		complete := seg
		if st.torn != nil {
			if bytes.IndexByte(st.torn.data, '\n') >= 0 || !bytes.HasSuffix(seg, st.torn.data) ||
				st.torn.offset != int64(len(seg)-len(st.torn.data)) {
				t.Fatalf("bad torn tail %+v", st.torn)
			}
			complete = seg[:st.torn.offset]
		}
		// Re-encode what was accepted: it must give back the same bytes.
		var again []byte
		prev := GenesisHash
		for _, line := range bytes.SplitAfter(complete, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			e, reason := parseLine(line[:len(line)-1])
			if reason != "" || e.Prev != prev {
				t.Fatalf("accepted a line that does not parse or chain: %q %s", line, reason)
			}
			again = append(again, seal(&e)...)
			prev = e.Hash
		}
		if !bytes.Equal(again, complete) {
			t.Fatalf("accepted bytes differ from their canonical encoding:\n%q\n%q", complete, again)
		}
		if st.hash != prev {
			t.Fatalf("head %s, want %s", st.hash, prev)
		}
	})
}

// FuzzParseLineFastSlow: the fast path of parseLine changes nothing: same
// entry, same reason as decoding every line with encoding/json.
func FuzzParseLineFastSlow(f *testing.F) {
	for _, s := range goldenSeeds(f) {
		for _, line := range bytes.Split(s, []byte("\n")) {
			f.Add(line)
		}
	}
	f.Add([]byte(`{"seq":01,"time":"2026-01-15T09:30:00.000000000Z","event":"a","prev":"","hash":""}`))
	f.Add([]byte(`{"seq":1,"time":"2026-01-15T09:30:00.000000000Z","event":"a\u000a\u0041","detail":{},"prev":"","hash":""}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		fast, fr := parseLine(line)
		slow, sr := parseLineSlow(line)
		if fr != sr || !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast %q %+v\nslow %q %+v\nline %q", fr, fast, sr, slow, line)
		}
	})
}

// FuzzEntryRoundTrip: any entry Append accepts is encoded so that parseLine
// gives it back unchanged.
func FuzzEntryRoundTrip(f *testing.F) {
	f.Add(uint64(1), int64(0), "job.decrypt.start", "ok", "alice", "k", "v \"q\" \\ \n\t\x01 é")
	f.Add(uint64(1<<63), int64(1)<<62, "a", "", "", "", "")
	f.Fuzz(func(t *testing.T, seq uint64, nanos int64, event, outcome, actor, key, val string) {
		e := Entry{Seq: seq, Time: time.Unix(0, nanos).UTC(), Event: event, Outcome: outcome, Actor: actor,
			Prev: GenesisHash, Detail: map[string]string{key: val}}
		if validate(&e) != nil {
			return
		}
		line := seal(&e)
		got, reason := parseLine(line[:len(line)-1])
		if reason != "" {
			t.Fatalf("%s: %q", reason, line)
		}
		if !got.Time.Equal(e.Time) || got.Seq != e.Seq || got.Event != e.Event || got.Outcome != e.Outcome ||
			got.Actor != e.Actor || got.Detail[key] != val || got.Hash != e.Hash {
			t.Fatalf("round trip changed the entry:\n%+v\n%+v", e, got)
		}
	})
}

// FuzzOpen: Open either refuses a log as tampered, or opens it; a log it
// opened (and maybe repaired) always verifies afterwards.
func FuzzOpen(f *testing.F) {
	for _, s := range goldenSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seg []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), seg, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir)
		if err != nil {
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("Open: %v", err)
			}
			return
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(dir); err != nil {
			t.Fatalf("Open left a log that does not verify: %v", err)
		}
	})
}

// FuzzParseCheckpoint: no panic on any input; what it accepts is exactly
// what Marshal writes for the result, and a signature check on it does not
// panic either.
func FuzzParseCheckpoint(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(goldenDir, "*.against"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("dataprep audit checkpoint v1\nx\n0\n" + GenesisHash + "\n2026-01-15T09:30:00.000000000Z\n\n\u2014 " +
		GenesisHash + " AA==\n"))
	keys := goldenKeys(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCheckpoint(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidCheckpoint) {
				t.Fatalf("error does not wrap ErrInvalidCheckpoint: %v", err)
			}
			return
		}
		if !bytes.Equal(c.Marshal(), b) {
			t.Fatalf("accepted a non-canonical checkpoint:\n%q\n%q", b, c.Marshal())
		}
		if err := c.Verify(keys...); err != nil && !errors.Is(err, ErrInvalidCheckpoint) {
			t.Fatalf("Verify: %v", err)
		}
		e := checkpointEntry(c)
		line := seal(&e)
		got, reason := parseLine(line[:len(line)-1])
		if reason != "" {
			t.Fatalf("the checkpoint's entry does not parse: %s", reason)
		}
		back, reason := checkpointOf(&got)
		if reason != "" || !bytes.Equal(back.Marshal(), b) {
			t.Fatalf("the checkpoint does not survive the log: %s", reason)
		}
	})
}

// FuzzParsePublicKey: no panic; an accepted key has a key id and encodes
// back to a key that parses to the same id.
func FuzzParsePublicKey(f *testing.F) {
	for _, name := range []string{testKeyPubFile, testKeyECPubFile} {
		b, err := os.ReadFile(filepath.Join(goldenDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, err := ParsePublicKey(b)
		if err != nil {
			if !errors.Is(err, ErrUnsupportedKey) {
				t.Fatalf("error does not wrap ErrUnsupportedKey: %v", err)
			}
			return
		}
		id, err := KeyID(pub)
		if err != nil {
			t.Fatal(err)
		}
		again, err := MarshalPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		pub2, err := ParsePublicKey(again)
		if err != nil {
			t.Fatal(err)
		}
		if id2, _ := KeyID(pub2); id2 != id {
			t.Fatalf("key id changed: %s %s", id, id2)
		}
	})
}

// FuzzOpenFast: Open with keys either refuses a log as tampered, or opens
// it; and a log it opened verifies afterwards, except for faults before the
// checkpoint it started from, which the fast start does not read.
func FuzzOpenFast(f *testing.F) {
	for _, s := range goldenSeeds(f) {
		f.Add(s)
	}
	keys := goldenKeys(f)
	f.Fuzz(func(t *testing.T, seg []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, segmentName(1))
		if err := os.WriteFile(path, seg, 0o600); err != nil {
			t.Fatal(err)
		}
		ck, err := lastCheckpointLine(path)
		if err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, keys...)
		if err != nil {
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("Open: %v", err)
			}
			return
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		_, err = VerifyWith(dir, VerifyOptions{PublicKeys: keys})
		var ve *VerifyError
		if err != nil && (!errors.As(err, &ve) || ve.Line >= ck.lineNo) {
			t.Fatalf("Open left a log that does not verify after its last checkpoint (line %d): %v", ck.lineNo, err)
		}
	})
}
