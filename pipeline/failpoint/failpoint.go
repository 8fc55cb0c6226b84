// Package failpoint lets the crash-recovery tests kill the daemon at a named
// point of a job's life, deterministically, instead of hoping a random
// SIGKILL lands in a window a few microseconds wide.
//
// It is inert unless the environment variable DATAPREP_FAILPOINT is set when
// the process starts, as "NAME" or "NAME@N" (die at the N-th hit, default 1).
// Production never sets it; `dataprep daemon` logs a warning if it is set.
package failpoint

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

var (
	armed string
	at    int64 = 1
	hits  atomic.Int64
)

func init() {
	v := os.Getenv("DATAPREP_FAILPOINT")
	if v == "" {
		return
	}
	name, n, ok := strings.Cut(v, "@")
	armed = name
	if ok {
		if k, err := strconv.ParseInt(n, 10, 64); err == nil && k > 0 {
			at = k
		}
	}
}

// Armed reports the armed point, for the daemon's warning.
func Armed() string { return armed }

// Hit kills the process with SIGKILL if name is the armed point and this is
// the hit it waits for. SIGKILL, not exit: no deferred function, no buffered
// write, no graceful shutdown may run, as in a power cut.
func Hit(name string) {
	if armed == "" || name != armed {
		return
	}
	if hits.Add(1) == at {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never returns
	}
}
