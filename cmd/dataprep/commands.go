package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/pipeline"
	"github.com/dataprep/dataprep/pipeline/control"
	"github.com/dataprep/dataprep/pipeline/state"
)

func initCmd() *cobra.Command {
	var o pipeline.InitOptions
	var passFile string
	c := &cobra.Command{
		Use:   "init --home DIR --admin NAME [--dev]",
		Short: "Create a new data room: config, state, audit log, HSM keys, first administrator",
		Long: `init creates the home directory and everything in it, and generates the data room's
OpenPGP key in the HSM (RSA-3072, not extractable).

With --dev it first creates a SoftHSM2 token inside the home, with random PINs in
files there: for development and demos only. Without --dev give the PKCS#11 module,
the token label and a file holding the user PIN (never the PIN itself on the command line).

The administrator's passphrase comes from the terminal or --admin-passphrase-file.`,
		Example: `  dataprep init --home /var/lib/dataprep --admin alice --dev
  dataprep init --home /var/lib/dataprep --admin alice \
      --pkcs11-module /usr/lib/libCryptoki2_64.so --token-label dataroom --pin-file /root/pin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Admin == "" {
				return errors.New("--admin NAME is required: the first administrator")
			}
			var err error
			if passFile != "" {
				o.AdminPass, err = readSecretFile(passFile, "passphrase")
			} else {
				o.AdminPass, err = readSecret("", "new passphrase for "+o.Admin+": ", true)
			}
			if err != nil {
				return err
			}
			o.OSUser = osUser()
			fpr, err := pipeline.Init(home(), o)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), map[string]string{"home": home().Dir, "fingerprint": fpr})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "initialised %s\ndata room key %s\nnext: dataprep daemon --home %s\n", home().Dir, fpr, home().Dir)
			if o.Dev {
				fmt.Fprintln(cmd.OutOrStdout(), "DEVELOPMENT ONLY: the HSM is a SoftHSM2 token in the home with its PINs in plain files.")
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&o.Admin, "admin", "", "name of the first administrator")
	f.StringVar(&passFile, "admin-passphrase-file", "", "read the administrator's passphrase from this file (mode 0600)")
	f.BoolVar(&o.Dev, "dev", false, "create a SoftHSM2 token inside the home (development only)")
	f.StringVar(&o.Module, "pkcs11-module", "", "PKCS#11 module of the HSM")
	f.StringVar(&o.TokenLabel, "token-label", "", "label of the HSM token")
	f.StringVar(&o.PINFile, "pin-file", "", "file holding the token's user PIN (mode 0600)")
	f.StringVar(&o.UID, "uid", "", "user id of the data room certificate")
	return c
}

func daemonCmd() *cobra.Command {
	var o pipeline.DaemonOptions
	var logLevel string
	c := &cobra.Command{
		Use:   "daemon",
		Short: "Run the data room: the SFTP drop, preparation and the control socket",
		Long: `daemon runs in the foreground (systemd's Type=simple) and logs JSON to stderr.
SIGTERM or SIGINT stops it gracefully: it stops taking work, lets running
preparations finish and writes a daemon.stop audit entry.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lvl, err := zerolog.ParseLevel(logLevel)
			if err != nil || logLevel == "" {
				return fmt.Errorf("--log-level %q: use debug, info, warn or error", logLevel)
			}
			o.Log = logger().Level(lvl)
			d, err := pipeline.OpenDaemon(home(), o)
			if err != nil {
				return err
			}
			defer d.Close()
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			ctl := &control.Server{Svc: d.Svc, Log: o.Log.With().Str("component", "control").Logger()}
			return d.Serve(ctx, ctl.Serve, ctl.Close)
		},
	}
	c.Flags().StringVar(&o.DropListen, "drop-listen", "", "address of the built-in SFTP drop (default from the config, 127.0.0.1:2222)")
	c.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	c.Flags().StringVar(&o.MetricsListen, "metrics-listen", "", "serve Prometheus /metrics on this loopback HOST:PORT (default from the config; off when empty)")
	return c
}

