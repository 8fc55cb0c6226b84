package pipeline

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dataprep/dataprep/pipeline/people"
)

// Action names a dual-controlled action. They appear in requests, audit
// entries and the README's table, so they are part of the contract.
const (
	ActStartJob   = "job.start"
	ActAddUser    = "user.add"
	ActAddIssuer  = "issuer.add"
	ActAddMachine = "machine.add"
	ActAuthorize  = "machine.authorize"
	ActDeleteJob  = "job.delete"
	ActDisable    = "user.disable"
	ActRevoke     = "machine.revoke"

	// The bureau's control records that carry a second signature (see
	// recordsvc.go); the action is the record's audit event.
	ActRecordProduction  = "record.production"
	ActRecordFailure     = "record.equipment_failure"
	ActRecordDestruction = "record.destruction"
	ActRecordVault       = "record.vault_movement"
	ActRecordVaultCount  = "record.vault_count"
)

// Policy says who may ask for an action and who may approve it. The approver
// is always a second person: nobody approves their own request (invariant 4).
type Policy struct {
	Action     string
	Requesters []people.Role
	Approvers  []people.Role
	// Bootstrap: while the data room has a single administrator, that
	// administrator's word is enough (there is nobody to approve yet).
	Bootstrap bool
	Help      string
}

// Policies is the one table of dual control; the README's table is generated
// from the same rows (TestPolicyTableInREADME keeps them in step).
var Policies = []Policy{
	{Action: ActStartJob, Requesters: []people.Role{people.Operator}, Approvers: []people.Role{people.Operator, people.Supervisor},
		Help: "decrypt and prepare a received issuer file"},
	{Action: ActAddUser, Requesters: []people.Role{people.Admin}, Approvers: []people.Role{people.Admin}, Bootstrap: true,
		Help: "create an account"},
	{Action: ActAddIssuer, Requesters: []people.Role{people.Admin}, Approvers: []people.Role{people.Admin}, Bootstrap: true,
		Help: "register an issuer's signing and SSH keys"},
	{Action: ActAddMachine, Requesters: []people.Role{people.Admin}, Approvers: []people.Role{people.Admin}, Bootstrap: true,
		Help: "register a personalization machine (address, pinned host key, keys, layout)"},
	{Action: ActAuthorize, Requesters: []people.Role{people.Admin}, Approvers: []people.Role{people.Admin}, Bootstrap: true,
		Help: "authorize a machine operator to release data to a machine"},
	{Action: ActDisable, Requesters: []people.Role{people.Admin}, Approvers: []people.Role{people.Admin}, Bootstrap: true,
		Help: "disable an account (it can no longer sign in; its history stays)"},
	{Action: ActRevoke, Requesters: []people.Role{people.Admin}, Approvers: []people.Role{people.Admin}, Bootstrap: true,
		Help: "withdraw a machine operator's authorization on a machine"},
	{Action: ActDeleteJob, Requesters: []people.Role{people.Operator, people.MachineOperator}, Approvers: []people.Role{people.Supervisor},
		Help: "delete a job's production file on the machine and every spool copy (supervised deletion)"},
	{Action: ActRecordProduction, Requesters: []people.Role{people.MachineOperator, people.Operator}, Approvers: []people.Role{people.Supervisor},
		Help: "a job's production control record; the approver signs it as reviewer"},
	{Action: ActRecordFailure, Requesters: []people.Role{people.Operator, people.MachineOperator}, Approvers: []people.Role{people.Supervisor},
		Help: "an equipment failure or blockage record; the approver signs it as reviewer"},
	{Action: ActRecordDestruction, Requesters: []people.Role{people.Operator, people.MachineOperator, people.Supervisor}, Approvers: []people.Role{people.Supervisor},
		Help: "a card destruction record (executor = requester, at least three witnesses from production, security, warehouse)"},
	{Action: ActRecordVault, Requesters: []people.Role{people.Operator, people.MachineOperator}, Approvers: []people.Role{people.Supervisor},
		Help: "white cards into or out of the vault stock; the approver counter-signs"},
	{Action: ActRecordVaultCount, Requesters: []people.Role{people.Operator, people.MachineOperator}, Approvers: []people.Role{people.Supervisor},
		Help: "the month-end vault count (counted by the requester, witnessed by the approver)"},
}

// PolicyFor returns the policy of an action.
func PolicyFor(action string) (Policy, bool) {
	for _, p := range Policies {
		if p.Action == action {
			return p, true
		}
	}
	return Policy{}, false
}

func (p Policy) mayRequest(r people.Role) bool { return slices.Contains(p.Requesters, r) }
func (p Policy) mayApprove(r people.Role) bool { return slices.Contains(p.Approvers, r) }

// PolicyMarkdown is the dual-control table for the README.
func PolicyMarkdown() string {
	var b strings.Builder
	b.WriteString("| action | what | may request | may approve | single-admin bootstrap |\n|---|---|---|---|---|\n")
	for _, p := range Policies {
		boot := "no"
		if p.Bootstrap {
			boot = "yes: done at once while only one admin exists"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s (never the requester) | %s |\n", p.Action, p.Help, roles(p.Requesters), roles(p.Approvers), boot)
	}
	return b.String()
}

// mayRequest is ask's role check, made before anything is looked up so that
// a role that may not ask learns nothing else.
func mayRequest(c Caller, action string) error {
	pol, _ := PolicyFor(action)
	if !pol.mayRequest(c.Role) {
		return fmt.Errorf("%w: %s may not request %s (requesters: %s)", ErrForbidden, c.Role, action, roles(pol.Requesters))
	}
	return nil
}
