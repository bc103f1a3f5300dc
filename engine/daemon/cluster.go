package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/cluster"
	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/state"
	"github.com/sluice-dev/sluice/sdk"
)

// In a cluster (Options.Cluster), schedule ticks and on-demand runs are
// jobs: every daemon's scheduler enqueues its ticks, the cluster keeps one
// job per tick, and whichever daemon takes the job runs it through
// RunJob, recording it in the shared store as a single daemon does. A flow
// whose source splits its read is run as parts instead, each a job of its
// own; the daemon that ends the last part records the run. Event flows
// subscribe on the daemon that owns them (an advisory lock), and another
// daemon takes them over when the owner goes.

// Cluster is what a daemon needs of engine/cluster.
type Cluster interface {
	ID() string
	Start(ctx context.Context, h cluster.Handler) error
	Stop(ctx context.Context) error
	Lost() <-chan struct{}
	Enqueue(ctx context.Context, flow, trigger string, tick time.Time) (runID string, dup bool, err error)
	TryOwn(ctx context.Context, name string) (release func(), ok bool, err error)
	Split(ctx context.Context, job cluster.Job, parts []sdk.Partition) error
	IsSplit(ctx context.Context, runID string) (bool, error)
	PartStatus(ctx context.Context, runID string, idx int) (string, error)
	FinishPart(ctx context.Context, job cluster.Job, res cluster.PartResult) (*cluster.Finished, error)
}

// Partitioner splits a flow's read into parts (nil: it does not split).
type Partitioner func(ctx context.Context, f *plan.Flow) ([]sdk.Partition, error)

var _ cluster.Handler = (*Daemon)(nil)

// errLost is the cause given to runs stopped because this daemon lost
// its cluster locks.
var errLost = errors.New("this daemon lost its cluster lock session; another daemon takes its work over")

func (d *Daemon) startCluster(ctx context.Context) error {
	if err := d.opts.Cluster.Start(ctx, d); err != nil {
		return err
	}
	d.wg.Add(1)
	go d.ownerLoop()
	go func() {
		select {
		case <-d.opts.Cluster.Lost():
			d.log.Error("cluster lock session lost: stopping this daemon's runs")
			d.stopRuns(errLost)
		case <-d.drained:
		}
	}()
	d.log.Info("daemon joined the cluster", "instance", d.opts.Cluster.ID())
	return nil
}

// ownerEvery is how often a daemon tries to take unowned event flows.
func (d *Daemon) ownerEvery() time.Duration { return 2 * time.Second }

func (d *Daemon) pokeOwners() {
	select {
	case d.ownerWake <- struct{}{}:
	default:
	}
}

// ownerLoop takes ownership of the event flows nobody owns and subscribes
// to them here; an owner that dies loses its locks with its connection.
func (d *Daemon) ownerLoop() {
	defer d.wg.Done()
	t := time.NewTicker(d.ownerEvery())
	defer t.Stop()
	for {
		select {
		case <-d.drained:
			return
		case <-t.C:
		case <-d.ownerWake:
		}
		d.mu.Lock()
		var want []*flowEntry
		for _, e := range d.flows {
			if e.flow.Trigger.Kind == "event" && e.active && !e.held && e.running == nil && !d.draining {
				want = append(want, e)
			}
		}
		d.mu.Unlock()
		for _, e := range want {
			release, ok, err := d.opts.Cluster.TryOwn(context.Background(), "event "+e.name)
			if err != nil {
				d.log.Error("cannot take an event flow's ownership", "flow", e.name, "err", err)
				continue
			}
			if !ok {
				continue // another daemon follows it
			}
			d.mu.Lock()
			if e.flow.Trigger.Kind == "event" && e.active && !e.held && e.running == nil && !d.draining && d.flows[e.name] == e {
				d.log.Info("this daemon now follows the event flow", "flow", e.name)
				r := d.startLocked(e, "event", time.Time{})
				d.runs[r.ID].release = release
			} else {
				release()
			}
			d.mu.Unlock()
		}
	}
}

