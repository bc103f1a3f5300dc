package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/plugins/redshift/pgtest"
)

// TestMain starts one throwaway PostgreSQL for the PostgreSQL half of the
// suite. Without the server binaries those subtests skip with "apt-get
// install -y postgresql" (and fail with it when CI=true).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backend is one Store implementation the suite runs against.
type backend struct {
	name string
	// newDB returns the --state value of a fresh, empty database.
	newDB func(t *testing.T) string
	// exec runs SQL on the database outside the store.
	exec func(t *testing.T, dsn, sql string)
	// lock takes the write lock from another session, as another process
	// would, until unlock is called; reads must still work meanwhile.
	lock func(t *testing.T, dsn string) (unlock func())
	// check looks at settings only this backend has.
	check func(t *testing.T, s Store)
}

var backends = []backend{
	{
		name:  "sqlite",
		newDB: func(t *testing.T) string { return filepath.Join(t.TempDir(), "state.db") },
		exec: func(t *testing.T, dsn, q string) {
			db, err := sql.Open("sqlite", dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		},
		lock: func(t *testing.T, dsn string) func() {
			ctx := context.Background()
			other, err := sql.Open("sqlite", "file:"+dsn+"?_pragma=busy_timeout(0)")
			if err != nil {
				t.Fatal(err)
			}
			conn, err := other.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
				t.Fatal(err)
			}
			return func() {
				if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
					t.Error(err)
				}
				conn.Close()
				other.Close()
			}
		},
		check: func(t *testing.T, s Store) {
			var mode string
			if err := s.(*SQLite).db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
				t.Fatalf("journal_mode %q %v, want wal", mode, err)
			}
		},
	},
	{
		name:  "postgres",
		newDB: func(t *testing.T) string { return pgtest.NewDatabase(t) },
		exec: func(t *testing.T, dsn, q string) {
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		},
		lock: func(t *testing.T, dsn string) func() {
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// EXCLUSIVE blocks every write and lets plain reads through.
			if _, err := tx.Exec(ctx, `LOCK TABLE runs, checkpoints, flows IN EXCLUSIVE MODE`); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := tx.Rollback(ctx); err != nil {
					t.Error(err)
				}
				conn.Close(ctx)
			}
		},
		check: func(t *testing.T, s Store) {
			p := s.(*Postgres)
			var lt string
			if err := p.pool.QueryRow(context.Background(), `SHOW lock_timeout`).Scan(&lt); err != nil || lt == "0" {
				t.Fatalf("lock_timeout %q %v, want the busy timeout", lt, err)
			}
		},
	},
}

// eachBackend runs the test once per backend, as subtests.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// open opens a store through Open, as the CLI does.
func open(t *testing.T, dsn string, opts Options) Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type migrator interface {
	AppliedMigrations(ctx context.Context) ([]int, error)
}

func allMigrations() []int {
	want := []int{}
	for v := 1; v <= SchemaVersion(); v++ {
		want = append(want, v)
	}
	return want
}

func TestBothBackendsHaveEveryMigration(t *testing.T) {
	if len(pgMigrations) != len(migrations) {
		t.Fatalf("%d PostgreSQL migrations, %d SQLite ones: add the missing one to both lists", len(pgMigrations), len(migrations))
	}
}

func TestMigrationsAreIdempotent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dsn := b.newDB(t)
		s := open(t, dsn, Options{})
		if err := s.CreateRun(ctx, &Run{ID: "r1", Flow: "f", Trigger: "api", StartedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		for range 2 {
			s = open(t, dsn, Options{})
			got, err := s.(migrator).AppliedMigrations(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := allMigrations(); !slices.Equal(got, want) {
				t.Fatalf("migrations %v, want %v", got, want)
			}
			if _, err := s.Run(ctx, "r1"); err != nil {
				t.Fatalf("reopening lost data: %v", err)
			}
			b.check(t, s)
			s.Close()
		}
		// A database from a newer sluice is refused, not silently used.
		b.exec(t, dsn, `INSERT INTO schema_migrations VALUES (99, '2026-01-01T00:00:00Z')`)
		if _, err := Open(ctx, dsn, Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
			t.Fatalf("a newer schema: %v", err)
		}
	})
}

