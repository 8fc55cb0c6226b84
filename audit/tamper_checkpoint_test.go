package audit

import (
	"bytes"
	"crypto"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tamper matrix with checkpoints. The attacker here is the capable one:
// after changing the log they recompute every seq, prev and hash after the
// change (what a hash chain alone cannot catch), but they cannot sign.
//
// The log: c1 e2 e3 e4 e5 c6 e7 e8 e9 e10 c11 e12 e13 e14, where c6 covers
// seq 5 and c11 seq 10; e12 to e14 are not sealed yet. c15 is the checkpoint
// the daemon wrote next (covering seq 14) and that an auditor exported to a
// store of their own; the attacker removed it from the log.
type sealedLog struct {
	lines [][]byte
	c15   Checkpoint
}

func newSealedLog(t *testing.T) sealedLog {
	t.Helper()
	b := newChain(t, testRSAKey(t))
	b.checkpoint(ckptHooks{})
	for range 2 {
		for i := range 4 {
			b.add(sampleEntry(i))
		}
		b.checkpoint(ckptHooks{})
	}
	for i := range 3 {
		b.add(sampleEntry(10 + i))
	}
	lines := b.lines()
	c15 := b.checkpoint(ckptHooks{})
	return sealedLog{lines: lines, c15: c15}
}

// rechain recomputes seq, prev and hash of every line from index from on,
// as the capable attacker does. Checkpoint details stay: they are signed.
func rechain(t *testing.T, lines [][]byte, from int) [][]byte {
	t.Helper()
	out := append([][]byte(nil), lines...)
	seq, prev := uint64(0), GenesisHash
	if from > 0 {
		e, reason := parseLine(out[from-1][:len(out[from-1])-1])
		require.Empty(t, reason)
		seq, prev = e.Seq, e.Hash
	}
	for i := from; i < len(out); i++ {
		e, reason := decodeJSON(out[i][:len(out[i])-1])
		require.Empty(t, reason, "%s", out[i])
		e.Seq, e.Prev = seq+1, prev
		out[i] = seal(&e)
		seq, prev = e.Seq, e.Hash
	}
	return out
}

// flipAfter changes the first letter or digit after marker in line to
// another of the same kind.
func flipAfter(t *testing.T, line []byte, marker string) []byte {
	t.Helper()
	i := bytes.Index(line, []byte(marker))
	require.GreaterOrEqual(t, i, 0, "%s in %s", marker, line)
	for i += len(marker); i < len(line); i++ {
		c := line[i]
		var r byte
		switch {
		case c >= '0' && c <= '8', c >= 'a' && c <= 'y', c >= 'A' && c <= 'Y':
			r = c + 1
		case c == '9', c == 'z', c == 'Z':
			r = c - 1
		default:
			continue
		}
		out := bytes.Clone(line)
		out[i] = r
		return out
	}
	t.Fatalf("nothing to flip after %s", marker)
	return nil
}

func verifySealed(t *testing.T, lines [][]byte, against *Checkpoint) (Report, error) {
	t.Helper()
	o := VerifyOptions{PublicKeys: []crypto.PublicKey{testRSAKey(t).Public()}, Against: against}
	dir := t.TempDir()
	b := newChain(t, testRSAKey(t))
	b.segs[0] = lines
	b.writeTo(t, dir)
	return VerifyWith(dir, o)
}

func TestTamperCheckpointFields(t *testing.T) {
	s := newSealedLog(t)
	// Every member of the checkpoint entry c6, the signature included,
	// and of the entries on either side of it.
	markers := map[string]string{
		"time": `"time":"`, "prev": `"prev":"`, "hash": `"hash":"`,
		"detail head": `"head":"`, "detail key_id": `"key_id":"`, "detail origin": `"origin":"`,
		"detail seq": `"seq":"`, "detail signature": `"signature":"`,
	}
	for name, marker := range markers {
		t.Run("c6 "+name, func(t *testing.T) {
			mod := append([][]byte(nil), s.lines...)
			mod[5] = flipAfter(t, s.lines[5], marker)
			// As it is: the line's own hash no longer matches.
			_, err := verifySealed(t, mod, nil)
			requireBroken(t, err, ErrTampered, 6)
			// Rehashed and the rest rechained: the signature, or the
			// checkpoint's own consistency, still catches it there.
			if name != "hash" && name != "prev" {
				_, err = verifySealed(t, rechain(t, mod, 5), nil)
				requireBroken(t, err, ErrTampered, 6)
			}
		})
	}
	// An entry changed and everything after it rechained is caught at the
	// checkpoint that seals it at the latest (earlier when the change
	// breaks the entry's form).
	for _, tc := range []struct{ line, sealedBy int }{{5, 6}, {7, 11}, {10, 11}} {
		for _, field := range []string{"time", "event", "outcome", "actor", "os_user", "approver",
			"job", "issuer", "request", "machine", "detail"} {
			t.Run(fmt.Sprintf("e%d %s rechained", tc.line, field), func(t *testing.T) {
				mod := append([][]byte(nil), s.lines...)
				mod[tc.line-1] = flipInValue(t, s.lines[tc.line-1], field)
				_, err := verifySealed(t, rechain(t, mod, tc.line-1), nil)
				require.ErrorIs(t, err, ErrTampered)
				var ve *VerifyError
				require.ErrorAs(t, err, &ve)
				assert.GreaterOrEqual(t, ve.Line, tc.line)
				assert.LessOrEqual(t, ve.Line, tc.sealedBy, "%v", err)
			})
		}
	}
}

func TestTamperCheckpointStructure(t *testing.T) {
	s := newSealedLog(t)
	L := s.lines
	del := func(i int) [][]byte { return append(append([][]byte(nil), L[:i-1]...), L[i:]...) }
	ins := func(after int, l []byte) [][]byte {
		out := append(append([][]byte(nil), L[:after]...), l)
		return append(out, L[after:]...)
	}
	swap := func(i, j int) [][]byte {
		out := append([][]byte(nil), L...)
		out[i-1], out[j-1] = out[j-1], out[i-1]
		return out
	}
	replace := func(i int, l []byte) [][]byte {
		out := append([][]byte(nil), L...)
		out[i-1] = l
		return out
	}
	// A checkpoint signed by a key nobody trusts, over the right head.
	forged := func(i int) []byte {
		e, _ := parseLine(L[i-1][:len(L[i-1])-1])
		c, _ := checkpointOf(&e)
		c = signDet(t, otherECKey(t), c)
		fe := checkpointEntry(c)
		return seal(&fe)
	}
	// A checkpoint signed by the right key over a lie.
	lying := func(i int, lie func(*Checkpoint)) []byte {
		e, _ := parseLine(L[i-1][:len(L[i-1])-1])
		c, _ := checkpointOf(&e)
		lie(&c)
		c = signDet(t, testRSAKey(t), c)
		fe := checkpointEntry(c)
		fe.Seq, fe.Prev = e.Seq, e.Prev
		return seal(&fe)
	}
	appendForged := func() []byte {
		e, _ := parseLine(L[13][:len(L[13])-1])
		c := signDet(t, otherECKey(t), Checkpoint{Origin: "dataroom-1.example", Seq: 14, Head: e.Hash, Time: e.Time})
		fe := checkpointEntry(c)
		return seal(&fe)
	}
	cases := []struct {
		name string
		log  [][]byte
		line int // the line reported; rechained from the change on
	}{
		{"delete before a checkpoint", del(3), 5},
		{"insert before a checkpoint", ins(3, L[7]), 7},
		{"swap before a checkpoint", swap(3, 4), 6},
		{"duplicate before a checkpoint", ins(3, L[2]), 7},
		{"delete the first checkpoint", del(1), 5},
		{"delete a middle checkpoint", del(6), 10},
		{"duplicate a checkpoint", ins(6, L[5]), 7},
		{"replay a checkpoint elsewhere", replace(11, L[5]), 11},
		{"swap a checkpoint with an entry", swap(6, 7), 7},
		{"checkpoint by another key", replace(11, forged(11)), 11},
		{"forged checkpoint appended", append(append([][]byte(nil), L...), appendForged()), 15},
		{"checkpoint lies about seq", replace(11, lying(11, func(c *Checkpoint) { c.Seq-- })), 11},
		{"checkpoint lies about head", replace(11, lying(11, func(c *Checkpoint) { c.Head = GenesisHash })), 11},
		{"checkpoint from another log", replace(11, lying(11, func(c *Checkpoint) { c.Origin = "elsewhere" })), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			first := 0
			for first < len(c.log) && first < len(L) && bytes.Equal(c.log[first], L[first]) {
				first++
			}
			_, err := verifySealed(t, rechain(t, c.log, first), nil)
			if c.line == 0 {
				// Same key, same head, another origin: a valid
				// checkpoint of this log's head. VerifyOptions.Origin
				// pins the name.
				require.NoError(t, err)
				dir := t.TempDir()
				b := newChain(t, testRSAKey(t))
				b.segs[0] = rechain(t, c.log, first)
				b.writeTo(t, dir)
				_, err = VerifyWith(dir, VerifyOptions{PublicKeys: []crypto.PublicKey{testRSAKey(t).Public()},
					Origin: "dataroom-1.example"})
				requireBroken(t, err, ErrTampered, 11)
				return
			}
			requireBroken(t, err, ErrTampered, c.line)
		})
	}
}

