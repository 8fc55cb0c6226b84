package control

import (
	"github.com/dataprep/dataprep/pipeline"
)

// Call bodies of the control records and reports.
type (
	// ReportJob asks for a job's production control record.
	ReportJob struct {
		ID     string `json:"id"`
		Format string `json:"format,omitempty"` // text (default), json or html
	}
	// ReportMonth asks for the month-end vault reconciliation.
	ReportMonth struct {
		Month  string `json:"month"` // YYYY-MM
		Format string `json:"format,omitempty"`
	}
	// Rendered is a report as the daemon rendered it.
	Rendered struct {
		Format  string `json:"format"`
		Content string `json:"content"`
	}
)

func orText(f string) string {
	if f == "" {
		return pipeline.FormatText
	}
	return f
}

var recordOps = map[string]op{
	"record.production": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in pipeline.ProductionInput) (any, error) {
		return s.RecordProduction(c, in)
	})},
	"record.equipment_failure": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in pipeline.FailureInput) (any, error) {
		return s.RecordFailure(c, in)
	})},
	"record.destruction": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in pipeline.DestructionInput) (any, error) {
		return s.RecordDestruction(c, in)
	})},
	"record.spot_check": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in pipeline.SpotCheckInput) (any, error) {
		res, err := s.RecordSpotCheck(c, in)
		return Done{Result: res}, err
	})},
	"record.vault_movement": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in pipeline.VaultMovementInput) (any, error) {
		return s.RecordVaultMovement(c, in)
	})},
	"record.vault_count": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in pipeline.VaultCountInput) (any, error) {
		return s.RecordVaultCount(c, in)
	})},
	"record.show": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in ID) (any, error) {
		return s.PendingRecord(c, in.ID)
	})},
	"report.job": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in ReportJob) (any, error) {
		out, err := s.JobReport(c, in.ID, in.Format)
		return Rendered{Format: orText(in.Format), Content: out}, err
	})},
	"report.month": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in ReportMonth) (any, error) {
		out, err := s.MonthReport(c, in.Month, in.Format)
		return Rendered{Format: orText(in.Format), Content: out}, err
	})},
}

func init() {
	for name, o := range recordOps {
		if _, dup := ops[name]; dup {
			panic("control: op " + name + " registered twice")
		}
		ops[name] = o
	}
}
