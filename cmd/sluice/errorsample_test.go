package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/state"
)

func TestRunSummaryShowsTheErrorSample(t *testing.T) {
	dir := workdir(t)
	r := sluice(t, dir, "run", "flows/contacts-to-parquet.hcl")
	if r.code != 0 {
		t.Fatalf("exit %d %s", r.code, r.stderr)
	}
	_, after, ok := strings.Cut(r.stdout, "  failed records:\n")
	lines := strings.Split(strings.TrimRight(after, "\n"), "\n")
	// The demo data has one malformed line and five addresses that fail validation.
	if !ok || len(lines) != 6 || lines[0] != "    source file: testdata/contacts.csv:121: expected 9 fields, got 3" {
		t.Fatalf("summary:\n%s", r.stdout)
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "    validate (flows/contacts-to-parquet.hcl:") || !strings.Contains(l, "email is not an address (record id=003") {
			t.Errorf("sample line %q", l)
		}
	}

	r = sluice(t, dir, "run", "flows/contacts-to-parquet.hcl", "--json")
	var sum struct {
		RecordsFailed int64                `json:"records_failed"`
		ErrorSample   []engine.RecordError `json:"error_sample"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || sum.RecordsFailed != 6 || len(sum.ErrorSample) != 6 ||
		sum.ErrorSample[0].Location != "testdata/contacts.csv:121" || sum.ErrorSample[0].Stage != "source file" {
		t.Fatalf("--json: %v %s", err, r.stdout)
	}
}

func TestHistoryShowsTheErrorSample(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "state.db")
	ctx := context.Background()
	s, err := state.OpenSQLite(ctx, db, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var sample []engine.RecordError
	for i := range engine.ErrorSampleSize {
		sample = append(sample, engine.RecordError{Stage: "validate (flows/x.hcl:9)", Reason: "email is not an address",
			Record: fmt.Sprintf("id=%03d", i)})
	}
	for _, r := range []*state.Run{
		{ID: "r1", Flow: "x", Trigger: "api", Status: state.CompletedWithErrors, StartedAt: start, FinishedAt: start.Add(time.Second),
			Stats: engine.Stats{RecordsRead: 100, RecordsWritten: 60, RecordsFailed: 40}, ErrorSample: sample},
		{ID: "r2", Flow: "x", Trigger: "api", Status: state.Succeeded, StartedAt: start.Add(time.Minute), FinishedAt: start.Add(2 * time.Minute),
			Stats: engine.Stats{RecordsRead: 100, RecordsWritten: 100}},
		{ID: "r3", Flow: "x", Trigger: "api", Status: state.Failed, StartedAt: start.Add(3 * time.Minute), FinishedAt: start.Add(4 * time.Minute),
			Stats: engine.Stats{RecordsRead: 1, RecordsFailed: 1}, Error: "source file: bad record at in.csv:2: expected 2 fields, got 3",
			ErrorSample: []engine.RecordError{{Stage: "source file", Reason: "expected 2 fields, got 3", Location: "in.csv:2"}}},
	} {
		if err := s.FinishRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	r := sluice(t, dir, "history", "x", "--state", db)
	if r.code != 0 {
		t.Fatalf("history: %d %s", r.code, r.stderr)
	}
	want := []string{
		"r3", "    source file: in.csv:2: expected 2 fields, got 3",
		"r2",
		"r1", "    validate (flows/x.hcl:9): email is not an address (record id=000)",
		"    validate (flows/x.hcl:9): email is not an address (record id=001)",
		"    validate (flows/x.hcl:9): email is not an address (record id=002)",
		"    … and 37 more failed record(s)",
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != len(want)+1 || !strings.HasPrefix(lines[0], "RUN ") {
		t.Fatalf("history:\n%s", r.stdout)
	}
	for i, w := range want {
		if l := lines[i+1]; l != w && !(len(w) == 2 && strings.HasPrefix(l, w+" ")) {
			t.Errorf("line %d %q, want %q", i+1, l, w)
		}
	}
	// The table keeps its columns across the sample lines.
	started := regexp.MustCompile(`\d{4}-\d\d-\d\d `)
	for _, row := range []int{1, 3, 4} {
		if at := started.FindStringIndex(lines[row]); at == nil || at[0] != strings.Index(lines[0], "STARTED") {
			t.Errorf("columns moved in line %d:\n%s", row, r.stdout)
		}
	}

	r = sluice(t, dir, "history", "x", "--state", db, "--json")
	var runs []state.Run
	if err := json.Unmarshal([]byte(r.stdout), &runs); err != nil || len(runs) != 3 || len(runs[2].ErrorSample) != engine.ErrorSampleSize ||
		runs[1].ErrorSample != nil || runs[0].ErrorSample[0].Location != "in.csv:2" {
		t.Fatalf("history --json: %v %s", err, r.stdout)
	}
}
