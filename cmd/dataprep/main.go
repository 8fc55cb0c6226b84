// Command dataprep is the data room's daemon and its operators' CLI. It is
// kept thin: flags and terminal I/O here, every rule in package pipeline.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/dataprep/dataprep/pipeline/control"
)

func main() {
	root := newRoot()
	if err := root.Execute(); err != nil {
		var ce *control.CallError
		msg := err.Error()
		if errors.As(err, &ce) {
			msg = ce.Msg
		}
		fmt.Fprintln(os.Stderr, "dataprep: "+firstLine(msg))
		os.Exit(1)
	}
}

func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