// enqueueTick makes a tick a cluster job; d.mu is held, so it goes on
// in the background.
func (d *Daemon) enqueueTick(flow string, tick time.Time) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		id, dup, err := d.opts.Cluster.Enqueue(context.Background(), flow, "schedule", tick)
		if err != nil {
			d.log.Error("cannot enqueue a scheduled run; the tick is lost", "flow", flow, "tick", tick, "err", err)
			return
		}
		d.log.Debug("tick enqueued", "flow", flow, "tick", tick, "run_id", id, "another_daemon_first", dup)
	}()
}

func (d *Daemon) enqueueNow(flow string) (*state.Run, error) {
	id, _, err := d.opts.Cluster.Enqueue(context.Background(), flow, "api", time.Time{})
	if err != nil {
		return nil, err
	}
	return &state.Run{ID: id, Flow: flow, Trigger: "api", Status: state.Running, StartedAt: d.opts.Clock.Now().UTC()}, nil
}

// RunJob executes a cluster job on this daemon (cluster.Handler).
func (d *Daemon) RunJob(ctx context.Context, job cluster.Job) error {
	d.mu.Lock()
	e := d.flows[job.Flow]
	draining := d.draining
	var f *plan.Flow
	if e != nil {
		f = e.flow
	}
	d.mu.Unlock()
	switch {
	case draining:
		return cluster.ErrInterrupted
	case e == nil:
		// Daemons may reload at different moments; another may have it.
		return fmt.Errorf("flow %s is not loaded on %s", job.Flow, d.opts.Cluster.ID())
	}
	if job.Part != nil {
		return d.runPart(ctx, f, job)
	}
	id, done, err := d.takeOver(ctx, job)
	if err != nil || done {
		return err
	}
	if !f.Trigger.AllowOverlap {
		release, ok, err := d.opts.Cluster.TryOwn(ctx, "run "+job.Flow)
		if err != nil {
			return err
		}
		if !ok {
			d.metrics.skipped.WithLabelValues(job.Flow).Inc()
			d.log.Warn("run skipped: another run of the flow is still going on in the cluster", "flow", job.Flow, "run_id", job.RunID)
			return nil
		}
		defer release()
		// A split run holds no lock while its parts run; its record says
		// it is going on until the last part ends.
		if other, err := d.otherRunGoingOn(ctx, job); err != nil {
			return err
		} else if other != "" {
			d.metrics.skipped.WithLabelValues(job.Flow).Inc()
			d.log.Warn("run skipped: another run of the flow is still going on in the cluster", "flow", job.Flow,
				"run_id", job.RunID, "other_run_id", other)
			return nil
		}
	}
	if d.opts.Partitioner != nil && f.Trigger.Incremental == nil && f.Trigger.Kind != "event" {
		split, err := d.opts.Cluster.IsSplit(ctx, job.RunID)
		if err != nil {
			return err
		}
		if split {
			return nil // an earlier attempt split it; its parts carry on
		}
		parts, err := d.opts.Partitioner(ctx, f)
		if err != nil {
			d.log.Warn("cannot split the run; it runs whole", "flow", job.Flow, "err", err)
		} else if len(parts) > 1 {
			return d.split(ctx, job, parts)
		}
	}
	return d.runHere(ctx, job, id)
}

