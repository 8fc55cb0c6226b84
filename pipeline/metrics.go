package pipeline

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dataprep/dataprep/pipeline/state"
)

// Metrics are the daemon's Prometheus counters. They carry counts and
// states only: no job content, no issuer data beyond names.
type Metrics struct {
	RecordsPrepared prometheus.Counter
	RecordsRejected prometheus.Counter
	Pushes          *prometheus.CounterVec // outcome=ok|failed|refused
	Failures        *prometheus.CounterVec // what=decrypt|prepare|push|delete|audit
	Files           *prometheus.CounterVec // outcome=received|duplicate
	reg             *prometheus.Registry
}

func newMetrics(s *Service) *Metrics {
	m := &Metrics{
		RecordsPrepared: prometheus.NewCounter(prometheus.CounterOpts{Name: "dataprep_records_prepared_total", Help: "Records accepted into production files."}),
		RecordsRejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "dataprep_records_rejected_total", Help: "Records rejected by validation or layout."}),
		Pushes:          prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dataprep_pushes_total", Help: "Releases to machines by outcome."}, []string{"outcome"}),
		Failures:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dataprep_failures_total", Help: "Failures by stage."}, []string{"what"}),
		Files:           prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dataprep_files_total", Help: "Issuer files by outcome at arrival."}, []string{"outcome"}),
		reg:             prometheus.NewRegistry(),
	}
	m.reg.MustRegister(m.RecordsPrepared, m.RecordsRejected, m.Pushes, m.Failures, m.Files, &stateCollector{s: s},
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// stateCollector reports jobs by state and the audit log's head at scrape time.
type stateCollector struct{ s *Service }

var (
	descJobs      = prometheus.NewDesc("dataprep_jobs", "Jobs by state.", []string{"state"}, nil)
	descAuditSeq  = prometheus.NewDesc("dataprep_audit_entries", "Entries in the audit log.", nil, nil)
	descAuditLag  = prometheus.NewDesc("dataprep_audit_last_append_age_seconds", "Seconds since the last audit append.", nil, nil)
	descPending   = prometheus.NewDesc("dataprep_requests_pending", "Dual-control requests waiting.", nil, nil)
	allJobStates  = []state.JobState{state.Received, state.Preparing, state.Ready, state.Rejected, state.Pushed, state.Deleted, state.Closed}
	lastAppendNow atomic.Int64
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descJobs
	ch <- descAuditSeq
	ch <- descAuditLag
	ch <- descPending
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[state.JobState]int{}
	if js, err := c.s.Store.Jobs(); err == nil {
		for _, j := range js {
			counts[j.State]++
		}
	}
	for _, st := range allJobStates {
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
	seq, _ := c.s.Audit.Head()
	ch <- prometheus.MustNewConstMetric(descAuditSeq, prometheus.GaugeValue, float64(seq))
	if t := lastAppendNow.Load(); t > 0 {
		ch <- prometheus.MustNewConstMetric(descAuditLag, prometheus.GaugeValue, time.Since(time.Unix(0, t)).Seconds())
	}
	if rs, err := c.s.Store.Requests(); err == nil {
		n := 0
		for _, r := range rs {
			if r.State == state.Pending && time.Now().Before(r.Expires) {
				n++
			}
		}
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(n))
	}
}

// metrics returns the service's metrics, made on first use.
func (s *Service) metrics() *Metrics {
	s.metricsOnce.Do(func() { s.m = newMetrics(s) })
	return s.m
}

// ServeMetrics serves /metrics on addr (loopback only) until ctx ends.
func (s *Service) ServeMetrics(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return errors.New("metrics listen on a loopback address only (127.0.0.1:PORT): put a proxy in front for anything else")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics().reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
