package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/state"
	"github.com/sluice-dev/sluice/sdk"
)

// Loader loads every flow of a directory. It returns what it could load
// along with diagnostics, whose subjects name the offending files.
type Loader func(dir string) (*plan.Config, hcl.Diagnostics)

// RunRequest is what a Runner gets besides the flow.
type RunRequest struct {
	RunID string
	// Checkpoints is where the engine saves positions (the state store).
	Checkpoints engine.CheckpointStore
	// Window is the incremental window of this run, when the flow pulls
	// incrementally.
	Window *state.Window
	// OnProgress receives the counters while the run goes on.
	OnProgress func(engine.Stats)
	// Stop, when closed, ends an event flow's run gracefully (see
	// engine.RunOptions.Stop).
	Stop <-chan struct{}
	// Partition, when set, runs one part of a partitioned run (see
	// engine.RunOptions.Partition).
	Partition []byte
}

// Runner executes one run of a flow and reports how it ended. It must
// return once ctx is cancelled.
type Runner func(ctx context.Context, f *plan.Flow, req RunRequest) *engine.RunResult

// Preparer prepares a flow with the options the daemon fills in (the
// checkpoint store, the dead-letter directory); close stops its plugins.
type Preparer func(ctx context.Context, f *plan.Flow, opts engine.Options) (p *engine.Prepared, close func(), diags hcl.Diagnostics)

// EngineRunner is the Runner of a real daemon: prepare, then run.
func EngineRunner(prepare Preparer, deadLetterDir string) Runner {
	return func(ctx context.Context, f *plan.Flow, req RunRequest) *engine.RunResult {
		start := time.Now().UTC()
		p, closeFn, diags := prepare(ctx, f, engine.Options{Checkpoints: req.Checkpoints, DeadLetterDir: deadLetterDir})
		if closeFn != nil {
			defer closeFn()
		}
		if diags.HasErrors() {
			return &engine.RunResult{Flow: f.Name, RunID: req.RunID, Status: engine.StatusFailed,
				StartedAt: start, FinishedAt: time.Now().UTC(), Err: fmt.Errorf("prepare: %s", diagText(diags))}
		}
		var window *sdk.Window
		if w := req.Window; w != nil {
			window = &sdk.Window{Cursor: w.Cursor, From: w.From, To: w.To}
		}
		return p.Run(ctx, engine.RunOptions{RunID: req.RunID, OnProgress: req.OnProgress, ProgressEvery: time.Second,
			Window: window, Stop: req.Stop, Partition: req.Partition})
	}
}

// Options configure a Daemon.
type Options struct {
	// Dir is the flow directory.
	Dir    string
	Loader Loader
	Runner Runner
	Store  state.Store
	Clock  Clock
	Logger *slog.Logger
	// MaxFailures deactivates a flow after that many consecutive failed
	// runs, unless its trigger sets max_failures; 0 never does.
	MaxFailures int
	// Watch reloads Dir when its files change.
	Watch bool
	// Debounce is how long the directory must stay quiet before a reload.
	Debounce time.Duration
	// RetryEvery is how often writes the store refused are tried again.
	RetryEvery time.Duration
	// Cluster, when set, makes this daemon one of several sharing the
	// store (PostgreSQL): ticks and on-demand runs become cluster jobs any
	// daemon may take, and event subscriptions have one owner at a time.
	Cluster Cluster
	// Partitioner splits a flow's read for the cluster (see
	// engine.Prepared.Partitions); nil never splits.
	Partitioner Partitioner
}

// Errors the API maps to status codes.
var (
	ErrNoFlow         = errors.New("no such flow")
	ErrAlreadyRunning = errors.New("the flow is already running")
	ErrDraining       = errors.New("the daemon is shutting down")
	ErrNoRun          = errors.New("no such run")
	ErrNotRunning     = errors.New("the run is not running")
)

// ErrShutdown is the cause given to runs cancelled by a drain deadline.
var ErrShutdown = errors.New("the daemon shut down before the run finished")

// flowEntry is one loaded flow.
type flowEntry struct {
	name string
	// flow is the last version that validated.
	flow   *plan.Flow
	sched  *schedule
	key    string
	next   time.Time
	index  int
	active bool
	reason string
	// failures is the consecutive-failure count.
	failures int
	running  *activeRun
	lastRun  *state.Run
	loadedAt time.Time
	// fileHash is the content hash of the flow's file when it was last
	// loaded: an event flow restarts its subscription only when it changed.
	fileHash string
	// held keeps an event flow from resubscribing after its run was
	// cancelled through the API, until it is run or activated again.
	held bool
}

