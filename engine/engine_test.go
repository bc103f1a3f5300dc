package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/pluginhost"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/rpc"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

const contactsCSV = `Id,Name,Email,Amount
a1,Ada,ADA@acme.com,1200.5
a2,Grace,,300
a3,Alan,alan@example.invalid,5000
a4,Edsger,edsger@acme.com,42
`

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func source(typ string, entity string, opts sdk.Values) *plan.Source {
	return &plan.Source{Endpoint: plan.Endpoint{Type: typ, Entity: entity, Options: opts}}
}

func fileSink(dir, format string) *plan.Sink {
	return &plan.Sink{Name: "out", Mode: sdk.WriteInsert,
		Endpoint: plan.Endpoint{Type: "file", Entity: dir, Options: sdk.Values{"format": format}}}
}

func formula(s string) plan.Formula { return plan.Formula{Text: s} }

func prepare(t *testing.T, host *pluginhost.Host, f *plan.Flow, opts engine.Options) *engine.Prepared {
	t.Helper()
	opts.Host = host
	p, diags := engine.Prepare(context.Background(), f, opts)
	if diags.HasErrors() {
		t.Fatalf("prepare: %s", diags.Error())
	}
	return p
}

// outputLines returns the data lines of every committed CSV part under dir.
func outputLines(t *testing.T, dir string) []string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rows := strings.Split(strings.TrimSpace(string(b)), "\n")
		lines = append(lines, rows[1:]...) // skip the header
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return lines
}

func TestRunThroughPluginProcesses(t *testing.T) {
	host := newHost(t, nil)
	dir := t.TempDir()
	in := writeFile(t, filepath.Join(dir, "in.csv"), contactsCSV)
	out := filepath.Join(dir, "out")
	ckpt := engine.DirCheckpoints{Dir: filepath.Join(dir, "state")}
	f := &plan.Flow{
		Name:   "contacts",
		Source: source("file", in, sdk.Values{"path": in}),
		Tasks: []plan.Task{
			&plan.Filter{Where: formula(`Email != nil && !(Email endsWith "@example.invalid")`)},
			&plan.Map{Fields: []plan.MapField{{Name: "id", Formula: formula("Id")}, {Name: "email", Formula: formula("lower(Email)")}, {Name: "amount", Formula: formula("Amount")}}},
		},
		Sinks: []*plan.Sink{fileSink(out, "csv")},
	}
	res := prepare(t, host, f, engine.Options{Checkpoints: ckpt}).Run(context.Background(), engine.RunOptions{RunID: "r1"})
	if res.Err != nil {
		t.Fatalf("run failed: %v", res.Err)
	}
	if res.Status != engine.StatusSucceeded {
		t.Fatalf("status %s", res.Status)
	}
	got := outputLines(t, out)
	want := []string{"a1,ada@acme.com,1200.5", "a4,edsger@acme.com,42.0"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("output rows %q, want %q", got, want)
	}
	s := res.Stats
	if s.RecordsRead != 4 || s.RecordsFiltered != 2 || s.RecordsWritten != 2 || s.RecordsFailed != 0 {
		t.Fatalf("counters %+v", s)
	}
	if s.BytesRead != int64(len(contactsCSV)) || s.BytesWritten == 0 {
		t.Fatalf("bytes in %d (file has %d), out %d", s.BytesRead, len(contactsCSV), s.BytesWritten)
	}
	saved, err := ckpt.Load(context.Background(), "contacts")
	if err != nil || len(saved) == 0 || string(saved) != string(res.Checkpoint) {
		t.Fatalf("checkpoint saved %q (err %v), run reported %q", saved, err, res.Checkpoint)
	}
}

func TestMissingPluginIsADiagnostic(t *testing.T) {
	host := newHost(t, nil)
	f := &plan.Flow{Name: "x", Source: source("nosuch", "", nil), Sinks: []*plan.Sink{fileSink(t.TempDir(), "csv")}}
	_, diags := engine.Prepare(context.Background(), f, engine.Options{Host: host})
	if !diags.HasErrors() || diags[0].Summary != "Connector plugin not found" ||
		!strings.Contains(diags[0].Detail, "sluice-plugin-nosuch") {
		t.Fatalf("diagnostics: %v", diags)
	}
}

