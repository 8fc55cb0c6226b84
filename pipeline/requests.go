package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/pipeline/failpoint"
	"github.com/dataprep/dataprep/pipeline/people"
	"github.com/dataprep/dataprep/pipeline/state"
)

// errAlreadyDecided: a request changed state between reading and updating it.
var errAlreadyDecided = errors.New("request already decided")

// Outcome is what an action that may need a second person gave: either it is
// done (bootstrap) or a request waits.
type Outcome struct {
	Done    bool           `json:"done"`
	Request *state.Request `json:"request,omitempty"`
	Result  string         `json:"result,omitempty"`
}

// ask makes a request for action or, under the bootstrap rule, does it now.
func (s *Service) ask(c Caller, action, target string, params map[string]string) (Outcome, error) {
	pol, ok := PolicyFor(action)
	if !ok {
		panic("pipeline: no policy for " + action) // programmer error: every action has a row
	}
	e := audit.Entry{Event: "request.create", Actor: c.Name, OSUser: c.OSUser, Detail: map[string]string{"action": action, "target": target}}
	if err := mayRequest(c, action); err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	if pol.Bootstrap {
		admins, err := s.Store.CountRole(people.Admin)
		if err != nil {
			return Outcome{}, err
		}
		if admins < 2 {
			r := state.Request{Action: action, Target: target, Params: params, Requester: c.Name, State: state.Approved, Created: s.now()}
			res, err := s.execute(r, "", true)
			if err != nil {
				return Outcome{}, err
			}
			return Outcome{Done: true, Result: res}, nil
		}
	}
	now := s.now()
	r := state.Request{Action: action, Target: target, Params: params, Requester: c.Name, ApproverRoles: pol.Approvers,
		Created: now, Expires: now.Add(s.Cfg.Requests.Expiry.Duration), State: state.Pending}
	// Audit first, under a reserved id: a request that can be approved
	// always has its creation entry, even across a crash.
	id, err := s.Store.ReserveRequestID()
	if err != nil {
		return Outcome{}, err
	}
	r.ID = id
	e.Outcome, e.Request = "ok", r.ID
	e.Job, e.Issuer = jobOrIssuer(action, target)
	e.Detail["approver_roles"] = roles(pol.Approvers)
	e.Detail["expires"] = r.Expires.Format("2006-01-02T15:04:05Z")
	if err := s.record(e); err != nil {
		return Outcome{}, err
	}
	if r, err = s.Store.CreateRequest(r); err != nil {
		return Outcome{}, err
	}
	return Outcome{Request: &r}, nil
}

func jobOrIssuer(action, target string) (job, issuer string) {
	switch {
	case strings.HasPrefix(action, "job."), action == ActRecordProduction:
		return target, ""
	case strings.HasPrefix(action, "issuer."):
		return "", target
	}
	return "", ""
}

func roles(rs []people.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, " or ")
}

// expire marks r expired if its time has passed, and audits it once.
func (s *Service) expire(r state.Request) (state.Request, error) {
	if r.State != state.Pending || s.now().Before(r.Expires) {
		return r, nil
	}
	r, err := s.Store.UpdateRequest(r.ID, func(r *state.Request) error {
		if r.State != state.Pending {
			return errAlreadyDecided
		}
		r.State, r.Decided = state.Expired, s.now()
		return nil
	})
	if errors.Is(err, errAlreadyDecided) {
		return s.Store.Request(r.ID)
	}
	if err != nil {
		return r, err
	}
	return r, s.record(audit.Entry{Event: "request.expired", Outcome: "ok", Request: r.ID, Actor: r.Requester,
		Detail: map[string]string{"action": r.Action, "target": r.Target}})
}

// Approve is the second person's word. It runs the action at once.
func (s *Service) Approve(c Caller, id string) (state.Request, string, error) {
	e := audit.Entry{Event: "request.approve", Actor: c.Name, OSUser: c.OSUser, Request: id}
	r, err := s.Store.Request(id)
	if errors.Is(err, state.ErrNotFound) {
		return r, "", s.refuse(e, fmt.Errorf("%w: no request %s: see 'dataprep request list'", ErrBadInput, shown(id)))
	} else if err != nil {
		return r, "", err
	}
	if r, err = s.expire(r); err != nil {
		return r, "", err
	}
	e.Job, e.Issuer = jobOrIssuer(r.Action, r.Target)
	e.Detail = map[string]string{"action": r.Action, "target": r.Target, "requester": r.Requester}
	if r.State != state.Pending {
		return r, "", s.refuse(e, fmt.Errorf("%w: %s is %s", ErrNotPending, id, r.State))
	}
	if r.Requester == c.Name {
		return r, "", s.refuse(e, ErrSelfApproval)
	}
	if !slices.Contains(r.ApproverRoles, c.Role) {
		return r, "", s.refuse(e, fmt.Errorf("%w: %s needs a %s to approve, you are %s", ErrForbidden, r.Action, roles(r.ApproverRoles), c.Role))
	}
	// Decisions are serialised so that two approvers racing cannot both run
	// a request, and the approval is audited before it is stored: a request
	// the store says is approved always has its audit entry (a crash in
	// between leaves it pending, to be approved again).
	s.decisions.Lock()
	defer s.decisions.Unlock()
	if r, err = s.Store.Request(id); err != nil {
		return r, "", err
	}
	if r.State != state.Pending {
		return r, "", s.refuse(e, fmt.Errorf("%w: %s is %s", ErrNotPending, id, r.State))
	}
	e.Outcome, e.Approver, e.Actor = "ok", c.Name, r.Requester
	if err := s.record(e); err != nil {
		return r, "", err
	}
	failpoint.Hit("request.marked")
	r, err = s.Store.UpdateRequest(id, func(r *state.Request) error {
		if r.State != state.Pending {
			return fmt.Errorf("%w: %s is %s", ErrNotPending, id, r.State)
		}
		r.State, r.Decider, r.Decided = state.Approved, c.Name, s.now()
		return nil
	})
	if err != nil {
		return r, "", err
	}
	failpoint.Hit("request.approved")
	res, err := s.execute(r, c.Name, false)
	s.Store.UpdateRequest(id, func(rr *state.Request) error {
		rr.Result = res
		if err != nil {
			rr.Result = "failed: " + err.Error()
		}
		r = *rr
		return nil
	})
	if err != nil {
		// The approval is spent: say so, so nobody waits on it.
		return r, res, fmt.Errorf("approved %s, but the action failed: %w (the request is used up: ask again)", id, err)
	}
	return r, res, nil
}

