package state

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/engine"
)

func open(t *testing.T, path string, opts Options) *SQLite {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMigrationsAreIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path, Options{})
	if err := s.CreateRun(ctx, &Run{ID: "r1", Flow: "f", Trigger: "api", StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for range 2 {
		s = open(t, path, Options{})
		got, err := s.AppliedMigrations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []int{}
		for v := 1; v <= SchemaVersion(); v++ {
			want = append(want, v)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("migrations %v, want %v", got, want)
		}
		if _, err := s.Run(ctx, "r1"); err != nil {
			t.Fatalf("reopening lost data: %v", err)
		}
		var mode string
		if err := s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal_mode %q %v, want wal", mode, err)
		}
		s.Close()
	}
	// A database from a newer sluice is refused, not silently used.
	db, _ := sql.Open("sqlite", path)
	db.Exec(`INSERT INTO schema_migrations VALUES (99, 'x')`)
	db.Close()
	if _, err := OpenSQLite(ctx, path, Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("a newer schema: %v", err)
	}
}

func TestRunLifecycle(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"), Options{})
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	win := &Window{Cursor: "SystemModstamp", From: start.Add(-time.Hour), To: start}
	r := &Run{ID: "r1", Flow: "contacts", Trigger: "schedule", ScheduledAt: start, StartedAt: start, Window: win}
	if err := s.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRun(ctx, "r1", engine.Stats{RecordsRead: 10}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Run(ctx, "r1")
	if err != nil || got.Status != Running || got.RecordsRead != 10 || got.Window == nil || !got.Window.To.Equal(start) {
		t.Fatalf("running run %+v %v", got, err)
	}
	r.Status = CompletedWithErrors
	r.Stats = engine.Stats{RecordsRead: 251, RecordsWritten: 172, RecordsFiltered: 73, RecordsFailed: 6, BytesWritten: 999}
	r.FinishedAt = start.Add(1500 * time.Millisecond)
	r.DeadLetter = "out/rejected/x.jsonl"
	r.Checkpoint = []byte("pos-9")
	if err := s.FinishRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Run(ctx, "r1")
	if got.Status != CompletedWithErrors || got.RecordsWritten != 172 || got.DeadLetter != r.DeadLetter ||
		got.Duration(time.Now()) != 1500*time.Millisecond || string(got.Checkpoint) != "pos-9" || got.Trigger != "schedule" {
		t.Fatalf("finished run %+v", got)
	}
	// Progress after the end does not reopen it.
	s.UpdateRun(ctx, "r1", engine.Stats{RecordsRead: 1})
	if got, _ = s.Run(ctx, "r1"); got.RecordsRead != 251 {
		t.Fatalf("update after finish changed counters: %d", got.RecordsRead)
	}

	// A run whose start was never recorded is inserted at its end.
	late := &Run{ID: "r2", Flow: "contacts", Trigger: "api", Status: Failed, StartedAt: start.Add(time.Minute),
		FinishedAt: start.Add(2 * time.Minute), Error: "boom"}
	if err := s.FinishRun(ctx, late); err != nil {
		t.Fatal(err)
	}
	s.CreateRun(ctx, &Run{ID: "r3", Flow: "other", Trigger: "api", StartedAt: start.Add(3 * time.Minute)})
	runs, err := s.Runs(ctx, RunFilter{Flow: "contacts"})
	if err != nil || len(runs) != 2 || runs[0].ID != "r2" || runs[1].ID != "r1" {
		t.Fatalf("runs of contacts: %v %v", ids(runs), err)
	}
	if runs, _ := s.Runs(ctx, RunFilter{Limit: 1}); len(runs) != 1 || runs[0].ID != "r3" {
		t.Fatalf("newest run: %v", ids(runs))
	}
	if _, err := s.Run(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing run: %v", err)
	}

	// A restart marks the run left running as abandoned.
	ab, err := s.AbandonRunning(ctx, start.Add(time.Hour))
	if err != nil || len(ab) != 1 || ab[0].ID != "r3" {
		t.Fatalf("abandoned %v %v", ids(ab), err)
	}
	if got, _ := s.Run(ctx, "r3"); got.Status != Abandoned || got.FinishedAt.IsZero() || !got.Status.Failed() {
		t.Fatalf("r3 %+v", got)
	}
}

func ids(runs []*Run) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

func TestCheckpointsAndFlowState(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"), Options{})
	var _ engine.CheckpointStore = s
	if pos, err := s.Load(ctx, "f"); pos != nil || err != nil {
		t.Fatalf("no checkpoint yet: %q %v", pos, err)
	}
	s.Save(ctx, "f", []byte("a"))
	s.Save(ctx, "f", []byte("b"))
	if pos, _ := s.Load(ctx, "f"); string(pos) != "b" {
		t.Fatalf("checkpoint %q", pos)
	}
	wm := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.SetWatermark(ctx, "f", wm)
	if fs, _ := s.Flow(ctx, "f"); !fs.Watermark.Equal(wm) {
		t.Fatalf("watermark %v", fs.Watermark)
	}
	if err := s.ResetCheckpoint(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	if pos, _ := s.Load(ctx, "f"); pos != nil {
		t.Fatalf("reset left %q", pos)
	}
	if fs, _ := s.Flow(ctx, "f"); !fs.Watermark.IsZero() {
		t.Fatalf("reset left watermark %v", fs.Watermark)
	}

	if fs, _ := s.Flow(ctx, "new"); !fs.Active || fs.ConsecutiveFailures != 0 {
		t.Fatalf("a flow never seen: %+v", fs)
	}
	for i := 1; i <= 3; i++ {
		if n, err := s.RecordOutcome(ctx, "g", true); n != i || err != nil {
			t.Fatalf("failure %d counted as %d %v", i, n, err)
		}
	}
	if n, _ := s.RecordOutcome(ctx, "g", false); n != 0 {
		t.Fatalf("a success left %d failures", n)
	}
	s.RecordOutcome(ctx, "g", true)
	s.SetActive(ctx, "g", false, "3 consecutive failures")
	if fs, _ := s.Flow(ctx, "g"); fs.Active || fs.Reason == "" || fs.ConsecutiveFailures != 1 {
		t.Fatalf("deactivated %+v", fs)
	}
	s.SetActive(ctx, "g", true, "")
	if fs, _ := s.Flow(ctx, "g"); !fs.Active || fs.Reason != "" || fs.ConsecutiveFailures != 0 {
		t.Fatalf("activated %+v", fs)
	}
}

// TestLockedDatabase holds the write lock from a second connection, as
// another process would: writes fail with a clear error once the retries
// are spent, a write retrying when the lock goes succeeds, and no run is
// lost.
func TestLockedDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path, Options{BusyTimeout: 50 * time.Millisecond, Retries: 3, RetryDelay: 20 * time.Millisecond})

	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	run := &Run{ID: "locked", Flow: "f", Trigger: "api", StartedAt: time.Now()}
	start := time.Now()
	err = s.CreateRun(ctx, run)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "locked by another process") ||
		!strings.Contains(err.Error(), "tried 4 times") {
		t.Fatalf("a locked database: %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("gave up after %s, without waiting and retrying", d)
	}
	// Reads still work under WAL while a writer holds the lock.
	if _, err := s.Runs(ctx, RunFilter{}); err != nil {
		t.Fatalf("read while locked: %v", err)
	}

	// The lock goes away while the finish is being retried.
	done := make(chan error, 1)
	run.Status, run.FinishedAt = Succeeded, time.Now()
	slow := open(t, path, Options{BusyTimeout: 50 * time.Millisecond, Retries: 8, RetryDelay: 50 * time.Millisecond})
	go func() { done <- slow.FinishRun(ctx, run) }()
	time.Sleep(150 * time.Millisecond)
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("finish after the lock went: %v", err)
	}
	got, err := s.Run(ctx, "locked")
	if err != nil || got.Status != Succeeded {
		t.Fatalf("the run was lost: %+v %v", got, err)
	}
}
