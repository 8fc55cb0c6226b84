package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dataprep/dataprep/pipeline"
	"github.com/dataprep/dataprep/pipeline/control"
	"github.com/dataprep/dataprep/pipeline/records"
)

// atFlag is a record's --at: when the thing happened (default: now).
type atFlag struct{ t time.Time }

func (a *atFlag) String() string {
	if a.t.IsZero() {
		return ""
	}
	return a.t.Format(time.RFC3339)
}
func (a *atFlag) Type() string { return "TIME" }

// Set reads RFC 3339 ("2026-01-31T14:05:00Z", "…+01:00") or local time
// "2026-01-31 14:05[:00]" / "2026-01-31T14:05".
func (a *atFlag) Set(s string) error {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		a.t = t
		return nil
	}
	for _, l := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(l, s, time.Local); err == nil {
			a.t = t
			return nil
		}
	}
	return errors.New(`want a date and time: "2006-01-02 15:04" (local) or RFC 3339`)
}

// required refuses a command whose listed flags were not given.
func required(cmd *cobra.Command, flags ...string) error {
	var missing []string
	for _, f := range flags {
		if !cmd.Flags().Changed(f) {
			missing = append(missing, "--"+f)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%s is required", missing[0])
	}
	return fmt.Errorf("%s are required (0 where there are none)", strings.Join(missing, ", "))
}

// ask sends a record request and prints the request that now waits.
func ask(cmd *cobra.Command, op string, in any) error {
	var out pipeline.Outcome
	if err := call(op, in, &out); err != nil {
		return err
	}
	return printOutcome(cmd, out)
}

func recordCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "record",
		Short: "The bureau's control records: production, failures, destructions, spot checks, vault",
		Long: `record enters a control record into the audit log. Records with a second signature
(production, failure, destruction, vault-in, vault-out, vault-count) are requests a supervisor
approves with 'dataprep approve REQ': the approver's name is the second signature (reviewer,
counter-signer or witness). 'dataprep record show REQ' shows what a request would record.
People's names come from who signs in; only destruction witnesses are typed.`,
	}
	c.AddCommand(recordProductionCmd(), recordFailureCmd(), recordDestructionCmd(), recordSpotCheckCmd(),
		recordVaultCmd(records.In), recordVaultCmd(records.Out), recordVaultCountCmd(), recordShowCmd())
	return c
}

func recordProductionCmd() *cobra.Command {
	var in pipeline.ProductionInput
	var at atFlag
	c := &cobra.Command{
		Use:   "production JOB --product P --issued-from-vault N --handed-over N --returned-to-vault N --rejected N --samples N --equipment-log TEXT",
		Short: "Ask for a job's production control record (a supervisor approves as reviewer)",
		Long: `production records where a job's cards came from and where each one went. You are the
operator; the supervisor who approves is the reviewer. The customer is the job's issuer and the
equipment the machine it was prepared for. The work order is the job id unless --work-order says
otherwise.`,
		Example: "  dataprep record production J000001 --product GOLD-CHIP --issued-from-vault 260 --handed-over 250 \\\n" +
			"      --returned-to-vault 5 --rejected 3 --samples 2 --equipment-log 'log book 7 p. 12, counter 10400-10660'",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "product", "issued-from-vault", "handed-over", "returned-to-vault", "rejected", "samples", "equipment-log"); err != nil {
				return err
			}
			in.Job, in.At = args[0], at.t
			return ask(cmd, "record.production", in)
		},
	}
	f := c.Flags()
	f.StringVar(&in.WorkOrder, "work-order", "", "the bureau's work order number (default: the job id)")
	f.StringVar(&in.Product, "product", "", "card type (product code)")
	f.IntVar(&in.IssuedFromVault, "issued-from-vault", 0, "white cards issued from the vault")
	f.IntVar(&in.RemainingFromPrevious, "remaining-from-previous", 0, "cards left at the machine from the previous period")
	f.IntVar(&in.HandedOver, "handed-over", 0, "good cards handed over for dispatch")
	f.IntVar(&in.ReturnedToVault, "returned-to-vault", 0, "cards returned to the vault")
	f.IntVar(&in.Rejected, "rejected", 0, "cards spoiled by the machine or refused at inspection")
	f.IntVar(&in.Samples, "samples", 0, "sample and test cards")
	f.StringVar(&in.EquipmentLog, "equipment-log", "", "the equipment's work record: log book page, counter readings")
	f.Var(&at, "at", "when production ended (default: now)")
	f.StringVar(&in.Note, "note", "", "a remark (one line)")
	return c
}

