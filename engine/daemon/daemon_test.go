package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/state"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// fakeLoader returns whatever the test last set.
type fakeLoader struct {
	mu    sync.Mutex
	cfg   *plan.Config
	diags hcl.Diagnostics
}

func (l *fakeLoader) set(diags hcl.Diagnostics, flows ...*plan.Flow) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg, l.diags = &plan.Config{Flows: flows}, diags
}

func (l *fakeLoader) load(string) (*plan.Config, hcl.Diagnostics) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg, l.diags
}

// fakeRunner reports each run on started and ends it with the status the
// test sends on finish, or as cancelled when its context ends.
type fakeRunner struct {
	started chan RunRequest
	finish  chan engine.Status
}

func newFakeRunner() *fakeRunner {
	return &fakeRunner{started: make(chan RunRequest, 16), finish: make(chan engine.Status)}
}

func (r *fakeRunner) run(ctx context.Context, f *plan.Flow, req RunRequest) *engine.RunResult {
	res := &engine.RunResult{Flow: f.Name, RunID: req.RunID, StartedAt: time.Now()}
	r.started <- req
	req.OnProgress(engine.Stats{RecordsRead: 5})
	select {
	case st := <-r.finish:
		res.Status = st
		res.Stats = engine.Stats{RecordsRead: 10, RecordsWritten: 9, RecordsFailed: 1, BytesRead: 100, BytesWritten: 90}
		if st == engine.StatusFailed {
			res.Err = errors.New("source broke")
		}
	case <-req.Stop:
		res.Status = engine.StatusSucceeded // an event run stopped gracefully
	case <-ctx.Done():
		res.Status, res.Err = engine.StatusCancelled, context.Cause(ctx)
	}
	res.FinishedAt = time.Now()
	return res
}

func rateFlow(name string, rate time.Duration) *plan.Flow {
	return &plan.Flow{Name: name, File: "/flows/" + name + ".hcl",
		Trigger: plan.Trigger{Kind: "schedule", Rate: rate}}
}

type harness struct {
	d      *Daemon
	clock  *FakeClock
	loader *fakeLoader
	runner *fakeRunner
	store  state.Store
}

func newHarness(t *testing.T, store state.Store, flows ...*plan.Flow) *harness {
	t.Helper()
	if store == nil {
		store = newTestStore(t)
	}
	h := &harness{clock: NewFakeClock(t0), loader: &fakeLoader{}, runner: newFakeRunner(), store: store}
	h.loader.set(nil, flows...)
	h.d = New(Options{Dir: "/flows", Loader: h.loader.load, Runner: h.runner.run, Store: store, Clock: h.clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RetryEvery: time.Hour})
	startForTest(t, h.d)
	return h
}

// startForTest starts d and shuts it down when t ends.
func startForTest(t *testing.T, d *Daemon) {
	t.Helper()
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		d.Shutdown(ctx)
	})
}

