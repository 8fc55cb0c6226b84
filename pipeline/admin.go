package pipeline

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/crypto/pgp"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/pipeline/people"
	"github.com/dataprep/dataprep/pipeline/state"
	"github.com/dataprep/dataprep/transport/drop"
)

// AddUser asks for (or, under bootstrap, makes) an account. The initial
// passphrase is hashed at once: the request keeps only the hash.
func (s *Service) AddUser(c Caller, name, role string, initial []byte) (Outcome, error) {
	e := audit.Entry{Event: "request.create", Actor: c.Name, OSUser: c.OSUser, Detail: map[string]string{"action": ActAddUser, "target": name}}
	// The role first: a role that may not ask learns nothing else.
	if err := mayRequest(c, ActAddUser); err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	if err := people.CheckName(name); err != nil {
		e.Detail["target"] = ""
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: %v", ErrBadInput, err))
	}
	r, err := people.ParseRole(role)
	if err != nil {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: %v", ErrBadInput, err))
	}
	if err := people.CheckPassphrase(name, initial); err != nil {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: initial passphrase: %v", ErrBadInput, err))
	}
	if _, err := s.Store.Person(name); err == nil {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: user %q exists", ErrBadInput, name))
	}
	h, err := s.hashPassphrase(initial)
	if err != nil {
		return Outcome{}, err
	}
	return s.ask(c, ActAddUser, name, map[string]string{"role": string(r), "hash": h})
}

func (s *Service) doAddUser(r state.Request, approver string, bootstrap bool) (string, error) {
	p := people.Person{Name: r.Target, Role: people.Role(r.Params["role"]), Hash: r.Params["hash"], Created: s.now(),
		CreatedBy: r.Requester, MustChange: true}
	e := audit.Entry{Event: "user.add", Outcome: "ok", Actor: r.Requester, Approver: approver, Request: r.ID,
		Detail: map[string]string{"user": p.Name, "role": string(p.Role)}}
	if bootstrap {
		e.Detail["bootstrap"] = "single administrator"
	}
	if err := s.record(e); err != nil {
		return "", err
	}
	if err := s.Store.AddPerson(p); err != nil {
		s.record(audit.Entry{Event: "user.add", Outcome: "failed", Actor: r.Requester, Request: r.ID, Detail: map[string]string{"user": p.Name, "reason": err.Error()}})
		return "", err
	}
	return fmt.Sprintf("user %s added as %s; they must set their own passphrase with 'dataprep passwd'", p.Name, p.Role), nil
}

// AddIssuer asks for (or, under bootstrap, registers) an issuer: the
// OpenPGP key that signs its files and the SSH key it logs in with.
// profileTOML, when not empty, is the issuer's input profile; otherwise the
// embedded default (CSV as formats/testgen writes it) applies.
func (s *Service) AddIssuer(c Caller, name string, signingKey, sshKey, profileTOML []byte) (Outcome, error) {
	e := audit.Entry{Event: "request.create", Actor: c.Name, OSUser: c.OSUser, Issuer: name, Detail: map[string]string{"action": ActAddIssuer, "target": name}}
	// The role first: a role that may not ask learns nothing else.
	if err := mayRequest(c, ActAddIssuer); err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	if err := drop.CheckIssuerName(name); err != nil {
		e.Issuer, e.Detail["target"] = "", ""
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: %v", ErrBadInput, err))
	}
	if _, err := s.Store.Issuer(name); err == nil {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: issuer %q exists", ErrBadInput, name))
	}
	keys, err := pgp.ReadIssuerKey(signingKey)
	if err != nil {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: --signing-key: %v", ErrBadInput, err))
	}
	pub, _, _, rest, err := ssh.ParseAuthorizedKey(sshKey)
	if err != nil || len(bytes.TrimSpace(rest)) != 0 {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: --ssh-key: want exactly one OpenSSH public key line (as in id_ed25519.pub)", ErrBadInput))
	}
	if len(profileTOML) > 0 {
		if _, err := profile.ParseIssuer(profileTOML); err != nil {
			return Outcome{}, s.refuse(e, fmt.Errorf("%w: --profile: %v", ErrBadInput, err))
		}
	}
	fpr := pgp.Fingerprint(keys[0])
	sshFpr := ssh.FingerprintSHA256(pub)
	e.Detail["signing_fingerprint"], e.Detail["ssh_fingerprint"] = fpr, sshFpr
	return s.ask(c, ActAddIssuer, name, map[string]string{
		"signing_key": string(signingKey), "signing_fingerprint": fpr,
		"ssh_key": strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))), "ssh_fingerprint": sshFpr,
		"profile": string(profileTOML),
	})
}