// After the last checkpoint in the log, only a checkpoint kept elsewhere
// (c15) catches a capable attacker.
func TestTamperAfterLastCheckpoint(t *testing.T) {
	s := newSealedLog(t)
	L := s.lines
	cases := map[string][][]byte{
		"edit e13":                          func() [][]byte { m := append([][]byte(nil), L...); m[12] = flipInValue(t, L[12], "actor"); return m }(),
		"delete e13":                        append(append([][]byte(nil), L[:12]...), L[13]),
		"swap e12 and e13":                  append(append(append([][]byte(nil), L[:11]...), L[12], L[11]), L[13]),
		"duplicate e13":                     append(append([][]byte(nil), L[:13]...), L[12], L[13]),
		"insert before e14":                 append(append([][]byte(nil), L[:13]...), L[2], L[13]),
		"truncate after c11":                L[:11],
		"truncate after e13":                L[:13],
		"truncate before c11 (it goes too)": L[:10],
	}
	for name, log := range cases {
		t.Run(name, func(t *testing.T) {
			first := 0
			for first < len(log) && bytes.Equal(log[first], L[first]) {
				first++
			}
			mod := rechain(t, log, first)
			rep, err := verifySealed(t, mod, nil)
			require.NoError(t, err, "undetectable without an external checkpoint: README says so")
			assert.LessOrEqual(t, rep.Unsealed, uint64(5))
			_, err = verifySealed(t, mod, &s.c15)
			require.ErrorIs(t, err, ErrTruncated)
			require.ErrorIs(t, err, ErrTampered)
		})
	}
	// Entries appended by hand after what c15 covers extend it: they are
	// what Report.Unsealed counts, and only a later external checkpoint
	// covers them.
	extra := Entry{Event: "request.approved", Actor: "mallory"}
	b := newChain(t, testRSAKey(t))
	for _, l := range L {
		e, _ := parseLine(l[:len(l)-1])
		b.add(e)
	}
	b.add(extra)
	rep, err := verifySealed(t, b.lines(), &s.c15)
	require.NoError(t, err)
	assert.True(t, rep.Against)
	assert.Equal(t, uint64(4), rep.Unsealed)
	// The untouched log extends c15.
	_, err = verifySealed(t, L, &s.c15)
	require.NoError(t, err)
}
