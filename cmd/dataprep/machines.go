package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dataprep/dataprep/formats"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/pipeline"
	"github.com/dataprep/dataprep/pipeline/control"
)

// done prints a one-result answer.
func done(cmd *cobra.Command, op string, in any) error {
	var out control.Done
	if err := call(op, in, &out); err != nil {
		return err
	}
	if g.json {
		return printJSON(cmd.OutOrStdout(), out)
	}
	fmt.Fprintln(cmd.OutOrStdout(), out.Result)
	return nil
}

func releaseCmd() *cobra.Command {
	var m string
	c := &cobra.Command{
		Use:   "release JOB --machine NAME",
		Short: "Push a ready job's production file to its machine (authorized machine operator)",
		Long: `release pushes the production file over SFTP, only if the machine's previous job was deleted
under a supervisor's eye and the machine's directory holds none of our files. The file goes to a
temporary name, is read back and checked against the hash fixed at preparation, then renamed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if m == "" {
				return errors.New("--machine NAME is required")
			}
			return done(cmd, "job.release", control.JobStart{ID: args[0], Machine: m})
		},
	}
	c.Flags().StringVar(&m, "machine", "", "the machine to push to")
	return c
}

func reportCmd() *cobra.Command {
	var n pipeline.Counts
	c := &cobra.Command{
		Use:   "report JOB --good N --spoiled N --samples N --returned-to-vault N",
		Short: "Report the cards produced (machine operator; the expected count is never shown)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range []string{"good", "spoiled", "samples", "returned-to-vault"} {
				if !cmd.Flags().Changed(f) {
					return fmt.Errorf("--%s N is required (0 if none)", f)
				}
			}
			return done(cmd, "job.report", control.JobReport{ID: args[0], Counts: n})
		},
	}
	c.Flags().IntVar(&n.Good, "good", 0, "good cards personalized")
	c.Flags().IntVar(&n.Spoiled, "spoiled", 0, "spoiled or machine-rejected cards")
	c.Flags().IntVar(&n.Samples, "samples", 0, "sample or test cards")
	c.Flags().IntVar(&n.ReturnedToVault, "returned-to-vault", 0, "white cards returned to the vault unused")
	return c
}

func resolveCmd() *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:   "resolve JOB --reason TEXT",
		Short: "Resolve a count difference with a written reason (supervisor)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return errors.New("--reason TEXT is required: it goes into the audit log")
			}
			return done(cmd, "job.resolve", control.Deny{ID: args[0], Reason: reason})
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why the counts differ (one line)")
	return c
}

func deleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete JOB",
		Short: "Ask for a job's supervised deletion (on the machine and in the spool)",
		Long: `delete makes a request that a supervisor (not you) approves with 'dataprep approve REQ'.
The daemon then deletes the file on the machine, confirms it is gone, deletes every spool copy,
audits it, and puts a signed deletion receipt in the issuer's outbox.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out pipeline.Outcome
			if err := call("job.delete", control.ID{ID: args[0]}, &out); err != nil {
				return err
			}
			return printOutcome(cmd, out)
		},
	}
}

