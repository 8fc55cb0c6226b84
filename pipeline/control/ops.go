package control

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/dataprep/dataprep/pipeline"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// Call bodies. Field names are the JSON the CLI sends.
type (
	UserAdd struct {
		Name              string `json:"name"`
		Role              string `json:"role"`
		InitialPassphrase []byte `json:"initial_passphrase"`
	}
	Passwd struct {
		NewPassphrase []byte `json:"new_passphrase"`
	}
	IssuerAdd struct {
		Name       string `json:"name"`
		SigningKey []byte `json:"signing_key"`
		SSHKey     []byte `json:"ssh_key"`
		Profile    []byte `json:"profile,omitempty"`
	}
	ID struct {
		ID string `json:"id"`
	}
	Deny struct {
		ID     string `json:"id"`
		Reason string `json:"reason"`
	}
	JobStart struct {
		ID      string `json:"id"`
		Machine string `json:"machine,omitempty"`
	}
	JobReport struct {
		ID string `json:"id"`
		pipeline.Counts
	}
	MachineAuthorize struct {
		Machine  string `json:"machine"`
		Operator string `json:"operator"`
	}
	RequestList struct {
		All bool `json:"all"`
	}
	Approved struct {
		Request any    `json:"request"`
		Result  string `json:"result"`
	}
	Done struct {
		Result string `json:"result"`
	}
)

func call[T any](f func(s *pipeline.Service, c pipeline.Caller, in T) (any, error)) func(*pipeline.Service, pipeline.Caller, json.RawMessage) (any, error) {
	return func(s *pipeline.Service, c pipeline.Caller, body json.RawMessage) (any, error) {
		in, err := decode[T](body)
		if err != nil {
			return nil, err
		}
		return f(s, c, in)
	}
}

var ops = map[string]op{
	"whoami": {allowMustChange: true, fn: call(func(s *pipeline.Service, c pipeline.Caller, _ struct{}) (any, error) { return c, nil })},
	"passwd": {allowMustChange: true, fn: call(func(s *pipeline.Service, c pipeline.Caller, in Passwd) (any, error) {
		defer clear(in.NewPassphrase)
		return Done{Result: "passphrase changed"}, s.ChangePassphrase(c, in.NewPassphrase)
	})},
	"user.add": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in UserAdd) (any, error) {
		defer clear(in.InitialPassphrase)
		return s.AddUser(c, in.Name, in.Role, in.InitialPassphrase)
	})},
	"issuer.add": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in IssuerAdd) (any, error) {
		return s.AddIssuer(c, in.Name, in.SigningKey, in.SSHKey, in.Profile)
	})},
	"job.list": {fn: call(func(s *pipeline.Service, c pipeline.Caller, _ struct{}) (any, error) { return s.Jobs(c) })},
	"job.show": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in ID) (any, error) { return s.Job(c, in.ID) })},
	"job.start": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in JobStart) (any, error) {
		return s.StartJob(c, in.ID, in.Machine)
	})},
	"job.release": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in JobStart) (any, error) {
		res, err := s.Release(c, in.ID, in.Machine)
		return Done{Result: res}, err
	})},
	"job.report": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in JobReport) (any, error) {
		res, err := s.Report(c, in.ID, in.Counts)
		return Done{Result: res}, err
	})},
	"job.resolve": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in Deny) (any, error) {
		res, err := s.Resolve(c, in.ID, in.Reason)
		return Done{Result: res}, err
	})},
	"job.delete": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in ID) (any, error) { return s.DeleteJob(c, in.ID) })},
	"machine.add": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in pipeline.MachineSpec) (any, error) {
		return s.AddMachine(c, in)
	})},
	"machine.authorize": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in MachineAuthorize) (any, error) {
		return s.Authorize(c, in.Machine, in.Operator)
	})},
	"status": {fn: call(func(s *pipeline.Service, c pipeline.Caller, _ struct{}) (any, error) { return s.Status(c) })},
	"machine.revoke": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in MachineAuthorize) (any, error) {
		return s.Revoke(c, in.Machine, in.Operator)
	})},
	"user.disable": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in ID) (any, error) { return s.DisableUser(c, in.ID) })},
	"machine.list": {fn: call(func(s *pipeline.Service, c pipeline.Caller, _ struct{}) (any, error) { return s.Machines(c) })},
	"request.list": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in RequestList) (any, error) {
		return s.Requests(c, !in.All)
	})},
	"approve": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in ID) (any, error) {
		r, res, err := s.Approve(c, in.ID)
		if err != nil {
			return nil, err
		}
		r.Params = nil
		return Approved{Request: r, Result: res}, nil
	})},
	"deny": {fn: call(func(s *pipeline.Service, c pipeline.Caller, in Deny) (any, error) {
		r, err := s.Deny(c, in.ID, in.Reason)
		r.Params = nil
		return r, err
	})},
}
