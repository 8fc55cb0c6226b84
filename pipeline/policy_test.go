package pipeline

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataprep/dataprep/pipeline/people"
	"github.com/dataprep/dataprep/pipeline/state"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

var updateREADME = flag.Bool("update-readme", false, "rewrite the README's dual-control table from Policies")

// TestPolicyTableInREADME keeps the README's dual-control table equal to Policies.
func TestPolicyTableInREADME(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(raw), "<!-- policy-table:begin -->\n")
	require.True(t, ok, "README lacks the policy-table markers")
	table, _, ok := strings.Cut(rest, "<!-- policy-table:end -->")
	require.True(t, ok)
	if *updateREADME {
		fixed := strings.Replace(string(raw), "<!-- policy-table:begin -->\n"+table, "<!-- policy-table:begin -->\n"+PolicyMarkdown(), 1)
		require.NoError(t, os.WriteFile("../README.md", []byte(fixed), 0o644))
		return
	}
	require.Equal(t, PolicyMarkdown(), table, "regenerate the README table: go test ./pipeline -run TestPolicyTableInREADME -update-readme")
}

// TestDualControlTable walks every row of Policies: every role asks, and
// every role (and the requester) tries to approve. Each allowed pair works,
// each other one is refused with the right error and an audit entry.
func TestDualControlTable(t *testing.T) {
	s := newService(t)
	// Two admins, so that no action takes the bootstrap shortcut.
	staff := map[people.Role][]Caller{}
	for _, r := range people.Roles {
		for i := 1; i <= 2; i++ {
			staff[r] = append(staff[r], addPerson(t, s, fmt.Sprintf("%s%d", strings.ReplaceAll(string(r), "-", ""), i), r))
		}
	}
	fixtures := newFixtures(t, s)
	for _, pol := range Policies {
		t.Run(pol.Action, func(t *testing.T) {
			for _, reqRole := range people.Roles {
				requester := staff[reqRole][0]
				_, err := fixtures.ask(pol.Action, requester)
				if !slices.Contains(pol.Requesters, reqRole) {
					require.ErrorIs(t, err, ErrForbidden, "%s must not request %s", reqRole, pol.Action)
					continue
				}
				require.NoError(t, err, "%s may request %s", reqRole, pol.Action)
			}
			requester := staff[pol.Requesters[0]][0]
			for _, apprRole := range people.Roles {
				out, err := fixtures.ask(pol.Action, requester)
				require.NoError(t, err)
				require.NotNil(t, out.Request, "with two admins %s is a request", pol.Action)
				id := out.Request.ID
				_, _, err = s.Approve(requester, id)
				require.ErrorIs(t, err, ErrSelfApproval)
				approver := staff[apprRole][1]
				if apprRole == requester.Role {
					approver = staff[apprRole][1]
				}
				_, _, err = s.Approve(approver, id)
				if !slices.Contains(pol.Approvers, apprRole) {
					require.ErrorIs(t, err, ErrForbidden, "%s must not approve %s", apprRole, pol.Action)
					r, _ := s.Store.Request(id)
					require.Equal(t, state.Pending, r.State)
					_, err = s.Deny(requester, id, "withdrawn by the requester")
					require.NoError(t, err)
					continue
				}
				require.NotErrorIs(t, err, ErrForbidden, "%s may approve %s", apprRole, pol.Action)
				require.NotErrorIs(t, err, ErrSelfApproval)
				r, _ := s.Store.Request(id)
				require.Equal(t, state.Approved, r.State)
			}
		})
	}
	s.Wait()
	// Every refusal above is in the audit log.
	var refused int
	for _, e := range events(t, s) {
		if e.Outcome == "refused" {
			refused++
		}
	}
	require.Greater(t, refused, 3*len(Policies))
}

// fixtures makes a fresh target for each request of each action.
type fixtures struct {
	t       *testing.T
	s       *Service
	n       int
	sigKey  []byte
	sshKey  []byte
	cert    []byte
	sshPriv string
}

func newFixtures(t *testing.T, s *Service) *fixtures {
	f := &fixtures{t: t, s: s}
	f.sigKey = armoredPublic(t, softKey(t, "test-only issuer"))
	f.cert = armoredPublic(t, softKey(t, "test-only machine"))
	f.sshPriv = filepath.Join(t.TempDir(), "id")
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f.sshPriv).CombinedOutput()
	require.NoError(t, err, string(out))
	f.sshKey, err = os.ReadFile(f.sshPriv + ".pub")
	require.NoError(t, err)
	// A machine and an issuer that requests can refer to.
	require.NoError(t, s.Store.AddIssuer(state.Issuer{Name: "bank"}))
	require.NoError(t, s.Store.AddMachine(state.Machine{Name: "m0", Operators: []string{"machineoperator1", "machineoperator2"}}))
	return f
}

func (f *fixtures) ask(action string, c Caller) (Outcome, error) {
	f.n++
	switch action {
	case ActStartJob:
		j := addJob(f.t, f.s, "bank")
		return f.s.StartJob(c, j.ID, "m0")
	case ActAddUser:
		return f.s.AddUser(c, fmt.Sprintf("newuser%d", f.n), "auditor", []byte("a long initial passphrase"))
	case ActAddIssuer:
		return f.s.AddIssuer(c, fmt.Sprintf("bank%d", f.n), f.sigKey, f.sshKey, nil)
	case ActAddMachine:
		return f.s.AddMachine(c, MachineSpec{Name: fmt.Sprintf("m%d", f.n), SFTP: "dp@127.0.0.1:2200", Dir: "/srv/prod",
			HostKey: string(f.sshKey), SSHKeyFile: f.sshPriv, PGPKey: f.cert})
	case ActAuthorize:
		name := fmt.Sprintf("mop%d", f.n)
		require.NoError(f.t, f.s.Store.AddPerson(people.Person{Name: name, Role: people.MachineOperator}))
		return f.s.Authorize(c, "m0", name)
	case ActDeleteJob:
		j := addJob(f.t, f.s, "bank")
		return f.s.DeleteJob(c, j.ID)
	case ActDisable:
		name := fmt.Sprintf("leaver%d", f.n)
		require.NoError(f.t, f.s.Store.AddPerson(people.Person{Name: name, Role: people.Operator}))
		return f.s.DisableUser(c, name)
	case ActRevoke:
		name := fmt.Sprintf("mopr%d", f.n)
		require.NoError(f.t, f.s.Store.AddPerson(people.Person{Name: name, Role: people.MachineOperator}))
		_, err := f.s.Store.UpdateMachine("m0", func(m *state.Machine) error { m.Operators = append(m.Operators, name); return nil })
		require.NoError(f.t, err)
		return f.s.Revoke(c, "m0", name)
	case ActRecordProduction, ActRecordFailure, ActRecordDestruction, ActRecordVault, ActRecordVaultCount:
		return recordFixture(f.t, f.s, f.n, action, c) // recordsvc_test.go
	}
	return Outcome{}, errors.New("no fixture for " + action)
}