func machineCmd() *cobra.Command {
	c := &cobra.Command{Use: "machine", Short: "Personalization machines"}
	var spec pipeline.MachineSpec
	var hostKey, pgpKey, layout string
	add := &cobra.Command{
		Use:   "add NAME --sftp USER@HOST:PORT --dir PATH --host-key KEY --ssh-key FILE --pgp-key FILE",
		Short: "Register a machine's computer (a request another administrator approves, once there are two)",
		Long: `add registers where a machine's production files go.
  --sftp      USER@HOST:PORT of its OpenSSH server
  --dir       absolute directory there that receives production files
  --host-key  its SSH host key, pinned: a key line ("ssh-ed25519 AAAA…") or a file holding one
  --ssh-key   our private key for logging in to it (mode 0600)
  --pgp-key   its armored OpenPGP certificate: production files are encrypted to it
  --layout    its layout profile (TOML); default: the embedded fixed-width embosser layout`,
		Example: "  dataprep machine add emb1 --sftp dp@10.1.2.3:22 --dir /srv/prod --host-key emb1_host.pub --ssh-key /etc/dataprep/emb1 --pgp-key emb1.asc",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if spec.SFTP == "" || spec.Dir == "" || hostKey == "" || spec.SSHKeyFile == "" || pgpKey == "" {
				return errors.New("--sftp, --dir, --host-key, --ssh-key and --pgp-key are all required")
			}
			spec.Name = args[0]
			spec.HostKey = hostKey
			if b, err := os.ReadFile(hostKey); err == nil {
				spec.HostKey = strings.TrimSpace(string(b))
			}
			abs, err := filepath.Abs(spec.SSHKeyFile)
			if err != nil {
				return err
			}
			spec.SSHKeyFile = abs
			if spec.PGPKey, err = os.ReadFile(pgpKey); err != nil {
				return fmt.Errorf("--pgp-key: %w", err)
			}
			if layout != "" {
				if spec.Layout, err = os.ReadFile(layout); err != nil {
					return fmt.Errorf("--layout: %w", err)
				}
			}
			var out pipeline.Outcome
			if err := call("machine.add", spec, &out); err != nil {
				return err
			}
			return printOutcome(cmd, out)
		},
	}
	f := add.Flags()
	f.StringVar(&spec.SFTP, "sftp", "", "USER@HOST:PORT")
	f.StringVar(&spec.Dir, "dir", "", "remote directory for production files")
	f.StringVar(&hostKey, "host-key", "", "pinned SSH host key (line or file)")
	f.StringVar(&spec.SSHKeyFile, "ssh-key", "", "our SSH private key for the machine")
	f.StringVar(&pgpKey, "pgp-key", "", "the machine's OpenPGP certificate")
	f.StringVar(&layout, "layout", "", "the machine's layout profile (TOML)")

	var operator string
	auth := &cobra.Command{
		Use:   "authorize NAME --operator USER",
		Short: "Authorize a machine operator on a machine (dual-controlled)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if operator == "" {
				return errors.New("--operator USER is required")
			}
			var out pipeline.Outcome
			if err := call("machine.authorize", control.MachineAuthorize{Machine: args[0], Operator: operator}, &out); err != nil {
				return err
			}
			return printOutcome(cmd, out)
		},
	}
	auth.Flags().StringVar(&operator, "operator", "", "the machine-operator to authorize")
	var revokeOp string
	revoke := &cobra.Command{
		Use:   "revoke NAME --operator USER",
		Short: "Withdraw a machine operator's authorization on a machine (dual-controlled)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if revokeOp == "" {
				return errors.New("--operator USER is required")
			}
			var out pipeline.Outcome
			if err := call("machine.revoke", control.MachineAuthorize{Machine: args[0], Operator: revokeOp}, &out); err != nil {
				return err
			}
			return printOutcome(cmd, out)
		},
	}
	revoke.Flags().StringVar(&revokeOp, "operator", "", "the machine-operator to withdraw")
	list := &cobra.Command{
		Use:   "list",
		Short: "List machines, their authorized operators and the job each holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ms []pipeline.MachineView
			if err := call("machine.list", struct{}{}, &ms); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), ms)
			}
			rows := make([][]string, len(ms))
			for i, m := range ms {
				rows[i] = []string{m.Name, m.SFTP, m.Dir, strings.Join(m.Operators, ","), orNone(m.Current), m.HostKey}
			}
			table(cmd.OutOrStdout(), "MACHINE\tSFTP\tDIR\tOPERATORS\tHOLDS\tHOST KEY", rows)
			return nil
		},
	}
	c.AddCommand(add, auth, revoke, list)
	return c
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func profileCmd() *cobra.Command {
	c := &cobra.Command{Use: "profile", Short: "Issuer and machine profiles"}
	c.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a profile and show what a sample record becomes (PAN masked)",
		Long: `check parses an issuer or machine profile strictly (unknown keys are errors) and prints
what a synthetic sample record becomes under it. It needs no daemon. 'dataprep profile check
default:machine-fixed' shows an embedded default (issuer-csv, machine-fixed, machine-cps).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var data []byte
			var err error
			if name, ok := strings.CutPrefix(args[0], "default:"); ok {
				data, err = profile.Default(name)
			} else {
				data, err = os.ReadFile(args[0])
			}
			if err != nil {
				return err
			}
			if _, err := formats.CheckProfile(cmd.OutOrStdout(), data, time.Now()); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			return nil
		},
	})
	return c
}