// newTestStore is a SQLite state store in t's temporary directory.
func newTestStore(t *testing.T) state.Store {
	t.Helper()
	s, err := state.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (h *harness) waitStart(t *testing.T) RunRequest {
	t.Helper()
	select {
	case req := <-h.runner.started:
		return req
	case <-time.After(5 * time.Second):
		t.Fatal("no run started")
	}
	return RunRequest{}
}

func (h *harness) noStart(t *testing.T) {
	t.Helper()
	select {
	case req := <-h.runner.started:
		t.Fatalf("unexpected run %s", req.RunID)
	case <-time.After(100 * time.Millisecond):
	}
}

// waitRun waits until the store holds the run with a final status.
func (h *harness) waitRun(t *testing.T, id string) *state.Run {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r, err := h.store.Run(context.Background(), id)
		if err == nil && r.Status != state.Running {
			h.waitIdle(t)
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("run %s never finished", id)
	return nil
}

// waitIdle waits until no run is going on.
func (h *harness) waitIdle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		h.d.mu.Lock()
		n := len(h.d.runs)
		h.d.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("runs still going on")
}

func TestScheduleRunsWithoutOverlap(t *testing.T) {
	h := newHarness(t, nil, rateFlow("a", time.Minute))
	if f, _ := h.d.Flow("a"); f.NextRun == nil || !f.NextRun.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next run %v", f.NextRun)
	}
	h.noStart(t)
	h.clock.Advance(time.Minute)
	first := h.waitStart(t)

	// The next tick comes while the first run is still going on: skipped.
	h.clock.Advance(time.Minute)
	h.noStart(t)
	if _, err := h.d.RunNow("a"); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("on-demand run during a run: %v", err)
	}
	h.runner.finish <- engine.StatusSucceeded
	r := h.waitRun(t, first.RunID)
	if r.Status != state.Succeeded || r.Trigger != "schedule" || !r.ScheduledAt.Equal(t0.Add(time.Minute)) || r.RecordsWritten != 9 {
		t.Fatalf("first run %+v", r)
	}

	h.clock.Advance(time.Minute)
	second := h.waitStart(t)
	h.runner.finish <- engine.StatusCompletedWithErrors
	h.waitRun(t, second.RunID)

	run, err := h.d.RunNow("a")
	if err != nil {
		t.Fatal(err)
	}
	got := h.waitStart(t)
	if got.RunID != run.ID || run.Trigger != "api" {
		t.Fatalf("on-demand run %+v, runner saw %s", run, got.RunID)
	}
	h.runner.finish <- engine.StatusSucceeded
	h.waitRun(t, run.ID)
	runs, _ := h.store.Runs(context.Background(), state.RunFilter{Flow: "a"})
	if len(runs) != 3 {
		t.Fatalf("%d runs recorded, want 3", len(runs))
	}
	if _, err := h.d.RunNow("nope"); !errors.Is(err, ErrNoFlow) {
		t.Fatalf("unknown flow: %v", err)
	}
}

func TestDeactivatesAfterConsecutiveFailures(t *testing.T) {
	f := rateFlow("b", time.Minute)
	f.Trigger.MaxFailures = 2
	h := newHarness(t, nil, f)
	for i := range 2 {
		h.clock.Advance(time.Minute)
		req := h.waitStart(t)
		h.runner.finish <- engine.StatusFailed
		if r := h.waitRun(t, req.RunID); r.Status != state.Failed || r.Error != "source broke" {
			t.Fatalf("run %d: %+v", i, r)
		}
	}
	info, _ := h.d.Flow("b")
	if info.Active || info.Failures != 2 || info.Reason == "" {
		t.Fatalf("after 2 failures: %+v", info)
	}
	if fs, _ := h.store.Flow(context.Background(), "b"); fs.Active {
		t.Fatal("deactivation not stored")
	}
	h.clock.Advance(time.Minute)
	h.noStart(t)

	if err := h.d.SetActive(context.Background(), "b", true); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	req := h.waitStart(t)
	h.runner.finish <- engine.StatusSucceeded
	h.waitRun(t, req.RunID)
	if info, _ := h.d.Flow("b"); !info.Active || info.Failures != 0 {
		t.Fatalf("after activation and a success: %+v", info)
	}
}

func TestRunInterruptedByACrashIsAbandoned(t *testing.T) {
	s, err := state.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.CreateRun(context.Background(), &state.Run{ID: "crashed", Flow: "a", Trigger: "schedule", StartedAt: t0.Add(-time.Hour)})
	newHarness(t, s, rateFlow("a", time.Minute))
	r, _ := s.Run(context.Background(), "crashed")
	if r.Status != state.Abandoned || r.FinishedAt.IsZero() {
		t.Fatalf("after a restart: %+v", r)
	}
}

