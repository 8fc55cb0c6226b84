package pipeline

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dataprep/dataprep/pipeline/failpoint"
	"github.com/dataprep/dataprep/pipeline/state"
	"github.com/dataprep/dataprep/transport/machine"
)

// progress is how far a preparing job has read its (encrypted) input.
type progress struct{ read atomic.Int64 }

// progressReader counts bytes read through it.
type progressReader struct {
	r interface{ Read([]byte) (int, error) }
	p *progress
}

func (pr progressReader) Read(b []byte) (int, error) {
	failpoint.Hit("prepare.reading")
	n, err := pr.r.Read(b)
	pr.p.read.Add(int64(n))
	return n, err
}

// Status is the daemon's health as 'dataprep status' shows it.
type Status struct {
	Daemon    string          `json:"daemon"`
	Since     time.Time       `json:"since"`
	HSM       string          `json:"hsm"`
	Drop      string          `json:"drop"`
	Audit     AuditStatus     `json:"audit"`
	Jobs      map[string]int  `json:"jobs"`
	Pending   int             `json:"pending_requests"`
	Machines  []MachineHealth `json:"machines"`
	Preparing []string        `json:"preparing,omitempty"`
}

// AuditStatus is the audit log's head.
type AuditStatus struct {
	Entries uint64 `json:"entries"`
	Head    string `json:"head"`
}

// MachineHealth says whether a machine answers with its pinned host key.
type MachineHealth struct {
	Name      string `json:"name"`
	Reachable bool   `json:"reachable"`
	Holds     string `json:"holds,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Status checks the HSM, the drop, the audit log and each machine.
func (s *Service) Status(c Caller) (Status, error) {
	st := Status{Daemon: "ok", Since: s.started, HSM: "ok", Drop: "listening on " + s.dropAddr, Jobs: map[string]int{}}
	if s.HSM != nil {
		if err := s.HSM.Ping(); err != nil {
			st.HSM, st.Daemon = "unreachable: "+err.Error(), "degraded"
		}
	}
	if s.dropAddr == "" {
		st.Drop = "not listening"
	} else if conn, err := net.DialTimeout("tcp", s.dropAddr, 2*time.Second); err != nil {
		st.Drop, st.Daemon = "not answering: "+err.Error(), "degraded"
	} else {
		conn.Close()
	}
	st.Audit.Entries, st.Audit.Head = s.Audit.Head()
	js, err := s.Store.Jobs()
	if err != nil {
		return st, err
	}
	for _, j := range js {
		st.Jobs[string(j.State)]++
		if j.State == state.Preparing {
			st.Preparing = append(st.Preparing, j.ID)
		}
	}
	rs, err := s.Requests(c, true)
	if err != nil {
		return st, err
	}
	st.Pending = len(rs)
	ms, err := s.Store.Machines()
	if err != nil {
		return st, err
	}
	// Every machine is dialled at once, under one deadline.
	st.Machines = make([]MachineHealth, len(ms))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := MachineHealth{Name: m.Name, Holds: m.Current}
			t, err := s.target(m)
			if err == nil {
				var conn *machine.Conn
				if conn, err = machine.Dial(ctx, t); err == nil {
					conn.Close()
				}
			}
			if err != nil {
				h.Error = pushFailureKind(err)
			} else {
				h.Reachable = true
			}
			st.Machines[i] = h
		}()
	}
	wg.Wait()
	return st, nil
}