func recordFailureCmd() *cobra.Command {
	var in pipeline.FailureInput
	var at atFlag
	c := &cobra.Command{
		Use:   "failure --type failure|blockage --cause TEXT [--job JOB] [--equipment NAME] [--work-order WO]",
		Short: "Ask for an equipment failure or blockage record (a supervisor approves as reviewer)",
		Long: `failure records a breakdown (--type failure) or a jam (--type blockage) of personalization
equipment. The equipment is the job's machine unless --equipment names it; give --job or
--work-order. Kept at least 3 months.`,
		Example: "  dataprep record failure --type blockage --job J000001 --cause 'card jam in the embosser feed' --at '2026-01-31 14:05'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "type", "cause"); err != nil {
				return err
			}
			in.At = at.t
			return ask(cmd, "record.equipment_failure", in)
		},
	}
	f := c.Flags()
	f.StringVar(&in.Type, "type", "", "failure or blockage")
	f.StringVar(&in.Equipment, "equipment", "", "the equipment (default: the job's machine)")
	f.StringVar(&in.Job, "job", "", "the job in production when it happened")
	f.StringVar(&in.WorkOrder, "work-order", "", "the work order (default: the job id)")
	f.StringVar(&in.Cause, "cause", "", "what happened (one line)")
	f.Var(&at, "at", "when it happened (default: now)")
	f.StringVar(&in.Note, "note", "", "a remark (one line)")
	return c
}

// parseWitness reads "Name:department"; the last colon separates them.
func parseWitness(s string) (records.Witness, error) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return records.Witness{}, fmt.Errorf("--witness %q: want \"Name:department\" (production, security or warehouse)", s)
	}
	return records.Witness{Name: strings.TrimSpace(s[:i]), Department: strings.ToLower(strings.TrimSpace(s[i+1:]))}, nil
}

func recordDestructionCmd() *cobra.Command {
	var in pipeline.DestructionInput
	var at atFlag
	var witnesses []string
	c := &cobra.Command{
		Use:   "destruction --product P --source production|stock --count N --witness 'Name:department' … [--job JOB] [--work-order WO]",
		Short: "Ask for a card destruction record (you are the executor; a supervisor approves)",
		Long: `destruction records cards destroyed by you in front of at least three witnesses, one each
from production, security and the warehouse (--witness "Name:department", repeated; witnesses need
no account). --source production: spoiled, rejected or sample cards of jobs; --source stock: white
cards from the vault stock. Kept at least 18 months.`,
		Example: "  dataprep record destruction --job J000001 --product GOLD-CHIP --source production --count 3 --method 'shredder S2' \\\n" +
			"      --witness 'Pat Lee:production' --witness 'Sam Roe:security' --witness 'Kim Poe:warehouse'",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "product", "source", "count", "witness"); err != nil {
				return err
			}
			for _, s := range witnesses {
				w, err := parseWitness(s)
				if err != nil {
					return err
				}
				in.Witnesses = append(in.Witnesses, w)
			}
			in.At = at.t
			return ask(cmd, "record.destruction", in)
		},
	}
	f := c.Flags()
	f.StringVar(&in.Job, "job", "", "the job the cards come from")
	f.StringVar(&in.WorkOrder, "work-order", "", "the work order (default: the job id)")
	f.StringVar(&in.Product, "product", "", "card type (product code)")
	f.StringVar(&in.Source, "source", "", "production (spoiled, rejected, samples) or stock (white cards from the vault)")
	f.IntVar(&in.Count, "count", 0, "cards destroyed")
	f.StringVar(&in.Method, "method", "", "how (e.g. the shredder used)")
	f.StringArrayVar(&witnesses, "witness", nil, `a witness, "Name:department" (production, security or warehouse); at least three`)
	f.Var(&at, "at", "when the cards were destroyed (default: now)")
	f.StringVar(&in.Note, "note", "", "a remark (one line)")
	return c
}

func recordSpotCheckCmd() *cobra.Command {
	var in pipeline.SpotCheckInput
	var at atFlag
	c := &cobra.Command{
		Use:   "spot-check --sample-size N --defects N --result pass|fail [--job JOB] [--work-order WO]",
		Short: "Record a quality spot check (operator or supervisor; one signature, written at once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "sample-size", "defects", "result"); err != nil {
				return err
			}
			in.At = at.t
			return done(cmd, "record.spot_check", in)
		},
	}
	f := c.Flags()
	f.StringVar(&in.Job, "job", "", "the job inspected")
	f.StringVar(&in.WorkOrder, "work-order", "", "the work order (default: the job id)")
	f.IntVar(&in.SampleSize, "sample-size", 0, "cards inspected")
	f.IntVar(&in.Defects, "defects", 0, "defective cards found")
	f.StringVar(&in.Result, "result", "", "pass or fail")
	f.Var(&at, "at", "when the check was made (default: now)")
	f.StringVar(&in.Note, "note", "", "a remark (one line)")
	return c
}

