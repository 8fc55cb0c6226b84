// Command dataprep-auditverify checks a dataprep audit log directory on its
// own, without the daemon: point it at the live directory or at a copy.
//
//	dataprep-auditverify [-key PUBLIC.pem]... [-against CHECKPOINT] [-origin NAME] [-require-checkpoint] DIR
//
//	-key FILE            a trusted checkpoint key (PEM "PUBLIC KEY"); repeat it for every key
//	                     the log was signed with. Without it, checkpoint signatures are not checked.
//	-against FILE        a checkpoint kept outside the log ('dataprep audit checkpoint export'):
//	                     the log must extend it, or its tail was cut off.
//	-origin NAME         the only origin a checkpoint may name.
//	-require-checkpoint  fail a log that holds no checkpoint.
//
// It prints what it found and exits with
//
//	0  ok: N entries, head H (and a summary of checkpoints)
//	1  audit log broken at FILE:LINE (seq S): REASON   (tampered, cut off, or unreadable)
//	2  usage error, or a key or checkpoint file that cannot be read
//	3  audit log has a torn tail at FILE:LINE (seq S): REASON
//
// A torn tail is an incomplete last line, what a crash in the middle of a
// write leaves; the daemon moves it aside and records that when it next
// starts. The storage format is described in audit/README.md.
package main

import (
	"crypto"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dataprep/dataprep/audit"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type keyFiles []string

func (k *keyFiles) String() string     { return strings.Join(*k, ",") }
func (k *keyFiles) Set(v string) error { *k = append(*k, v); return nil }

const usage = "usage: dataprep-auditverify [-key PUBLIC.pem]... [-against CHECKPOINT] [-origin NAME] [-require-checkpoint] DIR"

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dataprep-auditverify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var keys keyFiles
	fs.Var(&keys, "key", "trusted checkpoint key, PEM `FILE` (repeatable)")
	against := fs.String("against", "", "checkpoint `FILE` kept outside the log")
	origin := fs.String("origin", "", "the only origin a checkpoint may name")
	require := fs.Bool("require-checkpoint", false, "fail a log without checkpoints")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 || fs.Arg(0) == "" || fs.Arg(0)[0] == '-' {
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, err)
		}
		fmt.Fprintln(stderr, usage)
		return 2
	}
	dir := fs.Arg(0)

	o := audit.VerifyOptions{Origin: *origin, RequireCheckpoint: *require}
	for _, path := range keys {
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		pub, err := audit.ParsePublicKey(b)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
			return 2
		}
		o.PublicKeys = append(o.PublicKeys, pub)
	}
	if *against != "" {
		b, err := os.ReadFile(*against)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		c, err := audit.ParseCheckpoint(b)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", *against, err)
			return 2
		}
		if len(o.PublicKeys) > 0 {
			if err := c.Verify(o.PublicKeys...); err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", *against, err)
				return 1
			}
		}
		o.Against = &c
	}

	rep, err := audit.VerifyWith(dir, o)
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "ok: %d entries, head %s\n", rep.Entries, rep.Head)
		summary(stdout, rep, o.PublicKeys)
		return 0
	case errors.Is(err, audit.ErrTorn):
		fmt.Fprintf(stderr, "%v; the %d entries before it are ok, head %s\n", err, rep.Entries, rep.Head)
		summary(stderr, rep, o.PublicKeys)
		return 3
	default:
		fmt.Fprintln(stderr, err)
		return 1
	}
}

// summary says what the checkpoints vouch for, and what nothing does.
func summary(w io.Writer, rep audit.Report, keys []crypto.PublicKey) {
	if rep.First > 1 {
		fmt.Fprintf(w, "pruned: the log starts at seq %d, from a checkpoint over the entries removed\n", rep.First)
	}
	switch {
	case rep.Checkpoints == 0:
		fmt.Fprintln(w, "checkpoints: none")
	case len(keys) == 0:
		fmt.Fprintf(w, "checkpoints: %d, signatures NOT checked (no -key); the last covers seq %d\n",
			rep.Checkpoints, rep.LastCheckpoint.Seq)
	default:
		fmt.Fprintf(w, "checkpoints: %d, every signature verified; the last covers seq %d, made %s by key %s\n",
			rep.Checkpoints, rep.LastCheckpoint.Seq, rep.LastCheckpoint.Time.Format("2006-01-02T15:04:05.000000000Z"),
			rep.LastCheckpoint.KeyID)
	}
	if rep.Unsealed > 0 {
		fmt.Fprintf(w, "unsealed: %d entries after the last checkpoint; only a checkpoint kept elsewhere that covers them (-against) vouches for them\n",
			rep.Unsealed)
	}
	if rep.Against {
		fmt.Fprintln(w, "against: the log extends the external checkpoint")
	}
}