// takeOver looks at the records of earlier attempts of job: a finished one
// means there is nothing left to do; one still marked running belonged to
// a daemon that died (its lock is free, we hold it now) and is declared
// abandoned. It returns the id this attempt records under.
func (d *Daemon) takeOver(ctx context.Context, job cluster.Job) (id string, done bool, err error) {
	store := d.opts.Store
	for n := 1; ; n++ {
		id = job.RunID
		if n > 1 {
			id = fmt.Sprintf("%s.%d", job.RunID, n)
		}
		r, err := store.Run(ctx, id)
		if errors.Is(err, state.ErrNotFound) {
			return id, false, nil
		}
		if err != nil {
			return "", false, err
		}
		switch r.Status {
		case state.Running:
			fin := clone(r)
			fin.Status = state.Abandoned
			fin.FinishedAt = d.opts.Clock.Now().UTC()
			fin.Error = "the daemon running it stopped; " + d.opts.Cluster.ID() + " took the run over"
			if err := store.FinishRun(ctx, fin); err != nil {
				return "", false, err
			}
			d.metrics.runs.WithLabelValues(r.Flow, string(state.Abandoned)).Inc()
			d.log.Warn("run taken over from a daemon that stopped", "flow", r.Flow, "run_id", r.ID)
		case state.Cancelled, state.Abandoned:
			// Interrupted (a drain, a takeover): run it again.
		default:
			return "", true, nil
		}
	}
}

// runHere runs job on this daemon under id, like a local run.
func (d *Daemon) runHere(ctx context.Context, job cluster.Job, id string) error {
	d.mu.Lock()
	e := d.flows[job.Flow]
	if e == nil || d.draining {
		d.mu.Unlock()
		return cluster.ErrInterrupted
	}
	rec := &state.Run{ID: id, Flow: e.name, Trigger: job.Trigger, Status: state.Running,
		ScheduledAt: job.Tick, StartedAt: d.opts.Clock.Now().UTC()}
	runCtx, cancel := context.WithCancelCause(d.runCtx)
	stopJob := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	defer stopJob()
	ar := &activeRun{rec: rec, cancel: cancel, done: make(chan struct{}), stop: make(chan struct{})}
	if e.running == nil {
		e.running = ar
	}
	d.runs[rec.ID] = ar
	d.wg.Add(1)
	d.metrics.running.Inc()
	f := e.flow
	d.mu.Unlock()
	d.execute(runCtx, e, f, ar)
	d.mu.Lock()
	interrupted := d.draining && ar.rec.Status == state.Running
	d.mu.Unlock()
	if fin, err := d.opts.Store.Run(context.Background(), id); err == nil && fin.Status == state.Cancelled &&
		(interrupted || d.isDraining() || errors.Is(context.Cause(runCtx), errLost)) {
		return cluster.ErrInterrupted
	}
	return nil
}

func (d *Daemon) isDraining() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.draining
}

// split records the run and hands its parts to the cluster.
func (d *Daemon) split(ctx context.Context, job cluster.Job, parts []sdk.Partition) error {
	rec := &state.Run{ID: job.RunID, Flow: job.Flow, Trigger: job.Trigger, Status: state.Running,
		ScheduledAt: job.Tick, StartedAt: d.opts.Clock.Now().UTC()}
	if err := d.opts.Store.CreateRun(ctx, rec); err != nil {
		return err
	}
	if err := d.opts.Cluster.Split(ctx, job, parts); err != nil {
		return err
	}
	d.log.Info("run split into parts", "flow", job.Flow, "run_id", job.RunID, "parts", len(parts))
	return nil
}

// runPart runs one part of a split run; the daemon that ends the last part
// records the run.
func (d *Daemon) runPart(ctx context.Context, f *plan.Flow, job cluster.Job) error {
	st, err := d.opts.Cluster.PartStatus(ctx, job.RunID, job.Part.Index)
	if err != nil || st != "pending" {
		return err // ended already (by an attempt whose end was not acknowledged)
	}
	runCtx, cancel := context.WithCancelCause(d.runCtx)
	defer cancel(nil)
	stopJob := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	defer stopJob()
	d.log.Info("part started", "flow", f.Name, "run_id", job.RunID, "part", job.Part.Key, "attempt", job.Attempt)
	res := d.opts.Runner(runCtx, f, RunRequest{
		RunID: fmt.Sprintf("%s-part%d", job.RunID, job.Part.Index), Checkpoints: d.opts.Store,
		Partition: job.Part.Spec, OnProgress: func(engine.Stats) {},
	})
	switch {
	case res.Status == engine.StatusCancelled:
		return cluster.ErrInterrupted
	case res.Status == engine.StatusFailed && !job.Part.LastAttempt:
		d.log.Warn("part failed; it will be retried", "flow", f.Name, "run_id", job.RunID, "part", job.Part.Key, "err", res.Err)
		return res.Err
	}
	pr := cluster.PartResult{Failed: res.Status == engine.StatusFailed, Stats: res.Stats, DeadLetter: res.DeadLetter, ErrorSample: res.ErrorSample}
	if res.Err != nil {
		pr.Err = res.Err.Error()
	}
	fin, err := d.opts.Cluster.FinishPart(context.WithoutCancel(ctx), job, pr)
	if err != nil || fin == nil {
		return err
	}
	return d.finishSplit(ctx, f, job, fin)
}