type activeRun struct {
	rec    *state.Run
	cancel context.CancelCauseFunc
	done   chan struct{}
	mu     sync.Mutex
	stats  engine.Stats
	// stop ends an event flow's subscription gracefully.
	stop     chan struct{}
	stopOnce sync.Once
	// release gives up the cluster ownership the run holds, if any.
	release func()
}

// stopGracefully asks an event run to commit what it has and end.
func (ar *activeRun) stopGracefully() { ar.stopOnce.Do(func() { close(ar.stop) }) }

// Daemon runs the flows of one directory.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	metrics *Metrics

	mu       sync.Mutex
	flows    map[string]*flowEntry
	heap     timerHeap
	diags    hcl.Diagnostics
	loadedAt time.Time
	loads    int
	draining bool
	runs     map[string]*activeRun
	pending  []*state.Run

	wake     chan struct{}
	runCtx   context.Context
	stopRuns context.CancelCauseFunc
	stopLoop context.CancelFunc
	loopDone chan struct{}
	// drained closes when Shutdown begins.
	drained chan struct{}
	// ownerWake asks the cluster owner loop to look for event flows to own.
	ownerWake chan struct{}
	wg        sync.WaitGroup
	ready     bool
}

// New makes a daemon; Start loads the flows and starts the scheduler.
func New(opts Options) *Daemon {
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Debounce <= 0 {
		opts.Debounce = 200 * time.Millisecond
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = 5 * time.Second
	}
	d := &Daemon{
		opts:      opts,
		log:       opts.Logger,
		flows:     map[string]*flowEntry{},
		runs:      map[string]*activeRun{},
		wake:      make(chan struct{}, 1),
		drained:   make(chan struct{}),
		ownerWake: make(chan struct{}, 1),
	}
	d.metrics = newMetrics(d)
	return d
}

// Start marks runs a previous daemon left running as abandoned, loads the
// flows, and starts the scheduler (and the watcher when asked). ctx only
// bounds the start; use Shutdown to stop.
func (d *Daemon) Start(ctx context.Context) error {
	// In a cluster, runs still marked running may belong to live daemons;
	// a run is declared abandoned by whoever takes its job over.
	if d.opts.Cluster == nil {
		abandoned, err := d.opts.Store.AbandonRunning(ctx, d.opts.Clock.Now())
		if err != nil {
			return err
		}
		for _, r := range abandoned {
			d.log.Warn("run abandoned by a previous daemon", "flow", r.Flow, "run_id", r.ID, "started_at", r.StartedAt)
			d.metrics.runs.WithLabelValues(r.Flow, string(state.Abandoned)).Inc()
		}
	}
	d.runCtx, d.stopRuns = context.WithCancelCause(context.Background())
	if err := d.Reload(ctx); err != nil {
		return err
	}
	if d.opts.Cluster != nil {
		if err := d.startCluster(ctx); err != nil {
			return err
		}
	}
	loopCtx, stop := context.WithCancel(context.Background())
	d.stopLoop = stop
	d.loopDone = make(chan struct{})
	go d.loop(loopCtx)
	if d.opts.Watch {
		if err := d.watch(loopCtx); err != nil {
			stop()
			<-d.loopDone
			return err
		}
	}
	d.mu.Lock()
	d.ready = true
	d.mu.Unlock()
	return nil
}

// Metrics is the daemon's Prometheus registry and collectors.
func (d *Daemon) Metrics() *Metrics { return d.metrics }

