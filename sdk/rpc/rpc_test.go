package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/rpc"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

func arrowRecord(s *arrow.Schema, cols []arrow.Array, rows int64) arrow.RecordBatch {
	return array.NewRecordBatch(s, cols, rows)
}

var destSeq atomic.Int64

func TestConformanceOfMemConnector(t *testing.T) {
	mem := newMemConn()
	sdktest.Run(t, sdktest.Suite{
		New:    func() sdk.Connector { return mem },
		Source: &sdktest.SourceCase{Options: sdk.Values{"rows": int64(5000), "part_rows": int64(1200)}, MinRows: 5000, MinPartitions: 5},
		Sink: &sdktest.SinkCase{
			Options: func(t *testing.T) sdk.Values { return sdk.Values{"dest": fmt.Sprint(destSeq.Add(1))} },
			Count:   func(t *testing.T, o sdk.Values) int64 { return mem.count(o.String("dest", "")) },
			CommitRejects: &sdktest.CommitRejectCase{
				Options: func(t *testing.T) sdk.Values {
					return sdk.Values{"dest": fmt.Sprint(destSeq.Add(1)), "refuse_at_commit": int64(10)}
				},
				Batch:   func() arrow.RecordBatch { return sdktest.TenColumnBatch(0, 100) },
				Refused: 10,
			},
		},
	})
}

// TestRowsRefusedAtCommitCrossTheWire: a long list of rows refused at
// commit arrives whole, in order and with every field, although it is
// split over several messages; the bytes written survive the split.
func TestRowsRefusedAtCommitCrossTheWire(t *testing.T) {
	defer rpc.SetCommitChunkBytes(1 << 10)()
	mem := newMemConn()
	client := sdktest.Pipe(t, mem)
	w, err := client.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "refusing", Schema: sdktest.TenColumnSchema,
		Options: sdk.Values{"refuse_at_commit": int64(3)}, RejectOnCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	rec := sdktest.TenColumnBatch(1, 3000)
	defer rec.Release()
	if _, err := w.Write(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	res, err := w.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejected) != 1000 || res.BytesWritten != 20000 {
		t.Fatalf("%d refused rows and %d bytes written, want 1000 and 20000", len(res.Rejected), res.BytesWritten)
	}
	for i, r := range res.Rejected {
		id := fmt.Sprint(3 * (i + 1))
		if r.Fields["id"] != id || r.Reason != "id "+id+" refused at commit" || r.Location != "mem:"+id {
			t.Fatalf("refused row %d = %+v", i, r)
		}
	}
	// The stream goes on: a second commit is answered with its own id.
	if res, err := w.Commit(context.Background()); err != nil || len(res.Rejected) != 0 {
		t.Fatalf("second Commit = %+v, %v", res, err)
	}
	if got := mem.count("refusing"); got != 2000 {
		t.Fatalf("committed %d rows, want 2000", got)
	}
}

func TestReadKeepsOrderOfBatchesCheckpointsAndRejects(t *testing.T) {
	client := sdktest.Pipe(t, newMemConn())
	type event struct {
		kind string
		rows int64
		pos  string
	}
	var events []event
	col := &sdktest.Collector{}
	defer col.Release()
	rec := &recorder{
		onSend: func(r arrow.RecordBatch) { events = append(events, event{kind: "batch", rows: r.NumRows()}) },
		onCP:   func(p []byte) { events = append(events, event{kind: "cp", pos: string(p)}) },
		onRej: func(b sdk.BadRecord) {
			events = append(events, event{kind: "reject", pos: b.Location + " " + b.Reason})
		},
	}
	err := client.Read(context.Background(), sdk.ReadRequest{Options: sdk.Values{"rows": int64(2500), "reject": true},
		Limits: sdk.Limits{MaxRows: 1000}}, rec)
	if err != nil {
		t.Fatal(err)
	}
	want := []event{
		{"batch", 1000, ""}, {"cp", 0, `{"next":1000}`},
		{"batch", 1000, ""}, {"cp", 0, `{"next":2000}`},
		{"batch", 500, ""}, {"cp", 0, `{"next":3000}`},
		{"reject", 0, "mem:1 synthetic"},
	}
	if fmt.Sprint(events) != fmt.Sprint(want) {
		t.Fatalf("events over the wire:\n got %v\nwant %v", events, want)
	}
}

