package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/state"
)

// nopStore remembers nothing: the scheduler benchmark measures the
// scheduler, not a database.
type nopStore struct{}

func (nopStore) Load(context.Context, string) ([]byte, error)                    { return nil, nil }
func (nopStore) Save(context.Context, string, []byte) error                      { return nil }
func (nopStore) CreateRun(context.Context, *state.Run) error                     { return nil }
func (nopStore) UpdateRun(context.Context, string, engine.Stats) error           { return nil }
func (nopStore) FinishRun(context.Context, *state.Run) error                     { return nil }
func (nopStore) Run(context.Context, string) (*state.Run, error)                 { return nil, state.ErrNotFound }
func (nopStore) Runs(context.Context, state.RunFilter) ([]*state.Run, error)     { return nil, nil }
func (nopStore) AbandonRunning(context.Context, time.Time) ([]*state.Run, error) { return nil, nil }
func (nopStore) Checkpoint(context.Context, string) (*state.Checkpoint, error)   { return nil, nil }
func (nopStore) Checkpoints(context.Context) ([]*state.Checkpoint, error)        { return nil, nil }
func (nopStore) ResetCheckpoint(context.Context, string) error                   { return nil }
func (nopStore) Flows(context.Context) ([]*state.FlowState, error)               { return nil, nil }
func (nopStore) SetActive(context.Context, string, bool, string) error           { return nil }
func (nopStore) RecordOutcome(context.Context, string, bool) (int, error)        { return 0, nil }
func (nopStore) SetWatermark(context.Context, string, time.Time) error           { return nil }
func (nopStore) Close() error                                                    { return nil }
func (nopStore) Flow(_ context.Context, f string) (*state.FlowState, error) {
	return &state.FlowState{Flow: f, Active: true}, nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkScheduler1000Flows runs 1,000 flows on one-minute schedules in
// one daemon, their ticks spread over the minute, with a fake clock moved
// a second at a time through an hour per iteration (60,000 runs) and a
// runner that returns at once, a store that keeps nothing and logs that
// go nowhere: what is left is the scheduler, the run bookkeeping and the
// metrics. It reports the process CPU time (user+system, getrusage) per
// simulated minute, and the heap in use by the loaded daemon and after
// the simulated hours (runtime.ReadMemStats after a GC, before New).
func BenchmarkScheduler1000Flows(b *testing.B) {
	const nFlows = 1000
	flows := make([]*plan.Flow, nFlows)
	perSecond := make([]int64, 60) // ticks due at second s%60 of each minute
	for i := range flows {
		f := rateFlow(fmt.Sprintf("flow%04d", i), time.Minute)
		f.Trigger.Start = t0.Add(time.Duration(i%60) * time.Second)
		flows[i] = f
		perSecond[i%60]++
	}
	var runs, target atomic.Int64
	reached := make(chan struct{}, 1)
	runner := func(ctx context.Context, f *plan.Flow, req RunRequest) *engine.RunResult {
		if runs.Add(1) == target.Load() {
			reached <- struct{}{}
		}
		return &engine.RunResult{Flow: f.Name, RunID: req.RunID, Status: engine.StatusSucceeded,
			Stats: engine.Stats{RecordsRead: 10, RecordsWritten: 10}}
	}
	loader := &fakeLoader{}
	loader.set(nil, flows...)
	clock := NewFakeClock(t0)

	base := heapInUse()
	d := New(Options{Dir: "/flows", Loader: loader.load, Runner: runner, Store: nopStore{}, Clock: clock,
		Logger: slog.New(slog.DiscardHandler), RetryEvery: 24 * time.Hour})
	if err := d.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	loaded := heapInUse()
	defer d.Shutdown(context.Background())

	sec := 0
	b.ResetTimer()
	cpu0, wall0 := cpuTime(), time.Now()
	for range b.N {
		for range 3600 {
			sec++
			if n := perSecond[sec%60]; n > 0 {
				target.Store(runs.Load() + n)
				clock.Advance(time.Second)
				select {
				case <-reached:
				case <-time.After(30 * time.Second):
					b.Fatalf("second %d: %d runs, want %d", sec, runs.Load(), target.Load())
				}
				// Every run of this second is recorded before the clock
				// moves on (no tick fires meanwhile, so nothing Adds).
				d.wg.Wait()
			} else {
				clock.Advance(time.Second)
			}
		}
	}
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	b.StopTimer()
	if want := int64(b.N) * 60 * nFlows; runs.Load() != want {
		b.Fatalf("%d runs, want %d: ticks were lost or skipped", runs.Load(), want)
	}
	after := heapInUse()
	minutes := float64(b.N * 60)
	b.ReportMetric(float64(cpu.Microseconds())/1000/minutes, "cpu-ms/sim-min")
	b.ReportMetric(float64(wall.Microseconds())/1000/minutes, "wall-ms/sim-min")
	b.ReportMetric(float64(cpu.Microseconds())/float64(runs.Load()), "cpu-µs/run")
	b.ReportMetric(float64(loaded-base)/(1<<20), "heap-MiB-loaded")
	b.ReportMetric(float64(after-base)/(1<<20), "heap-MiB-after")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkAPILatency drives the API on a loopback listener at 200
// requests a second for 3 seconds per iteration (600 requests, open loop:
// each request starts on its tick whether or not the ones before have
// answered), over a SQLite store holding 500 runs of 10 flows, with the
// bearer token checked. It reports the p50, p99 and max latency.
func BenchmarkAPILatency(b *testing.B) {
	const (
		rate     = 200
		perIter  = 600
		maxTotal = 10 * perIter
	)
	ctx := context.Background()
	s, err := state.OpenSQLite(ctx, filepath.Join(b.TempDir(), "state.db"), state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var flows []*plan.Flow
	var ids []string
	for i := range 10 {
		name := fmt.Sprintf("flow%02d", i)
		flows = append(flows, rateFlow(name, time.Hour))
		for j := range 50 {
			at := t0.Add(-time.Duration(j) * time.Minute)
			id := fmt.Sprintf("%s-%03d", name, j)
			ids = append(ids, id)
			if err := s.FinishRun(ctx, &state.Run{ID: id, Flow: name, Trigger: "schedule", Status: state.Succeeded,
				Stats: engine.Stats{RecordsRead: 100, RecordsWritten: 90}, StartedAt: at, FinishedAt: at.Add(time.Second)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	loader := &fakeLoader{}
	loader.set(nil, flows...)
	d := New(Options{Dir: "/flows", Loader: loader.load, Runner: newFakeRunner().run, Store: s, Clock: NewFakeClock(t0),
		Logger: slog.New(slog.DiscardHandler)})
	if err := d.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer d.Shutdown(ctx)
	srv := httptest.NewServer(d.Handler("bench-token")) // 127.0.0.1
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	paths := []string{"/api/v1/flows", "/api/v1/runs?limit=20", "/api/v1/flows/flow03", "/api/v1/runs?flow=flow07&limit=50"}

	var lat []time.Duration
	var mu sync.Mutex
	var failed atomic.Int64
	do := func(i int) {
		p := paths[i%len(paths)]
		if i%5 == 4 {
			p = "/api/v1/runs/" + ids[i%len(ids)]
		}
		req, _ := http.NewRequest("GET", srv.URL+p, nil)
		req.Header.Set("Authorization", "Bearer bench-token")
		start := time.Now()
		res, err := client.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if err != nil || res.StatusCode != 200 {
				failed.Add(1)
			}
		} else {
			failed.Add(1)
		}
		el := time.Since(start)
		mu.Lock()
		lat = append(lat, el)
		mu.Unlock()
	}
	// Warm the connection pool and the store's caches.
	for i := range 20 {
		do(i)
	}
	lat = lat[:0]
	b.ResetTimer()
	start := time.Now()
	sent := 0
	for range b.N {
		if sent >= maxTotal {
			break
		}
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Second / rate)
		deadline := time.Now().Add(20 * time.Second)
		for i := 0; i < perIter && time.Now().Before(deadline); i++ {
			<-tick.C
			wg.Go(func() { do(sent + i) })
		}
		tick.Stop()
		wg.Wait()
		sent += perIter
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d requests failed", n)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := int(float64(len(lat))*p+0.5) - 1
		i = max(0, min(i, len(lat)-1))
		return float64(lat[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
	b.ReportMetric(0, "ns/op")
}
