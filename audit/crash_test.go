package audit

import (
	"bufio"
	"crypto"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crashChildEnv tells the test binary, run again by TestKill9DuringAppends,
// to be the child that appends until it is killed. Its value is the log
// directory, then a comma and "fast" or "full" for how to open it.
const crashChildEnv = "DATAPREP_AUDIT_CRASH_CHILD"

// TestCrashChild is the child: it opens the log, says "ready", and appends
// (with checkpoints every few entries and tiny segments, so that kills land
// in rotations too) until it is killed.
func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashChildEnv)
	if spec == "" {
		t.Skip("the child of TestKill9DuringAppends")
	}
	dir, mode, _ := strings.Cut(spec, ",")
	key := testRSAKey(t)
	var trusted []crypto.PublicKey
	if mode == "fast" {
		trusted = append(trusted, key.Public())
	}
	fail := func(what string, err error) {
		fmt.Printf("%s: %v\n", what, err)
		os.Exit(3)
	}
	l, err := Open(dir, trusted...)
	if err != nil {
		fail("open", err)
	}
	if err := l.SetCheckpointer(key, "dataroom-1.example"); err != nil {
		fail("checkpointer", err)
	}
	if err := l.SetPolicy(CheckpointPolicy{Every: 4, MaxSegmentSize: 3000, OnError: func(err error) { fail("policy", err) }}); err != nil {
		fail("policy", err)
	}
	fmt.Println("ready")
	for i := 0; ; i++ {
		if _, err := l.Append(sampleEntry(i)); err != nil {
			fail("append", err)
		}
	}
}

// TestKill9DuringAppends kills a child that appends as fast as it can with
// SIGKILL, at random moments, again and again. After every kill the log is
// either intact or has a torn tail (never tampered); the next child's Open
// repairs it; and in the end the whole log, every checkpoint signature
// included, verifies.
//
// SIGKILL cannot tear a write(2) on a local file system (power loss can),
// so every fourth round also leaves half a line at the end, as a power cut
// during the last write would, for the next child to repair.
func TestKill9DuringAppends(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process per round")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := filepath.Join(t.TempDir(), "audit")
	keys := []crypto.PublicKey{testRSAKey(t).Public()}
	const rounds = 24
	torn := 0
	for round := 0; round < rounds; round++ {
		mode := "fast"
		if round%3 == 0 {
			mode = "full"
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir+","+mode)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		ready := make(chan string, 1)
		go func() {
			line, _ := bufio.NewReader(out).ReadString('\n')
			ready <- line
		}()
		select {
		case line := <-ready:
			require.Equal(t, "ready\n", line, "round %d: the child did not start", round)
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("round %d: no word from the child", round)
		}
		time.Sleep(time.Duration(rng.IntN(40_000)) * time.Microsecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		err = cmd.Wait()
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "round %d: %v", round, err)
		ws, _ := exit.Sys().(syscall.WaitStatus)
		require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "round %d: child ended by itself: %v", round, err)

		_, err = VerifyWith(dir, VerifyOptions{PublicKeys: keys})
		if err != nil {
			require.ErrorIs(t, err, ErrTorn, "round %d: a kill leaves an intact log or a torn tail", round)
			torn++
		} else if round%4 == 3 {
			segs := segmentFiles(t, dir)
			f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
			require.NoError(t, err)
			_, err = f.WriteString(`{"seq":` + strconv.Itoa(round) + `,"time":"2026-01-15T09:3`)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			torn++
		}
	}
	// The last kill's torn tail, if any, is repaired by this Open.
	l, err := Open(dir, keys...)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	rep, err := VerifyWith(dir, VerifyOptions{PublicKeys: keys, RequireCheckpoint: true})
	require.NoError(t, err)
	assert.Greater(t, len(rep.Files), 2, "kills landed across rotations")
	repairs := 0
	for _, f := range rep.Files {
		for _, line := range readLines(t, f) {
			if e, _ := parseLine(line[:len(line)-1]); e.Event == EventRepaired {
				repairs++
			}
		}
	}
	assert.Equal(t, torn, repairs, "every torn tail was repaired and recorded")
	t.Logf("%d rounds: %d entries, %d checkpoints, %d segments, %d torn tails", rounds, rep.Entries,
		rep.Checkpoints, len(rep.Files), torn)
}
