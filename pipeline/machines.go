package pipeline

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/crypto/pgp"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/pipeline/config"
	"github.com/dataprep/dataprep/pipeline/failpoint"
	"github.com/dataprep/dataprep/pipeline/people"
	"github.com/dataprep/dataprep/pipeline/state"
	"github.com/dataprep/dataprep/transport/drop"
	"github.com/dataprep/dataprep/transport/machine"
)

// MachineSpec is what an administrator gives to register a machine.
type MachineSpec struct {
	Name       string `json:"name"`
	SFTP       string `json:"sftp"` // USER@HOST:PORT
	Dir        string `json:"dir"`
	HostKey    string `json:"host_key"`     // authorized_keys or known_hosts line
	SSHKeyFile string `json:"ssh_key_file"` // absolute path of our client key, readable by the daemon
	PGPKey     []byte `json:"pgp_key"`      // the machine's armored certificate
	Layout     []byte `json:"layout,omitempty"`
}

// AddMachine asks for (or, under bootstrap, registers) a machine.
func (s *Service) AddMachine(c Caller, m MachineSpec) (Outcome, error) {
	e := audit.Entry{Event: "request.create", Actor: c.Name, OSUser: c.OSUser, Machine: m.Name, Detail: map[string]string{"action": ActAddMachine, "target": m.Name}}
	// The role first: a role that may not ask learns nothing else.
	if err := mayRequest(c, ActAddMachine); err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	bad := func(f string, a ...any) (Outcome, error) {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: "+f, append([]any{ErrBadInput}, a...)...))
	}
	if err := drop.CheckIssuerName(m.Name); err != nil { // same alphabet: names end up in paths and audit entries
		e.Machine, e.Detail["target"] = "", ""
		return bad("machine name %s: use lower-case letters, digits, . _ -", shown(m.Name))
	}
	if _, err := s.Store.Machine(m.Name); err == nil {
		return bad("machine %q exists", m.Name)
	}
	user, host, port, err := machine.ParseTarget(m.SFTP)
	if err != nil {
		return bad("--sftp: %v", err)
	}
	if !strings.HasPrefix(m.Dir, "/") || filepath.Clean(m.Dir) != m.Dir {
		return bad("--dir: want an absolute, clean path on the machine")
	}
	hk, err := machine.HostKeyFromAuthorizedLine(m.HostKey)
	if err != nil {
		return bad("--host-key: %v", err)
	}
	clientKey, err := loadSSHKey(m.SSHKeyFile)
	if err != nil {
		return bad("--ssh-key: %v", err)
	}
	cert, err := pgp.ReadRecipientKey(m.PGPKey)
	if err != nil {
		return bad("--pgp-key: %v", err)
	}
	if len(m.Layout) > 0 {
		if _, err := profile.ParseMachine(m.Layout); err != nil {
			return bad("--layout: %v", err)
		}
	}
	fpr := pgp.Fingerprint(cert)
	e.Detail["host_key"] = machine.FingerprintSHA256(hk)
	e.Detail["pgp_fingerprint"] = fpr
	return s.ask(c, ActAddMachine, m.Name, map[string]string{
		"user": user, "host": host, "port": strconv.Itoa(port), "dir": m.Dir,
		"host_key": strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hk))), "host_key_fingerprint": machine.FingerprintSHA256(hk),
		"ssh_key_file": m.SSHKeyFile, "ssh_key_fingerprint": ssh.FingerprintSHA256(clientKey.PublicKey()),
		"pgp_key": string(m.PGPKey), "pgp_fingerprint": fpr, "layout": string(m.Layout),
		// What the key's preferences make the production files: SEIPDv2
		// (AEAD, several times faster to write and read) needs a machine
		// whose software decrypts RFC 9580; gpg 2.2 keys get SEIPDv1.
		"production_encryption": pgp.OutputCipher(cert),
	})
}

// loadSSHKey reads our client key for a machine; like ssh, it refuses one
// that others may read.
func loadSSHKey(path string) (ssh.Signer, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("give an absolute path")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ssh.ParsePrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: not an unencrypted OpenSSH private key: %v", path, err)
	}
	return k, nil
}

