package pipeline

import (
	"time"

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

// TestRefusalsWithholdCardNumbers: a card number typed where a name or an
// id belongs is neither echoed back nor refused by the audit log; the
// refusal is audited with the value withheld.
func TestRefusalsWithholdCardNumbers(t *testing.T) {
	s := newService(t)
	op := addPerson(t, s, "op1", people.Operator)
	adm := addPerson(t, s, "adm1", people.Admin)
	sup := addPerson(t, s, "sup1", people.Supervisor)
	const pan = "4000001234567899" // Luhn-valid test PAN
	for _, err := range []error{
		func() error { _, err := s.StartJob(op, pan, ""); return err }(),
		func() error { _, err := s.StartJob(op, "J000001", pan); return err }(),
		func() error { _, err := s.Authorize(adm, pan, pan); return err }(),
		func() error { _, _, err := s.Approve(sup, pan); return err }(),
		func() error { _, err := s.Deny(sup, pan, "not a request"); return err }(),
		func() error { _, err := s.AddUser(adm, pan, "operator", []byte("a long first passphrase")); return err }(),
	} {
		require.Error(t, err)
		require.NotErrorIs(t, err, ErrAuditFailed, "the refusal must be audited")
		require.NotContains(t, err.Error(), pan)
		require.NotContains(t, err.Error(), "1234567899")
	}
}

// TestStartsHeldAfterManyCryptoFailures: each start is an RSA decryption in
// the HSM; an issuer whose files keep failing at the OpenPGP layer is held.
func TestStartsHeldAfterManyCryptoFailures(t *testing.T) {
	s := newService(t)
	op := addPerson(t, s, "op1", people.Operator)
	require.NoError(t, s.Store.AddIssuer(state.Issuer{Name: "bank"}))
	require.NoError(t, s.Store.AddMachine(state.Machine{Name: "m0"}))
	for i := 0; i < s.Cfg.Limits.MaxCryptoFailuresPerHour; i++ {
		j := addJob(t, s, "bank")
		_, err := s.Store.UpdateJob(j.ID, func(j *state.Job) error {
			j.State, j.CryptoFailure, j.Updated = state.Rejected, true, time.Now()
			return nil
		})
		require.NoError(t, err)
	}
	_, err := s.StartJob(op, addJob(t, s, "bank").ID, "m0")
	require.ErrorIs(t, err, ErrForbidden)
	require.Contains(t, err.Error(), "held")
	require.NoError(t, s.Store.AddIssuer(state.Issuer{Name: "other"}))
	_, err = s.StartJob(op, addJob(t, s, "other").ID, "m0")
	require.NoError(t, err, "another issuer is not held")
}

// TestLastAdministratorStays: the data room never loses its last admin.
func TestLastAdministratorStays(t *testing.T) {
	s := newService(t)
	adm := addPerson(t, s, "adm1", people.Admin)
	_, err := s.DisableUser(adm, "adm1")
	require.ErrorIs(t, err, ErrBadState)
	require.Contains(t, err.Error(), "last active administrator")
	addPerson(t, s, "op1", people.Operator)
	out, err := s.DisableUser(adm, "op1") // bootstrap: one admin decides alone
	require.NoError(t, err)
	require.True(t, out.Done)
	_, err = s.Authenticate("op1", []byte("test-only passphrase"), "")
	require.ErrorIs(t, err, ErrLocked)
}

// TestRefusedLoginsAreSummarised: failed logins come before authentication,
// so a flood from one host yields one audit entry a minute with a count.
func TestRefusedLoginsAreSummarised(t *testing.T) {
	var g refusalGate
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n, ok := g.hold("192.0.2.1", t0)
	require.True(t, ok)
	require.Zero(t, n)
	for i := 0; i < 50; i++ {
		_, ok = g.hold("192.0.2.1", t0.Add(time.Second))
		require.False(t, ok)
	}
	_, ok = g.hold("192.0.2.2", t0.Add(time.Second))
	require.True(t, ok, "another host has its own minute")
	n, ok = g.hold("192.0.2.1", t0.Add(61*time.Second))
	require.True(t, ok)
	require.Equal(t, 50, n, "the next entry carries the count it stands for")
}
