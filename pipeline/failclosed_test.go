package pipeline

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataprep/dataprep/pipeline/people"
	"github.com/dataprep/dataprep/pipeline/state"
)

// TestFailClosedWhenAuditFails: with the audit log unwritable, no action is
// reported done and none takes effect (invariant 3).
func TestFailClosedWhenAuditFails(t *testing.T) {
	s := newService(t)
	op1 := addPerson(t, s, "op1", people.Operator)
	sup := addPerson(t, s, "sup1", people.Supervisor)
	admin := addPerson(t, s, "adm1", people.Admin)
	require.NoError(t, s.Store.AddIssuer(state.Issuer{Name: "bank"}))
	require.NoError(t, s.Store.AddMachine(state.Machine{Name: "m0"}))
	j := addJob(t, s, "bank")
	out, err := s.StartJob(op1, j.ID, "m0")
	require.NoError(t, err)

	require.NoError(t, s.Audit.Close()) // from here on every append fails

	_, _, err = s.Approve(sup, out.Request.ID)
	require.ErrorIs(t, err, ErrAuditFailed)
	got, _ := s.Store.Job(j.ID)
	require.Equal(t, state.Received, got.State, "the job must not run without its audit entry")
	r, _ := s.Store.Request(out.Request.ID)
	require.NotEqual(t, state.Approved, r.State)

	_, err = s.AddUser(admin, "newbie", "operator", []byte("a long first passphrase"))
	require.ErrorIs(t, err, ErrAuditFailed)
	_, err = s.Store.Person("newbie")
	require.ErrorIs(t, err, state.ErrNotFound, "bootstrap user.add must not happen without its audit entry")

	_, err = s.Authenticate("op1", []byte("x"), "")
	require.ErrorIs(t, err, ErrAuditFailed, "a login that cannot be audited is refused")

	_, err = s.StartJob(op1, addJob(t, s, "bank").ID, "m0")
	require.ErrorIs(t, err, ErrAuditFailed)
}
