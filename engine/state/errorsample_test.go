package state

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/engine"
)

func TestErrorSampleRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := open(t, b.newDB(t), Options{})
		start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		sample := []engine.RecordError{
			{Stage: "source file", Reason: "wrong number of fields", Location: "testdata/contacts.csv:121"},
			{Stage: "validate (flows/x.hcl:12)", Reason: "email is not an address", Record: `id=003000000000000042, name="Ada L…"`},
		}
		r := &Run{ID: "r1", Flow: "contacts", Trigger: "api", StartedAt: start}
		if err := s.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Run(ctx, "r1"); err != nil || got.ErrorSample != nil {
			t.Fatalf("running run %+v %v", got, err)
		}
		r.Status, r.FinishedAt, r.ErrorSample = CompletedWithErrors, start.Add(time.Second), sample
		r.Stats = engine.Stats{RecordsRead: 251, RecordsFailed: 6}
		if err := s.FinishRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		// A run with no refused record stores none and reads back none.
		clean := &Run{ID: "r2", Flow: "contacts", Trigger: "api", Status: Succeeded, StartedAt: start.Add(time.Minute),
			FinishedAt: start.Add(2 * time.Minute), ErrorSample: []engine.RecordError{}}
		if err := s.FinishRun(ctx, clean); err != nil {
			t.Fatal(err)
		}
		got, err := s.Run(ctx, "r1")
		if err != nil || !reflect.DeepEqual(got.ErrorSample, sample) || got.RecordsFailed != 6 {
			t.Fatalf("run %+v %v", got, err)
		}
		runs, err := s.Runs(ctx, RunFilter{Flow: "contacts"})
		if err != nil || len(runs) != 2 || runs[0].ErrorSample != nil || !reflect.DeepEqual(runs[1].ErrorSample, sample) {
			t.Fatalf("runs %+v %v", runs, err)
		}
		// Finishing again (a retried FinishRun) replaces the sample.
		r.ErrorSample = sample[:1]
		if err := s.FinishRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Run(ctx, "r1"); len(got.ErrorSample) != 1 {
			t.Fatalf("sample after a second finish: %+v", got.ErrorSample)
		}
	})
}

// TestMigrationAddsErrorSample opens a database left at schema version 2,
// with a run in it, as the previous sluice would have left it.
func TestMigrationAddsErrorSample(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dsn := b.newDB(t)
		old := migrations
		if b.name == "postgres" {
			old = pgMigrations
		}
		const before = 2
		b.exec(t, dsn, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`)
		if b.name == "postgres" {
			b.exec(t, dsn, `ALTER TABLE schema_migrations ALTER COLUMN applied_at TYPE TIMESTAMPTZ USING applied_at::timestamptz`)
		}
		for v := 1; v <= before; v++ {
			b.exec(t, dsn, old[v-1])
			b.exec(t, dsn, fmt.Sprintf(`INSERT INTO schema_migrations VALUES (%d, '2026-01-01T00:00:00Z')`, v))
		}
		b.exec(t, dsn, `INSERT INTO runs (id, flow, trigger, status, records_read, records_failed, started_at, finished_at, error, updated_at)
			VALUES ('old', 'contacts', 'schedule', 'completed_with_errors', 251, 6, '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', '', '2026-01-01T00:00:01Z')`)

		s := open(t, dsn, Options{})
		got, err := s.(migrator).AppliedMigrations(ctx)
		if err != nil || !slices.Equal(got, allMigrations()) || SchemaVersion() <= before {
			t.Fatalf("migrations %v %v, want %v", got, err, allMigrations())
		}
		r, err := s.Run(ctx, "old")
		if err != nil || r.ErrorSample != nil || r.RecordsFailed != 6 || r.Status != CompletedWithErrors {
			t.Fatalf("the old run: %+v %v", r, err)
		}
		if runs, err := s.Runs(ctx, RunFilter{}); err != nil || len(runs) != 1 || runs[0].ErrorSample != nil {
			t.Fatalf("runs %+v %v", runs, err)
		}
		// The new column takes samples at once.
		r.ErrorSample = []engine.RecordError{{Stage: "source file", Reason: "bad", Location: "in.csv:2"}}
		if err := s.FinishRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.Run(ctx, "old"); len(r.ErrorSample) != 1 {
			t.Fatalf("sample on a migrated row: %+v", r.ErrorSample)
		}
	})
}