// Reload loads the directory again and swaps in what changed, all at
// once. Flows of a file that no longer validates keep their last good
// version; the diagnostics are kept for the API and logged.
func (d *Daemon) Reload(ctx context.Context) error {
	cfg, diags := d.opts.Loader(d.opts.Dir)
	if cfg == nil {
		cfg = &plan.Config{}
	}
	badFiles := map[string]bool{}
	global := false
	for _, dg := range diags {
		if dg.Severity != hcl.DiagError {
			continue
		}
		if dg.Subject == nil || dg.Subject.Filename == "" {
			global = true
		} else {
			badFiles[dg.Subject.Filename] = true
		}
	}
	clean := !diags.HasErrors()
	for _, dg := range diags {
		lvl := slog.LevelWarn
		if dg.Severity == hcl.DiagError {
			lvl = slog.LevelError
		}
		attrs := []any{"summary", dg.Summary, "detail", dg.Detail}
		if dg.Subject != nil {
			attrs = append(attrs, "file", dg.Subject.Filename, "line", dg.Subject.Start.Line, "column", dg.Subject.Start.Column)
		}
		d.log.Log(ctx, lvl, "flow diagnostic", attrs...)
	}

	hashes := map[string]string{}
	for _, f := range cfg.Flows {
		if _, done := hashes[f.File]; !done {
			hashes[f.File] = fileHash(f.File)
		}
	}
	// Flow states are read before taking the lock: the store may be slow.
	known := map[string]*state.FlowState{}
	for _, f := range cfg.Flows {
		fs, err := d.opts.Store.Flow(ctx, f.Name)
		if err != nil {
			d.log.Error("cannot read flow state; the flow starts active", "flow", f.Name, "err", err)
			fs = &state.FlowState{Flow: f.Name, Active: true}
		}
		known[f.Name] = fs
	}

	now := d.opts.Clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.diags = diags
	d.loadedAt = now
	d.loads++
	seen := map[string]bool{}
	for _, f := range cfg.Flows {
		seen[f.Name] = true
		if !clean && (global || badFiles[f.File]) {
			continue // keep the last good version, if there is one
		}
		e := d.flows[f.Name]
		if e == nil {
			fs := known[f.Name]
			e = &flowEntry{name: f.Name, index: -1, active: fs.Active, reason: fs.Reason, failures: fs.ConsecutiveFailures}
			d.flows[f.Name] = e
			d.log.Info("flow loaded", "flow", f.Name, "file", f.File, "trigger", f.Trigger.Kind)
		} else if e.flow != f {
			d.log.Info("flow reloaded", "flow", f.Name, "file", f.File)
		}
		changed := e.fileHash != hashes[f.File]
		e.flow, e.loadedAt, e.fileHash = f, now, hashes[f.File]
		if f.Trigger.Kind == "event" {
			if e.running != nil && changed {
				// The new version subscribes once the old one has
				// committed what it holds (see execute).
				d.log.Info("event flow changed: restarting its subscription", "flow", f.Name)
				e.running.stopGracefully()
			}
			d.followLocked(e)
		} else if e.running != nil && e.running.rec.Trigger == "event" {
			e.running.stopGracefully() // no longer an event flow
		}
		key := scheduleKey(f.Trigger)
		if key != e.key || e.sched == nil && f.Trigger.Kind == "schedule" {
			e.key = key
			s, err := newSchedule(f.Trigger, now)
			if err != nil {
				d.log.Error("cannot schedule flow", "flow", f.Name, "err", err)
			}
			e.sched = s
			next := time.Time{}
			if s != nil {
				next = s.next(now)
			}
			d.heap.setNext(e, next)
		}
	}
	if clean {
		for name, e := range d.flows {
			if !seen[name] {
				d.log.Info("flow removed", "flow", name)
				d.heap.setNext(e, time.Time{})
				delete(d.flows, name)
				if e.running != nil && e.running.rec.Trigger == "event" {
					e.running.stopGracefully()
				}
			}
		}
	}
	d.poke()
	return nil
}

