// Package pipeline is the daemon's core: the job's life from arrival to
// preparation, dual-control requests and approvals, and the audit entry for
// every step. Transport (drop, machines), crypto, formats and the audit log
// are packages of their own; this one decides and records.
package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/rs/zerolog"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/pipeline/config"
	"github.com/dataprep/dataprep/pipeline/failpoint"
	"github.com/dataprep/dataprep/pipeline/people"
	"github.com/dataprep/dataprep/pipeline/state"
)

// Errors the control API maps to exit statuses and messages.
var (
	ErrAuth         = errors.New("authentication failed: unknown user or wrong passphrase")
	ErrLocked       = errors.New("account locked after repeated failures")
	ErrForbidden    = errors.New("not allowed")
	ErrSelfApproval = errors.New("nobody approves their own request (dual control)")
	ErrMustChange   = errors.New("passphrase must be changed first: run 'dataprep passwd'")
	ErrBadState     = errors.New("wrong state")
	ErrBadInput     = errors.New("invalid input")
	ErrNotPending   = errors.New("request is not pending")
	ErrAuditFailed  = errors.New("audit log cannot be written: action refused (fail-closed)")
)

// Caller is an authenticated person making one call.
type Caller struct {
	Name   string      `json:"name"`
	Role   people.Role `json:"role"`
	OSUser string      `json:"os_user,omitempty"`
}

// Service is the daemon's state and rules. It is safe for concurrent use.
type Service struct {
	Home     config.Home
	Cfg      config.Config
	Store    *state.Store
	Audit    *audit.Log
	DataRoom *openpgp.Entity // public cert bound to the HSM keys
	Log      zerolog.Logger
	Now      func() time.Time

	// HSM, when set, is pinged by Status.
	HSM interface{ Ping() error }

	refusals    refusalGate
	dummyOnce   sync.Once
	dummy       string
	decisions   sync.Mutex // one approval or denial at a time
	arrivals    sync.Mutex // one arrival at a time: hashing is I/O-bound and the duplicate check must see the previous file
	jobs        sync.WaitGroup
	metricsOnce sync.Once
	m           *Metrics
	progress    sync.Map // job id → *progress, while preparing
	started     time.Time
	dropAddr    string
}

// kdf is the configured cost of new passphrase hashes.
func (s *Service) kdf() people.KDF {
	return people.KDF{MemoryKiB: s.Cfg.Auth.KDFMemoryKiB, Time: s.Cfg.Auth.KDFTime}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// record appends an audit entry; every action calls it before it reports
// done, and fails when it fails (invariant 3).
func (s *Service) record(e audit.Entry) error {
	failpoint.Hit("audit.before")
	if _, err := s.Audit.Append(e); err != nil {
		s.Log.Error().Err(err).Str("event", e.Event).Msg("audit append failed")
		s.metrics().Failures.WithLabelValues("audit").Inc()
		return fmt.Errorf("%w: %v", ErrAuditFailed, err)
	}
	lastAppendNow.Store(time.Now().UnixNano())
	failpoint.Hit("audit.after")
	ev := s.Log.Info()
	if e.Outcome != "" && e.Outcome != "ok" {
		ev = s.Log.Warn()
	}
	ev = ev.Str("event", e.Event).Str("outcome", e.Outcome)
	for k, v := range map[string]string{"actor": e.Actor, "approver": e.Approver, "job": e.Job, "issuer": e.Issuer, "request": e.Request, "machine": e.Machine} {
		if v != "" {
			ev = ev.Str(k, v)
		}
	}
	ev.Msg("audit")
	return nil
}

// refuse audits a refusal and returns err (or the audit failure).
func (s *Service) refuse(e audit.Entry, err error) error {
	e.Outcome = "refused"
	// Fields of a refusal may hold what a caller typed. Anything shaped
	// like a card number is withheld here, once for every refusal, so that
	// the entry is written (the log would refuse it) and shows no PAN.
	for _, f := range []*string{&e.Actor, &e.Job, &e.Issuer, &e.Machine, &e.Request} {
		if audit.ContainsPAN(*f) {
			*f = "(withheld)"
		}
	}
	if e.Detail == nil {
		e.Detail = map[string]string{}
	}
	e.Detail["reason"] = err.Error()
	for k, v := range e.Detail {
		if audit.ContainsPAN(v) {
			e.Detail[k] = "(withheld)"
		}
	}
	if aerr := s.record(e); aerr != nil {
		return errors.Join(err, aerr)
	}
	return err
}

// dummyHash makes a login with an unknown name cost as much as a wrong
// passphrase, so timing does not tell which names exist.
// It is made on first use at the configured cost, not at every CLI start,
// in the KDF slot like every argon2id computation.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() { s.dummy, _ = s.hashPassphrase([]byte("dataprep-timing-equaliser")) })
	return s.dummy
}

