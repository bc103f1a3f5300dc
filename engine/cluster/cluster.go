package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/sluice-dev/sluice/engine"
)

// Options configure one daemon's membership.
type Options struct {
	// DSN is the shared PostgreSQL (the state store's).
	DSN string
	// ID names this daemon in River and in logs; unique per process.
	ID string
	// Lease bounds how long a daemon cut off from PostgreSQL keeps its
	// work: its session (and every lock on it) ends about that long after
	// it stops answering, and the others then take its jobs over. A killed
	// daemon's session ends at once, so its jobs are taken over within
	// the reaper's interval (Lease/4, at least a second). Default 1 minute.
	Lease time.Duration
	// Workers is how many runs and parts this daemon works at once.
	// Default 4.
	Workers int
	Logger  *slog.Logger
}

// Job is a run, or one part of a partitioned run, for a daemon to execute.
type Job struct {
	RunID   string
	Flow    string
	Trigger string
	Tick    time.Time
	// Attempt counts River's attempts at this job: above 1, an earlier
	// attempt was interrupted (its daemon died, or drained).
	Attempt int
	// Part is set for one part of a partitioned run.
	Part *Part
}

// Part is one partition of a run.
type Part struct {
	Index int
	Key   string
	Spec  []byte
	// LastAttempt: a failure now is final and must be recorded as such.
	LastAttempt bool
}

// Handler executes jobs; the daemon implements it.
type Handler interface {
	// RunJob executes job on this daemon and returns once it has ended.
	// nil completes the job whatever the run's outcome (the run records
	// that); ErrInterrupted gives it back at once for another daemon (a
	// drain); any other error has River try it again later.
	RunJob(ctx context.Context, job Job) error
}

// ErrInterrupted is what a Handler returns when it stopped a job it did
// not finish, so that another daemon takes it over now.
var ErrInterrupted = errors.New("interrupted: hand the job to another daemon")

// Cluster is one daemon's membership in a cluster.
type Cluster struct {
	opts    Options
	pool    *pgxpool.Pool
	client  *river.Client[pgx.Tx]
	locks   *lockSession
	handler Handler
	log     *slog.Logger
	stopped chan struct{}
}

// Job kinds, as River stores them.
const (
	runKind  = "sluice_run"
	partKind = "sluice_run_part"
	queue    = "sluice"
	// partAttempts bounds the retries of a part that keeps failing.
	partAttempts = 3
)

// runArgs is a run job. Flow and Key make it unique: a schedule's tick
// has Key = the tick, so every daemon that sees the tick inserts the same
// job and River keeps one; an on-demand run's Key is its own run id.
type runArgs struct {
	RunID   string    `json:"run_id"`
	Flow    string    `json:"flow" river:"unique"`
	Key     string    `json:"key" river:"unique"`
	Trigger string    `json:"trigger"`
	Tick    time.Time `json:"tick"`
}

func (runArgs) Kind() string { return runKind }

type partArgs struct {
	RunID   string    `json:"run_id"`
	Flow    string    `json:"flow"`
	Trigger string    `json:"trigger"`
	Tick    time.Time `json:"tick"`
	Index   int       `json:"index"`
	Key     string    `json:"key"`
	Spec    []byte    `json:"spec"`
}

func (partArgs) Kind() string { return partKind }

// Open connects, migrates River's tables and the cluster's own, and
// prepares the River client; Start begins working.
func Open(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Lease <= 0 {
		opts.Lease = time.Minute
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	pool, err := pgxpool.New(ctx, opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c := &Cluster{opts: opts, pool: pool, log: opts.Logger, stopped: make(chan struct{})}
	if err := c.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if c.locks, err = openLockSession(ctx, opts.DSN, opts.Lease); err != nil {
		pool.Close()
		return nil, err
	}
	// The instance lock says this daemon is alive (see reap).
	if _, ok, err := c.locks.tryLock(ctx, instanceLock(opts.ID)); err != nil || !ok {
		c.close()
		if err == nil {
			err = fmt.Errorf("another daemon is running as %q; give each one its own --instance", opts.ID)
		}
		return nil, fmt.Errorf("cluster: %w", err)
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &runWorker{c: c}); err != nil {
		c.close()
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &partWorker{c: c}); err != nil {
		c.close()
		return nil, err
	}
	c.client, err = river.NewClient(riverpgxv5.New(pool), &river.Config{
		ID:      opts.ID,
		Queues:  map[string]river.QueueConfig{queue: {MaxWorkers: opts.Workers}},
		Workers: workers,
		// Runs take as long as they take. River rescues a job only once
		// its timeout has passed, which no timeout fits here, so a dead
		// daemon's jobs are taken over by reap instead.
		JobTimeout:        -1,
		FetchPollInterval: time.Second,
		MaxAttempts:       25,
		Logger:            opts.Logger.With("component", "river"),
	})
	if err != nil {
		c.close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return c, nil
}

func (c *Cluster) migrate(ctx context.Context) error {
	m, err := rivermigrate.New(riverpgxv5.New(c.pool), nil)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("cluster: migrate River's tables: %w", err)
	}
	return pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		// Daemons starting together would race on CREATE TABLE.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('sluice:cluster:migrate', 0))`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, partitionTables+takeoverTable); err != nil {
			return fmt.Errorf("cluster: create tables: %w", err)
		}
		return nil
	})
}