func TestPluginWithWrongChecksumDoesNotStart(t *testing.T) {
	host := newHost(t, nil)
	entry := host.Lock.Plugins["file"]
	entry.SHA256 = strings.Repeat("0", 64)
	host.Lock.Plugins["file"] = entry
	dir := t.TempDir()
	in := writeFile(t, filepath.Join(dir, "in.csv"), contactsCSV)
	f := &plan.Flow{Name: "x", Source: source("file", in, sdk.Values{"path": in}), Sinks: []*plan.Sink{fileSink(dir, "csv")}}
	_, diags := engine.Prepare(context.Background(), f, engine.Options{Host: host})
	if !diags.HasErrors() || diags[0].Summary != "Connector plugin is not trusted" ||
		!strings.Contains(diags[0].Detail, "sluice plugins lock") {
		t.Fatalf("diagnostics: %v", diags)
	}

	// The development switch is the explicit way around it.
	host.AllowUnlocked = true
	p, diags := engine.Prepare(context.Background(), f, engine.Options{Host: host})
	if diags.HasErrors() || p == nil {
		t.Fatalf("with AllowUnlocked: %v", diags)
	}
}

func TestPluginCrashFailsTheRunNamingIt(t *testing.T) {
	t.Setenv("SLUICE_FAULT_MODE", "crash")
	host := newHost(t, nil)
	out := t.TempDir()
	f := &plan.Flow{Name: "x", Source: source("fault", "", nil), Sinks: []*plan.Sink{fileSink(out, "csv")}}
	res := prepare(t, host, f, engine.Options{}).Run(context.Background(), engine.RunOptions{})
	if res.Status != engine.StatusFailed {
		t.Fatalf("status %s after a plugin crash; want failed", res.Status)
	}
	if !strings.Contains(res.Err.Error(), "plugin fault crashed") {
		t.Fatalf("error %q does not say the fault plugin crashed", res.Err)
	}
	var pf *rpc.PluginFailure
	if !errors.As(res.Err, &pf) || pf.Plugin != "fault" || pf.Kind != rpc.Crashed {
		t.Fatalf("the run error does not carry the plugin failure: %#v", res.Err)
	}
	if lines := outputLines(t, out); len(lines) != 0 {
		t.Fatalf("a failed run published %d rows", len(lines))
	}
}

func TestHungPluginFailsTheRunNamingIt(t *testing.T) {
	t.Setenv("SLUICE_FAULT_MODE", "hang")
	host := newHost(t, nil)
	host.IdleTimeout = 500 * time.Millisecond
	f := &plan.Flow{Name: "x", Source: source("fault", "", nil), Sinks: []*plan.Sink{fileSink(t.TempDir(), "csv")}}
	res := prepare(t, host, f, engine.Options{}).Run(context.Background(), engine.RunOptions{})
	if res.Status != engine.StatusFailed || !strings.Contains(res.Err.Error(), "plugin fault stopped answering") {
		t.Fatalf("status %s, error %v; want failed naming the fault plugin", res.Status, res.Err)
	}
	var pf *rpc.PluginFailure
	if !errors.As(res.Err, &pf) || pf.Kind != rpc.Unresponsive {
		t.Fatalf("the run error does not carry the plugin failure: %#v", res.Err)
	}
}

func TestPluginLogsReachTheHostLogUnderItsName(t *testing.T) {
	t.Setenv("SLUICE_FAULT_MODE", "log")
	logs := &logBuffer{}
	host := newHost(t, logs)
	f := &plan.Flow{Name: "x", Source: source("fault", "", nil), Sinks: []*plan.Sink{fileSink(t.TempDir(), "csv")}}
	res := prepare(t, host, f, engine.Options{}).Run(context.Background(), engine.RunOptions{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	host.Close()
	line := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "hello from the fault plugin") {
			line = l
		}
	}
	if !strings.Contains(line, "[INFO]") || !strings.Contains(line, "sluice.fault") || !strings.Contains(line, "batch_rows=100") {
		t.Fatalf("plugin log line not routed with level, name and fields; got %q in:\n%s", line, logs.String())
	}
}

