// Package control is the operators' way into the daemon: HTTP+JSON over a
// Unix socket in the daemon's home. Each call carries the person's name and
// passphrase and is authenticated (and audited) on its own; the kernel tells
// us the caller's OS user (SO_PEERCRED), which goes into the audit entry too.
package control

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/user"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/dataprep/dataprep/pipeline"
)

const (
	hdrUser = "Dataprep-User"
	hdrPass = "Dataprep-Passphrase" // base64: a passphrase may hold any byte
	maxBody = 1 << 20
)

type ctxKey struct{}

// Server serves the control API.
type Server struct {
	Svc *pipeline.Service
	Log zerolog.Logger
	srv *http.Server
}

// Serve answers calls on l until Close.
func (s *Server) Serve(l net.Listener) error {
	mux := http.NewServeMux()
	for name, op := range ops {
		mux.HandleFunc("POST /v1/"+name, s.handle(name, op))
	}
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, ctxKey{}, peerUser(c))
		},
	}
	err := s.srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server, letting calls in progress finish.
func (s *Server) Close(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}

// peerUser names the OS user on the other end of a Unix socket.
func peerUser(c net.Conn) string {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ""
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ""
	}
	var cred *unix.Ucred
	raw.Control(func(fd uintptr) { cred, _ = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	if cred == nil {
		return ""
	}
	uid := strconv.Itoa(int(cred.Uid))
	if u, err := user.LookupId(uid); err == nil {
		return u.Username + "(" + uid + ")"
	}
	return "uid " + uid
}

// op is one call: it gets the authenticated caller and the raw body.
type op struct {
	// allowMustChange lets a person whose passphrase must change make this call.
	allowMustChange bool
	fn              func(s *pipeline.Service, c pipeline.Caller, body json.RawMessage) (any, error)
}

// Error is the body of a failed call.
type Error struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
}

func (s *Server) handle(name string, o op) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		osUser, _ := r.Context().Value(ctxKey{}).(string)
		fail := func(code int, kind string, err error) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(Error{Error: err.Error(), Kind: kind})
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			fail(http.StatusRequestEntityTooLarge, "input", fmt.Errorf("request too large"))
			return
		}
		pass, err := base64.StdEncoding.DecodeString(r.Header.Get(hdrPass))
		if err != nil {
			fail(http.StatusBadRequest, "input", fmt.Errorf("malformed passphrase header"))
			return
		}
		c, err := s.Svc.Authenticate(r.Header.Get(hdrUser), pass, osUser)
		clear(pass)
		if errors.Is(err, pipeline.ErrMustChange) && o.allowMustChange {
			err = nil
		}
		if err != nil {
			code, kind := classify(err)
			fail(code, kind, err)
			return
		}
		if len(body) == 0 {
			body = []byte("{}")
		}
		out, err := o.fn(s.Svc, c, body)
		if err != nil {
			code, kind := classify(err)
			if code == http.StatusInternalServerError {
				s.Log.Error().Err(err).Str("op", name).Msg("call failed")
			}
			fail(code, kind, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	}
}

func classify(err error) (int, string) {
	switch {
	case errors.Is(err, pipeline.ErrAuth), errors.Is(err, pipeline.ErrLocked), errors.Is(err, pipeline.ErrMustChange):
		return http.StatusUnauthorized, "auth"
	case errors.Is(err, pipeline.ErrForbidden), errors.Is(err, pipeline.ErrSelfApproval):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, pipeline.ErrBadInput), errors.Is(err, pipeline.ErrBadState), errors.Is(err, pipeline.ErrNotPending):
		return http.StatusBadRequest, "input"
	case errors.Is(err, pipeline.ErrAuditFailed):
		return http.StatusServiceUnavailable, "audit"
	}
	return http.StatusInternalServerError, "internal"
}

// decode reads a call's JSON body strictly.
func decode[T any](body json.RawMessage) (T, error) {
	var v T
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, fmt.Errorf("%w: %v", pipeline.ErrBadInput, err)
	}
	return v, nil
}
