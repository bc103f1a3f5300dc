package daemon

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/state"
	"github.com/sluice-dev/sluice/sdk/rpc"
)

func TestPluginFailuresAreCounted(t *testing.T) {
	m := newMetrics(&Daemon{})
	now := time.Now()
	run := &state.Run{Flow: "f", Status: state.Failed, StartedAt: now, FinishedAt: now}
	crash := &rpc.PluginFailure{Plugin: "s3", Kind: rpc.Crashed, Err: errors.New("plugin s3 crashed")}
	m.observe(run, &engine.RunResult{Err: fmt.Errorf("source s3: %w", crash)})
	m.observe(run, &engine.RunResult{Err: errors.New("the source answered with an error")})
	if got := testutil.ToFloat64(m.plugins.WithLabelValues("s3", "crashed")); got != 1 {
		t.Fatalf("sluice_plugin_failures_total{plugin=s3,kind=crashed} = %v, want 1", got)
	}
	if got := testutil.CollectAndCount(m.plugins); got != 1 {
		t.Fatalf("%d plugin failure series, want 1: an ordinary error is not a plugin failure", got)
	}
}

func TestSinkRecordsAreCountedPerSink(t *testing.T) {
	m := newMetrics(&Daemon{})
	now := time.Now()
	run := &state.Run{Flow: "f", Status: state.Succeeded, StartedAt: now, FinishedAt: now}
	m.observe(run, &engine.RunResult{Sinks: []engine.SinkStats{
		{Sink: "file.archive", Written: 10, Rejected: 1}, {Sink: "salesforce.leads", Written: 7, Rejected: 4}}})
	m.observe(run, &engine.RunResult{Sinks: []engine.SinkStats{{Sink: "salesforce.leads", Written: 3}}})
	for _, c := range []struct {
		sink, outcome string
		want          float64
	}{{"file.archive", "written", 10}, {"file.archive", "rejected", 1}, {"salesforce.leads", "written", 10}, {"salesforce.leads", "rejected", 4}} {
		if got := testutil.ToFloat64(m.sinks.WithLabelValues("f", c.sink, c.outcome)); got != c.want {
			t.Errorf("sluice_sink_records_total{sink=%s,outcome=%s} = %v, want %v", c.sink, c.outcome, got, c.want)
		}
	}
}