func recordVaultCmd(direction string) *cobra.Command {
	var in pipeline.VaultMovementInput
	var at atFlag
	what := map[string]string{records.In: "white cards received into the vault stock (a delivery)",
		records.Out: "white cards leaving the stock other than through production (returned to the issuer, sent elsewhere)"}[direction]
	c := &cobra.Command{
		Use: "vault-" + direction + " --product P --quantity N --reference REF",
		Short: map[string]string{records.In: "Ask to record white cards received into the vault (a supervisor counter-signs)",
			records.Out: "Ask to record white cards leaving the vault stock, not for production (a supervisor counter-signs)"}[direction],
		Long: `vault-` + direction + ` records ` + what + `. You counted the cards; the supervisor who
approves counter-signs. Cards taken to a machine for a job are not vault movements: the job's
counts and production record account for them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "product", "quantity", "reference"); err != nil {
				return err
			}
			in.Direction, in.At = direction, at.t
			return ask(cmd, "record.vault_movement", in)
		},
	}
	f := c.Flags()
	f.StringVar(&in.Product, "product", "", "card type (product code)")
	f.IntVar(&in.Quantity, "quantity", 0, "cards")
	f.StringVar(&in.Reference, "reference", "", "delivery note, consignment or return number")
	f.Var(&at, "at", "when (default: now)")
	f.StringVar(&in.Note, "note", "", "a remark (one line)")
	return c
}

func recordVaultCountCmd() *cobra.Command {
	var in pipeline.VaultCountInput
	var at atFlag
	c := &cobra.Command{
		Use:   "vault-count YYYY-MM --product P --counted N",
		Short: "Ask for the month-end vault count of a product (counted by you, witnessed by the approving supervisor)",
		Long: `vault-count records the physical count that closes month YYYY-MM for one product. A recount
replaces an earlier count. 'dataprep report month YYYY-MM' reconciles it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "product", "counted"); err != nil {
				return err
			}
			in.Month, in.At = args[0], at.t
			return ask(cmd, "record.vault_count", in)
		},
	}
	f := c.Flags()
	f.StringVar(&in.Product, "product", "", "card type (product code)")
	f.IntVar(&in.Counted, "counted", 0, "cards counted")
	f.Var(&at, "at", "when the count was made (default: now)")
	f.StringVar(&in.Note, "note", "", "a remark (one line)")
	return c
}

func recordShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show REQ",
		Short: "Show the record a request holds, before you approve it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out map[string]any
			if err := call("record.show", control.ID{ID: args[0]}, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
}

// recordsReportCmd is 'dataprep report': the printed control records.
func recordsReportCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "report",
		Short: "Reports from the verified audit log: a job's production control record, the month-end vault reconciliation",
		Long: `report builds a report from the daemon's state and the audit log, which it verifies first
(a broken log gives no report). Text by default; --json, or --html for a printable page with
signature lines. Auditors, supervisors, operators and administrators may read reports; machine
operators may not (a job's report shows its expected card count).`,
	}
	var html bool
	format := func() (string, error) {
		switch {
		case html && g.json:
			return "", errors.New("--html and --json exclude each other")
		case html:
			return pipeline.FormatHTML, nil
		case g.json:
			return pipeline.FormatJSON, nil
		}
		return pipeline.FormatText, nil
	}
	show := func(cmd *cobra.Command, op string, in any) error {
		var out control.Rendered
		if err := call(op, in, &out); err != nil {
			return err
		}
		_, err := fmt.Fprint(cmd.OutOrStdout(), out.Content)
		return err
	}
	job := &cobra.Command{
		Use:   "job JOB [--json|--html]",
		Short: "A job's production control record: facts, counts, signed steps, problems, audit trail",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := format()
			if err != nil {
				return err
			}
			return show(cmd, "report.job", control.ReportJob{ID: args[0], Format: f})
		},
	}
	month := &cobra.Command{
		Use:   "month YYYY-MM [--json|--html]",
		Short: "The month-end reconciliation of the vault stock with the jobs, movements, destructions and counts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := format()
			if err != nil {
				return err
			}
			return show(cmd, "report.month", control.ReportMonth{Month: args[0], Format: f})
		},
	}
	for _, sub := range []*cobra.Command{job, month} {
		sub.Flags().BoolVar(&html, "html", false, "a printable HTML page with signature lines")
	}
	c.AddCommand(job, month)
	return c
}