func (d *Daemon) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// loop is the scheduler: it sleeps until the earliest tick, starts the
// flows that are due, and goes back to sleep.
func (d *Daemon) loop(ctx context.Context) {
	defer close(d.loopDone)
	retry := d.opts.Clock.NewTimer(d.opts.RetryEvery)
	defer func() { retry.Stop() }()
	for {
		d.mu.Lock()
		var timer Timer
		var fire <-chan time.Time
		if len(d.heap) > 0 {
			if c, ok := d.opts.Clock.(timerAtClock); ok {
				timer = c.NewTimerAt(d.heap[0].next)
			} else {
				timer = d.opts.Clock.NewTimer(d.heap[0].next.Sub(d.opts.Clock.Now()))
			}
			fire = timer.C()
		}
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-d.wake:
		case <-fire:
			d.fireDue()
		case <-retry.C():
			d.flushPending(ctx)
			retry = d.opts.Clock.NewTimer(d.opts.RetryEvery)
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// fireDue starts every flow whose tick has come.
func (d *Daemon) fireDue() {
	now := d.opts.Clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.heap) > 0 && !d.heap[0].next.After(now) {
		e := d.heap[0]
		tick := e.next
		d.heap.setNext(e, e.sched.next(now))
		switch {
		case d.draining:
		case !e.active:
			d.log.Debug("tick skipped: flow is deactivated", "flow", e.name)
		case e.running != nil && !e.flow.Trigger.AllowOverlap:
			d.metrics.skipped.WithLabelValues(e.name).Inc()
			d.log.Warn("tick skipped: the previous run is still going on", "flow", e.name, "run_id", e.running.rec.ID, "tick", tick)
		case d.opts.Cluster != nil:
			// Every daemon sees the tick; the cluster keeps one job of it.
			d.enqueueTick(e.name, tick)
		default:
			d.startLocked(e, "schedule", tick)
		}
	}
}

// RunNow starts a run of flow now, unless one is going on.
func (d *Daemon) RunNow(name string) (*state.Run, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.flows[name]
	if e == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoFlow, name)
	}
	if d.draining {
		return nil, ErrDraining
	}
	if e.running != nil {
		return nil, fmt.Errorf("%w (run %s)", ErrAlreadyRunning, e.running.rec.ID)
	}
	trigger := "api"
	if e.flow.Trigger.Kind == "event" {
		e.held = false
		trigger = "event"
		if d.opts.Cluster != nil {
			d.pokeOwners()
			return &state.Run{Flow: name, Trigger: trigger, Status: state.Running, StartedAt: d.opts.Clock.Now().UTC()}, nil
		}
	} else if d.opts.Cluster != nil {
		// Any daemon of the cluster may take it. (Whether a run of the
		// flow goes on elsewhere is the job's to find out.)
		d.mu.Unlock()
		defer d.mu.Lock()
		return d.enqueueNow(name)
	}
	r := d.startLocked(e, trigger, time.Time{})
	cp := *r
	return &cp, nil
}

// startLocked starts a run of e; d.mu is held.
func (d *Daemon) startLocked(e *flowEntry, trigger string, tick time.Time) *state.Run {
	now := d.opts.Clock.Now().UTC()
	rec := &state.Run{ID: engine.NewRunID(), Flow: e.name, Trigger: trigger, Status: state.Running,
		ScheduledAt: tick, StartedAt: now}
	ctx, cancel := context.WithCancelCause(d.runCtx)
	ar := &activeRun{rec: rec, cancel: cancel, done: make(chan struct{}), stop: make(chan struct{})}
	e.running = ar
	d.runs[rec.ID] = ar
	d.wg.Add(1)
	d.metrics.running.Inc()
	go d.execute(ctx, e, e.flow, ar)
	return rec
}

