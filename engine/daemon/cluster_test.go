package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/cluster"
	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/state"
	"github.com/sluice-dev/sluice/sdk"
)

// fakeCluster keeps what a daemon asks of the cluster in memory.
type fakeCluster struct {
	mu     sync.Mutex
	owned  map[string]bool
	splits map[string][]sdk.Partition
	parts  map[string]map[int]string
	ended  map[string]*cluster.Finished
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{owned: map[string]bool{}, splits: map[string][]sdk.Partition{},
		parts: map[string]map[int]string{}, ended: map[string]*cluster.Finished{}}
}

func (c *fakeCluster) ID() string                                   { return "fake" }
func (c *fakeCluster) Start(context.Context, cluster.Handler) error { return nil }
func (c *fakeCluster) Stop(context.Context) error                   { return nil }
func (c *fakeCluster) Lost() <-chan struct{}                        { return nil }
func (c *fakeCluster) IsSplit(_ context.Context, id string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.splits[id]
	return ok, nil
}
func (c *fakeCluster) Enqueue(context.Context, string, string, time.Time) (string, bool, error) {
	return "queued", false, nil
}
func (c *fakeCluster) TryOwn(_ context.Context, name string) (func(), bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owned[name] {
		return nil, false, nil
	}
	c.owned[name] = true
	return func() { c.mu.Lock(); delete(c.owned, name); c.mu.Unlock() }, true, nil
}
func (c *fakeCluster) Split(_ context.Context, job cluster.Job, parts []sdk.Partition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.splits[job.RunID] = parts
	c.parts[job.RunID] = map[int]string{}
	for i := range parts {
		c.parts[job.RunID][i] = "pending"
	}
	return nil
}
func (c *fakeCluster) PartStatus(_ context.Context, id string, idx int) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parts[id][idx], nil
}
func (c *fakeCluster) FinishPart(_ context.Context, job cluster.Job, res cluster.PartResult) (*cluster.Finished, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := "done"
	if res.Failed {
		st = "failed"
	}
	c.parts[job.RunID][job.Part.Index] = st
	f := c.ended[job.RunID]
	if f == nil {
		f = &cluster.Finished{Parts: len(c.splits[job.RunID]), StartedAt: time.Now()}
		c.ended[job.RunID] = f
	}
	f.Stats.RecordsRead += res.Stats.RecordsRead
	f.Stats.RecordsWritten += res.Stats.RecordsWritten
	if res.Failed {
		f.FailedParts++
		f.Errors = append(f.Errors, job.Part.Key+": "+res.Err)
	}
	for _, s := range c.parts[job.RunID] {
		if s == "pending" {
			return nil, nil
		}
	}
	return f, nil
}

// clusterHarness is a daemon in a (fake) cluster whose runner records the
// requests and ends each run at once with 10 records per part (or 30 for
// a whole run).
type clusterHarness struct {
	d     *Daemon
	c     *fakeCluster
	store state.Store
	mu    sync.Mutex
	reqs  []RunRequest
	fail  map[string]bool // partition spec → fails
}

func newClusterHarness(t *testing.T, f *plan.Flow, parts []sdk.Partition) *clusterHarness {
	t.Helper()
	h := &clusterHarness{c: newFakeCluster(), fail: map[string]bool{}}
	h.store = newTestStore(t)
	loader := &fakeLoader{}
	loader.set(nil, f)
	h.d = New(Options{Dir: "/flows", Loader: loader.load, Store: h.store, Clock: NewFakeClock(t0),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Cluster: h.c, RetryEvery: time.Hour,
		Partitioner: func(context.Context, *plan.Flow) ([]sdk.Partition, error) { return parts, nil },
		Runner: func(ctx context.Context, f *plan.Flow, req RunRequest) *engine.RunResult {
			h.mu.Lock()
			h.reqs = append(h.reqs, req)
			fail := h.fail[string(req.Partition)]
			h.mu.Unlock()
			res := &engine.RunResult{Flow: f.Name, RunID: req.RunID, Status: engine.StatusSucceeded,
				Stats: engine.Stats{RecordsRead: 30, RecordsWritten: 30}}
			if req.Partition != nil {
				res.Stats = engine.Stats{RecordsRead: 10, RecordsWritten: 10}
			}
			if fail {
				res.Status, res.Err = engine.StatusFailed, errors.New("the sink went away")
			}
			return res
		}})
	startForTest(t, h.d)
	return h
}