type recorder struct {
	onSend func(arrow.RecordBatch)
	onCP   func([]byte)
	onRej  func(sdk.BadRecord)
}

func (r *recorder) Send(rec arrow.RecordBatch) error { r.onSend(rec); return nil }
func (r *recorder) Checkpoint(p []byte) error        { r.onCP(p); return nil }
func (r *recorder) Reject(b sdk.BadRecord) error     { r.onRej(b); return nil }
func (r *recorder) Progress(sdk.Progress) error      { return nil }

func TestReadValuesSurviveTheWire(t *testing.T) {
	client := sdktest.Pipe(t, newMemConn())
	col := &sdktest.Collector{}
	defer col.Release()
	if err := client.Read(context.Background(), sdk.ReadRequest{Options: sdk.Values{"rows": int64(3000)}, Limits: sdk.Limits{MaxRows: 700}}, col); err != nil {
		t.Fatal(err)
	}
	want := sdktest.TenColumnBatch(0, 3000)
	defer want.Release()
	offset := int64(0)
	for _, b := range col.Batches {
		slice := want.NewSlice(offset, offset+b.NumRows())
		if !array.RecordEqual(slice, b) {
			t.Fatalf("batch at row %d differs after crossing the wire", offset)
		}
		slice.Release()
		offset += b.NumRows()
	}
	if offset != 3000 {
		t.Fatalf("got %d rows, want 3000", offset)
	}
}

func TestOversizedWriteIsSplitAndRejectedRowsKeepTheirIndex(t *testing.T) {
	mem := newMemConn()
	mem.rejectEvery = 25_000
	client := sdktest.Pipe(t, mem)
	w, err := client.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "big", Schema: sdktest.TenColumnSchema})
	if err != nil {
		t.Fatal(err)
	}
	// ~8.7 MB of Arrow: over gRPC's 4 MiB default and over the 8 MiB cap,
	// so it must cross as several messages.
	rec := sdktest.TenColumnBatch(1, 100_000)
	defer rec.Release()
	res, err := w.Write(context.Background(), rec)
	if err != nil {
		t.Fatalf("write of a large batch: %v", err)
	}
	var rows []int
	for _, r := range res.Rejected {
		rows = append(rows, r.Row)
	}
	// ids start at 1, so id 25000 is row 24999.
	if fmt.Sprint(rows) != "[24999 49999 74999 99999]" {
		t.Fatalf("rejected rows %v, want [24999 49999 74999 99999]", rows)
	}
	if _, err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := mem.count("big"); got != 100_000-4 {
		t.Fatalf("committed %d rows, want %d", got, 100_000-4)
	}
}

func TestSinkThatCannotOpenFailsAtOpenWriter(t *testing.T) {
	client := sdktest.Pipe(t, newMemConn())
	_, err := client.OpenWriter(context.Background(), sdk.WriteRequest{Schema: sdktest.TenColumnSchema})
	if err == nil || !containsAll(err.Error(), "plugin mem", "no destination") {
		t.Fatalf("want the plugin's error naming it, got %v", err)
	}
}

type sourceOnly struct{ sdk.Unimplemented }

func (sourceOnly) Spec() sdk.Spec                                        { return sdk.Spec{Name: "ro", Version: "1"} }
func (sourceOnly) Configure(context.Context, sdk.Values) sdk.Diagnostics { return nil }

func TestMissingRolesAnswerUnsupported(t *testing.T) {
	client := sdktest.Pipe(t, sourceOnly{})
	if _, err := client.ListEntities(context.Background()); !errors.Is(err, sdk.ErrUnsupported) {
		t.Fatalf("ListEntities: %v, want ErrUnsupported", err)
	}
	if _, err := client.DescribeEntity(context.Background(), sdk.DescribeRequest{}); !errors.Is(err, sdk.ErrUnsupported) {
		t.Fatalf("DescribeEntity: %v, want ErrUnsupported", err)
	}
	err := client.Subscribe(context.Background(), sdk.SubscribeRequest{}, nil)
	if !errors.Is(err, sdk.ErrUnsupported) {
		t.Fatalf("Subscribe: %v, want ErrUnsupported", err)
	}
}