func keyCmd() *cobra.Command {
	c := &cobra.Command{Use: "key", Short: "The data room's OpenPGP key"}
	c.AddCommand(&cobra.Command{
		Use:   "export",
		Short: "Print the data room's armored certificate for issuers, and its fingerprint",
		Long: `export prints the public certificate that issuers encrypt their files to. It reads
the home directly and works with the daemon stopped. Give the fingerprint to the issuer
by a second channel so they can check what they received.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cert, fpr, err := pipeline.ExportKey(home())
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), map[string]string{"fingerprint": fpr, "certificate": string(cert)})
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "fingerprint: %s\n", fpr)
			_, err = cmd.OutOrStdout().Write(cert)
			return err
		},
	})
	return c
}

// printOutcome prints a bootstrap result or the request that now waits.
func printOutcome(cmd *cobra.Command, out pipeline.Outcome) error {
	if g.json {
		if out.Request != nil {
			return printJSON(cmd.OutOrStdout(), out.Request)
		}
		return printJSON(cmd.OutOrStdout(), map[string]any{"done": true, "result": out.Result})
	}
	if out.Request != nil {
		r := out.Request
		fmt.Fprintf(cmd.OutOrStdout(), "request %s: %s %s waits for a %s other than %s to approve (dataprep approve %s) until %s\n",
			r.ID, r.Action, r.Target, rolesText(r), r.Requester, r.ID, r.Expires.Local().Format(time.DateTime))
		return nil
	}
	fmt.Fprintln(cmd.OutOrStdout(), out.Result)
	return nil
}

func rolesText(r *state.Request) string {
	s := ""
	for i, x := range r.ApproverRoles {
		if i > 0 {
			s += " or "
		}
		s += string(x)
	}
	return s
}

func userCmd() *cobra.Command {
	c := &cobra.Command{Use: "user", Short: "People and their roles"}
	var role, passFile string
	add := &cobra.Command{
		Use:   "add NAME --role ROLE",
		Short: "Add a person (a request another administrator approves, once there are two)",
		Long: `add creates an account with one role: admin, operator, supervisor, machine-operator or auditor.
The first passphrase comes from the terminal or --initial-passphrase-file; the person must
change it with 'dataprep passwd' before doing anything else.`,
		Example: "  dataprep user add bob --role operator --user alice",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if role == "" {
				return errors.New("--role is required: admin, operator, supervisor, machine-operator or auditor")
			}
			var initial []byte
			var err error
			if passFile != "" {
				initial, err = readSecretFile(passFile, "initial passphrase")
			} else {
				initial, err = readSecret("", "first passphrase for "+args[0]+": ", true)
			}
			if err != nil {
				return err
			}
			var out pipeline.Outcome
			if err := call("user.add", control.UserAdd{Name: args[0], Role: role, InitialPassphrase: initial}, &out); err != nil {
				return err
			}
			return printOutcome(cmd, out)
		},
	}
	c.AddCommand(&cobra.Command{
		Use:   "disable NAME",
		Short: "Disable an account: it can no longer sign in, its history stays (dual-controlled)",
		Long: `disable is for leavers and compromised accounts. The person is also withdrawn from every
machine they were authorized on. The last active administrator cannot be disabled.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out pipeline.Outcome
			if err := call("user.disable", control.ID{ID: args[0]}, &out); err != nil {
				return err
			}
			return printOutcome(cmd, out)
		},
	})
	add.Flags().StringVar(&role, "role", "", "admin, operator, supervisor, machine-operator or auditor")
	add.Flags().StringVar(&passFile, "initial-passphrase-file", "", "read the first passphrase from this file (mode 0600)")
	c.AddCommand(add)
	return c
}