// finishSplit records a split run once its last part has ended.
func (d *Daemon) finishSplit(ctx context.Context, f *plan.Flow, job cluster.Job, fin *cluster.Finished) error {
	store := d.opts.Store
	bg := context.WithoutCancel(ctx)
	run := &state.Run{ID: job.RunID, Flow: job.Flow, Trigger: job.Trigger, ScheduledAt: job.Tick,
		StartedAt: fin.StartedAt.UTC(), FinishedAt: d.opts.Clock.Now().UTC(), Stats: fin.Stats, ErrorSample: fin.ErrorSample}
	if prev, err := store.Run(bg, job.RunID); err == nil {
		run.StartedAt = prev.StartedAt
	}
	if len(fin.DeadLetters) > 0 {
		run.DeadLetter = strings.Join(fin.DeadLetters, ", ")
	}
	switch {
	case fin.FailedParts > 0:
		run.Status = state.Failed
		run.Error = fmt.Sprintf("%d of %d parts failed: %s", fin.FailedParts, fin.Parts, strings.Join(fin.Errors, "; "))
	case fin.Stats.RecordsFailed > 0:
		run.Status = state.CompletedWithErrors
	default:
		run.Status = state.Succeeded
	}
	if err := store.FinishRun(bg, run); err != nil {
		return err
	}
	d.metrics.observe(run, &engine.RunResult{Status: engine.Status(run.Status), Stats: run.Stats})
	failures, err := store.RecordOutcome(bg, f.Name, run.Status == state.Failed)
	if err != nil {
		d.log.Error("cannot count the run's outcome", "flow", f.Name, "err", err)
	}
	d.log.Info("run finished", "flow", f.Name, "run_id", run.ID, "status", run.Status, "parts", fin.Parts,
		"records_read", run.RecordsRead, "records_written", run.RecordsWritten, "records_failed", run.RecordsFailed)
	limit := d.opts.MaxFailures
	if f.Trigger.MaxFailures > 0 {
		limit = f.Trigger.MaxFailures
	}
	if run.Status == state.Failed && limit > 0 && failures >= limit {
		reason := fmt.Sprintf("deactivated after %d consecutive failed runs; the last: %s", failures, run.Error)
		if err := store.SetActive(bg, f.Name, false, reason); err != nil {
			d.log.Error("cannot save the deactivation", "flow", f.Name, "err", err)
		}
		d.mu.Lock()
		if e := d.flows[f.Name]; e != nil {
			e.active, e.reason = false, reason
		}
		d.mu.Unlock()
	}
	return nil
}

// otherRunGoingOn returns the id of a run of job's flow, other than job's
// own attempts, that the store says is going on.
func (d *Daemon) otherRunGoingOn(ctx context.Context, job cluster.Job) (string, error) {
	runs, err := d.opts.Store.Runs(ctx, state.RunFilter{Flow: job.Flow, Status: state.Running, Limit: 20})
	if err != nil {
		return "", err
	}
	for _, r := range runs {
		if r.ID != job.RunID && !strings.HasPrefix(r.ID, job.RunID+".") {
			return r.ID, nil
		}
	}
	return "", nil
}
