package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/pluginhost"
	"github.com/sluice-dev/sluice/plugins/file/fileconn"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

// benchFlow is the standard local flow: filter + map + mask, CSV -> Parquet.
func benchFlow(in, out string) *plan.Flow {
	return &plan.Flow{
		Name:   "bench",
		Source: source("file", in, sdk.Values{"path": in}),
		Tasks: []plan.Task{
			&plan.Filter{Where: formula(`qty > 100 && country != "JP"`)},
			&plan.Map{All: true, Except: []string{"flagged"}, Fields: []plan.MapField{
				{Name: "total", Formula: formula("price * qty")},
				{Name: "email", Formula: formula("lower(email)")},
			}},
			&plan.Mask{Field: "email", KeepLast: 4},
		},
		Sinks: []*plan.Sink{{Name: "out", Mode: sdk.WriteInsert,
			Endpoint: plan.Endpoint{Type: "file", Entity: out, Options: sdk.Values{"format": "parquet"}}}},
	}
}

// BenchmarkPluginBoundary runs one flow with the file connector out of
// process (the shipped way) and in process, alternating, and reports the
// throughput of each and their ratio from the same run. Target: ≥ 0.9.
func BenchmarkPluginBoundary(b *testing.B) {
	const rows = 1_000_000
	dir := b.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := sdktest.WriteBenchCSV(in, rows); err != nil {
		b.Fatal(err)
	}

	plugins := newHost(b, nil)
	inproc := &pluginhost.Host{}
	inproc.RegisterInProcess("file", func() sdk.Connector { return fileconn.New() })

	run := func(host *pluginhost.Host, i int) time.Duration {
		out := filepath.Join(dir, "out", strconv.Itoa(i))
		p, diags := engine.Prepare(context.Background(), benchFlow(in, out), engine.Options{Host: host})
		if diags.HasErrors() {
			b.Fatal(diags.Error())
		}
		// Starting the plugin processes (~20 ms each) is not throughput.
		start := time.Now()
		res := p.Run(context.Background(), engine.RunOptions{})
		if res.Err != nil {
			b.Fatal(res.Err)
		}
		if res.Stats.RecordsRead != rows {
			b.Fatalf("read %d rows", res.Stats.RecordsRead)
		}
		d := time.Since(start)
		os.RemoveAll(out)
		return d
	}
	var tPlugin, tInproc time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tInproc += run(inproc, 2*i)
		tPlugin += run(plugins, 2*i+1)
	}
	n := float64(b.N * rows)
	b.ReportMetric(n/tPlugin.Seconds(), "plugin_rows/s")
	b.ReportMetric(n/tInproc.Seconds(), "inproc_rows/s")
	b.ReportMetric(tInproc.Seconds()/tPlugin.Seconds(), "plugin/inproc")
}
