package engine_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/pluginhost"
	"github.com/sluice-dev/sluice/sdk"
)

// change is one scripted event: a record id, its email and change type.
// An empty id makes a keep-alive (a position without events).
type change struct{ id, email, typ string }

var contactSchema = arrow.NewSchema([]arrow.Field{
	{Name: "Id", Type: arrow.BinaryTypes.String},
	{Name: "Email", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// eventSource plays scripted changes, each Send carrying the position
// "<n>" (events so far), and then waits for the subscription to end.
type eventSource struct {
	sdk.Unimplemented
	feed      chan []change
	badSchema bool
	endEarly  bool

	mu    sync.Mutex
	req   sdk.SubscribeRequest
	acked []string
}

func newEventSource() *eventSource { return &eventSource{feed: make(chan []change, 64)} }

func (e *eventSource) Spec() sdk.Spec {
	return sdk.Spec{Name: "events", Version: "1", Capabilities: []sdk.Capability{sdk.CapSource, sdk.CapEvents}}
}
func (e *eventSource) Configure(context.Context, sdk.Values) sdk.Diagnostics { return nil }
func (e *eventSource) DescribeEntity(context.Context, sdk.DescribeRequest) (sdk.Entity, error) {
	return sdk.Entity{Schema: contactSchema, PrimaryKey: []string{"Id"}}, nil
}

func (e *eventSource) Subscribe(ctx context.Context, req sdk.SubscribeRequest, out sdk.EventSender) error {
	e.mu.Lock()
	e.req = req
	e.mu.Unlock()
	n := 0
	if len(req.Position) > 0 {
		fmt.Sscan(string(req.Position), &n)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case pos := <-out.Acked():
			e.mu.Lock()
			e.acked = append(e.acked, string(pos))
			e.mu.Unlock()
		case batch, ok := <-e.feed:
			if !ok || e.endEarly {
				return nil
			}
			if batch[0].id == "" {
				if err := out.Send(nil, []byte(fmt.Sprint(n))); err != nil {
					return err
				}
				continue
			}
			n += len(batch)
			rec := e.batch(batch)
			err := out.Send(rec, []byte(fmt.Sprint(n)))
			rec.Release()
			if err != nil {
				return err
			}
		}
	}
}

func (e *eventSource) batch(cs []change) arrow.RecordBatch {
	fields := append(slices.Clone(contactSchema.Fields()), arrow.Field{Name: sdk.ChangeTypeField, Type: arrow.BinaryTypes.String})
	if e.badSchema {
		fields = fields[1:]
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(fields, nil))
	defer b.Release()
	for _, c := range cs {
		i := 0
		if !e.badSchema {
			b.Field(0).(*array.StringBuilder).Append(c.id)
			i = 1
		}
		if c.email == "" {
			b.Field(i).AppendNull()
		} else {
			b.Field(i).(*array.StringBuilder).Append(c.email)
		}
		b.Field(i + 1).(*array.StringBuilder).Append(c.typ)
	}
	return b.NewRecordBatch()
}

func (e *eventSource) acks() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.acked)
}

// tableSink is a keyed table: writes are staged and applied on Commit,
// deletions applied when the writer was asked for them.
type tableSink struct {
	sdk.Unimplemented
	name string

	mu      sync.Mutex
	req     sdk.WriteRequest
	rows    map[string]string // Id → Email
	commits int
	sawType bool // a written batch carried _change_type
}

func (s *tableSink) Spec() sdk.Spec {
	return sdk.Spec{Name: s.name, Version: "1", Capabilities: []sdk.Capability{sdk.CapSink}}
}
func (s *tableSink) Configure(context.Context, sdk.Values) sdk.Diagnostics { return nil }
func (s *tableSink) OpenWriter(_ context.Context, req sdk.WriteRequest) (sdk.Writer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.req = req
	if s.rows == nil {
		s.rows = map[string]string{}
	}
	return &tableWriter{s: s}, nil
}

func (s *tableSink) snapshot() (map[string]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.rows), s.commits
}

type tableWriter struct {
	s      *tableSink
	staged [][3]string // id, email, change type
}

