// Command dataprep-auditverify checks a dataprep audit log directory on its
// own, without the daemon: point it at the live directory or at a copy.
//
//	dataprep-auditverify DIR
//
// It prints one line and exits with
//
//	0  ok: N entries, head H
//	1  audit log broken at FILE:LINE (seq S): REASON   (tampered, or unreadable)
//	2  usage error
//	3  audit log has a torn tail at FILE:LINE (seq S): REASON
//
// A torn tail is an incomplete last line, what a crash in the middle of a
// write leaves; the daemon moves it aside and records that when it next
// starts. The storage format is described in audit/README.md.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/dataprep/dataprep/audit"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] == "" || args[0][0] == '-' {
		fmt.Fprintln(stderr, "usage: dataprep-auditverify DIR")
		return 2
	}
	rep, err := audit.Verify(args[0])
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "ok: %d entries, head %s\n", rep.Entries, rep.Head)
		return 0
	case errors.Is(err, audit.ErrTorn):
		fmt.Fprintf(stderr, "%v; the %d entries before it are ok, head %s\n", err, rep.Entries, rep.Head)
		return 3
	default:
		fmt.Fprintln(stderr, err)
		return 1
	}
}
