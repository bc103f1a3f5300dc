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