// execute runs one flow and records it from start to end.
func (d *Daemon) execute(ctx context.Context, e *flowEntry, f *plan.Flow, ar *activeRun) {
	defer d.wg.Done()
	rec := ar.rec
	log := d.log.With("flow", f.Name, "run_id", rec.ID)
	store := d.opts.Store
	bg := context.WithoutCancel(ctx)

	if inc := f.Trigger.Incremental; inc != nil {
		from := inc.StartFrom
		if fs, err := store.Flow(bg, f.Name); err == nil && !fs.Watermark.IsZero() {
			from = fs.Watermark
		}
		to := rec.StartedAt
		if !rec.ScheduledAt.IsZero() {
			to = rec.ScheduledAt
		}
		rec.Window = &state.Window{Cursor: inc.Cursor, From: from.UTC(), To: to.UTC()}
	}
	created := store.CreateRun(bg, clone(rec))
	if created != nil {
		log.Error("cannot record the run's start; it goes on and is recorded when it ends", "err", created)
	}
	log.Info("run started", "trigger", rec.Trigger)

	lastSave := time.Now()
	res := d.opts.Runner(ctx, f, RunRequest{RunID: rec.ID, Checkpoints: store, Window: rec.Window, Stop: ar.stop,
		OnProgress: func(s engine.Stats) {
			ar.mu.Lock()
			ar.stats = s
			ar.mu.Unlock()
			if created == nil && time.Since(lastSave) >= 5*time.Second {
				lastSave = time.Now()
				if err := store.UpdateRun(bg, rec.ID, s); err != nil {
					log.Debug("cannot save progress", "err", err)
				}
			}
		}})

	fin := clone(rec)
	fin.Status = state.RunStatus(res.Status)
	fin.Stats = res.Stats
	fin.FinishedAt = d.opts.Clock.Now().UTC()
	if fin.FinishedAt.Before(fin.StartedAt) {
		fin.FinishedAt = fin.StartedAt
	}
	if res.Err != nil {
		fin.Error = res.Err.Error()
	}
	fin.DeadLetter = res.DeadLetter
	fin.ErrorSample = res.ErrorSample
	fin.Checkpoint = res.Checkpoint
	if err := store.FinishRun(bg, fin); err != nil {
		log.Error("cannot record the run's end; will retry", "err", err)
		d.mu.Lock()
		d.pending = append(d.pending, fin)
		d.mu.Unlock()
	}
	d.metrics.observe(fin, res)

	failed := fin.Status == state.Failed
	var failures int
	if fin.Status != state.Cancelled {
		n, err := store.RecordOutcome(bg, f.Name, failed)
		if err != nil {
			log.Error("cannot count the run's outcome", "err", err)
			n = e.failures
			if failed {
				n++
			} else {
				n = 0
			}
		}
		failures = n
	}
	if fin.Status == state.Succeeded || fin.Status == state.CompletedWithErrors {
		if fin.Window != nil {
			if err := store.SetWatermark(bg, f.Name, fin.Window.To); err != nil {
				log.Error("cannot save the incremental watermark", "err", err)
			}
		}
	}
	attrs := []any{"status", fin.Status, "records_read", fin.RecordsRead, "records_written", fin.RecordsWritten,
		"records_failed", fin.RecordsFailed, "duration", fin.FinishedAt.Sub(fin.StartedAt).String()}
	if fin.Error != "" {
		attrs = append(attrs, "error", fin.Error)
	}
	if failed {
		log.Error("run finished", attrs...)
	} else {
		log.Info("run finished", attrs...)
	}

	max := d.opts.MaxFailures
	if f.Trigger.MaxFailures > 0 {
		max = f.Trigger.MaxFailures
	}
	deactivate := failed && max > 0 && failures >= max
	reason := fmt.Sprintf("deactivated after %d consecutive failed runs; the last: %s", failures, fin.Error)
	if deactivate {
		if err := store.SetActive(bg, f.Name, false, reason); err != nil {
			log.Error("cannot save the deactivation", "err", err)
		}
		log.Warn("flow deactivated", "consecutive_failures", failures)
	}

	d.mu.Lock()
	if fin.Status != state.Cancelled {
		e.failures = failures
	}
	if deactivate {
		e.active, e.reason = false, reason
	}
	e.lastRun = fin
	if e.running == ar {
		e.running = nil
	}
	delete(d.runs, rec.ID)
	if rec.Trigger == "event" {
		d.afterEventRunLocked(e, fin, failures)
	}
	d.mu.Unlock()
	d.metrics.running.Dec()
	if ar.release != nil {
		ar.release()
	}
	ar.cancel(nil)
	close(ar.done)
	d.poke()
}

func clone(r *state.Run) *state.Run {
	c := *r
	if r.Window != nil {
		w := *r.Window
		c.Window = &w
	}
	return &c
}

// flushPending retries the run records the store refused.
func (d *Daemon) flushPending(ctx context.Context) {
	d.mu.Lock()
	todo := d.pending
	d.pending = nil
	d.mu.Unlock()
	var left []*state.Run
	for _, r := range todo {
		if err := d.opts.Store.FinishRun(ctx, r); err != nil {
			left = append(left, r)
			continue
		}
		d.log.Info("run recorded after a retry", "flow", r.Flow, "run_id", r.ID)
	}
	if len(left) > 0 {
		d.mu.Lock()
		d.pending = append(left, d.pending...)
		d.mu.Unlock()
	}
}

// Pending is how many finished runs wait for the store to accept them.
func (d *Daemon) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending)
}