func TestReloadKeepsLastGoodVersion(t *testing.T) {
	v1 := rateFlow("a", time.Minute)
	v1.Description = "v1"
	other := rateFlow("o", time.Hour)
	h := newHarness(t, nil, v1, other)
	ctx := context.Background()

	bad := hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid cron expression",
		Subject: &hcl.Range{Filename: v1.File, Start: hcl.Pos{Line: 3, Column: 12}, End: hcl.Pos{Line: 3, Column: 20}}}}
	o2 := rateFlow("o", time.Hour)
	o2.Description = "o2"
	h.loader.set(bad, o2) // a.hcl no longer validates; o.hcl changed
	h.d.Reload(ctx)
	f, ok := h.d.Flow("a")
	if !ok || f.Description != "v1" || f.NextRun == nil {
		t.Fatalf("the broken flow lost its last good version: %+v", f)
	}
	if len(f.Diagnostics) != 1 || f.Diagnostics[0].Range.StartLine != 3 || f.Diagnostics[0].Summary != "Invalid cron expression" {
		t.Fatalf("diagnostics %+v", f.Diagnostics)
	}
	if o, _ := h.d.Flow("o"); o.Description != "o2" || len(o.Diagnostics) != 0 {
		t.Fatalf("the valid file was not reloaded: %+v", o)
	}
	// It keeps running on schedule.
	h.clock.Advance(time.Minute)
	req := h.waitStart(t)
	h.runner.finish <- engine.StatusSucceeded
	h.waitRun(t, req.RunID)

	v2 := rateFlow("a", time.Minute)
	v2.Description = "v2"
	h.loader.set(nil, v2, o2)
	h.d.Reload(ctx)
	if f, _ := h.d.Flow("a"); f.Description != "v2" || len(f.Diagnostics) != 0 {
		t.Fatalf("fixed flow %+v", f)
	}
	h.loader.set(nil, o2)
	h.d.Reload(ctx)
	if _, ok := h.d.Flow("a"); ok {
		t.Fatal("a deleted flow is still loaded")
	}
}