func passwdCmd() *cobra.Command {
	var newFile string
	c := &cobra.Command{
		Use:   "passwd",
		Short: "Change your own passphrase",
		Long:  "passwd signs you in with your current passphrase and sets a new one (at least 12 characters).",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := client()
			if err != nil {
				return err
			}
			var np []byte
			if newFile != "" {
				np, err = readSecretFile(newFile, "new passphrase")
			} else {
				np, err = readSecret("", "new passphrase: ", true)
			}
			if err != nil {
				return err
			}
			var out control.Done
			if err := cl.Call("passwd", control.Passwd{NewPassphrase: np}, &out); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.Result)
			return nil
		},
	}
	c.Flags().StringVar(&newFile, "new-passphrase-file", "", "read the new passphrase from this file (mode 0600)")
	return c
}

func issuerCmd() *cobra.Command {
	c := &cobra.Command{Use: "issuer", Short: "Issuers (banks) and their keys"}
	var sigFile, sshFile, profFile string
	add := &cobra.Command{
		Use:   "add NAME --signing-key FILE --ssh-key FILE",
		Short: "Register an issuer: the OpenPGP key that signs its files and the SSH key of its drop",
		Long: `add registers a bank. --signing-key is its armored OpenPGP public key (gpg --armor --export);
every file it drops must be signed by it. --ssh-key is its OpenSSH public key line; it logs in
to the drop as NAME with it. NAME: lower-case letters, digits, . _ -.`,
		Example: "  dataprep issuer add acme-bank --signing-key acme.asc --ssh-key acme_ed25519.pub --user alice",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if sigFile == "" || sshFile == "" {
				return errors.New("--signing-key FILE and --ssh-key FILE are both required")
			}
			sig, err := os.ReadFile(sigFile)
			if err != nil {
				return fmt.Errorf("--signing-key: %w", err)
			}
			sk, err := os.ReadFile(sshFile)
			if err != nil {
				return fmt.Errorf("--ssh-key: %w", err)
			}
			var prof []byte
			if profFile != "" {
				if prof, err = os.ReadFile(profFile); err != nil {
					return fmt.Errorf("--profile: %w", err)
				}
			}
			var out pipeline.Outcome
			if err := call("issuer.add", control.IssuerAdd{Name: args[0], SigningKey: sig, SSHKey: sk, Profile: prof}, &out); err != nil {
				return err
			}
			return printOutcome(cmd, out)
		},
	}
	add.Flags().StringVar(&sigFile, "signing-key", "", "the issuer's armored OpenPGP public key")
	add.Flags().StringVar(&sshFile, "ssh-key", "", "the issuer's OpenSSH public key (one line)")
	add.Flags().StringVar(&profFile, "profile", "", "the issuer's input profile (TOML; check it with 'dataprep profile check'); default: the embedded CSV profile")
	c.AddCommand(add)
	return c
}