// Cancel stops a running run; it is recorded as cancelled.
func (d *Daemon) Cancel(id string) error {
	d.mu.Lock()
	ar := d.runs[id]
	d.mu.Unlock()
	if ar == nil {
		if _, err := d.opts.Store.Run(context.Background(), id); err != nil {
			if errors.Is(err, state.ErrNotFound) {
				return fmt.Errorf("%w: %s", ErrNoRun, id)
			}
			return err
		}
		return fmt.Errorf("%w: %s", ErrNotRunning, id)
	}
	d.mu.Lock()
	if ar.rec.Trigger == "event" {
		if e := d.flows[ar.rec.Flow]; e != nil && e.running == ar {
			e.held = true // or it would resubscribe at once
		}
	}
	d.mu.Unlock()
	ar.cancel(errors.New("cancelled through the API"))
	return nil
}

// SetActive activates or deactivates a flow. Activating clears its
// consecutive failures.
func (d *Daemon) SetActive(ctx context.Context, name string, active bool) error {
	d.mu.Lock()
	_, ok := d.flows[name]
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoFlow, name)
	}
	reason := ""
	if !active {
		reason = "deactivated through the API"
	}
	if err := d.opts.Store.SetActive(ctx, name, active, reason); err != nil {
		return err
	}
	d.mu.Lock()
	if e := d.flows[name]; e != nil {
		e.active, e.reason = active, reason
		if active {
			e.failures = 0
			e.held = false
			d.followLocked(e)
		} else if e.running != nil && e.running.rec.Trigger == "event" {
			e.running.stopGracefully()
		}
	}
	d.mu.Unlock()
	return nil
}

// Shutdown drains: no new runs start, running ones may finish until ctx
// ends, then they are cancelled (and recorded as cancelled).
func (d *Daemon) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	if !d.draining {
		close(d.drained)
	}
	d.draining = true
	d.ready = false
	n := len(d.runs)
	for _, ar := range d.runs {
		if ar.rec.Trigger == "event" {
			// A subscription never finishes by itself: it commits what
			// it holds and ends.
			ar.stopGracefully()
		}
	}
	d.mu.Unlock()
	if d.stopLoop != nil {
		d.stopLoop()
		<-d.loopDone
	}
	if n > 0 {
		d.log.Info("draining: waiting for running runs", "runs", n)
	}
	done := make(chan struct{})
	go func() {
		if d.opts.Cluster != nil && d.runCtx != nil {
			// The cluster stops taking jobs and waits for the ones it
			// runs; past ctx it cancels them, handing them to others.
			if err := d.opts.Cluster.Stop(ctx); err != nil {
				d.log.Warn("cluster stop", "err", err)
			}
		}
		d.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		d.log.Warn("drain deadline reached: cancelling running runs")
		d.stopRuns(ErrShutdown)
		<-done
		err = fmt.Errorf("drain deadline reached; running runs were cancelled")
	}
	if d.stopRuns != nil {
		d.stopRuns(ErrShutdown)
	}
	d.flushPending(context.Background())
	if p := d.Pending(); p > 0 {
		d.log.Error("runs could not be recorded: the state store refused them", "runs", p)
		return fmt.Errorf("%d finished run(s) could not be recorded", p)
	}
	return err
}

// FlowInfo is a flow as the API shows it.
type FlowInfo struct {
	Name        string       `json:"name"`
	File        string       `json:"file"`
	Description string       `json:"description,omitempty"`
	Trigger     TriggerInfo  `json:"trigger"`
	Active      bool         `json:"active"`
	Reason      string       `json:"deactivated_reason,omitempty"`
	Failures    int          `json:"consecutive_failures"`
	NextRun     *time.Time   `json:"next_run,omitempty"`
	Running     *state.Run   `json:"running,omitempty"`
	LastRun     *state.Run   `json:"last_run,omitempty"`
	LoadedAt    time.Time    `json:"loaded_at"`
	Diagnostics []Diagnostic `json:"diagnostics"`
	Flow        *plan.Flow   `json:"-"`
}

// TriggerInfo describes a trigger.
type TriggerInfo struct {
	Kind        string     `json:"kind"`
	Cron        string     `json:"cron,omitempty"`
	Rate        string     `json:"rate,omitempty"`
	Timezone    string     `json:"timezone,omitempty"`
	Start       *time.Time `json:"start,omitempty"`
	End         *time.Time `json:"end,omitempty"`
	MaxFailures int        `json:"max_failures,omitempty"`
	Cursor      string     `json:"incremental_cursor,omitempty"`
	// Event is what an event trigger follows, as its connector names it.
	Event       string `json:"event,omitempty"`
	BatchSize   int    `json:"batch_size,omitempty"`
	BatchWindow string `json:"batch_window,omitempty"`
}