// kdfSlots bounds how many argon2id checks run at once: each takes its full
// memory cost (19 MiB by default), and anyone who can reach the socket can
// ask for one, known name or not. One at a time keeps the daemon's memory
// flat; the CPU cost of a check is tens of milliseconds.
var kdfSlots = make(chan struct{}, 1)

// inKDFSlot runs f, an argon2id computation, in the one slot, so that a
// login during a preparation stays within the daemon's memory budget:
// argon2id takes one contiguous block (19 MiB by default), which the
// preparation's freed pages cannot serve, and at the usual pacing it also
// doubled the preparation's heap goal (70 MiB RSS at 10M records). So the
// free pages go back to the OS first, the collector keeps the heap tight
// while the KDF runs, and the KDF's memory goes back afterwards.
func inKDFSlot(f func()) {
	kdfSlots <- struct{}{}
	debug.FreeOSMemory()
	gc := debug.SetGCPercent(10)
	defer func() {
		// Collect first, the KDF's memory now garbage, then pace as
		// before: the other way round the collector sized its next goal
		// on the KDF's memory.
		debug.FreeOSMemory()
		debug.SetGCPercent(gc)
		<-kdfSlots
	}()
	f()
}

// checkHash runs one passphrase check in the KDF slot.
func (s *Service) checkHash(h string, pass []byte) (ok bool, err error) {
	inKDFSlot(func() { ok, err = people.CheckHash(h, pass) })
	return ok, err
}

// hashPassphrase makes a new hash at the configured cost, in the slot too.
func (s *Service) hashPassphrase(p []byte) (h string, err error) {
	inKDFSlot(func() { h, err = people.HashPassphraseWith(p, s.kdf()) })
	return h, err
}

// Authenticate checks a person's passphrase, applies the lockout rule and
// audits the outcome.
func (s *Service) Authenticate(name string, pass []byte, osUser string) (Caller, error) {
	e := audit.Entry{Event: "login", Actor: name, OSUser: osUser}
	if people.CheckName(name) != nil {
		e.Actor = ""
		s.checkHash(s.dummyHash(), pass)
		return Caller{}, s.refuse(e, ErrAuth)
	}
	p, err := s.Store.Person(name)
	if errors.Is(err, state.ErrNotFound) {
		s.checkHash(s.dummyHash(), pass)
		return Caller{}, s.refuse(e, ErrAuth)
	}
	if err != nil {
		return Caller{}, err
	}
	now := s.now()
	if p.Disabled {
		return Caller{}, s.refuse(e, fmt.Errorf("%w: the account is disabled", ErrLocked))
	}
	if p.Locked(now) {
		return Caller{}, s.refuse(e, fmt.Errorf("%w until %s: ask an administrator or wait", ErrLocked, p.LockedUntil.Format(time.RFC3339)))
	}
	ok, err := s.checkHash(p.Hash, pass)
	if err != nil {
		return Caller{}, fmt.Errorf("account %s has a damaged passphrase hash: %w", name, err)
	}
	rule := people.Lockout{MaxFailures: s.Cfg.Auth.MaxFailures, Duration: s.Cfg.Auth.Lockout.Duration}
	if !ok {
		var locked bool
		if _, err := s.Store.UpdatePerson(name, func(p *people.Person) error { locked = p.Fail(now, rule); return nil }); err != nil {
			return Caller{}, err
		}
		err := s.refuse(e, ErrAuth)
		if locked {
			if aerr := s.record(audit.Entry{Event: "account.locked", Outcome: "ok", Actor: name, OSUser: osUser,
				Detail: map[string]string{"until": now.Add(rule.Duration).Format(time.RFC3339)}}); aerr != nil {
				return Caller{}, errors.Join(err, aerr)
			}
		}
		return Caller{}, err
	}
	if _, err := s.Store.UpdatePerson(name, func(p *people.Person) error { p.Succeed(now); return nil }); err != nil {
		return Caller{}, err
	}
	e.Outcome = "ok"
	if err := s.record(e); err != nil {
		return Caller{}, err
	}
	c := Caller{Name: p.Name, Role: p.Role, OSUser: osUser}
	if p.MustChange {
		return c, ErrMustChange
	}
	return c, nil
}

// ChangePassphrase lets a person set their own passphrase.
func (s *Service) ChangePassphrase(c Caller, newPass []byte) error {
	e := audit.Entry{Event: "user.passwd", Actor: c.Name, OSUser: c.OSUser}
	if err := people.CheckPassphrase(c.Name, newPass); err != nil {
		return s.refuse(e, err)
	}
	h, err := s.hashPassphrase(newPass)
	if err != nil {
		return err
	}
	e.Outcome = "ok"
	if err := s.record(e); err != nil {
		return err
	}
	_, err = s.Store.UpdatePerson(c.Name, func(p *people.Person) error { p.Hash = h; p.MustChange = false; return nil })
	return err
}

