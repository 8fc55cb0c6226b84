// Command dataprep-testgen writes a synthetic issuer CSV file to stdout:
// Luhn-valid test PANs and made-up names, for demos, benchmarks and tests.
// TEST DATA ONLY: nothing it writes resembles a real cardholder.
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
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: dataprep-testgen [-n RECORDS] [-seed N] > issuer.csv\nWrites synthetic, Luhn-valid test records (never real cardholder data).")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *n < 0 || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
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