func (w *tableWriter) Write(_ context.Context, rec arrow.RecordBatch) (sdk.WriteResult, error) {
	id := rec.Column(0).(*array.String)
	email := rec.Column(1).(*array.String)
	var typ *array.String
	if idx := rec.Schema().FieldIndices(sdk.ChangeTypeField); len(idx) == 1 {
		typ = rec.Column(idx[0]).(*array.String)
		w.s.mu.Lock()
		w.s.sawType = true
		w.s.mu.Unlock()
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		row := [3]string{id.Value(i), email.Value(i), ""}
		if typ != nil {
			row[2] = typ.Value(i)
		}
		w.staged = append(w.staged, row)
	}
	return sdk.WriteResult{}, nil
}

func (w *tableWriter) Commit(context.Context) (sdk.CommitResult, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	for _, r := range w.staged {
		if r[2] == sdk.ChangeDelete && w.s.req.Deletes {
			delete(w.s.rows, r[0])
		} else {
			w.s.rows[r[0]] = r[1]
		}
	}
	w.staged = nil
	w.s.commits++
	return sdk.CommitResult{}, nil
}

func (w *tableWriter) Close(context.Context) error { return nil }

func eventFlow(batchSize int, window time.Duration, sinks ...*plan.Sink) *plan.Flow {
	return &plan.Flow{
		Name:    "changes",
		Trigger: plan.Trigger{Kind: "event", BatchSize: batchSize, BatchWindow: window, EventOptions: sdk.Values{"event": "ContactChangeEvent"}},
		Source:  source("events", "Contact", sdk.Values{"since": "x"}),
		Tasks: []plan.Task{
			// A deletion has no email: the filter must not drop it.
			&plan.Filter{Where: formula(`Email contains "@"`)},
			&plan.Map{Fields: []plan.MapField{{Name: "id", Formula: formula("Id")}, {Name: "email", Formula: formula("lower(Email)")}}},
		},
		Sinks: sinks,
	}
}

func upsertSink(name string, deletes bool) *plan.Sink {
	return &plan.Sink{Name: name, Mode: sdk.WriteUpsert, Keys: []string{"id"}, Deletes: deletes, Endpoint: plan.Endpoint{Type: name}}
}