func (s *Service) doAddIssuer(r state.Request, approver string, bootstrap bool) (string, error) {
	i := state.Issuer{Name: r.Target, SigningKey: r.Params["signing_key"], SigningFpr: r.Params["signing_fingerprint"],
		SSHKey: r.Params["ssh_key"], SSHFingerprint: r.Params["ssh_fingerprint"], Profile: r.Params["profile"],
		Created: s.now(), CreatedBy: r.Requester, ApprovedBy: approver}
	e := audit.Entry{Event: "issuer.add", Outcome: "ok", Actor: r.Requester, Approver: approver, Request: r.ID, Issuer: i.Name,
		Detail: map[string]string{"signing_fingerprint": i.SigningFpr, "ssh_fingerprint": i.SSHFingerprint}}
	if bootstrap {
		e.Detail["bootstrap"] = "single administrator"
	}
	if err := s.record(e); err != nil {
		return "", err
	}
	if err := s.Store.AddIssuer(i); err != nil {
		return "", err
	}
	if err := drop.EnsureIssuerDirs(s.Home.DropRoot(), i.Name); err != nil {
		return "", fmt.Errorf("issuer %s registered but its drop directories could not be made: %w", i.Name, err)
	}
	return fmt.Sprintf("issuer %s registered (signing key %s, ssh key %s); its drop is %s/incoming", i.Name, i.SigningFpr, i.SSHFingerprint, i.Name), nil
}

// DisableUser asks to disable an account: leavers keep their history in
// the audit log but can no longer sign in. The last administrator stays.
func (s *Service) DisableUser(c Caller, name string) (Outcome, error) {
	e := audit.Entry{Event: "request.create", Actor: c.Name, OSUser: c.OSUser, Detail: map[string]string{"action": ActDisable, "target": shown(name)}}
	if err := mayRequest(c, ActDisable); err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	p, err := s.Store.Person(name)
	if err != nil {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: no user %s", ErrBadInput, shown(name)))
	}
	if p.Disabled {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: %s is already disabled", ErrBadInput, name))
	}
	if p.Role == people.Admin {
		if n, err := s.activeAdmins(); err != nil {
			return Outcome{}, err
		} else if n <= 1 {
			return Outcome{}, s.refuse(e, fmt.Errorf("%w: %s is the last active administrator", ErrBadState, name))
		}
	}
	return s.ask(c, ActDisable, name, nil)
}

func (s *Service) activeAdmins() (int, error) {
	ps, err := s.Store.People()
	n := 0
	for _, p := range ps {
		if p.Role == people.Admin && !p.Disabled {
			n++
		}
	}
	return n, err
}

func (s *Service) doDisable(r state.Request, approver string, bootstrap bool) (string, error) {
	e := audit.Entry{Event: "user.disable", Outcome: "ok", Actor: r.Requester, Approver: approver, Request: r.ID,
		Detail: map[string]string{"user": r.Target}}
	if bootstrap {
		e.Detail["bootstrap"] = "single administrator"
	}
	if err := s.record(e); err != nil {
		return "", err
	}
	if _, err := s.Store.UpdatePerson(r.Target, func(p *people.Person) error { p.Disabled = true; return nil }); err != nil {
		return "", err
	}
	// A disabled person is no machine's operator any more.
	ms, err := s.Store.Machines()
	if err != nil {
		return "", err
	}
	for _, m := range ms {
		if slices.Contains(m.Operators, r.Target) {
			if _, err := s.doRevoke(state.Request{ID: r.ID, Target: m.Name, Requester: r.Requester, Params: map[string]string{"operator": r.Target}}, approver, bootstrap); err != nil {
				return "", err
			}
		}
	}
	return fmt.Sprintf("user %s disabled", r.Target), nil
}
