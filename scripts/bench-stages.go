//go:build ignore

// bench-stages times the daemon's preparation path in one process, stage by
// stage, on one issuer file, with the data room's key in the home's HSM:
//
//	decrypt  pgp.Open read to the end (go-crypto decrypt + issuer signature check)
//	convert  decrypt → formats.Prepare (parse, validate, convert) → discard
//	full     decrypt → Prepare → pgp.Encrypt to the machine, signed by the data
//	         room (HSM) → SHA-256 → discard: the work of the daemon's produce(),
//	         without the spool file and its fsync
//
// Decryption and encryption run on the caller's goroutine, around Prepare
// (which spreads its own work over the cores); the daemon overlaps them on
// goroutines of their own. The differences between the modes' CPU times are
// the CPU cost of each stage.
//
// It is a benchmark tool for scripts/bench.sh (`go run scripts/bench-stages.go`),
// not part of the daemon; the build tag keeps it out of ./... . It prints one
// line of key=value pairs. -cpuprofile writes a pprof CPU profile of the run.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/dataprep/dataprep/crypto/hsm"
	"github.com/dataprep/dataprep/crypto/pgp"
	"github.com/dataprep/dataprep/formats"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/pipeline/config"
)

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func main() {
	home := flag.String("home", os.Getenv("DATAPREP_HOME"), "the daemon's home (config, HSM, certificate)")
	file := flag.String("file", "", "the issuer's encrypted, signed file")
	issuerKey := flag.String("issuer-key", "", "the issuer's armored signing key")
	machineKey := flag.String("machine-key", "", "the machine's armored certificate (mode full)")
	mode := flag.String("mode", "decrypt", "decrypt, convert or full")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if err := run(*home, *file, *issuerKey, *machineKey, *mode, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "bench-stages:", err)
		os.Exit(1)
	}
}

func run(home, file, issuerKey, machineKey, mode, cpuprofile string) error {
	h := config.Home{Dir: home}
	cfg, err := config.Load(h)
	if err != nil {
		return err
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(home, p)
	}
	tok, err := hsm.Open(hsm.Config{Module: cfg.HSM.Module, TokenLabel: cfg.HSM.TokenLabel,
		PINFile: abs(cfg.HSM.PINFile), SoftHSMConf: abs(cfg.HSM.SoftHSMConf)})
	if err != nil {
		return err
	}
	defer tok.Close()
	primary, err := tok.FindKey(cfg.HSM.PrimaryKey)
	if err != nil {
		return err
	}
	enc, err := tok.FindKey(cfg.HSM.EncryptKey)
	if err != nil {
		return err
	}
	cert, err := os.ReadFile(h.Cert())
	if err != nil {
		return err
	}
	dataRoom, err := pgp.AttachHSM(cert, primary, enc)
	if err != nil {
		return err
	}
	ik, err := os.ReadFile(issuerKey)
	if err != nil {
		return err
	}
	issuer, err := pgp.ReadIssuerKey(ik)
	if err != nil {
		return err
	}

	in, err := os.Open(file)
	if err != nil {
		return err
	}
	defer in.Close()
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var ru0 runtime.MemStats
	runtime.ReadMemStats(&ru0)
	start := time.Now()
	msg, err := pgp.Open(in, dataRoom, issuer, pgp.Limits{MaxPlaintext: cfg.Limits.MaxPlaintext})
	if err != nil {
		return err
	}
	var out counter
	records := 0
	switch mode {
	case "decrypt":
		if _, err := io.Copy(&out, msg); err != nil {
			return err
		}
	case "convert", "full":
		ml, err := profile.DefaultMachine("machine-fixed")
		if err != nil {
			return err
		}
		var w io.Writer = &out
		var wc io.WriteCloser
		if mode == "full" {
			mk, err := os.ReadFile(machineKey)
			if err != nil {
				return err
			}
			mc, err := pgp.ReadRecipientKey(mk)
			if err != nil {
				return err
			}
			hs := sha256.New()
			if wc, err = pgp.Encrypt(io.MultiWriter(&out, hs), mc, dataRoom); err != nil {
				return err
			}
			w = wc
		}
		c, err := formats.Prepare(msg, profile.DefaultIssuer(), ml, formats.Options{JobDate: time.Now()}, w, nil)
		if err != nil {
			return err
		}
		records = c.Accepted
		if _, err := io.Copy(io.Discard, msg); err != nil {
			return err
		}
		if wc != nil {
			if err := wc.Close(); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown -mode %q", mode)
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("mode=%s secs=%.3f plaintext_bytes=%d output_bytes=%d records=%d cipher=%q\n",
		mode, secs, msg.PlaintextBytes(), out.n, records, msg.Cipher())
	return nil
}
