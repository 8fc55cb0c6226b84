package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dataprep/dataprep/pipeline"
	"github.com/dataprep/dataprep/pipeline/control"
)

func statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Health: daemon, HSM, drop, audit log, machines (with their pinned host keys), pending requests",
		Long:  "status exits non-zero when anything is degraded, so monitoring can run it.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st pipeline.Status
			if err := call("status", struct{}{}, &st); err != nil {
				return err
			}
			if g.json {
				printJSON(cmd.OutOrStdout(), st)
			} else {
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "daemon:    %s (since %s)\nhsm:       %s\ndrop:      %s\naudit:     %d entries, head %s\nrequests:  %d pending\n",
					st.Daemon, st.Since.Local().Format(time.DateTime), st.HSM, st.Drop, st.Audit.Entries, short(st.Audit.Head), st.Pending)
				var js []string
				for _, s := range []string{"received", "preparing", "ready", "rejected", "pushed", "closed"} {
					js = append(js, fmt.Sprintf("%s %d", s, st.Jobs[s]))
				}
				fmt.Fprintf(w, "jobs:      %s\n", strings.Join(js, ", "))
				for _, m := range st.Machines {
					state := "reachable"
					if !m.Reachable {
						state = "UNREACHABLE: " + m.Error
					}
					fmt.Fprintf(w, "machine:   %s %s, holds %s\n", m.Name, state, orNone(m.Holds))
				}
			}
			degraded := st.Daemon != "ok"
			for _, m := range st.Machines {
				degraded = degraded || !m.Reachable
			}
			if degraded {
				return fmt.Errorf("degraded")
			}
			return nil
		},
	}
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

func watchCmd() *cobra.Command {
	var interval time.Duration
	c := &cobra.Command{
		Use:   "watch JOB",
		Short: "Follow a job: state changes and preparation progress, until it settles",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := client()
			if err != nil {
				return err
			}
			defer clear(cl.Pass)
			if interval < time.Second {
				interval = time.Second // each look is a sign-in with its audit entry
			}
			w := cmd.OutOrStdout()
			last := ""
			for {
				var j pipeline.JobView
				if err := cl.Call("job.show", control.ID{ID: args[0]}, &j); err != nil {
					return err
				}
				line := fmt.Sprintf("%s %s", j.ID, j.State)
				if j.Progress != nil {
					line += fmt.Sprintf(" %3.0f%%", 100*min(*j.Progress, 1))
				}
				if j.Reason != "" {
					line += ": " + j.Reason
				}
				if line != last {
					fmt.Fprintf(w, "%s %s\n", time.Now().Format("15:04:05"), line)
					last = line
				}
				if j.State == "received" {
					fmt.Fprintf(w, "%s waits to be started: 'dataprep job start %s', then a second person approves\n", j.ID, j.ID)
					return nil
				}
				if j.State != "preparing" {
					if j.Counts != nil && j.Counts.Read > 0 {
						fmt.Fprintf(w, "records: %d read, %d accepted, %d rejected\n", j.Counts.Read, j.Counts.Accepted, j.Counts.Rejected)
					}
					return nil
				}
				time.Sleep(interval)
			}
		},
	}
	c.Flags().DurationVar(&interval, "interval", 2*time.Second, "how often to look (at least 1s: each look signs in)")
	return c
}