const brokenCSV = `Id,Name,Amount
1,ok,10
2,short
3,ok,30
4,bad-number,abc
5,ok,50
`

func TestMalformedRowFailsFastNamingFileAndLine(t *testing.T) {
	host := newHost(t, nil)
	dir := t.TempDir()
	in := writeFile(t, filepath.Join(dir, "broken.csv"), brokenCSV)
	out := filepath.Join(dir, "out")
	f := &plan.Flow{Name: "x", Source: source("file", in, sdk.Values{"path": in, "schema": map[string]string{"Amount": "int"}}),
		Sinks: []*plan.Sink{fileSink(out, "csv")}, OnError: plan.ErrorPolicy{Mode: plan.FailFast}}
	res := prepare(t, host, f, engine.Options{}).Run(context.Background(), engine.RunOptions{})
	if res.Status != engine.StatusFailed {
		t.Fatalf("status %s, want failed", res.Status)
	}
	if !strings.Contains(res.Err.Error(), "broken.csv:3") {
		t.Fatalf("error %q does not name broken.csv:3", res.Err)
	}
	if lines := outputLines(t, out); len(lines) != 0 {
		t.Fatalf("a failed run published rows: %q", lines)
	}
}

func TestMalformedRowsGoToDeadLetterWhenContinuing(t *testing.T) {
	host := newHost(t, nil)
	dir := t.TempDir()
	in := writeFile(t, filepath.Join(dir, "broken.csv"), brokenCSV)
	out, dead := filepath.Join(dir, "out"), filepath.Join(dir, "rejected")
	f := &plan.Flow{Name: "x", Source: source("file", in, sdk.Values{"path": in, "schema": map[string]string{"Amount": "int"}}),
		Sinks:   []*plan.Sink{fileSink(out, "csv")},
		OnError: plan.ErrorPolicy{Mode: plan.Continue, DeadLetter: dead}}
	res := prepare(t, host, f, engine.Options{}).Run(context.Background(), engine.RunOptions{RunID: "r"})
	if res.Err != nil || res.Status != engine.StatusCompletedWithErrors {
		t.Fatalf("status %s err %v, want completed_with_errors", res.Status, res.Err)
	}
	if got := outputLines(t, out); strings.Join(got, "|") != "1,ok,10|3,ok,30|5,ok,50" {
		t.Fatalf("good rows written: %q", got)
	}
	if res.Stats.RecordsRead != 5 || res.Stats.RecordsFailed != 2 || res.Stats.RecordsWritten != 3 {
		t.Fatalf("counters %+v", res.Stats)
	}
	b, err := os.ReadFile(res.DeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	var letters []engine.DeadLetter
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var dl engine.DeadLetter
		if err := json.Unmarshal([]byte(l), &dl); err != nil {
			t.Fatal(err)
		}
		letters = append(letters, dl)
	}
	if len(letters) != 2 || !strings.HasSuffix(letters[0].Location, "broken.csv:3") || letters[0].Raw != "2,short" ||
		!strings.HasSuffix(letters[1].Location, "broken.csv:5") || !strings.Contains(letters[1].Reason, "Amount") {
		t.Fatalf("dead letters: %+v", letters)
	}
}

func TestUnwritableOutputFailsBeforeReading(t *testing.T) {
	host := newHost(t, nil)
	dir := t.TempDir()
	in := writeFile(t, filepath.Join(dir, "in.csv"), contactsCSV)
	blocker := writeFile(t, filepath.Join(dir, "blocker"), "a file where a directory should be")
	f := &plan.Flow{Name: "x", Source: source("file", in, sdk.Values{"path": in}),
		Sinks: []*plan.Sink{fileSink(filepath.Join(blocker, "out"), "csv")}}
	res := prepare(t, host, f, engine.Options{}).Run(context.Background(), engine.RunOptions{})
	if res.Status != engine.StatusFailed || !strings.Contains(res.Err.Error(), filepath.Join(blocker, "out")) {
		t.Fatalf("status %s err %v; want failed naming the path", res.Status, res.Err)
	}
	if res.Stats.RecordsRead != 0 {
		t.Fatalf("read %d records before noticing the sink cannot write", res.Stats.RecordsRead)
	}
}