func eventHost(src *eventSource, sinks ...*tableSink) *pluginhost.Host {
	h := &pluginhost.Host{}
	h.RegisterInProcess("events", func() sdk.Connector { return src })
	for _, s := range sinks {
		h.RegisterInProcess(s.name, func() sdk.Connector { return s })
	}
	return h
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEventFlowCommitsMicroBatchesAndStopsCleanly(t *testing.T) {
	store := engine.DirCheckpoints{Dir: t.TempDir()}
	src := newEventSource()
	table, archive := &tableSink{name: "table"}, &tableSink{name: "archive"}
	f := eventFlow(3, time.Hour, upsertSink("table", true), upsertSink("archive", false))
	p := prepare(t, eventHost(src, table, archive), f, engine.Options{Checkpoints: store})

	stop := make(chan struct{})
	done := make(chan *engine.RunResult)
	go func() { done <- p.Run(context.Background(), engine.RunOptions{Stop: stop}) }()

	for _, c := range []change{
		{"c1", "A@x.com", sdk.ChangeCreate}, {"c2", "b@x.com", sdk.ChangeCreate}, {"c3", "bad", sdk.ChangeCreate},
		{"c2", "", sdk.ChangeDelete}, {"c1", "a2@x.com", sdk.ChangeUpdate}, {"c4", "d@x.com", sdk.ChangeCreate},
		{"c5", "e@x.com", sdk.ChangeCreate},
	} {
		src.feed <- []change{c}
	}
	// Six events close two micro-batches; the seventh waits for the window.
	eventually(t, "the second micro-batch's checkpoint", func() bool {
		pos, _ := store.Load(context.Background(), "changes")
		return string(pos) == "6"
	})
	rows, commits := table.snapshot()
	if commits != 2 || !maps.Equal(rows, map[string]string{"c1": "a2@x.com", "c4": "d@x.com"}) {
		t.Fatalf("after two micro-batches the table is %v (%d commits)", rows, commits)
	}
	eventually(t, "acknowledgements reaching the connector", func() bool {
		return slices.Equal(src.acks(), []string{"3", "6"})
	})

	close(stop)
	res := <-done
	if res.Status != engine.StatusSucceeded {
		t.Fatalf("a stopped event run: status %s, err %v", res.Status, res.Err)
	}
	if pos, _ := store.Load(context.Background(), "changes"); string(pos) != "7" {
		t.Fatalf("checkpoint after stop = %q, want 7: a stop commits what arrived", pos)
	}
	rows, _ = table.snapshot()
	if want := map[string]string{"c1": "a2@x.com", "c4": "d@x.com", "c5": "e@x.com"}; !maps.Equal(rows, want) {
		t.Fatalf("table = %v, want %v", rows, want)
	}
	// The archive cannot delete: it never sees the deletion or the column.
	arch, _ := archive.snapshot()
	if want := map[string]string{"c1": "a2@x.com", "c2": "b@x.com", "c4": "d@x.com", "c5": "e@x.com"}; !maps.Equal(arch, want) {
		t.Fatalf("archive = %v, want %v", arch, want)
	}
	if archive.sawType || archive.req.Deletes || archive.req.Schema.NumFields() != 2 {
		t.Fatalf("archive got the change type (schema %s, deletes %v)", archive.req.Schema, archive.req.Deletes)
	}
	if !table.sawType || !table.req.Deletes {
		t.Fatalf("the table was not asked to apply deletions")
	}
	if s := res.Stats; s.RecordsRead != 7 || s.RecordsFiltered != 1 {
		t.Fatalf("counters %+v, want 7 read and 1 filtered (c3)", s)
	}
	src.mu.Lock()
	req := src.req
	src.mu.Unlock()
	if req.Entity != "Contact" || req.Options["event"] != "ContactChangeEvent" || req.Options["since"] != "x" {
		t.Fatalf("subscribe request %+v: want the entity and the source's and trigger's options", req)
	}
}

func TestEventFlowWindowAndKeepAlive(t *testing.T) {
	store := engine.DirCheckpoints{Dir: t.TempDir()}
	src := newEventSource()
	table := &tableSink{name: "table"}
	p := prepare(t, eventHost(src, table), eventFlow(1000, 20*time.Millisecond, upsertSink("table", true)), engine.Options{Checkpoints: store})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan *engine.RunResult)
	go func() { done <- p.Run(ctx, engine.RunOptions{}) }()

	src.feed <- []change{{"c1", "a@x.com", sdk.ChangeCreate}, {"c2", "b@x.com", sdk.ChangeCreate}}
	eventually(t, "the window to close the micro-batch", func() bool {
		pos, _ := store.Load(ctx, "changes")
		return string(pos) == "2"
	})
	src.feed <- []change{{}} // a keep-alive at the same position
	src.feed <- []change{{"c3", "c@x.com", sdk.ChangeCreate}}
	eventually(t, "the next window", func() bool {
		pos, _ := store.Load(ctx, "changes")
		return string(pos) == "3"
	})
	cancel()
	res := <-done
	if res.Status != engine.StatusCancelled {
		t.Fatalf("status %s, want cancelled", res.Status)
	}
}

func TestEventFlowCancelResumesFromLastCommit(t *testing.T) {
	store := engine.DirCheckpoints{Dir: t.TempDir()}
	src := newEventSource()
	table := &tableSink{name: "table"}
	host := eventHost(src, table)
	f := eventFlow(2, time.Hour, upsertSink("table", true))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *engine.RunResult)
	go func() { done <- prepare(t, host, f, engine.Options{Checkpoints: store}).Run(ctx, engine.RunOptions{}) }()
	src.feed <- []change{{"c1", "a@x.com", sdk.ChangeCreate}, {"c2", "b@x.com", sdk.ChangeCreate}}
	src.feed <- []change{{"c3", "c@x.com", sdk.ChangeCreate}} // pending when cancelled
	eventually(t, "the first checkpoint", func() bool {
		pos, _ := store.Load(ctx, "changes")
		return string(pos) == "2"
	})
	cancel()
	if res := <-done; res.Status != engine.StatusCancelled {
		t.Fatalf("status %s", res.Status)
	}
	if rows, _ := table.snapshot(); len(rows) != 2 {
		t.Fatalf("a cancelled run published its uncommitted tail: %v", rows)
	}

	// The next run starts from the stored position.
	stop := make(chan struct{})
	go func() {
		done <- prepare(t, host, f, engine.Options{Checkpoints: store}).Run(context.Background(), engine.RunOptions{Stop: stop})
	}()
	eventually(t, "the second subscription", func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return string(src.req.Position) == "2"
	})
	close(stop)
	if res := <-done; res.Status != engine.StatusSucceeded || string(res.ResumedFrom) != "2" {
		t.Fatalf("resumed run: status %s, resumed from %q", res.Status, res.ResumedFrom)
	}
}

