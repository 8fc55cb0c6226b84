// Command dataprep-testgen writes synthetic test material: by default an
// issuer CSV file on stdout (Luhn-valid test PANs and made-up names), for
// demos, benchmarks and tests; with -machine-key, a test-only machine key
// pair whose certificate advertises RFC 9580 AEAD (SEIPDv2), which gpg 2.2
// cannot make. TEST DATA ONLY: nothing it writes resembles a real
// cardholder, and the keys are for test machines.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/dataprep/dataprep/formats/testgen"
)

func main() {
	n := flag.Int("n", 1000, "number of records")
	seed := flag.Int64("seed", 1, "random seed (the same seed gives the same file)")
	machineKey := flag.String("machine-key", "", "instead of records, write a test-only machine key that advertises SEIPDv2 with AES-256-GCM: its certificate to `FILE`, its secret key to FILE.secret (mode 0600)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, `usage: dataprep-testgen [-n RECORDS] [-seed N] > issuer.csv
       dataprep-testgen -machine-key FILE
Writes synthetic, Luhn-valid test records (never real cardholder data), or a
test-only machine key pair for a machine that decrypts RFC 9580 AEAD.`)
		flag.PrintDefaults()
	}
	flag.Parse()
	if *n < 0 || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *machineKey != "" {
		if err := writeMachineKey(*machineKey); err != nil {
			fmt.Fprintln(os.Stderr, "dataprep-testgen:", err)
			os.Exit(1)
		}
		return
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<16)
	if err := testgen.CSV(w, *n, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "dataprep-testgen:", err)
		os.Exit(1)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "dataprep-testgen:", err)
		os.Exit(1)
	}
}

func writeMachineKey(path string) error {
	cert, secret, err := testgen.AEADMachineKey("test-only AEAD machine <test-only-aead-machine@example.invalid>")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path+".secret", secret, 0o600); err != nil {
		return err
	}
	return os.WriteFile(path, cert, 0o644)
}
