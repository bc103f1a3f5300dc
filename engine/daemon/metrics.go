package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/state"
	"github.com/sluice-dev/sluice/sdk/rpc"
)

// Metrics holds the daemon's Prometheus collectors in their own registry.
type Metrics struct {
	Registry *prometheus.Registry
	runs     *prometheus.CounterVec
	records  *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	skipped  *prometheus.CounterVec
	running  prometheus.Gauge
	plugins  *prometheus.CounterVec
	sinks    *prometheus.CounterVec
}

func newMetrics(d *Daemon) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_runs_total", Help: "Finished runs by flow and status.",
		}, []string{"flow", "status"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_records_total", Help: "Records by flow and stage (read, filtered, written, failed).",
		}, []string{"flow", "stage"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_bytes_total", Help: "Bytes by flow and stage (read, written).",
		}, []string{"flow", "stage"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_run_duration_seconds", Help: "How long runs took, by flow and status.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2.5, 12),
		}, []string{"flow", "status"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_ticks_skipped_total", Help: "Schedule ticks skipped because the flow's previous run was still going on.",
		}, []string{"flow"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_runs_running", Help: "Runs going on now.",
		}),
		plugins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_plugin_failures_total",
			Help: "Plugin processes that crashed or stopped answering mid-run (each run starts fresh ones), by plugin and kind.",
		}, []string{"plugin", "kind"}),
		sinks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_sink_records_total", Help: "Records each sink wrote or rejected, by flow and sink.",
		}, []string{"flow", "sink", "outcome"}),
	}
	m.Registry.MustRegister(m.runs, m.records, m.bytes, m.duration, m.skipped, m.running, m.plugins, m.sinks,
		&stateCollector{d: d},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) observe(r *state.Run, res *engine.RunResult) {
	m.runs.WithLabelValues(r.Flow, string(r.Status)).Inc()
	s := res.Stats
	m.records.WithLabelValues(r.Flow, "read").Add(float64(s.RecordsRead))
	m.records.WithLabelValues(r.Flow, "filtered").Add(float64(s.RecordsFiltered))
	m.records.WithLabelValues(r.Flow, "written").Add(float64(s.RecordsWritten))
	m.records.WithLabelValues(r.Flow, "failed").Add(float64(s.RecordsFailed))
	m.bytes.WithLabelValues(r.Flow, "read").Add(float64(s.BytesRead))
	m.bytes.WithLabelValues(r.Flow, "written").Add(float64(s.BytesWritten))
	m.duration.WithLabelValues(r.Flow, string(r.Status)).Observe(r.FinishedAt.Sub(r.StartedAt).Seconds())
	for _, sk := range res.Sinks {
		m.sinks.WithLabelValues(r.Flow, sk.Sink, "written").Add(float64(sk.Written))
		m.sinks.WithLabelValues(r.Flow, sk.Sink, "rejected").Add(float64(sk.Rejected))
	}
	var pf *rpc.PluginFailure
	if errors.As(res.Err, &pf) {
		m.plugins.WithLabelValues(pf.Plugin, string(pf.Kind)).Inc()
	}
}

var (
	checkpointAgeDesc = prometheus.NewDesc("sluice_checkpoint_age_seconds",
		"Time since each flow last saved a checkpoint.", []string{"flow"}, nil)
	flowsDesc = prometheus.NewDesc("sluice_flows",
		"Loaded flows by state (active, inactive).", []string{"state"}, nil)
	diagsDesc = prometheus.NewDesc("sluice_flow_diagnostics",
		"Error diagnostics of the last load of the flow directory.", nil, nil)
	scheduledDesc = prometheus.NewDesc("sluice_scheduled_flows",
		"Flows waiting in the scheduler's timer heap.", nil, nil)
)

// stateCollector reads what is measured at scrape time.
type stateCollector struct{ d *Daemon }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- checkpointAgeDesc
	ch <- flowsDesc
	ch <- diagsDesc
	ch <- scheduledDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	now := d.opts.Clock.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if cps, err := d.opts.Store.Checkpoints(ctx); err == nil {
		for _, cp := range cps {
			ch <- prometheus.MustNewConstMetric(checkpointAgeDesc, prometheus.GaugeValue, now.Sub(cp.UpdatedAt).Seconds(), cp.Flow)
		}
	}
	d.mu.Lock()
	active, inactive, errs := 0, 0, 0
	for _, e := range d.flows {
		if e.active {
			active++
		} else {
			inactive++
		}
	}
	for _, dg := range d.diags {
		if dg.Severity == 1 {
			errs++
		}
	}
	scheduled := len(d.heap)
	d.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(flowsDesc, prometheus.GaugeValue, float64(active), "active")
	ch <- prometheus.MustNewConstMetric(flowsDesc, prometheus.GaugeValue, float64(inactive), "inactive")
	ch <- prometheus.MustNewConstMetric(diagsDesc, prometheus.GaugeValue, float64(errs))
	ch <- prometheus.MustNewConstMetric(scheduledDesc, prometheus.GaugeValue, float64(scheduled))
}
