package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/sdk"
)

// sampleCSV has a short row (line 3), a number that is not one (line 5)
// and a record the validate task refuses (line 6).
const sampleCSV = `Id,Name,Amount
1,ok,10
2,short
3,ok,30
4,bad-number,abc
5,big,500
6,ok,60
`

func validateAt(check, message string, onFail plan.OnFail) *plan.Validate {
	return &plan.Validate{Check: formula(check), OnFail: onFail, Message: message,
		Range: hcl.Range{Filename: "flows/x.hcl", Start: hcl.Pos{Line: 7, Column: 3}}}
}

func stageOf(sample []engine.RecordError, prefix string) []engine.RecordError {
	var out []engine.RecordError
	for _, e := range sample {
		if strings.HasPrefix(e.Stage, prefix) {
			out = append(out, e)
		}
	}
	return out
}

func TestErrorSampleHoldsBrokenRowsAndFailedChecks(t *testing.T) {
	host := newHost(t, nil)
	dir := t.TempDir()
	in := writeFile(t, filepath.Join(dir, "in.csv"), sampleCSV)
	f := &plan.Flow{Name: "x", Source: source("file", in, sdk.Values{"path": in, "schema": map[string]string{"Amount": "int"}}),
		Tasks:   []plan.Task{validateAt("Amount < 100", "amount over 100", plan.OnFailDeadLetter)},
		Sinks:   []*plan.Sink{fileSink(filepath.Join(dir, "out"), "csv")},
		OnError: plan.ErrorPolicy{Mode: plan.Continue, DeadLetter: filepath.Join(dir, "rejected")}}
	res := prepare(t, host, f, engine.Options{}).Run(context.Background(), engine.RunOptions{})
	if res.Status != engine.StatusCompletedWithErrors || res.Stats.RecordsFailed != 3 {
		t.Fatalf("status %s, %d failed (err %v)", res.Status, res.Stats.RecordsFailed, res.Err)
	}
	if len(res.ErrorSample) != 3 {
		t.Fatalf("sample %+v, want 3 entries", res.ErrorSample)
	}
	src := stageOf(res.ErrorSample, "source file")
	if len(src) != 2 || !strings.HasSuffix(src[0].Location, "in.csv:3") || !strings.HasSuffix(src[1].Location, "in.csv:5") ||
		src[0].Reason == "" || !strings.Contains(src[1].Reason, "Amount") {
		t.Fatalf("source entries %+v", src)
	}
	for _, e := range src {
		// The raw line stays in the dead-letter file: the location finds it.
		if e.Record != "" || strings.Contains(e.String(), "short") {
			t.Errorf("source entry carries the record: %+v", e)
		}
	}
	val := stageOf(res.ErrorSample, "validate")
	if len(val) != 1 || val[0].Stage != "validate (flows/x.hcl:7)" || val[0].Reason != "amount over 100" ||
		val[0].Record != "Id=5, Name=big, Amount=500" || val[0].Location != "" {
		t.Fatalf("validate entry %+v", val)
	}
	if s := val[0].String(); s != "validate (flows/x.hcl:7): amount over 100 (record Id=5, Name=big, Amount=500)" {
		t.Errorf("one-line form %q", s)
	}
	if s := src[0].String(); !strings.HasPrefix(s, "source file: ") || !strings.Contains(s, "in.csv:3: ") {
		t.Errorf("one-line form %q", s)
	}
}

func TestErrorSampleOfFailFastRuns(t *testing.T) {
	host := newHost(t, nil)
	t.Run("source", func(t *testing.T) {
		dir := t.TempDir()
		in := writeFile(t, filepath.Join(dir, "in.csv"), sampleCSV)
		f := &plan.Flow{Name: "x", Source: source("file", in, sdk.Values{"path": in, "schema": map[string]string{"Amount": "int"}}),
			Sinks: []*plan.Sink{fileSink(filepath.Join(dir, "out"), "csv")}, OnError: plan.ErrorPolicy{Mode: plan.FailFast}}
		res := prepare(t, host, f, engine.Options{}).Run(context.Background(), engine.RunOptions{})
		if res.Status != engine.StatusFailed {
			t.Fatalf("status %s", res.Status)
		}
		if len(res.ErrorSample) != 1 || res.ErrorSample[0].Stage != "source file" || !strings.HasSuffix(res.ErrorSample[0].Location, "in.csv:3") {
			t.Fatalf("sample %+v", res.ErrorSample)
		}
	})
	t.Run("validate", func(t *testing.T) {
		dir := t.TempDir()
		in := writeFile(t, filepath.Join(dir, "in.csv"), contactsCSV)
		f := &plan.Flow{Name: "x", Source: source("file", in, sdk.Values{"path": in}),
			Tasks: []plan.Task{validateAt("Amount < 1000", "amount too big", plan.OnFailFail)},
			Sinks: []*plan.Sink{fileSink(filepath.Join(dir, "out"), "csv")}, OnError: plan.ErrorPolicy{Mode: plan.FailFast}}
		res := prepare(t, host, f, engine.Options{}).Run(context.Background(), engine.RunOptions{})
		if res.Status != engine.StatusFailed || res.Stats.RecordsFailed != 1 {
			t.Fatalf("status %s, %d failed", res.Status, res.Stats.RecordsFailed)
		}
		if len(res.ErrorSample) != 1 {
			t.Fatalf("sample %+v", res.ErrorSample)
		}
		e := res.ErrorSample[0]
		if e.Stage != "validate (flows/x.hcl:7)" || !strings.Contains(e.Reason, "amount too big") || e.Record != "Id=a1, Name=Ada, Email=ADA@acme.com" {
			t.Fatalf("entry %+v", e)
		}
	})
}