func (s *Service) doAddMachine(r state.Request, approver string, bootstrap bool) (string, error) {
	port, _ := strconv.Atoi(r.Params["port"])
	// Our client key is copied into the home so that the machine does not
	// depend on a file elsewhere staying put.
	keyDir := filepath.Join(s.Home.Dir, "keys", "machines")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return "", err
	}
	// The key installed is the one the approver saw in the request: the
	// file is read again and must still hold the same key.
	k, err := loadSSHKey(r.Params["ssh_key_file"])
	if err != nil {
		return "", fmt.Errorf("reading the machine's ssh key: %w", err)
	}
	if got := ssh.FingerprintSHA256(k.PublicKey()); got != r.Params["ssh_key_fingerprint"] {
		return "", fmt.Errorf("%w: the ssh key file changed since the request (%s, requested %s): ask again", ErrBadState, got, r.Params["ssh_key_fingerprint"])
	}
	raw, err := os.ReadFile(r.Params["ssh_key_file"])
	if err != nil {
		return "", fmt.Errorf("reading the machine's ssh key: %w", err)
	}
	keyFile := filepath.Join(keyDir, r.Target+"-ssh")
	if err := config.WriteFileAtomic(keyFile, raw, 0o600); err != nil {
		return "", err
	}
	clear(raw)
	m := state.Machine{Name: r.Target, User: r.Params["user"], Host: r.Params["host"], Port: port, Dir: r.Params["dir"],
		HostKey: r.Params["host_key"], SSHKeyFile: keyFile, PGPKey: r.Params["pgp_key"], PGPFpr: r.Params["pgp_fingerprint"],
		Layout: r.Params["layout"], Created: s.now(), CreatedBy: r.Requester, ApprovedBy: approver}
	e := audit.Entry{Event: "machine.add", Outcome: "ok", Actor: r.Requester, Approver: approver, Request: r.ID, Machine: m.Name,
		Detail: map[string]string{"sftp": fmt.Sprintf("%s@%s:%d", m.User, m.Host, m.Port), "dir": m.Dir,
			"host_key": r.Params["host_key_fingerprint"], "pgp_fingerprint": m.PGPFpr, "ssh_key_fingerprint": r.Params["ssh_key_fingerprint"],
			"production_encryption": r.Params["production_encryption"]}}
	if bootstrap {
		e.Detail["bootstrap"] = "single administrator"
	}
	if err := s.record(e); err != nil {
		return "", err
	}
	if err := s.Store.AddMachine(m); err != nil {
		return "", err
	}
	return fmt.Sprintf("machine %s registered (%s@%s:%d %s, host key %s; production files %s)", m.Name, m.User, m.Host, m.Port, m.Dir, r.Params["host_key_fingerprint"], r.Params["production_encryption"]), nil
}

// Authorize asks for a machine operator to be allowed to release to a machine.
func (s *Service) Authorize(c Caller, machineName, operator string) (Outcome, error) {
	e := audit.Entry{Event: "request.create", Actor: c.Name, OSUser: c.OSUser, Machine: machineName,
		Detail: map[string]string{"action": ActAuthorize, "target": machineName, "operator": operator}}
	// The role first: a role that may not ask learns nothing else.
	if err := mayRequest(c, ActAuthorize); err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	m, err := s.Store.Machine(machineName)
	if err != nil {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: no machine %s", ErrBadInput, shown(machineName)))
	}
	p, err := s.Store.Person(operator)
	if err != nil {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: no user %s", ErrBadInput, shown(operator)))
	}
	if p.Role != people.MachineOperator {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: %s is %s; only a machine-operator can be authorized on a machine", ErrBadInput, operator, p.Role))
	}
	if slices.Contains(m.Operators, operator) {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: %s is already authorized on %s", ErrBadInput, operator, machineName))
	}
	return s.ask(c, ActAuthorize, machineName, map[string]string{"operator": operator})
}

