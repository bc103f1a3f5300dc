package engine_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
//
// It compares two ways of running. As a daemon runs a flow again: "plugin"
// keeps the plugin process warm between runs (pluginhost.Pool) and
// "inproc" runs in this warm process; their ratio is "plugin/inproc". As a
// one-shot `sluice run` does: each run in a new child process of this
// binary, with a new heap, in process ("oneshot_inproc") or with a new
// plugin process too ("oneshot_plugin"); their ratio is
// "oneshot_plugin/oneshot_inproc". Starting processes is left out of the
// timings: it is not throughput.
//
// It also reports the CPU each mode spends per million rows, plugin
// processes included, and the time their threads waited for a CPU (run-
// queue delay, summed over threads, per run; Linux only), since on a
// machine with few cores the ratio follows the boundary's CPU cost.
// SLUICE_BOUNDARY_ROWS changes the rows per run (default 1M); per-run
// costs weigh less in larger runs. GOGC=100 runs the plugins at Go's
// default instead of serve.PluginGCPercent. To see where it goes, add
// -cpuprofile for the engine and SLUICE_PLUGIN_CPUPROFILE=/tmp/plugin-%p.prof
// for the plugin processes (sdk/serve writes one per process).
func BenchmarkPluginBoundary(b *testing.B) {
	rows := 1_000_000
	if n, err := strconv.Atoi(os.Getenv("SLUICE_BOUNDARY_ROWS")); err == nil && n > 0 {
		rows = n
	}
	dir := b.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := sdktest.WriteBenchCSV(in, rows); err != nil {
		b.Fatal(err)
	}

	plugins := newHost(b, nil)
	plugins.Pool = &pluginhost.Pool{}
	b.Cleanup(plugins.Pool.Close)
	inproc := &pluginhost.Host{}
	inproc.RegisterInProcess("file", func() sdk.Connector { return fileconn.New() })

	cpuOK := true
	run := func(host *pluginhost.Host, i int) (wall, cpu, waited time.Duration) {
		out := filepath.Join(dir, "out", strconv.Itoa(i))
		p, diags := engine.Prepare(context.Background(), benchFlow(in, out), engine.Options{Host: host})
		if diags.HasErrors() {
			b.Fatal(diags.Error())
		}
		defer p.Close()
		cpu0, ok0 := processCPU()
		wait0 := runQueueDelay()
		start := time.Now()
		res := p.Run(context.Background(), engine.RunOptions{})
		if res.Err != nil {
			b.Fatal(res.Err)
		}
		if res.Stats.RecordsRead != int64(rows) {
			b.Fatalf("read %d rows", res.Stats.RecordsRead)
		}
		wall = time.Since(start)
		cpu1, ok1 := processCPU()
		waited = runQueueDelay() - wait0
		cpuOK = cpuOK && ok0 && ok1
		os.RemoveAll(out)
		return wall, cpu1 - cpu0, waited
	}
	// The first pooled run starts the process the later ones reuse.
	run(plugins, -1)
	modes := []struct {
		name            string
		host            *pluginhost.Host
		wall, cpu, runq time.Duration
	}{{name: "inproc", host: inproc}, {name: "plugin", host: plugins}}
	var oneShots [2]oneShotResult // in process, plugin
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for m := range modes {
			w, c, q := run(modes[m].host, len(modes)*i+m)
			modes[m].wall, modes[m].cpu, modes[m].runq = modes[m].wall+w, modes[m].cpu+c, modes[m].runq+q
		}
		for m, mode := range []string{"inproc", "plugin"} {
			r := oneShot(b, mode, in, filepath.Join(dir, "out", "oneshot"), rows)
			oneShots[m].Wall += r.Wall
			oneShots[m].CPU += r.CPU
		}
	}
	n := float64(b.N * rows)
	for _, m := range modes {
		b.ReportMetric(n/m.wall.Seconds(), m.name+"_rows/s")
		if cpuOK {
			b.ReportMetric(m.cpu.Seconds()/n*1e6, m.name+"_cpu-s/Mrows")
			b.ReportMetric(m.runq.Seconds()/float64(b.N), m.name+"_runq-s/run")
		}
	}
	b.ReportMetric(modes[0].wall.Seconds()/modes[1].wall.Seconds(), "plugin/inproc")
	b.ReportMetric(n/oneShots[1].Wall.Seconds(), "oneshot_plugin_rows/s")
	b.ReportMetric(n/oneShots[0].Wall.Seconds(), "oneshot_inproc_rows/s")
	b.ReportMetric(oneShots[0].Wall.Seconds()/oneShots[1].Wall.Seconds(), "oneshot_plugin/oneshot_inproc")
	if cpuOK {
		b.ReportMetric(oneShots[1].CPU.Seconds()/n*1e6, "oneshot_plugin_cpu-s/Mrows")
		b.ReportMetric(oneShots[0].CPU.Seconds()/n*1e6, "oneshot_inproc_cpu-s/Mrows")
	}
}

// processPIDs are this process ("self") and its live children, the
// plugin processes; false when the children cannot be listed.
func processPIDs() ([]string, bool) {
	pids := []string{"self"}
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, t := range tasks {
		kids, err := os.ReadFile(t)
		if err != nil {
			return nil, false
		}
		pids = append(pids, strings.Fields(string(kids))...)
	}
	return pids, true
}

// runQueueDelay is how long the threads of this process and its children
// have waited runnable for a CPU: the second field of each thread's
// /proc/<pid>/task/<tid>/schedstat, in nanoseconds (zero without it).
func runQueueDelay() time.Duration {
	var total time.Duration
	pids, _ := processPIDs()
	for _, pid := range pids {
		stats, _ := filepath.Glob("/proc/" + pid + "/task/*/schedstat")
		for _, path := range stats {
			stat, err := os.ReadFile(path)
			if err != nil {
				continue // the thread has ended
			}
			if f := strings.Fields(string(stat)); len(f) >= 2 {
				ns, _ := strconv.ParseInt(f[1], 10, 64)
				total += time.Duration(ns)
			}
		}
	}
	return total
}

// processCPU is the CPU time this process and its live children (the
// plugin processes) have used, read from /proc; false where there is none.
func processCPU() (time.Duration, bool) {
	pids, ok := processPIDs()
	if !ok {
		return 0, false
	}
	var total time.Duration
	for i, pid := range pids {
		d, ok := procCPU(pid)
		if !ok && i == 0 {
			return 0, false // no /proc/self: a child may just have exited
		}
		total += d
	}
	return total, true
}

// procCPU reads a process's user and system time from /proc/<pid>/stat:
// the 12th and 13th fields after the command name (which may hold
// spaces), in USER_HZ ticks, which are 100 a second on every Linux
// architecture Go supports.
func procCPU(pid string) (time.Duration, bool) {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * time.Second / 100, true
}
