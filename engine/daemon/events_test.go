package daemon

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/state"
)

// eventFlow is an event flow in a real file, so changes to it are seen.
func eventFlow(t *testing.T, name string) *plan.Flow {
	t.Helper()
	file := filepath.Join(t.TempDir(), name+".hcl")
	if err := os.WriteFile(file, []byte("# v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &plan.Flow{Name: name, File: file, Trigger: plan.Trigger{Kind: "event", BatchSize: 10, BatchWindow: time.Second}}
}

func stopped(req RunRequest) bool {
	select {
	case <-req.Stop:
		return true
	default:
		return false
	}
}

func TestEventFlowFollowsUnderTheDaemon(t *testing.T) {
	f := eventFlow(t, "changes")
	h := newHarness(t, nil, f)
	first := h.waitStart(t) // subscribed on load, no tick needed
	if r, _ := h.store.Run(context.Background(), first.RunID); r == nil || r.Trigger != "event" {
		t.Fatalf("run record %+v, want trigger event", r)
	}

	// Reloading an unchanged file leaves the subscription alone.
	if err := h.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.noStart(t)
	if stopped(first) {
		t.Fatal("an unchanged flow's subscription was stopped")
	}

	// A changed file: the old version stops gracefully, the new one follows.
	if err := os.WriteFile(f.File, []byte("# v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f2 := *f
	h.loader.set(nil, &f2)
	if err := h.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := h.waitStart(t)
	if r := waitEnded(t, h, first.RunID); r.Status != state.Succeeded {
		t.Fatalf("replaced subscription ended %s, want succeeded (a graceful stop)", r.Status)
	}

	// A failure resubscribes after a backoff.
	h.runner.finish <- engine.StatusFailed
	if r := waitEnded(t, h, second.RunID); r.Status != state.Failed {
		t.Fatalf("status %s", r.Status)
	}
	h.noStart(t)
	third := advanceUntilStart(t, h, time.Second)

	// Deactivating stops it; activating subscribes again.
	if err := h.d.SetActive(context.Background(), "changes", false); err != nil {
		t.Fatal(err)
	}
	if r := waitEnded(t, h, third.RunID); r.Status != state.Succeeded {
		t.Fatalf("deactivated subscription ended %s", r.Status)
	}
	h.noStart(t)
	if err := h.d.SetActive(context.Background(), "changes", true); err != nil {
		t.Fatal(err)
	}
	fourth := h.waitStart(t)

	// Cancelled through the API: it stays stopped until run again.
	if err := h.d.Cancel(fourth.RunID); err != nil {
		t.Fatal(err)
	}
	if r := waitEnded(t, h, fourth.RunID); r.Status != state.Cancelled {
		t.Fatalf("status %s", r.Status)
	}
	h.noStart(t)
	if _, err := h.d.RunNow("changes"); err != nil {
		t.Fatal(err)
	}
	fifth := h.waitStart(t)

	// A drain stops the subscription gracefully, well before any deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.d.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if r, _ := h.store.Run(context.Background(), fifth.RunID); r.Status != state.Succeeded {
		t.Fatalf("drained subscription ended %s, want succeeded", r.Status)
	}
}

func TestRemovedEventFlowStops(t *testing.T) {
	f := eventFlow(t, "changes")
	h := newHarness(t, nil, f)
	req := h.waitStart(t)
	h.loader.set(nil)
	if err := h.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := waitEnded(t, h, req.RunID); r.Status != state.Succeeded {
		t.Fatalf("status %s", r.Status)
	}
	h.noStart(t)
}

// waitEnded waits until the store holds the run with a final status;
// unlike waitRun, other runs (the next subscription) may be going on.
func waitEnded(t *testing.T, h *harness, id string) *state.Run {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := h.store.Run(context.Background(), id); err == nil && r.Status != state.Running {
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("run %s never finished", id)
	return nil
}

// advanceUntilStart moves the clock by step until a run starts: the
// retry timer is armed after the failed run is recorded, not before.
func advanceUntilStart(t *testing.T, h *harness, step time.Duration) RunRequest {
	t.Helper()
	for range 100 {
		h.clock.Advance(step)
		select {
		case req := <-h.runner.started:
			return req
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("no run started")
	return RunRequest{}
}
