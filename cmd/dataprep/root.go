package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/dataprep/dataprep/pipeline/config"
	"github.com/dataprep/dataprep/pipeline/control"
)

// globals are the flags every command shares.
type globals struct {
	home     string
	user     string
	passFile string
	json     bool
}

var g globals

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "dataprep",
		Short: "Secure data preparation for card personalization",
		Long: `dataprep receives issuers' OpenPGP-encrypted cardholder files over SFTP, decrypts them
through the HSM under dual control, prepares production files for personalization
machines, and records every step in a hash-chained audit log.

Run 'dataprep init --home DIR --admin NAME --dev' once, then 'dataprep daemon'.
Every other command talks to the running daemon as one person: --user NAME and a
passphrase from the terminal or --passphrase-file FILE.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.home, "home", envOr("DATAPREP_HOME", "/var/lib/dataprep"), "the daemon's home directory (env DATAPREP_HOME)")
	pf.StringVar(&g.user, "user", os.Getenv("DATAPREP_USER"), "your dataprep user name (env DATAPREP_USER)")
	pf.StringVar(&g.passFile, "passphrase-file", os.Getenv("DATAPREP_PASSPHRASE_FILE"), "read your passphrase from this file (mode 0600) instead of the terminal (env DATAPREP_PASSPHRASE_FILE)")
	pf.BoolVar(&g.json, "json", false, "print JSON instead of text")
	root.AddCommand(initCmd(), daemonCmd(), keyCmd(), userCmd(), passwdCmd(), issuerCmd(), jobCmd(),
		requestCmd(), approveCmd(), denyCmd(), auditCmd(), machineCmd(), profileCmd(), statusCmd())
	root.AddCommand(recordCmd(), recordsReportCmd())
	return root
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func home() config.Home {
	abs, err := filepath.Abs(g.home)
	if err != nil {
		abs = g.home
	}
	return config.Home{Dir: abs}
}

func osUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return fmt.Sprint(os.Getuid())
}

func logger() zerolog.Logger {
	if term.IsTerminal(int(os.Stderr.Fd())) {
		return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: "15:04:05"}).With().Timestamp().Logger()
	}
	return zerolog.New(os.Stderr).With().Timestamp().Logger()
}

// readSecretFile reads a passphrase or PIN file. Like ssh with its keys, it
// refuses a file that others may read: the secret would not be one.
func readSecretFile(path, what string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s file: %w", what, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s file %s is readable by others (mode %04o): chmod 600 it", what, path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s file: %w", what, err)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return nil, fmt.Errorf("%s file %s is empty", what, path)
	}
	return b, nil
}

// readSecret takes a secret from a file when one is named, else from the
// terminal without echo. It never takes one from argv.
func readSecret(file, prompt string, confirm bool) ([]byte, error) {
	if file != "" {
		return readSecretFile(file, "passphrase")
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, errors.New("no terminal to ask for a passphrase: give --passphrase-file FILE (or the command's file flag)")
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	p, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, err
	}
	if confirm {
		fmt.Fprint(tty, "again: ")
		q, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(p, q) {
			return nil, errors.New("the two passphrases differ")
		}
	}
	return p, nil
}

// client is the signed-in connection to the daemon.
func client() (*control.Client, error) {
	if g.user == "" {
		return nil, errors.New("who are you? give --user NAME (or set DATAPREP_USER)")
	}
	pass, err := readSecret(g.passFile, "passphrase for "+g.user+": ", false)
	if err != nil {
		return nil, err
	}
	return &control.Client{Socket: home().Socket(), User: g.user, Pass: pass}, nil
}

// call signs in and makes one call.
func call(op string, in, out any) error {
	c, err := client()
	if err != nil {
		return err
	}
	defer clear(c.Pass)
	return c.Call(op, in, out)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer, head string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, head)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}