func TestEventFlowFailures(t *testing.T) {
	t.Run("subscription ends by itself", func(t *testing.T) {
		src := newEventSource()
		src.endEarly = true
		p := prepare(t, eventHost(src, &tableSink{name: "table"}), eventFlow(10, time.Hour, upsertSink("table", true)), engine.Options{})
		src.feed <- []change{{"c1", "a@x.com", sdk.ChangeCreate}}
		res := p.Run(context.Background(), engine.RunOptions{})
		if res.Status != engine.StatusFailed || !strings.Contains(res.Err.Error(), "ended unexpectedly") {
			t.Fatalf("status %s err %v", res.Status, res.Err)
		}
	})
	t.Run("events that do not match the schema", func(t *testing.T) {
		src := newEventSource()
		src.badSchema = true
		p := prepare(t, eventHost(src, &tableSink{name: "table"}), eventFlow(10, time.Hour, upsertSink("table", true)), engine.Options{})
		src.feed <- []change{{"c1", "a@x.com", sdk.ChangeCreate}}
		res := p.Run(context.Background(), engine.RunOptions{})
		if res.Status != engine.StatusFailed || !strings.Contains(res.Err.Error(), "sent change events with fields (Email, _change_type), expected (Id, Email, _change_type)") {
			t.Fatalf("status %s err %v", res.Status, res.Err)
		}
	})
	t.Run("deletes without change events", func(t *testing.T) {
		src := &memSource{batches: 1}
		f := memFlow()
		f.Sinks = []*plan.Sink{{Name: "table", Mode: sdk.WriteUpsert, Deletes: true, Endpoint: plan.Endpoint{Type: "table"}}}
		h := memHost(src)
		h.RegisterInProcess("table", func() sdk.Connector { return &tableSink{name: "table"} })
		_, diags := engine.Prepare(context.Background(), f, engine.Options{Host: h})
		if !diags.HasErrors() || diags[0].Summary != "No deletions to apply" {
			t.Fatalf("diags = %v", diags)
		}
	})
	t.Run("a source without events", func(t *testing.T) {
		f := memFlow("table")
		f.Trigger = plan.Trigger{Kind: "event"}
		h := memHost(&memSource{})
		h.RegisterInProcess("table", func() sdk.Connector { return &tableSink{name: "table"} })
		_, diags := engine.Prepare(context.Background(), f, engine.Options{Host: h})
		if !diags.HasErrors() || diags[0].Summary != "Source has no change events" {
			t.Fatalf("diags = %v", diags)
		}
	})
}

// readableEvents also reads: what preview uses.
type readableEvents struct{ *eventSource }

func (r *readableEvents) Read(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	b := array.NewRecordBuilder(memory.DefaultAllocator, contactSchema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"c1", "c2"}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{"A@X.COM", "nobody"}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	return out.Send(rec)
}

func TestPreviewOfAnEventFlow(t *testing.T) {
	src := &readableEvents{eventSource: newEventSource()}
	h := &pluginhost.Host{}
	h.RegisterInProcess("events", func() sdk.Connector { return src })
	h.RegisterInProcess("table", func() sdk.Connector { return &tableSink{name: "table"} })
	p := prepare(t, h, eventFlow(10, time.Second, upsertSink("table", true)), engine.Options{})
	res, err := p.Preview(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 || res.Rows[0]["email"] != "a@x.com" || res.Rows[0][sdk.ChangeTypeField] != sdk.ChangeUpdate || res.Filtered != 1 {
		t.Fatalf("preview %+v: want the current records as updates, through the tasks", res)
	}
}