func TestErrorSampleIsCapped(t *testing.T) {
	host := newHost(t, nil)
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("Id,Name\n1,ok\n")
	const broken = 25
	for i := range broken {
		fmt.Fprintf(&b, "%d,too,many,fields\n", i+2)
	}
	in := writeFile(t, filepath.Join(dir, "in.csv"), b.String())
	f := &plan.Flow{Name: "x", Source: source("file", in, sdk.Values{"path": in}),
		Sinks:   []*plan.Sink{fileSink(filepath.Join(dir, "out"), "csv")},
		OnError: plan.ErrorPolicy{Mode: plan.Continue, DeadLetter: filepath.Join(dir, "rejected")}}
	res := prepare(t, host, f, engine.Options{}).Run(context.Background(), engine.RunOptions{})
	if res.Stats.RecordsFailed != broken || len(res.ErrorSample) != engine.ErrorSampleSize {
		t.Fatalf("%d failed, %d sampled; want %d and %d", res.Stats.RecordsFailed, len(res.ErrorSample), broken, engine.ErrorSampleSize)
	}
	// The first ones, in order.
	for i, e := range res.ErrorSample {
		if want := fmt.Sprintf("in.csv:%d", i+3); !strings.HasSuffix(e.Location, want) {
			t.Errorf("entry %d at %q, want %s", i, e.Location, want)
		}
	}
	dead, err := os.ReadFile(res.DeadLetter)
	if err != nil || strings.Count(string(dead), "\n") != broken {
		t.Fatalf("dead letters: %v\n%s", err, dead)
	}
}

// rejectSink refuses every record it is given.
type rejectSink struct{ sdk.Unimplemented }

func (rejectSink) Spec() sdk.Spec {
	return sdk.Spec{Name: "reject", Version: "1", Capabilities: []sdk.Capability{sdk.CapSink}}
}
func (rejectSink) Configure(context.Context, sdk.Values) sdk.Diagnostics { return nil }
func (rejectSink) OpenWriter(context.Context, sdk.WriteRequest) (sdk.Writer, error) {
	return rejectWriter{}, nil
}

type rejectWriter struct{}

func (rejectWriter) Write(_ context.Context, rec arrow.RecordBatch) (sdk.WriteResult, error) {
	var res sdk.WriteResult
	for i := range int(rec.NumRows()) {
		res.Rejected = append(res.Rejected, sdk.RejectedRow{Row: i, Reason: "duplicate key"})
	}
	return res, nil
}
func (rejectWriter) Commit(context.Context) (sdk.CommitResult, error) { return sdk.CommitResult{}, nil }
func (rejectWriter) Close(context.Context) error                      { return nil }

// TestErrorSampleOfSinkRejections: a sink with keys identifies each
// refused record by its key alone, in both error modes.
func TestErrorSampleOfSinkRejections(t *testing.T) {
	for _, mode := range []plan.ErrorMode{plan.Continue, plan.FailFast} {
		t.Run(string(mode), func(t *testing.T) {
			h := memHost(&memSource{batches: 2})
			h.RegisterInProcess("reject", func() sdk.Connector { return rejectSink{} })
			f := memFlow()
			f.Sinks = []*plan.Sink{{Name: "crm", Mode: sdk.WriteUpsert, Keys: []string{"id"}, Endpoint: plan.Endpoint{Type: "reject"}}}
			f.OnError = plan.ErrorPolicy{Mode: mode, DeadLetter: t.TempDir()}
			res := prepare(t, h, f, engine.Options{}).Run(context.Background(), engine.RunOptions{})
			want, failed := engine.ErrorSampleSize, int64(200)
			if mode == plan.FailFast {
				want, failed = 1, 1
				if res.Status != engine.StatusFailed {
					t.Fatalf("status %s", res.Status)
				}
			}
			if len(res.ErrorSample) != want || res.Stats.RecordsFailed != failed {
				t.Fatalf("%d sampled, %d failed: %+v", len(res.ErrorSample), res.Stats.RecordsFailed, res.ErrorSample)
			}
			for i, e := range res.ErrorSample {
				if e.Stage != "sink reject.crm" || e.Reason != "duplicate key" || e.Record != fmt.Sprintf("id=%d", i) {
					t.Errorf("entry %d: %+v", i, e)
				}
			}
		})
	}
}