func TestConfigValuesKeepTheirTypes(t *testing.T) {
	got := make(chan sdk.Values, 1)
	c := &configSpy{got: got}
	client := sdktest.Pipe(t, c)
	in := sdk.Values{"s": "x", "i": int64(7), "f": 1.5, "b": true, "l": []string{"a", "b"}, "m": map[string]string{"k": "v"}}
	if d := client.Configure(context.Background(), in); d.HasErrors() {
		t.Fatal(d.Err())
	}
	a, _ := json.Marshal(in)
	b, _ := json.Marshal(<-got)
	if string(a) != string(b) {
		t.Fatalf("config crossed as %s, want %s", b, a)
	}
}

type configSpy struct {
	sdk.Unimplemented
	got chan sdk.Values
}

func (c *configSpy) Spec() sdk.Spec { return sdk.Spec{Name: "spy", Version: "1"} }
func (c *configSpy) Configure(_ context.Context, v sdk.Values) sdk.Diagnostics {
	c.got <- v
	return sdk.Diagnostics{{Severity: sdk.SeverityWarning, Summary: "w", Path: []string{"a", "b"}}}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !contains(s, sub) {
			return false
		}
	}
	return true
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func shmFiles(t *testing.T) []string {
	t.Helper()
	names, _ := filepath.Glob("/dev/shm/sluice-ring-*")
	return names
}

