package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/plugins/redshift/pgtest"
	"github.com/sluice-dev/sluice/sdk"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// testLog takes the clusters' logs; SLUICE_TEST_LOG=1 shows them.
var testLog io.Writer = io.Discard

func init() {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		testLog = os.Stderr
	}
}

// recorder is a Handler that records the jobs it ran.
type recorder struct {
	mu   sync.Mutex
	jobs []Job
	run  func(ctx context.Context, job Job) error
}

func (r *recorder) RunJob(ctx context.Context, job Job) error {
	r.mu.Lock()
	r.jobs = append(r.jobs, job)
	r.mu.Unlock()
	if r.run != nil {
		return r.run(ctx, job)
	}
	return nil
}

func (r *recorder) ran() []Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Job(nil), r.jobs...)
}

func open(t *testing.T, dsn, id string, h Handler) *Cluster {
	t.Helper()
	c, err := Open(context.Background(), Options{DSN: dsn, ID: id, Lease: 2 * time.Second, Workers: 4,
		Logger: slog.New(slog.NewTextHandler(testLog, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if h != nil {
		if err := c.Start(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	})
	return c
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestATickIsEnqueuedOnce(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	a, b := open(t, dsn, "a", nil), open(t, dsn, "b", nil)
	tick := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	id1, dup1, err := a.Enqueue(context.Background(), "f", "schedule", tick)
	if err != nil || dup1 {
		t.Fatalf("first enqueue: %v dup %v", err, dup1)
	}
	id2, dup2, err := b.Enqueue(context.Background(), "f", "schedule", tick)
	if err != nil || !dup2 || id2 != id1 {
		t.Fatalf("second daemon's enqueue of the same tick: id %q (first %q), dup %v, err %v", id2, id1, dup2, err)
	}
	if _, dup, _ := b.Enqueue(context.Background(), "f", "schedule", tick.Add(time.Minute)); dup {
		t.Fatal("the next tick is a new job")
	}
	if _, dup, _ := b.Enqueue(context.Background(), "f", "api", time.Time{}); dup {
		t.Fatal("an on-demand run is never a duplicate")
	}
	if _, dup, _ := b.Enqueue(context.Background(), "f", "api", time.Time{}); dup {
		t.Fatal("nor is a second one")
	}
}

func TestJobsRunOnceAcrossDaemons(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	var ra, rb recorder
	a := open(t, dsn, "a", &ra)
	open(t, dsn, "b", &rb)
	for i := range 20 {
		if _, _, err := a.Enqueue(context.Background(), "f", "schedule", time.Unix(int64(i)*60, 0)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "20 jobs", func() bool { return len(ra.ran())+len(rb.ran()) >= 20 })
	time.Sleep(500 * time.Millisecond)
	seen := map[string]bool{}
	for _, j := range append(ra.ran(), rb.ran()...) {
		if seen[j.RunID] {
			t.Fatalf("run %s ran twice", j.RunID)
		}
		seen[j.RunID] = true
	}
	if len(seen) != 20 {
		t.Fatalf("%d runs ran, want 20", len(seen))
	}
}

func TestOwnershipIsExclusiveAndFollowsTheSession(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	a, b := open(t, dsn, "a", nil), open(t, dsn, "b", nil)
	release, ok, err := a.TryOwn(context.Background(), "event f")
	if err != nil || !ok {
		t.Fatalf("a: %v %v", ok, err)
	}
	if _, ok, _ := b.TryOwn(context.Background(), "event f"); ok {
		t.Fatal("two owners")
	}
	if _, ok, _ := a.TryOwn(context.Background(), "event f"); ok {
		t.Fatal("one daemon owning a name twice")
	}
	release()
	relB, ok, _ := b.TryOwn(context.Background(), "event f")
	if !ok {
		t.Fatal("b cannot take what a released")
	}
	// A daemon whose session ends (it died) loses what it owned.
	b.locks.close()
	eventually(t, "a to take what a dead session held", func() bool {
		rel, ok, _ := a.TryOwn(context.Background(), "event f")
		if ok {
			rel()
		}
		return ok
	})
	relB()
}

func TestSplitRunEndsOnceWithSummedCounters(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	var finished atomic.Int32
	var total atomic.Int64
	var mu sync.Mutex
	failOnce := map[int]bool{2: true}
	var c *Cluster
	h := &recorder{}
	h.run = func(ctx context.Context, job Job) error {
		if job.Part == nil {
			return nil
		}
		mu.Lock()
		fail := failOnce[job.Part.Index]
		delete(failOnce, job.Part.Index)
		mu.Unlock()
		if fail {
			return fmt.Errorf("part %d broke", job.Part.Index) // retried alone
		}
		fin, err := c.FinishPart(ctx, job, PartResult{Stats: engine.Stats{RecordsRead: 10, RecordsWritten: 9, RecordsFailed: 1},
			ErrorSample: []engine.RecordError{{Stage: "x", Reason: fmt.Sprint("part ", job.Part.Index)}}})
		if err != nil {
			return err
		}
		if fin != nil {
			finished.Add(1)
			total.Store(fin.Stats.RecordsRead)
			if fin.Parts != 5 || fin.FailedParts != 0 || fin.Stats.RecordsWritten != 45 || len(fin.ErrorSample) != 5 {
				t.Errorf("finished %+v", fin)
			}
		}
		return nil
	}
	c = open(t, dsn, "a", h)
	job := Job{RunID: "r1", Flow: "f", Trigger: "api"}
	var parts []sdk.Partition
	for i := range 5 {
		parts = append(parts, sdk.Partition{Key: fmt.Sprintf("k%d", i), Spec: []byte{byte(i)}})
	}
	if err := c.Split(context.Background(), job, parts); err != nil {
		t.Fatal(err)
	}
	if err := c.Split(context.Background(), job, parts); err != nil {
		t.Fatal("splitting again (an interrupted attempt) must be a no-op:", err)
	}
	eventually(t, "the run to end", func() bool { return finished.Load() > 0 })
	time.Sleep(3 * time.Second) // the retried part's backoff; nothing may end the run twice
	if finished.Load() != 1 || total.Load() != 50 {
		t.Fatalf("run ended %d times with %d records read; want once, 50", finished.Load(), total.Load())
	}
	tries := 0
	for _, j := range h.ran() {
		if j.Part != nil && j.Part.Index == 2 {
			tries++
		}
	}
	if tries != 2 {
		t.Fatalf("the failing part ran %d times, want twice (failed, then retried alone)", tries)
	}
	if split, _ := c.IsSplit(context.Background(), "r1"); !split {
		t.Fatal("IsSplit")
	}
}

func TestADeadDaemonsJobIsTakenOver(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	block := make(chan struct{})
	defer close(block)
	var rb recorder
	rb.run = func(ctx context.Context, job Job) error {
		select {
		case <-block:
			return nil
		case <-ctx.Done():
			return ErrInterrupted // as the daemon does: hand it over
		}
	}
	b := open(t, dsn, "b", &rb)
	id, _, err := b.Enqueue(context.Background(), "f", "api", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "b to take the job", func() bool { return len(rb.ran()) == 1 })

	var ra recorder
	a := open(t, dsn, "a", &ra)
	time.Sleep(3 * time.Second) // a's reaper sees b's job, but b is alive
	if len(ra.ran()) != 0 {
		t.Fatalf("a took over the job of a live daemon: %+v", ra.ran())
	}
	// b's session ends, as when its process is killed.
	b.locks.close()
	started := time.Now()
	// Delivery is at least once (the dying daemon may also hand the job
	// back itself); the daemon's Handler finds a finished run and does
	// nothing the second time.
	deadline := time.Now().Add(90 * time.Second)
	for len(ra.ran()) == 0 {
		if time.Now().After(deadline) {
			dumpJobs(t, a)
			t.Fatal("timed out waiting for a to take the job over")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, got := range ra.ran() {
		if got.RunID != id || got.Flow != "f" || got.Trigger != "api" {
			t.Fatalf("a ran %+v, want run %s", got, id)
		}
	}
	t.Logf("taken over %.1fs after the owner's session ended (lease 2s)", time.Since(started).Seconds())
}

// dumpJobs logs River's jobs and the takeovers, for a test that waited in vain.
func dumpJobs(t *testing.T, c *Cluster) {
	ctx := context.Background()
	rows, err := c.pool.Query(ctx, `SELECT id, state, attempt, attempted_by, scheduled_at, coalesce(errors::text, '') FROM river_job ORDER BY id`)
	if err != nil {
		t.Log(err)
		return
	}
	for rows.Next() {
		var id int64
		var st, errs string
		var att int
		var by []string
		var sched time.Time
		if err := rows.Scan(&id, &st, &att, &by, &sched, &errs); err != nil {
			t.Log(err)
			break
		}
		t.Logf("job %d %s attempt %d by %v scheduled %v errors %.200s", id, st, att, by, sched, errs)
	}
	rows.Close()
	var leader string
	_ = c.pool.QueryRow(ctx, `SELECT leader_id FROM river_leader`).Scan(&leader)
	var takeovers int
	_ = c.pool.QueryRow(ctx, `SELECT count(*) FROM sluice_takeovers`).Scan(&takeovers)
	t.Logf("leader %q, %d takeovers", leader, takeovers)
}