func (s *Service) doAuthorize(r state.Request, approver string, bootstrap bool) (string, error) {
	op := r.Params["operator"]
	e := audit.Entry{Event: "machine.authorize", Outcome: "ok", Actor: r.Requester, Approver: approver, Request: r.ID, Machine: r.Target,
		Detail: map[string]string{"operator": op}}
	if bootstrap {
		e.Detail["bootstrap"] = "single administrator"
	}
	if err := s.record(e); err != nil {
		return "", err
	}
	_, err := s.Store.UpdateMachine(r.Target, func(m *state.Machine) error {
		if !slices.Contains(m.Operators, op) {
			m.Operators = append(m.Operators, op)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s may release production data to %s", op, r.Target), nil
}

// MachineView is a machine as listings show it: no keys.
type MachineView struct {
	Name      string   `json:"name"`
	SFTP      string   `json:"sftp"`
	Dir       string   `json:"dir"`
	HostKey   string   `json:"host_key_fingerprint"`
	PGPFpr    string   `json:"pgp_fingerprint"`
	Operators []string `json:"operators"`
	Current   string   `json:"current_job,omitempty"`
}

// Machines lists the registered machines.
func (s *Service) Machines(c Caller) ([]MachineView, error) {
	ms, err := s.Store.Machines()
	if err != nil {
		return nil, err
	}
	out := make([]MachineView, 0, len(ms))
	for _, m := range ms {
		v := MachineView{Name: m.Name, SFTP: fmt.Sprintf("%s@%s:%d", m.User, m.Host, m.Port), Dir: m.Dir, PGPFpr: m.PGPFpr, Operators: m.Operators, Current: m.Current}
		if hk, err := machine.HostKeyFromAuthorizedLine(m.HostKey); err == nil {
			v.HostKey = machine.FingerprintSHA256(hk)
		}
		out = append(out, v)
	}
	return out, nil
}

// machineLocks serialises pushes and deletions per machine: the push gate
// must see the machine as it is, not as another release half-changed it.
var machineLocks sync.Map

func lockMachine(name string) func() {
	mu, _ := machineLocks.LoadOrStore(name, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	return mu.(*sync.Mutex).Unlock
}

func (s *Service) target(m state.Machine) (machine.Target, error) {
	hk, err := machine.HostKeyFromAuthorizedLine(m.HostKey)
	if err != nil {
		return machine.Target{}, err
	}
	signer, err := loadSSHKey(m.SSHKeyFile)
	if err != nil {
		return machine.Target{}, err
	}
	return machine.Target{Name: m.Name, User: m.User, Host: m.Host, Port: m.Port, Dir: m.Dir, HostKey: hk, Signer: signer, Timeout: machine.DefaultTimeout}, nil
}

// PushBackoff is how a release retries a machine that is briefly away.
var PushBackoff = machine.Backoff{Attempts: 3, Initial: 500 * time.Millisecond, Max: 5 * time.Second}

// Release pushes a ready job's production file to its machine, through the
// push gate (invariant 2), only for an operator authorized on that machine
// (invariant 8), after checking the file is the one prepared (invariant 6).
func (s *Service) Release(c Caller, id, machineName string) (string, error) {
	e := audit.Entry{Event: "job.push", Actor: c.Name, OSUser: c.OSUser, Job: id, Machine: machineName}
	if err := checkJobID(id); err != nil {
		e.Job = ""
		return "", s.refuse(e, err)
	}
	if c.Role != people.MachineOperator {
		return "", s.refuse(e, fmt.Errorf("%w: only a machine-operator authorized on the machine releases production data, you are %s", ErrForbidden, c.Role))
	}
	m, err := s.Store.Machine(machineName)
	if err != nil {
		e.Machine = ""
		return "", s.refuse(e, fmt.Errorf("%w: no machine %s", ErrBadInput, shown(machineName)))
	}
	if !slices.Contains(m.Operators, c.Name) {
		return "", s.refuse(e, fmt.Errorf("%w: %s is not authorized on machine %s (an administrator runs 'dataprep machine authorize')", ErrForbidden, c.Name, machineName))
	}
	unlock := lockMachine(machineName)
	defer unlock()
	j, err := s.Store.Job(id)
	if err != nil {
		return "", s.refuse(e, fmt.Errorf("%w: no job %s", ErrBadInput, id))
	}
	e.Issuer = j.Issuer
	if j.State != state.Ready {
		return "", s.refuse(e, fmt.Errorf("%w: job %s is %s; only a ready job is released", ErrBadState, id, j.State))
	}
	if j.Machine != machineName {
		return "", s.refuse(e, fmt.Errorf("%w: job %s was prepared for machine %s (its layout and key), not %s", ErrBadInput, id, j.Machine, machineName))
	}
	// The gate, part (a): the previous job's file must have had its supervised deletion.
	if m, err = s.Store.Machine(machineName); err != nil {
		return "", err
	}
	if m.Current != "" {
		return "", s.refuse(e, fmt.Errorf("%w: machine %s still holds job %s's production file; its deletion must be requested (dataprep job delete %s) and approved by a supervisor first", ErrBadState, machineName, m.Current, m.Current))
	}
	// Invariant 6: the spool file is the one whose hash was fixed at preparation.
	sum, size, err := sha256File(s.productionPath(id))
	if err != nil {
		return "", s.refuse(e, fmt.Errorf("%w: production file of %s: %v", ErrBadState, id, err))
	}
	if sum != j.OutputSHA256 || size != j.OutputSize {
		return "", s.refuse(e, fmt.Errorf("%w: the production file of %s changed since preparation (sha256 %s, recorded %s): not pushed", ErrBadState, id, sum, j.OutputSHA256))
	}
	t, err := s.target(m)
	if err != nil {
		return "", s.refuse(e, fmt.Errorf("%w: machine %s: %v", ErrBadState, machineName, err))
	}
	want, _ := hex.DecodeString(j.OutputSHA256)
	if err := s.record(audit.Entry{Event: "job.push.start", Outcome: "ok", Actor: c.Name, OSUser: c.OSUser, Job: id, Issuer: j.Issuer, Machine: machineName,
		Detail: map[string]string{"sha256": j.OutputSHA256, "bytes": fmt.Sprint(j.OutputSize)}}); err != nil {
		return "", err
	}
	failpoint.Hit("push.gated")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pushed, err := s.gateAndPush(ctx, t, id, j.OutputSize, want)
	if err != nil {
		e.Detail = map[string]string{"sha256": j.OutputSHA256}
		if errors.Is(err, errGateClosed) {
			s.metrics().Pushes.WithLabelValues("refused").Inc()
			return "", s.refuse(e, fmt.Errorf("%w: %v", ErrBadState, err))
		}
		s.metrics().Pushes.WithLabelValues("failed").Inc()
		e.Outcome = "failed"
		e.Detail["reason"] = err.Error()
		if aerr := s.record(e); aerr != nil {
			return "", errors.Join(err, aerr)
		}
		// The caller is a machine operator: transport errors can carry byte
		// counts (a count in disguise), so they get the kind, the audit
		// entry gets everything.
		return "", fmt.Errorf("push of %s to %s failed (%s), nothing was left under the final name; the audit log has the details", id, machineName, pushFailureKind(err))
	}
	failpoint.Hit("push.uploaded")
	s.metrics().Pushes.WithLabelValues("ok").Inc()
	e.Outcome, e.Detail = "ok", map[string]string{"sha256": j.OutputSHA256, "bytes": fmt.Sprint(pushed.Size),
		"remote": pushed.Path, "attempts": fmt.Sprint(pushed.Attempts), "recovered": fmt.Sprint(pushed.Recovered)}
	if err := s.record(e); err != nil {
		return "", err
	}
	failpoint.Hit("push.audited")
	_, _, err = s.Store.UpdateJobAndMachine(id, machineName, func(j *state.Job, m *state.Machine) error {
		if err := advance(j, state.Pushed); err != nil {
			return err
		}
		j.Pushed, j.ReleasedBy, j.Updated = s.now(), c.Name, s.now()
		m.Current = id
		return nil
	})
	if err != nil {
		return "", err
	}
	// No byte count here: the machine operator reads this, and a size is a
	// card count in disguise (invariant 9). The audit entry has it.
	return fmt.Sprintf("job %s pushed to %s as %s (sha256 %s, verified on the machine)", id, machineName, pushed.Path, j.OutputSHA256), nil
}

var errGateClosed = errors.New("push gate closed")

// gateAndPush checks the gate's part (b) on the machine, just before the
// upload: its directory holds none of our other production files. If this
// job's own file is already there (a crash came after the upload and before
// the state was saved), it is verified against the recorded hash instead of
// being pushed twice.
func (s *Service) gateAndPush(ctx context.Context, t machine.Target, id string, size int64, want []byte) (machine.Pushed, error) {
	conn, err := machine.Dial(ctx, t)
	if err != nil {
		return machine.Pushed{}, err
	}
	files, err := conn.Ours()
	if err != nil {
		conn.Close()
		return machine.Pushed{}, err
	}
	own := false
	for _, f := range files {
		if f.Job != id {
			conn.Close()
			return machine.Pushed{}, fmt.Errorf("%w: %s is on the machine (job %s); it must be deleted under supervision before anything else is pushed", errGateClosed, f.Name, f.Job)
		}
		own = own || !f.Partial
	}
	if own {
		p, err := conn.Verify(ctx, id, size, want)
		conn.Close()
		if err != nil {
			return p, fmt.Errorf("%w: the machine already has a file under this job's name and it is not the prepared one: %v", errGateClosed, err)
		}
		p.Recovered = true
		return p, nil
	}
	// The first attempt uploads on the connection that just checked the
	// gate: no second handshake, and no gap between the check and the upload.
	first := conn
	defer func() {
		if first != nil { // never handed to an attempt
			first.Close()
		}
	}()
	dial := func() (*machine.Conn, error) {
		if c := first; c != nil {
			first = nil
			return c, nil
		}
		return machine.Dial(ctx, t)
	}
	open := func() (io.ReadCloser, error) { return os.Open(s.productionPath(id)) }
	return machine.PushWithRetry(ctx, dial, id, open, size, want, PushBackoff)
}

// Counts is a machine operator's blind report.
type Counts struct {
	Good            int `json:"good"`
	Spoiled         int `json:"spoiled"`
	Samples         int `json:"samples"`
	ReturnedToVault int `json:"returned_to_vault"`
}

// Report records the machine operator's counts without showing them the
// expected number (invariant 9). Good cards must equal the accepted records;
// otherwise the job is blocked until a supervisor resolves it.
func (s *Service) Report(c Caller, id string, n Counts) (string, error) {
	e := audit.Entry{Event: "job.counts", Actor: c.Name, OSUser: c.OSUser, Job: id}
	if err := checkJobID(id); err != nil {
		e.Job = ""
		return "", s.refuse(e, err)
	}
	if n.Good < 0 || n.Spoiled < 0 || n.Samples < 0 || n.ReturnedToVault < 0 || n.Good > 1e8 || n.Spoiled > 1e8 || n.Samples > 1e8 || n.ReturnedToVault > 1e8 {
		return "", s.refuse(e, fmt.Errorf("%w: counts must be whole numbers from 0", ErrBadInput))
	}
	j, err := s.Store.Job(id)
	if err != nil {
		return "", s.refuse(e, fmt.Errorf("%w: no job %s", ErrBadInput, id))
	}
	e.Issuer, e.Machine = j.Issuer, j.Machine
	if c.Role != people.MachineOperator {
		return "", s.refuse(e, fmt.Errorf("%w: counts are reported by the machine operator, you are %s", ErrForbidden, c.Role))
	}
	m, err := s.Store.Machine(j.Machine)
	if err != nil || !slices.Contains(m.Operators, c.Name) {
		return "", s.refuse(e, fmt.Errorf("%w: %s is not authorized on machine %s", ErrForbidden, c.Name, j.Machine))
	}
	if j.State != state.Pushed {
		return "", s.refuse(e, fmt.Errorf("%w: job %s is %s; counts are reported after the push", ErrBadState, id, j.State))
	}
	if j.Reported != nil {
		return "", s.refuse(e, fmt.Errorf("%w: counts for %s were already reported by %s; a supervisor resolves any difference", ErrBadState, id, j.Reported.By))
	}
	ok := n.Good == j.Counts.Accepted
	e.Outcome = "ok"
	e.Detail = map[string]string{"good": fmt.Sprint(n.Good), "spoiled": fmt.Sprint(n.Spoiled), "samples": fmt.Sprint(n.Samples),
		"returned_to_vault": fmt.Sprint(n.ReturnedToVault), "expected_good": fmt.Sprint(j.Counts.Accepted), "reconciled": fmt.Sprint(ok)}
	if err := s.record(e); err != nil {
		return "", err
	}
	failpoint.Hit("counts.audited")
	_, err = s.Store.UpdateJob(id, func(j *state.Job) error {
		if j.Reported != nil || j.State != state.Pushed {
			return fmt.Errorf("%w: counts for %s were reported meanwhile", ErrBadState, id)
		}
		j.Reported = &state.Reported{Good: n.Good, Spoiled: n.Spoiled, Samples: n.Samples, ReturnedToVault: n.ReturnedToVault, By: c.Name, At: s.now()}
		j.CountsOK, j.Updated = ok, s.now()
		return nil
	})
	if err != nil {
		return "", err
	}
	if !ok {
		// Say that it differs, never by how much: the count stays blind.
		return fmt.Sprintf("counts for %s recorded; they do not reconcile: the job is blocked until a supervisor resolves it", id), nil
	}
	return fmt.Sprintf("counts for %s recorded and reconciled", id), nil
}

// Resolve lets a supervisor close a count discrepancy with a written reason.
func (s *Service) Resolve(c Caller, id, reason string) (string, error) {
	e := audit.Entry{Event: "job.counts.resolve", Actor: c.Name, OSUser: c.OSUser, Job: id}
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 500 || strings.ContainsAny(reason, "\n\r") || audit.ContainsPANInText(reason) {
		return "", s.refuse(e, fmt.Errorf("%w: --reason must be one line of 1-500 characters, without card numbers", ErrBadInput))
	}
	if c.Role != people.Supervisor {
		return "", s.refuse(e, fmt.Errorf("%w: a supervisor resolves count differences, you are %s", ErrForbidden, c.Role))
	}
	j, err := s.Store.Job(id)
	if err != nil {
		return "", s.refuse(e, fmt.Errorf("%w: no job %s", ErrBadInput, id))
	}
	e.Issuer, e.Machine = j.Issuer, j.Machine
	if j.Reported == nil || j.CountsOK {
		return "", s.refuse(e, fmt.Errorf("%w: job %s has no count difference to resolve", ErrBadState, id))
	}
	e.Outcome, e.Detail = "ok", map[string]string{"reason": reason, "reported_by": j.Reported.By}
	if err := s.record(e); err != nil {
		return "", err
	}
	_, err = s.Store.UpdateJob(id, func(j *state.Job) error { j.CountsOK, j.Resolution, j.Updated = true, reason, s.now(); return nil })
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("count difference of %s resolved", id), nil
}

// DeleteJob asks for a job's supervised deletion.
func (s *Service) DeleteJob(c Caller, id string) (Outcome, error) {
	e := audit.Entry{Event: "request.create", Actor: c.Name, OSUser: c.OSUser, Job: id, Detail: map[string]string{"action": ActDeleteJob, "target": id}}
	// The role first: a role that may not ask learns nothing else.
	if err := mayRequest(c, ActDeleteJob); err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	if err := checkJobID(id); err != nil {
		e.Job, e.Detail["target"] = "", ""
		return Outcome{}, s.refuse(e, err)
	}
	j, err := s.Store.Job(id)
	if err != nil {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: no job %s", ErrBadInput, id))
	}
	e.Issuer, e.Machine = j.Issuer, j.Machine
	switch j.State {
	case state.Pushed:
		if j.Reported == nil {
			return Outcome{}, s.refuse(e, fmt.Errorf("%w: the machine operator reports counts first (dataprep job report %s)", ErrBadState, id))
		}
		if !j.CountsOK {
			return Outcome{}, s.refuse(e, fmt.Errorf("%w: the counts of %s do not reconcile: a supervisor resolves them first (dataprep job resolve)", ErrBadState, id))
		}
	case state.Ready, state.Rejected, state.Received:
	default:
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: job %s is %s", ErrBadState, id, j.State))
	}
	if rid, ok := s.pendingFor(ActDeleteJob, id); ok {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: request %s already waits to delete job %s", ErrBadState, rid, id))
	}
	if rid, ok := s.pendingFor(ActStartJob, id); ok {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: request %s waits to start job %s: decide it first", ErrBadState, rid, id))
	}
	return s.ask(c, ActDeleteJob, id, nil)
}

// doDeleteJob runs an approved deletion: the file on the machine first,
// confirmed gone, then every spool copy, then one audit entry naming
// requester, approver, machine, job and hash; then the machine is free.
func (s *Service) doDeleteJob(r state.Request, approver string) (string, error) {
	j, err := s.Store.Job(r.Target)
	if err != nil {
		return "", err
	}
	// The machine's lock is held from here to the state change, so that no
	// release of this job (or any push to its machine) runs in between.
	if j.Machine != "" {
		unlock := lockMachine(j.Machine)
		defer unlock()
		if j, err = s.Store.Job(r.Target); err != nil {
			return "", err
		}
	}
	before := j.State
	switch {
	case j.State == state.Received, j.State == state.Ready, j.State == state.Rejected:
	case j.State == state.Pushed && j.Reported != nil && j.CountsOK:
	default:
		return "", fmt.Errorf("%w: job %s is %s now; it cannot be deleted in that state", ErrBadState, j.ID, j.State)
	}
	detail := map[string]string{"input_sha256": j.SHA256, "output_sha256": j.OutputSHA256, "state_before": string(j.State)}
	// A ready job may have reached its machine before a crash kept the
	// state from saying so: the machine is always asked when one is named
	// and a production file exists.
	if j.State == state.Pushed || (j.State == state.Ready && j.Machine != "") {
		m, err := s.Store.Machine(j.Machine)
		if err != nil {
			return "", err
		}
		t, err := s.target(m)
		if err != nil {
			return "", err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		conn, err := machine.Dial(ctx, t)
		if err != nil {
			s.record(audit.Entry{Event: "job.delete", Outcome: "failed", Actor: r.Requester, Approver: approver, Request: r.ID, Job: j.ID, Issuer: j.Issuer, Machine: j.Machine,
				Detail: map[string]string{"reason": err.Error()}})
			return "", fmt.Errorf("cannot reach machine %s to delete %s (request a new deletion when it is back): %w", j.Machine, j.ID, err)
		}
		d, err := conn.Delete(j.ID)
		conn.Close()
		if err != nil {
			s.record(audit.Entry{Event: "job.delete", Outcome: "failed", Actor: r.Requester, Approver: approver, Request: r.ID, Job: j.ID, Issuer: j.Issuer, Machine: j.Machine,
				Detail: map[string]string{"reason": err.Error()}})
			return "", fmt.Errorf("deleting %s on machine %s: %w", j.ID, j.Machine, err)
		}
		failpoint.Hit("delete.remote")
		detail["remote"] = d.Path
		detail["remote_was_present"] = fmt.Sprint(d.WasPresent)
		detail["remote_confirmed_gone"] = "true"
	}
	// Every spool copy: received ciphertext, production file, quarantine.
	var removed []string
	for _, p := range []string{s.spoolPath(j.ID), s.productionPath(j.ID), s.productionPath(j.ID) + ".part", s.quarantinePath(j.ID)} {
		if err := os.Remove(p); err == nil {
			removed = append(removed, filepath.Base(filepath.Dir(p))+"/"+filepath.Base(p))
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("deleting %s: %w", p, err)
		}
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%s is still there after deletion", p)
		}
	}
	for _, d := range []string{s.Home.Received(), s.Home.Production(), s.Home.Quarantine()} {
		config.SyncDir(d)
	}
	failpoint.Hit("delete.spool")
	detail["spool_removed"] = strings.Join(removed, ",")
	if err := s.record(audit.Entry{Event: "job.deleted", Outcome: "ok", Actor: r.Requester, Approver: approver, Request: r.ID,
		Job: j.ID, Issuer: j.Issuer, Machine: j.Machine, Detail: detail}); err != nil {
		return "", err
	}
	failpoint.Hit("delete.audited")
	upd := func(j *state.Job) error {
		if j.State != before {
			return fmt.Errorf("%w: job %s changed from %s to %s during its deletion", ErrBadState, j.ID, before, j.State)
		}
		if err := advance(j, state.Deleted); err != nil {
			return err
		}
		j.DeletedBy, j.DeletionOK, j.Updated = r.Requester, approver, s.now()
		return advance(j, state.Closed)
	}
	if j.Machine != "" {
		_, _, err = s.Store.UpdateJobAndMachine(j.ID, j.Machine, func(j *state.Job, m *state.Machine) error {
			if m.Current == j.ID {
				m.Current = ""
			}
			return upd(j)
		})
	} else {
		_, err = s.Store.UpdateJob(j.ID, upd)
	}
	if err != nil {
		return "", err
	}
	s.receipt(j, r.Requester, approver, detail)
	return fmt.Sprintf("job %s deleted (machine %s: %s; spool: %s)", j.ID, orDash(j.Machine), orDash(detail["remote_confirmed_gone"]), orDash(detail["spool_removed"])), nil
}

// receipt puts a deletion receipt, signed by the data room's key, in the
// issuer's outbox: the bank's auditor checks it with 'gpg --verify'.
func (s *Service) receipt(j state.Job, requester, approver string, detail map[string]string) {
	var b strings.Builder
	fmt.Fprintf(&b, "dataprep deletion receipt\n\njob:           %s\nissuer:        %s\nfile:          %s\ninput sha256:  %s\n", j.ID, j.Issuer, j.FileName, j.SHA256)
	if j.OutputSHA256 != "" {
		fmt.Fprintf(&b, "output sha256: %s\n", j.OutputSHA256)
	}
	if j.Machine != "" && detail["remote_confirmed_gone"] == "true" {
		fmt.Fprintf(&b, "machine:       %s (file deleted and confirmed absent)\n", j.Machine)
	}
	fmt.Fprintf(&b, "spool copies:  %s (deleted)\nrequested by:  %s\napproved by:   %s (supervisor)\ndeleted at:    %s\n",
		orDash(detail["spool_removed"]), requester, approver, s.now().Format(time.RFC3339))
	s.report(j.Issuer, j.ID+"-deletion", b.String())
}

// pushFailureKind names a transport failure without its details.
func pushFailureKind(err error) string {
	for _, k := range []struct {
		err  error
		what string
	}{
		{machine.ErrUnreachable, "machine unreachable"},
		{machine.ErrHostKeyChanged, "machine host key changed: check it before re-pinning"},
		{machine.ErrAuth, "the machine refused our key"},
		{machine.ErrPermission, "permission denied on the machine"},
		{machine.ErrDiskFull, "the machine's disk is full"},
		{machine.ErrConnectionLost, "connection lost"},
		{machine.ErrVerify, "the file read back does not match its recorded hash"},
		{machine.ErrExists, "a file is already under the final name"},
		{machine.ErrBadTarget, "the machine's address, directory or key cannot be used"},
	} {
		if errors.Is(err, k.err) {
			return k.what
		}
	}
	return "transfer failed"
}

// Revoke asks to withdraw a machine operator's authorization on a machine.
func (s *Service) Revoke(c Caller, machineName, operator string) (Outcome, error) {
	e := audit.Entry{Event: "request.create", Actor: c.Name, OSUser: c.OSUser, Machine: machineName,
		Detail: map[string]string{"action": ActRevoke, "target": machineName, "operator": operator}}
	if err := mayRequest(c, ActRevoke); err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	m, err := s.Store.Machine(machineName)
	if err != nil {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: no machine %s", ErrBadInput, shown(machineName)))
	}
	if !slices.Contains(m.Operators, operator) {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: %s is not authorized on %s", ErrBadInput, shown(operator), machineName))
	}
	return s.ask(c, ActRevoke, machineName, map[string]string{"operator": operator})
}

func (s *Service) doRevoke(r state.Request, approver string, bootstrap bool) (string, error) {
	op := r.Params["operator"]
	e := audit.Entry{Event: "machine.revoke", Outcome: "ok", Actor: r.Requester, Approver: approver, Request: r.ID, Machine: r.Target,
		Detail: map[string]string{"operator": op}}
	if bootstrap {
		e.Detail["bootstrap"] = "single administrator"
	}
	if err := s.record(e); err != nil {
		return "", err
	}
	_, err := s.Store.UpdateMachine(r.Target, func(m *state.Machine) error {
		m.Operators = slices.DeleteFunc(m.Operators, func(o string) bool { return o == op })
		return nil
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s may no longer release production data to %s", op, r.Target), nil
}