func TestDrainWaitsThenCancels(t *testing.T) {
	h := newHarness(t, nil, rateFlow("a", time.Minute), rateFlow("b", time.Minute))
	// A run that finishes within the deadline ends normally.
	ra, _ := h.d.RunNow("a")
	h.waitStart(t)
	go func() {
		time.Sleep(50 * time.Millisecond)
		h.runner.finish <- engine.StatusSucceeded
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := h.d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if r, _ := h.store.Run(context.Background(), ra.ID); r.Status != state.Succeeded {
		t.Fatalf("drained run %+v", r)
	}
	if _, err := h.d.RunNow("a"); !errors.Is(err, ErrDraining) {
		t.Fatalf("run after shutdown: %v", err)
	}

	// A run still going at the deadline is cancelled and recorded so.
	h2 := newHarness(t, nil, rateFlow("a", time.Minute))
	r2, _ := h2.d.RunNow("a")
	h2.waitStart(t)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if err := h2.d.Shutdown(ctx2); err == nil {
		t.Fatal("a drain past its deadline reported no error")
	}
	r, _ := h2.store.Run(context.Background(), r2.ID)
	if r.Status != state.Cancelled || r.Error == "" {
		t.Fatalf("run at the deadline %+v", r)
	}
}

func TestIncrementalWindows(t *testing.T) {
	f := rateFlow("inc", time.Minute)
	f.Trigger.Incremental = &plan.Incremental{Cursor: "SystemModstamp", StartFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := newHarness(t, nil, f)
	h.clock.Advance(time.Minute)
	req := h.waitStart(t)
	if w := req.Window; w == nil || !w.From.Equal(f.Trigger.Incremental.StartFrom) || !w.To.Equal(t0.Add(time.Minute)) || w.Cursor != "SystemModstamp" {
		t.Fatalf("first window %+v", req.Window)
	}
	h.runner.finish <- engine.StatusSucceeded
	h.waitRun(t, req.RunID)
	h.clock.Advance(time.Minute)
	req = h.waitStart(t)
	if w := req.Window; !w.From.Equal(t0.Add(time.Minute)) || !w.To.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("second window %+v", w)
	}
	h.runner.finish <- engine.StatusFailed
	r := h.waitRun(t, req.RunID)
	if r.Window == nil || !r.Window.From.Equal(t0.Add(time.Minute)) {
		t.Fatalf("window not recorded: %+v", r.Window)
	}
	// A failed run does not move the watermark: the next window starts where it did.
	h.clock.Advance(time.Minute)
	req = h.waitStart(t)
	if !req.Window.From.Equal(t0.Add(time.Minute)) {
		t.Fatalf("window after a failure %+v", req.Window)
	}
	h.runner.finish <- engine.StatusSucceeded
	h.waitRun(t, req.RunID)
}

// flakyStore refuses FinishRun while locked is set, as a locked database
// would once its retries are spent.
type flakyStore struct {
	state.Store
	locked atomic.Bool
}

func (s *flakyStore) FinishRun(ctx context.Context, r *state.Run) error {
	if s.locked.Load() {
		return state.ErrUnavailable
	}
	return s.Store.FinishRun(ctx, r)
}

func TestUnavailableStoreLosesNoRun(t *testing.T) {
	s, err := state.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fs := &flakyStore{Store: s}
	fs.locked.Store(true)
	h := newHarness(t, fs, rateFlow("a", time.Minute))
	run, _ := h.d.RunNow("a")
	h.waitStart(t)
	h.runner.finish <- engine.StatusSucceeded
	h.waitIdle(t)
	if h.d.Pending() != 1 {
		t.Fatalf("pending %d, want the refused run kept", h.d.Pending())
	}
	fs.locked.Store(false)
	h.clock.Advance(time.Hour) // the retry timer
	deadline := time.Now().Add(5 * time.Second)
	for h.d.Pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if r, err := s.Run(context.Background(), run.ID); err != nil || r.Status != state.Succeeded {
		t.Fatalf("run after the store came back: %+v %v", r, err)
	}
}

func TestNextFire(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	s, _ := newSchedule(plan.Trigger{Kind: "schedule", Cron: "0 6 * * *", Location: berlin}, t0)
	if n := s.next(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)); !n.Equal(time.Date(2026, 3, 1, 5, 0, 0, 0, time.UTC)) {
		t.Fatalf("6:00 in Berlin: %v", n.UTC())
	}
	s, _ = newSchedule(plan.Trigger{Kind: "schedule", Cron: "*/15 * * * *", Start: t0.Add(24 * time.Hour)}, t0)
	if n := s.next(t0); !n.Equal(t0.Add(24 * time.Hour)) {
		t.Fatalf("cron before start: %v", n)
	}
	s, _ = newSchedule(plan.Trigger{Kind: "schedule", Rate: 15 * time.Minute, Start: t0, End: t0.Add(time.Hour)}, t0.Add(-time.Hour))
	if n := s.next(t0.Add(20 * time.Minute)); !n.Equal(t0.Add(30 * time.Minute)) {
		t.Fatalf("rate from start: %v", n)
	}
	if n := s.next(t0.Add(time.Hour)); !n.IsZero() {
		t.Fatalf("after end: %v", n)
	}
	if s, _ := newSchedule(plan.Trigger{Kind: "on_demand"}, t0); s != nil {
		t.Fatal("an on-demand trigger got a schedule")
	}
}

func TestScheduleMayAllowOverlappingRuns(t *testing.T) {
	f := rateFlow("o", time.Minute)
	f.Trigger.AllowOverlap = true
	h := newHarness(t, nil, f)
	h.clock.Advance(time.Minute)
	first := h.waitStart(t)
	// The first run is still going on; this flow allows a second one.
	h.clock.Advance(time.Minute)
	second := h.waitStart(t)
	if first.RunID == second.RunID {
		t.Fatal("the second tick reused the first run")
	}
	h.runner.finish <- engine.StatusSucceeded
	h.runner.finish <- engine.StatusSucceeded
	h.waitRun(t, first.RunID)
	h.waitRun(t, second.RunID)
	runs, _ := h.store.Runs(context.Background(), state.RunFilter{Flow: "o"})
	if len(runs) != 2 {
		t.Fatalf("%d runs recorded, want 2", len(runs))
	}
}