// Wait blocks until running preparations end (graceful shutdown).
func (s *Service) Wait() { s.jobs.Wait() }

// sha256File hashes a file as a stream.
func sha256File(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// moveFile renames src to dst and makes the rename durable.
func moveFile(src, dst string) error {
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	if err := config.SyncDir(filepath.Dir(dst)); err != nil {
		return err
	}
	return config.SyncDir(filepath.Dir(src))
}

// Recover puts what a crash left half-way where it can go on, and audits
// each step: jobs caught preparing go back to received; a rejected job's
// file still in the spool goes to quarantine; a missing issuer report is
// written; an approved deletion that did not finish is finished (the
// supervisor's approval is in the audit log).
func (s *Service) Recover(ctx context.Context) error {
	jobs, err := s.Store.Jobs()
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if j.State == state.Rejected {
			if _, err := os.Stat(s.spoolPath(j.ID)); err == nil {
				if err := moveFile(s.spoolPath(j.ID), s.quarantinePath(j.ID)); err == nil {
					s.record(audit.Entry{Event: "job.recovered", Outcome: "ok", Job: j.ID, Issuer: j.Issuer, Detail: map[string]string{"why": "rejected file moved to quarantine after a restart"}})
				}
			}
		}
		if j.State == state.Ready || j.State == state.Rejected {
			if _, err := os.Stat(filepath.Join(s.Home.Outbox(j.Issuer), reportName(j.ID))); errors.Is(err, os.ErrNotExist) {
				s.report(j.Issuer, j.ID, jobReport(j, nil, false)+"(written after a restart: the list of rejected records, if any, is in the audit log's counts only)\n")
			}
		}
		if j.State == state.Closed && j.DeletionOK != "" {
			if _, err := os.Stat(filepath.Join(s.Home.Outbox(j.Issuer), reportName(j.ID+"-deletion"))); errors.Is(err, os.ErrNotExist) {
				s.receipt(j, j.DeletedBy, j.DeletionOK, map[string]string{"spool_removed": "(recorded in the audit log's job.deleted entry)",
					"remote_confirmed_gone": map[bool]string{true: "true"}[j.Machine != "" && !j.Pushed.IsZero()]})
			}
		}
		if j.State != state.Preparing {
			continue
		}
		if err := s.record(audit.Entry{Event: "job.recovered", Outcome: "ok", Job: j.ID, Issuer: j.Issuer,
			Detail: map[string]string{"from": string(state.Preparing), "to": string(state.Received),
				"why": "the daemon stopped while the job was preparing; nothing was produced; start it again"}}); err != nil {
			return err
		}
		if _, err := s.Store.UpdateJob(j.ID, func(j *state.Job) error {
			j.Updated = s.now()
			return advance(j, state.Received)
		}); err != nil {
			return err
		}
		// The partial production file, if any, is ciphertext; remove it so only a finished one is ever in the spool.
		os.Remove(s.productionPath(j.ID))
		os.Remove(s.productionPath(j.ID) + ".part")
	}
	rs, err := s.Store.Requests()
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.State != state.Approved || r.Result != "" {
			continue
		}
		if r.Action != ActDeleteJob {
			// Approved and audited, but the restart came before it ran. Only a
			// deletion is finished on its own; anything else is asked again.
			s.Store.UpdateRequest(r.ID, func(rr *state.Request) error { rr.Result = "interrupted by a restart: request it again"; return nil })
			s.record(audit.Entry{Event: "request.interrupted", Outcome: "failed", Request: r.ID, Actor: r.Requester, Approver: r.Decider,
				Detail: map[string]string{"action": r.Action, "target": r.Target}})
			continue
		}
		j, err := s.Store.Job(r.Target)
		if err != nil || j.State == state.Closed || j.State == state.Deleted {
			continue
		}
		if err := s.record(audit.Entry{Event: "job.recovered", Outcome: "ok", Job: j.ID, Issuer: j.Issuer, Request: r.ID,
			Detail: map[string]string{"why": "finishing a supervised deletion approved before a restart"}}); err != nil {
			return err
		}
		res, err := s.doDeleteJob(r, r.Decider)
		s.Store.UpdateRequest(r.ID, func(rr *state.Request) error {
			rr.Result = res
			if err != nil {
				rr.Result = "failed: " + err.Error()
			}
			return nil
		})
	}
	return nil
}

// shown is s when it is shaped like a name or an id, else a fixed text: a
// refusal repeats what the caller typed only when it cannot be a card
// number or anything else that must not travel to a terminal or the log.
func shown(s string) string {
	if len(s) == 0 || len(s) > 64 || audit.ContainsPAN(s) {
		return "(withheld)"
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "(withheld)"
		}
	}
	return fmt.Sprintf("%q", s)
}