// ID names this daemon.
func (c *Cluster) ID() string { return c.opts.ID }

// Start begins working jobs with h.
func (c *Cluster) Start(ctx context.Context, h Handler) error {
	c.handler = h
	if err := c.client.Start(ctx); err != nil {
		return fmt.Errorf("cluster: start: %w", err)
	}
	go c.watchLocks()
	go c.reapLoop()
	return nil
}

// watchLocks pings the lock session; when it breaks, this daemon no longer
// owns anything (see Lost).
func (c *Cluster) watchLocks() {
	t := time.NewTicker(max(c.opts.Lease/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-c.locks.lost:
			// Without its locks this daemon may not run anything: the
			// others take its jobs over.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := c.client.StopAndCancel(ctx); err != nil {
				c.log.Warn("cannot stop taking jobs", "err", err)
			}
			cancel()
			return
		case <-c.stopped:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), c.opts.Lease/4+time.Second)
			if err := c.locks.ping(ctx); err != nil {
				c.log.Error("cluster lock session lost: everything this daemon owned may be taken over", "err", err)
			}
			cancel()
		}
	}
}

// Lost is closed when this daemon's locks are gone (its lock session
// broke): whatever it runs may be taken over, so it must stop.
func (c *Cluster) Lost() <-chan struct{} { return c.locks.lost }

// Stop stops taking jobs and waits for running ones until ctx ends, then
// cancels them (their handler gives them back, see ErrInterrupted).
func (c *Cluster) Stop(ctx context.Context) error {
	select {
	case <-c.stopped:
	default:
		close(c.stopped)
	}
	var err error
	if c.client != nil {
		if err = c.client.Stop(ctx); err != nil {
			stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err = c.client.StopAndCancel(stopCtx)
			cancel()
		}
	}
	c.close()
	return err
}

func (c *Cluster) close() {
	if c.locks != nil {
		c.locks.close()
	}
	c.pool.Close()
}

// Enqueue asks the cluster to run flow. A schedule tick (trigger
// "schedule", tick set) is inserted once however many daemons ask; dup
// reports that another daemon's insert won, whose run id is returned.
func (c *Cluster) Enqueue(ctx context.Context, flow, trigger string, tick time.Time) (runID string, dup bool, err error) {
	args := runArgs{RunID: engine.NewRunID(), Flow: flow, Trigger: trigger, Tick: tick.UTC()}
	args.Key = args.RunID
	if trigger == "schedule" && !tick.IsZero() {
		args.Key = "tick " + tick.UTC().Format(time.RFC3339Nano)
	}
	res, err := c.client.Insert(ctx, args, &river.InsertOpts{Queue: queue, UniqueOpts: river.UniqueOpts{ByArgs: true}})
	if err != nil {
		return "", false, fmt.Errorf("enqueue %s: %w", flow, err)
	}
	if res.UniqueSkippedAsDuplicate {
		var existing runArgs
		if err := unmarshalArgs(res.Job.EncodedArgs, &existing); err == nil {
			return existing.RunID, true, nil
		}
		return "", true, nil
	}
	return args.RunID, false, nil
}

// TryOwn makes this daemon the owner of name (an event flow's
// subscription) unless another daemon is; release gives it up.
func (c *Cluster) TryOwn(ctx context.Context, name string) (release func(), ok bool, err error) {
	return c.locks.tryLock(ctx, "sluice:own:"+name)
}

type runWorker struct {
	river.WorkerDefaults[runArgs]
	c *Cluster
}

func (w *runWorker) Work(ctx context.Context, job *river.Job[runArgs]) error {
	a := job.Args
	return w.c.work(ctx, "sluice:run:"+a.RunID, Job{RunID: a.RunID, Flow: a.Flow, Trigger: a.Trigger, Tick: a.Tick, Attempt: job.Attempt})
}

type partWorker struct {
	river.WorkerDefaults[partArgs]
	c *Cluster
}

// NextRetry retries a failed part soon: the others are waiting for it.
func (w *partWorker) NextRetry(job *river.Job[partArgs]) time.Time {
	return time.Now().Add(time.Duration(job.Attempt) * 2 * time.Second)
}

func (w *partWorker) Work(ctx context.Context, job *river.Job[partArgs]) error {
	a := job.Args
	return w.c.work(ctx, fmt.Sprintf("sluice:part:%s/%d", a.RunID, a.Index), Job{
		RunID: a.RunID, Flow: a.Flow, Trigger: a.Trigger, Tick: a.Tick, Attempt: job.Attempt,
		Part: &Part{Index: a.Index, Key: a.Key, Spec: a.Spec, LastAttempt: job.Attempt >= job.MaxAttempts},
	})
}

// work runs job under its lock. A held lock means the job was rescued
// while its first attempt still runs on a live daemon: wait and look again.
func (c *Cluster) work(ctx context.Context, lock string, job Job) error {
	release, ok, err := c.locks.tryLock(ctx, lock)
	if err != nil {
		return err
	}
	if !ok {
		return river.JobSnooze(max(c.opts.Lease/2, time.Second))
	}
	defer release()
	err = c.handler.RunJob(ctx, job)
	if errors.Is(err, ErrInterrupted) {
		return river.JobSnooze(0)
	}
	return err
}