// TestConcurrentMigrations starts several daemons on one fresh database at
// once: each migration is applied once and every one of them opens.
func TestConcurrentMigrations(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dsn := b.newDB(t)
		const n = 6
		var wg sync.WaitGroup
		errs := make([]error, n)
		stores := make([]Store, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				stores[i], errs[i] = Open(ctx, dsn, Options{})
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("daemon %d: %v", i, err)
			}
			defer stores[i].Close()
		}
		got, err := stores[0].(migrator).AppliedMigrations(ctx)
		if err != nil || !slices.Equal(got, allMigrations()) {
			t.Fatalf("migrations %v %v", got, err)
		}
		// Every store works on the one schema.
		for i, s := range stores {
			if err := s.CreateRun(ctx, &Run{ID: fmt.Sprint("r", i), Flow: "f", Trigger: "api", StartedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		if runs, _ := stores[0].Runs(ctx, RunFilter{}); len(runs) != n {
			t.Fatalf("%d runs, want %d", len(runs), n)
		}
	})
}

func TestRunLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := open(t, b.newDB(t), Options{})
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
		if err != nil || got.Status != Running || got.RecordsRead != 10 || got.Window == nil || !got.Window.To.Equal(start) ||
			!got.Window.From.Equal(win.From) || got.Window.Cursor != "SystemModstamp" || !got.ScheduledAt.Equal(start) {
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
		if got.Status != CompletedWithErrors || got.RecordsWritten != 172 || got.RecordsFiltered != 73 || got.BytesWritten != 999 ||
			got.DeadLetter != r.DeadLetter || got.Duration(time.Now()) != 1500*time.Millisecond || string(got.Checkpoint) != "pos-9" ||
			got.Trigger != "schedule" || got.StartedAt.Location() != time.UTC {
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
		if got, _ := s.Run(ctx, "r2"); got.Window != nil || !got.ScheduledAt.IsZero() || got.Error != "boom" {
			t.Fatalf("late run %+v", got)
		}
		s.CreateRun(ctx, &Run{ID: "r3", Flow: "other", Trigger: "api", StartedAt: start.Add(3 * time.Minute)})
		runs, err := s.Runs(ctx, RunFilter{Flow: "contacts"})
		if err != nil || len(runs) != 2 || runs[0].ID != "r2" || runs[1].ID != "r1" {
			t.Fatalf("runs of contacts: %v %v", ids(runs), err)
		}
		if runs, _ := s.Runs(ctx, RunFilter{Limit: 1}); len(runs) != 1 || runs[0].ID != "r3" {
			t.Fatalf("newest run: %v", ids(runs))
		}
		if runs, _ := s.Runs(ctx, RunFilter{Flow: "contacts", Status: Failed}); len(runs) != 1 || runs[0].ID != "r2" {
			t.Fatalf("failed runs of contacts: %v", ids(runs))
		}
		if _, err := s.Run(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing run: %v", err)
		}

		// A restart marks the run left running as abandoned.
		ab, err := s.AbandonRunning(ctx, start.Add(time.Hour))
		if err != nil || len(ab) != 1 || ab[0].ID != "r3" {
			t.Fatalf("abandoned %v %v", ids(ab), err)
		}
		if got, _ := s.Run(ctx, "r3"); got.Status != Abandoned || !got.FinishedAt.Equal(start.Add(time.Hour)) || !got.Status.Failed() {
			t.Fatalf("r3 %+v", got)
		}
	})
}

func ids(runs []*Run) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

