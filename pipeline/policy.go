package pipeline

import (
	"slices"

	"github.com/dataprep/dataprep/pipeline/people"
)

// Action names a dual-controlled action. They appear in requests, audit
// entries and the README's table, so they are part of the contract.
const (
	ActStartJob  = "job.start"
	ActAddUser   = "user.add"
	ActAddIssuer = "issuer.add"
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