func onDemand(name string) *plan.Flow {
	return &plan.Flow{Name: name, File: "/flows/" + name + ".hcl", Trigger: plan.Trigger{Kind: "on_demand"}}
}

func TestClusterJobTakesOverADeadAttempt(t *testing.T) {
	h := newClusterHarness(t, onDemand("f"), nil)
	ctx := context.Background()
	// The first attempt's daemon died while the run went on.
	if err := h.store.CreateRun(ctx, &state.Run{ID: "r1", Flow: "f", Trigger: "api", Status: state.Running, StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := h.d.RunJob(ctx, cluster.Job{RunID: "r1", Flow: "f", Trigger: "api", Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	old, _ := h.store.Run(ctx, "r1")
	again, err := h.store.Run(ctx, "r1.2")
	if err != nil || old.Status != state.Abandoned || again.Status != state.Succeeded || again.RecordsRead != 30 {
		t.Fatalf("dead attempt %+v, new attempt %+v (%v): want abandoned, then run again as r1.2", old, again, err)
	}
	// Delivered once more (at least once): the run is done, nothing runs.
	n := len(h.reqs)
	if err := h.d.RunJob(ctx, cluster.Job{RunID: "r1", Flow: "f", Trigger: "api", Attempt: 1}); err != nil || len(h.reqs) != n {
		t.Fatalf("a finished run ran again: %v, %d runs", err, len(h.reqs)-n)
	}
	if err := h.d.RunJob(ctx, cluster.Job{RunID: "r9", Flow: "nope"}); err == nil {
		t.Fatal("a job for a flow this daemon does not have must be given back")
	}
}

func TestClusterSplitRun(t *testing.T) {
	parts := []sdk.Partition{{Key: "a", Spec: []byte("a")}, {Key: "b", Spec: []byte("b")}, {Key: "c", Spec: []byte("c")}}
	h := newClusterHarness(t, onDemand("f"), parts)
	ctx := context.Background()
	job := cluster.Job{RunID: "r1", Flow: "f", Trigger: "api", Attempt: 1}
	if err := h.d.RunJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	if len(h.c.splits["r1"]) != 3 || len(h.reqs) != 0 {
		t.Fatalf("split into %d parts, %d runs: want 3 parts and nothing run whole", len(h.c.splits["r1"]), len(h.reqs))
	}
	if r, _ := h.store.Run(ctx, "r1"); r == nil || r.Status != state.Running {
		t.Fatalf("the split run's record: %+v", r)
	}
	// While it goes on, another run of the flow (no overlap) is skipped.
	if err := h.d.RunJob(ctx, cluster.Job{RunID: "r2", Flow: "f", Trigger: "schedule", Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Run(ctx, "r2"); !errors.Is(err, state.ErrNotFound) || len(h.c.splits["r2"]) != 0 {
		t.Fatalf("a second run started while the split run goes on")
	}
	h.fail["b"] = true
	for i, p := range parts {
		pj := job
		pj.Part = &cluster.Part{Index: i, Key: p.Key, Spec: p.Spec}
		err := h.d.RunJob(ctx, pj)
		if p.Key == "b" {
			if err == nil {
				t.Fatal("a failed part that is not on its last attempt must be retried")
			}
			h.fail["b"] = false
			if err := h.d.RunJob(ctx, pj); err != nil { // the retry
				t.Fatal(err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	r, _ := h.store.Run(ctx, "r1")
	if r.Status != state.Succeeded || r.RecordsRead != 30 || r.RecordsWritten != 30 {
		t.Fatalf("the split run ended %+v: want succeeded with the parts' 30 records", r)
	}
	for _, req := range h.reqs {
		if req.Partition == nil {
			t.Fatal("a part ran the whole read")
		}
	}
}