func TestCancelStopsCleanlyAndPublishesNothingHalfDone(t *testing.T) {
	t.Setenv("SLUICE_FAULT_MODE", "slow")
	host := newHost(t, nil)
	out := t.TempDir()
	f := &plan.Flow{Name: "x", Source: source("fault", "", nil), Sinks: []*plan.Sink{fileSink(out, "csv")}}
	p := prepare(t, host, f, engine.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var seen atomic.Int64
	go func() {
		for seen.Load() < 300 {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	res := p.Run(ctx, engine.RunOptions{OnProgress: func(s engine.Stats) { seen.Store(s.RecordsRead) }, ProgressEvery: 10 * time.Millisecond})
	if res.Status != engine.StatusCancelled {
		t.Fatalf("status %s (err %v), want cancelled", res.Status, res.Err)
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		t.Errorf("cancelled run left %s in the output directory", e.Name())
	}
}

// memSource and memSink run in-process to test the run path's own rules.
type memSource struct {
	sdk.Unimplemented
	batches int
	sent    atomic.Int64
}

func (m *memSource) Spec() sdk.Spec {
	return sdk.Spec{Name: "memsrc", Version: "1", Capabilities: []sdk.Capability{sdk.CapSource}}
}
func (m *memSource) Configure(context.Context, sdk.Values) sdk.Diagnostics { return nil }
func (m *memSource) DescribeEntity(context.Context, sdk.DescribeRequest) (sdk.Entity, error) {
	return sdk.Entity{Schema: sdktest.TenColumnSchema}, nil
}
func (m *memSource) Read(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	for i := 0; i < m.batches; i++ {
		rec := sdktest.TenColumnBatch(i*100, 100)
		err := out.Send(rec)
		rec.Release()
		if err != nil {
			return err
		}
		m.sent.Add(1)
		if err := out.Checkpoint([]byte(fmt.Sprint(i + 1))); err != nil {
			return err
		}
	}
	return nil
}

type memSink struct {
	sdk.Unimplemented
	name       string
	delay      time.Duration
	failCommit int // fail the n-th commit (1-based); 0 never
	commits    atomic.Int64
	written    atomic.Int64
	onWrite    func()
}

func (m *memSink) Spec() sdk.Spec {
	return sdk.Spec{Name: m.name, Version: "1", Capabilities: []sdk.Capability{sdk.CapSink}}
}
func (m *memSink) Configure(context.Context, sdk.Values) sdk.Diagnostics { return nil }
func (m *memSink) OpenWriter(context.Context, sdk.WriteRequest) (sdk.Writer, error) {
	return &memSinkWriter{m}, nil
}

type memSinkWriter struct{ m *memSink }

func (w *memSinkWriter) Write(ctx context.Context, rec arrow.RecordBatch) (sdk.WriteResult, error) {
	if w.m.onWrite != nil {
		w.m.onWrite()
	}
	time.Sleep(w.m.delay)
	w.m.written.Add(rec.NumRows())
	return sdk.WriteResult{}, nil
}
func (w *memSinkWriter) Commit(context.Context) (sdk.CommitResult, error) {
	n := w.m.commits.Add(1)
	if int(n) == w.m.failCommit {
		return sdk.CommitResult{}, errors.New("disk full")
	}
	return sdk.CommitResult{}, nil
}
func (w *memSinkWriter) Close(context.Context) error { return nil }

func memHost(src *memSource, sinks ...*memSink) *pluginhost.Host {
	h := &pluginhost.Host{}
	h.RegisterInProcess("memsrc", func() sdk.Connector { return src })
	for _, s := range sinks {
		h.RegisterInProcess(s.name, func() sdk.Connector { return s })
	}
	return h
}

func memFlow(sinks ...string) *plan.Flow {
	f := &plan.Flow{Name: "mem", Source: source("memsrc", "", nil)}
	for _, s := range sinks {
		f.Sinks = append(f.Sinks, &plan.Sink{Name: s, Endpoint: plan.Endpoint{Type: s}})
	}
	return f
}

func TestSlowSinkSlowsTheSource(t *testing.T) {
	src := &memSource{batches: 200}
	sink := &memSink{name: "slow", delay: 2 * time.Millisecond}
	var maxAhead atomic.Int64
	sink.onWrite = func() {
		ahead := src.sent.Load() - sink.written.Load()/100
		if ahead > maxAhead.Load() {
			maxAhead.Store(ahead)
		}
	}
	p := prepare(t, memHost(src, sink), memFlow("slow"), engine.Options{ChannelDepth: 2})
	res := p.Run(context.Background(), engine.RunOptions{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	// Two bounded channels of depth 2, plus one batch in each stage.
	if got := maxAhead.Load(); got > 8 {
		t.Fatalf("the source ran %d batches ahead of a slow sink; channels must bound it", got)
	}
	if sink.written.Load() != 20_000 {
		t.Fatalf("sink got %d rows, want 20000", sink.written.Load())
	}
}

func TestCheckpointWaitsForEverySink(t *testing.T) {
	dir := t.TempDir()
	store := engine.DirCheckpoints{Dir: dir}
	src := &memSource{batches: 10}
	good := &memSink{name: "good"}
	bad := &memSink{name: "bad", failCommit: 4}
	p := prepare(t, memHost(src, good, bad), memFlow("good", "bad"), engine.Options{Checkpoints: store})
	res := p.Run(context.Background(), engine.RunOptions{})
	if res.Status != engine.StatusFailed || !strings.Contains(res.Err.Error(), "sink bad: commit: disk full") {
		t.Fatalf("status %s err %v", res.Status, res.Err)
	}
	saved, _ := store.Load(context.Background(), "mem")
	// Commits 1-3 succeeded on both sinks; the 4th failed on one.
	if string(saved) != "3" {
		t.Fatalf("saved checkpoint %q, want 3: a checkpoint must wait for every sink's commit", saved)
	}
}

func TestTwoSinksEachGetEveryRecord(t *testing.T) {
	src := &memSource{batches: 50}
	a, b := &memSink{name: "a"}, &memSink{name: "b", delay: time.Millisecond}
	res := prepare(t, memHost(src, a, b), memFlow("a", "b"), engine.Options{}).Run(context.Background(), engine.RunOptions{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if a.written.Load() != 5000 || b.written.Load() != 5000 || res.Stats.RecordsWritten != 5000 {
		t.Fatalf("a %d b %d summary %d", a.written.Load(), b.written.Load(), res.Stats.RecordsWritten)
	}
}

func TestWrongSourceNamesPointAtTheirAttribute(t *testing.T) {
	host := newHost(t, nil)
	dir := t.TempDir()
	in := writeFile(t, filepath.Join(dir, "in.csv"), contactsCSV)
	pathRange := hcl.Range{Filename: "f.hcl", Start: hcl.Pos{Line: 3, Column: 12}, End: hcl.Pos{Line: 3, Column: 30}}
	fieldsRange := hcl.Range{Filename: "f.hcl", Start: hcl.Pos{Line: 4, Column: 12}, End: hcl.Pos{Line: 4, Column: 24}}
	missing := filepath.Join(dir, "nope.csv")
	f := &plan.Flow{Name: "x", Source: &plan.Source{Endpoint: plan.Endpoint{Type: "file", Entity: missing,
		Options: sdk.Values{"path": missing}, AttrRanges: map[string]hcl.Range{"path": pathRange}}},
		Sinks: []*plan.Sink{fileSink(dir, "csv")}}
	_, diags := engine.Prepare(context.Background(), f, engine.Options{Host: host})
	if !diags.HasErrors() || diags[0].Subject.Start.Line != 3 || !strings.Contains(diags[0].Detail, "nope.csv") {
		t.Fatalf("a missing path: %v (subject %v)", diags, diags[0].Subject)
	}

	f.Source = &plan.Source{Endpoint: plan.Endpoint{Type: "file", Entity: in, Options: sdk.Values{"path": in},
		AttrRanges: map[string]hcl.Range{"fields": fieldsRange}}, Fields: []string{"Id", "Emial"}}
	_, diags = engine.Prepare(context.Background(), f, engine.Options{Host: host})
	if !diags.HasErrors() || diags[0].Subject.Start.Line != 4 || !strings.Contains(diags[0].Detail, `Did you mean "Email"?`) {
		t.Fatalf("a misspelled field: %v", diags)
	}
}