// Batches of 16,384 ten-column rows (about 1.4 MB) cross through the
// shared-memory ring; their values must arrive intact in both directions
// and no ring may outlive its stream.
func TestLargeBatchesCrossThroughSharedMemory(t *testing.T) {
	if _, err := os.Stat("/dev/shm"); err != nil {
		t.Skip("no /dev/shm on this machine")
	}
	before := len(shmFiles(t))
	mem := newMemConn()
	client := sdktest.Pipe(t, mem)
	client.SharedMemory = true
	col := &sdktest.Collector{}
	if err := client.Read(context.Background(), sdk.ReadRequest{Options: sdk.Values{"rows": int64(200_000)},
		Limits: sdk.Limits{MaxRows: 16384, MaxBytes: 8 << 20}}, col); err != nil {
		t.Fatal(err)
	}
	want := sdktest.TenColumnBatch(0, 200_000)
	defer want.Release()
	offset := int64(0)
	w, err := client.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "shm", Schema: sdktest.TenColumnSchema})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range col.Batches {
		slice := want.NewSlice(offset, offset+b.NumRows())
		if !array.RecordEqual(slice, b) {
			t.Fatalf("batch at row %d differs after crossing shared memory", offset)
		}
		slice.Release()
		if _, err := w.Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		offset += b.NumRows()
	}
	col.Release()
	if _, err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if offset != 200_000 || mem.count("shm") != 200_000 {
		t.Fatalf("read %d rows, wrote %d; want 200000 each", offset, mem.count("shm"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(shmFiles(t)) > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(shmFiles(t)); n > before {
		t.Fatalf("%d shared-memory rings left in /dev/shm after their streams ended", n-before)
	}
}

// filterConn records the ReadRequest its Read receives.
type filterConn struct {
	*memConn
	got chan sdk.ReadRequest
}

func (f *filterConn) Read(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	f.got <- req
	return nil
}

func TestReadFiltersSurviveTheWire(t *testing.T) {
	fc := &filterConn{memConn: newMemConn(), got: make(chan sdk.ReadRequest, 1)}
	client := sdktest.Pipe(t, fc)
	at := time.Date(2024, 3, 1, 12, 30, 45, 123456789, time.UTC)
	filters := []sdk.Predicate{
		{Field: "Amount", Op: sdk.OpGt, Values: []any{1000.5}},
		{Field: "Count", Op: sdk.OpLe, Values: []any{int64(-7)}},
		{Field: "Stage", Op: sdk.OpIn, Values: []any{"Won", "it's \"quoted\"", ""}},
		{Field: "Active", Op: sdk.OpEq, Values: []any{true}},
		{Field: "Closed", Op: sdk.OpGe, Values: []any{at}},
		{Field: "Owner", Op: sdk.OpIsNull},
		{Field: "Name", Op: sdk.OpNotNull},
	}
	col := &sdktest.Collector{}
	defer col.Release()
	if err := client.Read(context.Background(), sdk.ReadRequest{Entity: "x", Filters: filters}, col); err != nil {
		t.Fatal(err)
	}
	got := <-fc.got
	if len(got.Filters) != len(filters) {
		t.Fatalf("got %d filters, want %d: %v", len(got.Filters), len(filters), got.Filters)
	}
	for i, want := range filters {
		g := got.Filters[i]
		if g.Field != want.Field || g.Op != want.Op || len(g.Values) != len(want.Values) {
			t.Fatalf("filter %d: got %v, want %v", i, g, want)
		}
		for j, v := range want.Values {
			if tv, ok := v.(time.Time); ok {
				if gt, ok := g.Values[j].(time.Time); !ok || !gt.Equal(tv) || gt.Location() != time.UTC {
					t.Fatalf("filter %d value %d: got %#v, want %v", i, j, g.Values[j], tv)
				}
				continue
			}
			if g.Values[j] != v {
				t.Fatalf("filter %d value %d: got %#v (%T), want %#v (%T)", i, j, g.Values[j], g.Values[j], v, v)
			}
		}
	}
	// No filters stays no filters.
	if err := client.Read(context.Background(), sdk.ReadRequest{Entity: "x"}, col); err != nil {
		t.Fatal(err)
	}
	if got := <-fc.got; got.Filters != nil {
		t.Fatalf("got filters %v from a request without any", got.Filters)
	}
}

func TestReadWindowSurvivesTheWire(t *testing.T) {
	fc := &filterConn{memConn: newMemConn(), got: make(chan sdk.ReadRequest, 1)}
	client := sdktest.Pipe(t, fc)
	w := &sdk.Window{Cursor: "SystemModstamp", To: time.Date(2026, 5, 1, 10, 0, 0, 500, time.UTC)}
	col := &sdktest.Collector{}
	defer col.Release()
	if err := client.Read(context.Background(), sdk.ReadRequest{Entity: "x", Window: w}, col); err != nil {
		t.Fatal(err)
	}
	got := (<-fc.got).Window
	if got == nil || got.Cursor != w.Cursor || !got.From.IsZero() || !got.To.Equal(w.To) {
		t.Fatalf("window crossed as %+v, want %+v (a zero From stays zero)", got, w)
	}
}

// badOptionConn refuses every description with an attribute error,
// wrapped as a connector would.
type badOptionConn struct{ sdk.Unimplemented }

func (badOptionConn) Spec() sdk.Spec {
	return sdk.Spec{Name: "badopt", Version: "1", Capabilities: []sdk.Capability{sdk.CapSource}}
}
func (badOptionConn) Configure(context.Context, sdk.Values) sdk.Diagnostics { return nil }
func (badOptionConn) DescribeEntity(context.Context, sdk.DescribeRequest) (sdk.Entity, error) {
	return sdk.Entity{}, fmt.Errorf("s3: %w", &sdk.AttributeError{Attribute: "schema.amount", Err: errors.New(`unknown type "money"`)})
}

// The attribute a connector's error names survives the wire, so the engine
// can point at it; the text stays as the plugin wrote it.
func TestAttributeErrorsCrossTheWire(t *testing.T) {
	client := sdktest.Pipe(t, badOptionConn{})
	_, err := client.DescribeEntity(context.Background(), sdk.DescribeRequest{})
	var bad *sdk.AttributeError
	if !errors.As(err, &bad) {
		t.Fatalf("error %v (%T) carries no attribute", err, err)
	}
	if bad.Attribute != "schema.amount" || bad.Name() != "schema" {
		t.Errorf("attribute %q (name %q), want schema.amount (schema)", bad.Attribute, bad.Name())
	}
	if want := `plugin badopt: s3: schema.amount: unknown type "money"`; err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
}