func jobCmd() *cobra.Command {
	c := &cobra.Command{Use: "job", Short: "Jobs: one issuer file each"}
	c.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List jobs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var js []pipeline.JobView
			if err := call("job.list", struct{}{}, &js); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), js)
			}
			rows := make([][]string, len(js))
			for i, j := range js {
				rows[i] = []string{j.ID, j.Issuer, string(j.State), j.Received.Local().Format(time.DateTime), j.FileName, j.SHA256[:16]}
			}
			table(cmd.OutOrStdout(), "JOB\tISSUER\tSTATE\tRECEIVED\tFILE\tSHA-256", rows)
			return nil
		},
	})
	c.AddCommand(&cobra.Command{
		Use:   "show JOB",
		Short: "Show one job: its state, hashes and record counts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var j pipeline.JobView
			if err := call("job.show", control.ID{ID: args[0]}, &j); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), j)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "job:       %s\nissuer:    %s\nstate:     %s\nfile:      %s\nsha256:    %s\n",
				j.ID, j.Issuer, j.State, j.FileName, j.SHA256)
			if j.Size > 0 { // not shown to machine operators
				fmt.Fprintf(w, "size:      %d bytes\n", j.Size)
			}
			fmt.Fprintf(w, "received:  %s\n", j.Received.Local().Format(time.DateTime))
			if j.Reason != "" {
				fmt.Fprintf(w, "reason:    %s\n", j.Reason)
			}
			if j.StartedBy != "" {
				fmt.Fprintf(w, "started:   by %s, approved by %s (%s)\n", j.StartedBy, j.Approver, j.StartReq)
			}
			if j.Signer != "" {
				fmt.Fprintf(w, "signed:    %s\ncipher:    %s\n", j.Signer, j.Cipher)
			}
			if j.Counts != nil && j.State != state.Received {
				fmt.Fprintf(w, "records:   %d read, %d accepted, %d rejected\n", j.Counts.Read, j.Counts.Accepted, j.Counts.Rejected)
			}
			if j.OutputSHA256 != "" && j.OutputSize > 0 {
				fmt.Fprintf(w, "output:    %s (%d bytes)\n", j.OutputSHA256, j.OutputSize)
			} else if j.OutputSHA256 != "" {
				fmt.Fprintf(w, "output:    %s\n", j.OutputSHA256)
			}
			return nil
		},
	})
	var startMachine string
	start := &cobra.Command{
		Use:   "start JOB [--machine NAME]",
		Short: "Ask to decrypt and prepare a received job for a machine (a second operator or a supervisor approves)",
		Long: `start asks for a received job to be prepared. The machine decides the output layout and the
key the production file is encrypted to; --machine may be left out when only one is registered.
Another operator or a supervisor approves with 'dataprep approve REQ'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out pipeline.Outcome
			if err := call("job.start", control.JobStart{ID: args[0], Machine: startMachine}, &out); err != nil {
				return err
			}
			return printOutcome(cmd, out)
		},
	}
	start.Flags().StringVar(&startMachine, "machine", "", "the machine the job is prepared for")
	c.AddCommand(start, releaseCmd(), reportCmd(), resolveCmd(), deleteCmd(), watchCmd())
	return c
}

func requestCmd() *cobra.Command {
	c := &cobra.Command{Use: "request", Short: "Dual-control requests"}
	var all bool
	list := &cobra.Command{
		Use:   "list",
		Short: "Show what waits for whom (--all: decided ones too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rs []state.Request
			if err := call("request.list", control.RequestList{All: all}, &rs); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), rs)
			}
			rows := make([][]string, len(rs))
			for i := range rs {
				r := &rs[i]
				rows[i] = []string{r.ID, r.Action, r.Target, r.Requester, rolesText(r), string(r.State), r.Expires.Local().Format(time.DateTime)}
			}
			table(cmd.OutOrStdout(), "REQUEST\tACTION\tTARGET\tREQUESTER\tAPPROVER ROLE\tSTATE\tEXPIRES", rows)
			return nil
		},
	}
	list.Flags().BoolVar(&all, "all", false, "include approved, denied and expired requests")
	c.AddCommand(list)
	return c
}

func approveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "approve REQ",
		Short: "Approve someone else's request; the action runs at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out control.Approved
			if err := call("approve", control.ID{ID: args[0]}, &out); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "approved %s: %s\n", args[0], out.Result)
			return nil
		},
	}
}

func denyCmd() *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:   "deny REQ --reason TEXT",
		Short: "Deny a request (or withdraw your own) with a reason",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return errors.New("--reason TEXT is required: it goes into the audit log")
			}
			var out state.Request
			if err := call("deny", control.Deny{ID: args[0], Reason: reason}, &out); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "denied %s\n", out.ID)
			return nil
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why (one line, recorded in the audit log)")
	return c
}

func auditCmd() *cobra.Command {
	c := &cobra.Command{Use: "audit", Short: "The tamper-evident audit log"}
	var dir, against string
	var keyFiles []string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain and its HSM-signed checkpoints (daemon running or not, or a copy)",
		Long: `verify reads the audit log files directly, walks the hash chain and checks every checkpoint's
signature with the data room's checkpoint key (keys/audit-checkpoint.pub in the home, or --key).
Exit 0: intact. Exit 1: the first bad entry is named.

Entries after the last checkpoint are only as good as the chain: keep a checkpoint elsewhere
('dataprep audit checkpoint export') and give it to --against to prove the log was not cut
off or rewritten after it. --dir checks a copy handed to an auditor.`,
		Example: `  dataprep audit verify
  dataprep audit verify --dir /media/copy/audit --key audit-checkpoint.pub --against 2026-11-01.checkpoint`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				dir = home().Audit()
			}
			var o audit.VerifyOptions
			if len(keyFiles) > 0 {
				for _, f := range keyFiles {
					raw, err := os.ReadFile(f)
					if err != nil {
						return fmt.Errorf("--key: %w", err)
					}
					k, err := audit.ParsePublicKey(raw)
					if err != nil {
						return fmt.Errorf("--key %s: %w", f, err)
					}
					o.PublicKeys = append(o.PublicKeys, k)
				}
			} else {
				keys, err := pipeline.CheckpointKeys(home())
				if err != nil {
					return err
				}
				o.PublicKeys = keys
			}
			o.RequireCheckpoint = len(o.PublicKeys) > 0
			if against != "" {
				raw, err := os.ReadFile(against)
				if err != nil {
					return fmt.Errorf("--against: %w", err)
				}
				c, err := audit.ParseCheckpoint(raw)
				if err != nil {
					return fmt.Errorf("--against %s: %w", against, err)
				}
				o.Against = &c
			}
			rep, err := audit.VerifyWith(dir, o)
			if errors.Is(err, audit.ErrTruncated) {
				return fmt.Errorf("audit log cut off or rewritten after the checkpoint in %s: %v", against, err)
			}
			if err != nil {
				var ve *audit.VerifyError
				if errors.As(err, &ve) {
					return fmt.Errorf("audit log broken at %s:%d (seq %d): %s", ve.File, ve.Line, ve.Seq, ve.Reason)
				}
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d entries, head %s\n", rep.Entries, rep.Head)
			if rep.Checkpoints > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%d signed checkpoints verified; %d entries after the last one\n", rep.Checkpoints, rep.Unsealed)
			}
			if rep.Against {
				fmt.Fprintf(cmd.OutOrStdout(), "the log extends the checkpoint in %s\n", against)
			}
			return nil
		},
	}
	verify.Flags().StringVar(&dir, "dir", "", "audit directory to check (default: the home's)")
	verify.Flags().StringArrayVar(&keyFiles, "key", nil, "checkpoint public key (PEM); repeatable; default: the home's keys/audit-checkpoint.pub")
	verify.Flags().StringVar(&against, "against", "", "a checkpoint kept elsewhere that the log must extend")

	var out string
	ckpt := &cobra.Command{Use: "checkpoint", Short: "Signed checkpoints of the audit log"}
	export := &cobra.Command{
		Use:   "export [--out FILE]",
		Short: "Write the latest signed checkpoint, to keep outside the data room (works with the daemon stopped)",
		Long: `export writes the latest checkpoint: origin, entry count, chain head and time, signed by the
HSM's checkpoint key. Keep it where the data room cannot change it (a ticket, an email to the
issuer's auditor, WORM storage); 'audit verify --against FILE' later proves nothing before it
was removed or rewritten. It can also be checked with openssl alone (audit/README.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				dir = home().Audit()
			}
			c, err := audit.LatestCheckpoint(dir)
			if err != nil {
				return err
			}
			keys, err := pipeline.CheckpointKeys(home())
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				if err := c.Verify(keys...); err != nil {
					return fmt.Errorf("the latest checkpoint does not verify with the home's key: %w", err)
				}
			}
			if out == "" {
				_, err = cmd.OutOrStdout().Write(c.Marshal())
				return err
			}
			return os.WriteFile(out, c.Marshal(), 0o644)
		},
	}
	export.Flags().StringVar(&out, "out", "", "write to FILE instead of stdout")
	export.Flags().StringVar(&dir, "dir", "", "audit directory (default: the home's)")
	ckpt.AddCommand(export)
	c.AddCommand(verify, ckpt)
	return c
}