// Deny refuses a request with a reason. The requester may withdraw their own.
func (s *Service) Deny(c Caller, id, reason string) (state.Request, error) {
	e := audit.Entry{Event: "request.deny", Actor: c.Name, OSUser: c.OSUser, Request: id}
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 500 || strings.ContainsAny(reason, "\n\r") || audit.ContainsPANInText(reason) {
		return state.Request{}, s.refuse(e, fmt.Errorf("%w: --reason must be one line of 1-500 characters, without card numbers", ErrBadInput))
	}
	s.decisions.Lock() // an approval running now finishes first
	defer s.decisions.Unlock()
	r, err := s.Store.Request(id)
	if errors.Is(err, state.ErrNotFound) {
		return r, s.refuse(e, fmt.Errorf("%w: no request %s", ErrBadInput, shown(id)))
	} else if err != nil {
		return r, err
	}
	if r, err = s.expire(r); err != nil {
		return r, err
	}
	e.Job, e.Issuer = jobOrIssuer(r.Action, r.Target)
	e.Detail = map[string]string{"action": r.Action, "target": r.Target, "requester": r.Requester, "reason": reason}
	if r.State != state.Pending {
		return r, s.refuse(e, fmt.Errorf("%w: %s is %s", ErrNotPending, id, r.State))
	}
	if r.Requester != c.Name && !slices.Contains(r.ApproverRoles, c.Role) {
		return r, s.refuse(e, fmt.Errorf("%w: only the requester or a %s may deny %s", ErrForbidden, roles(r.ApproverRoles), r.Action))
	}
	if err := s.record(audit.Entry{Event: "request.deny", Outcome: "ok", Actor: c.Name, OSUser: c.OSUser, Request: id,
		Job: e.Job, Issuer: e.Issuer, Detail: e.Detail}); err != nil {
		return r, err
	}
	return s.Store.UpdateRequest(id, func(r *state.Request) error {
		if r.State != state.Pending {
			return fmt.Errorf("%w: %s is %s", ErrNotPending, id, r.State)
		}
		r.State, r.Decider, r.Decided, r.Reason = state.Denied, c.Name, s.now(), reason
		return nil
	})
}

// Requests lists requests, expiring stale ones first. pendingOnly shows what
// waits; the list says for whom (approver roles).
func (s *Service) Requests(c Caller, pendingOnly bool) ([]state.Request, error) {
	rs, err := s.Store.Requests()
	if err != nil {
		return nil, err
	}
	out := rs[:0]
	for _, r := range rs {
		if r, err = s.expire(r); err != nil {
			return nil, err
		}
		if pendingOnly && r.State != state.Pending {
			continue
		}
		// Parameters can hold hashes and keys: a listing shows what and who, not them.
		r.Params = nil
		out = append(out, r)
	}
	return out, nil
}

// execute runs an approved (or bootstrap) request. approver is empty under bootstrap.
func (s *Service) execute(r state.Request, approver string, bootstrap bool) (string, error) {
	switch r.Action {
	case ActAddUser:
		return s.doAddUser(r, approver, bootstrap)
	case ActAddIssuer:
		return s.doAddIssuer(r, approver, bootstrap)
	case ActStartJob:
		return s.doStartJob(r, approver)
	case ActAddMachine:
		return s.doAddMachine(r, approver, bootstrap)
	case ActAuthorize:
		return s.doAuthorize(r, approver, bootstrap)
	case ActDeleteJob:
		return s.doDeleteJob(r, approver)
	case ActDisable:
		return s.doDisable(r, approver, bootstrap)
	case ActRevoke:
		return s.doRevoke(r, approver, bootstrap)
	case ActRecordProduction, ActRecordFailure, ActRecordDestruction, ActRecordVault, ActRecordVaultCount:
		return s.doRecord(r, approver)
	}
	return "", fmt.Errorf("%w: unknown action %q", ErrBadInput, r.Action)
}