func TestCheckpointsAndFlowState(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := open(t, b.newDB(t), Options{})
		var _ engine.CheckpointStore = s
		if pos, err := s.Load(ctx, "f"); pos != nil || err != nil {
			t.Fatalf("no checkpoint yet: %q %v", pos, err)
		}
		s.Save(ctx, "f", []byte("a"))
		s.Save(ctx, "f", []byte("b"))
		if pos, _ := s.Load(ctx, "f"); string(pos) != "b" {
			t.Fatalf("checkpoint %q", pos)
		}
		if cps, err := s.Checkpoints(ctx); err != nil || len(cps) != 1 || cps[0].Flow != "f" || time.Since(cps[0].UpdatedAt) > time.Minute {
			t.Fatalf("checkpoints %+v %v", cps, err)
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
		if fl, err := s.Flows(ctx); err != nil || len(fl) != 2 || fl[0].Flow != "f" || fl[1].Flow != "g" {
			t.Fatalf("flows %+v %v", fl, err)
		}
	})
}

// TestLockedDatabase holds the write lock from a second session, as
// another process would: writes fail with a clear error once the retries
// are spent, a write retrying when the lock goes succeeds, and no run is
// lost.
func TestLockedDatabase(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dsn := b.newDB(t)
		s := open(t, dsn, Options{BusyTimeout: 50 * time.Millisecond, Retries: 3, RetryDelay: 20 * time.Millisecond})

		unlock := b.lock(t, dsn)
		run := &Run{ID: "locked", Flow: "f", Trigger: "api", StartedAt: time.Now()}
		start := time.Now()
		err := s.CreateRun(ctx, run)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "locked by another process") ||
			!strings.Contains(err.Error(), "tried 4 times") {
			unlock()
			t.Fatalf("a locked database: %v", err)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			unlock()
			t.Fatalf("gave up after %s, without waiting and retrying", d)
		}
		// Reads still work while a writer holds the lock.
		if _, err := s.Runs(ctx, RunFilter{}); err != nil {
			unlock()
			t.Fatalf("read while locked: %v", err)
		}

		// The lock goes away while the finish is being retried.
		done := make(chan error, 1)
		run.Status, run.FinishedAt = Succeeded, time.Now()
		slow := open(t, dsn, Options{BusyTimeout: 50 * time.Millisecond, Retries: 8, RetryDelay: 50 * time.Millisecond})
		go func() { done <- slow.FinishRun(ctx, run) }()
		time.Sleep(150 * time.Millisecond)
		unlock()
		if err := <-done; err != nil {
			t.Fatalf("finish after the lock went: %v", err)
		}
		got, err := s.Run(ctx, "locked")
		if err != nil || got.Status != Succeeded {
			t.Fatalf("the run was lost: %+v %v", got, err)
		}
	})
}

// TestPostgresUnreachable needs no server: nothing listens on the port.
func TestPostgresUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dsn := "postgres://sluice:hunter2-secret@" + addr + "/state?sslmode=disable"
	start := time.Now()
	_, err = Open(context.Background(), dsn, Options{BusyTimeout: time.Second, Retries: 2, RetryDelay: 20 * time.Millisecond})
	if err == nil {
		t.Fatal("opened a database nobody serves")
	}
	msg := err.Error()
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(msg, "cannot reach PostgreSQL at "+addr+"/state") ||
		!strings.Contains(msg, "tried 3 times") {
		t.Fatalf("unreachable: %v", err)
	}
	if strings.Contains(msg, "hunter2") {
		t.Fatalf("the error shows the password: %v", err)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("gave up after %s without retrying", d)
	}

	// A URL that does not parse names neither the password.
	_, err = Open(context.Background(), "postgres://sluice:hunter2-secret@"+addr+"/state?sslmode=bogus", Options{Retries: -1})
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "invalid PostgreSQL URL") {
		t.Fatalf("a bad URL: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@db:5432/state":              "postgres://u:xxxxx@db:5432/state",
		"postgresql://u@db/state?password=pw":        "postgresql://u@db/state?password=xxxxx",
		"postgres://db/state?sslmode=disable":        "postgres://db/state?sslmode=disable",
		"/var/lib/sluice/sluice.db":                  "/var/lib/sluice/sluice.db",
		"postgres://u:p%40ss@db:5432/state?x=1#frag": "postgres://u:xxxxx@db:5432/state?x=1#frag",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