// Flows lists the loaded flows by name.
func (d *Daemon) Flows() []FlowInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := slices.Sorted(maps.Keys(d.flows))
	out := make([]FlowInfo, 0, len(names))
	for _, n := range names {
		out = append(out, d.infoLocked(d.flows[n]))
	}
	return out
}

// Flow describes one flow.
func (d *Daemon) Flow(name string) (FlowInfo, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.flows[name]
	if e == nil {
		return FlowInfo{}, false
	}
	return d.infoLocked(e), true
}

func (d *Daemon) infoLocked(e *flowEntry) FlowInfo {
	f := e.flow
	t := f.Trigger
	ti := TriggerInfo{Kind: t.Kind, Cron: t.Cron, Timezone: t.Timezone, MaxFailures: t.MaxFailures}
	if t.Rate > 0 {
		ti.Rate = t.Rate.String()
	}
	if !t.Start.IsZero() {
		ti.Start = &t.Start
	}
	if !t.End.IsZero() {
		ti.End = &t.End
	}
	if t.Incremental != nil {
		ti.Cursor = t.Incremental.Cursor
	}
	if t.Kind == "event" {
		ti.Event = fmt.Sprint(t.EventOptions["event"])
		if t.EventOptions["event"] == nil {
			ti.Event = f.Source.Type + " " + f.Source.Entity
		}
		ti.BatchSize, ti.BatchWindow = t.BatchSize, t.BatchWindow.String()
	}
	fi := FlowInfo{Name: e.name, File: f.File, Description: f.Description, Trigger: ti, Active: e.active,
		Reason: e.reason, Failures: e.failures, LoadedAt: e.loadedAt, Flow: f, Diagnostics: []Diagnostic{}}
	if !e.next.IsZero() {
		n := e.next
		fi.NextRun = &n
	}
	if e.running != nil {
		r := clone(e.running.rec)
		e.running.mu.Lock()
		r.Stats = e.running.stats
		e.running.mu.Unlock()
		fi.Running = r
	}
	if e.lastRun != nil {
		fi.LastRun = clone(e.lastRun)
	}
	for _, dg := range d.diags {
		if dg.Subject == nil || dg.Subject.Filename == f.File {
			fi.Diagnostics = append(fi.Diagnostics, toDiagnostic(dg))
		}
	}
	return fi
}

// Diagnostics are those of the last load.
func (d *Daemon) Diagnostics() []Diagnostic {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []Diagnostic{}
	for _, dg := range d.diags {
		out = append(out, toDiagnostic(dg))
	}
	return out
}

// Ready reports whether the daemon has loaded its flows and is not draining.
func (d *Daemon) Ready() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ready && !d.draining
}

// liveRun returns a running run with its current counters.
func (d *Daemon) liveRun(id string) *state.Run {
	d.mu.Lock()
	ar := d.runs[id]
	d.mu.Unlock()
	if ar == nil {
		return nil
	}
	r := clone(ar.rec)
	ar.mu.Lock()
	r.Stats = ar.stats
	ar.mu.Unlock()
	return r
}

// Diagnostic is an hcl.Diagnostic in JSON.
type Diagnostic struct {
	Severity string `json:"severity"`
	Summary  string `json:"summary"`
	Detail   string `json:"detail,omitempty"`
	Range    *Range `json:"range,omitempty"`
}

// Range is where a diagnostic points.
type Range struct {
	Filename    string `json:"filename"`
	StartLine   int    `json:"start_line"`
	StartColumn int    `json:"start_column"`
	EndLine     int    `json:"end_line"`
	EndColumn   int    `json:"end_column"`
}

func toDiagnostic(d *hcl.Diagnostic) Diagnostic {
	out := Diagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
	if d.Severity == hcl.DiagWarning {
		out.Severity = "warning"
	}
	if s := d.Subject; s != nil {
		out.Range = &Range{Filename: s.Filename, StartLine: s.Start.Line, StartColumn: s.Start.Column,
			EndLine: s.End.Line, EndColumn: s.End.Column}
	}
	return out
}

func diagText(diags hcl.Diagnostics) string {
	var parts []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		s := d.Summary
		if d.Detail != "" {
			s += ": " + d.Detail
		}
		if d.Subject != nil {
			s = d.Subject.String() + ": " + s
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "unknown error"
	}
	return fmt.Sprint(parts)
}
