package rpc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

// memConn is an in-memory connector: its source generates ten-column rows,
// its sink keeps committed row counts per destination name.
type memConn struct {
	sdk.Unimplemented
	mu        sync.Mutex
	committed map[string]int64
	// rejectEvery makes the sink refuse every n-th row (by id).
	rejectEvery int64
}

var (
	_ sdk.Source          = (*memConn)(nil)
	_ sdk.Sink            = (*memConn)(nil)
	_ sdk.EntityDescriber = (*memConn)(nil)
)

func newMemConn() *memConn { return &memConn{committed: map[string]int64{}} }

func (m *memConn) Spec() sdk.Spec {
	return sdk.Spec{Name: "mem", Version: "1.0.0", Capabilities: []sdk.Capability{sdk.CapSource, sdk.CapSink},
		Source: sdk.ConfigSchema{Attributes: []sdk.Attribute{{Name: "rows", Type: sdk.TypeInt}}},
		Sink:   sdk.ConfigSchema{Attributes: []sdk.Attribute{{Name: "dest", Type: sdk.TypeString, Required: true, Entity: true}}}}
}

func (m *memConn) Configure(context.Context, sdk.Values) sdk.Diagnostics { return nil }

func (m *memConn) DescribeEntity(context.Context, sdk.DescribeRequest) (sdk.Entity, error) {
	return sdk.Entity{Name: "rows", Schema: sdktest.TenColumnSchema}, nil
}

func (m *memConn) Read(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	total := int(req.Options.Int("rows", 1000))
	step := req.Limits.MaxRows
	if step <= 0 {
		step = sdk.DefaultLimits.MaxRows
	}
	for start := 0; start < total; start += step {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec := sdktest.TenColumnBatch(start, min(step, total-start))
		if len(req.Fields) > 0 {
			rec = projectRec(rec, req.Fields)
		}
		err := out.Send(rec)
		rec.Release()
		if err != nil {
			return err
		}
		pos, _ := json.Marshal(map[string]int{"next": start + step})
		if err := out.Checkpoint(pos); err != nil {
			return err
		}
	}
	if req.Options.Bool("reject", false) {
		return out.Reject(sdk.BadRecord{Location: "mem:1", Reason: "synthetic", Raw: []byte("x")})
	}
	return nil
}

func projectRec(rec arrow.RecordBatch, fields []string) arrow.RecordBatch {
	var fs []arrow.Field
	var cols []arrow.Array
	for _, f := range fields {
		i := rec.Schema().FieldIndices(f)[0]
		fs = append(fs, rec.Schema().Field(i))
		cols = append(cols, rec.Column(i))
	}
	out := arrowRecord(arrow.NewSchema(fs, nil), cols, rec.NumRows())
	rec.Release()
	return out
}

func (m *memConn) OpenWriter(ctx context.Context, req sdk.WriteRequest) (sdk.Writer, error) {
	if req.Entity == "" {
		return nil, fmt.Errorf("no destination")
	}
	return &memWriter{m: m, dest: req.Entity}, nil
}

type memWriter struct {
	m       *memConn
	dest    string
	pending int64
}

func (w *memWriter) Write(ctx context.Context, rec arrow.RecordBatch) (sdk.WriteResult, error) {
	if err := ctx.Err(); err != nil {
		return sdk.WriteResult{}, err
	}
	var res sdk.WriteResult
	if w.m.rejectEvery > 0 {
		ids := rec.Column(0)
		for i := 0; i < int(rec.NumRows()); i++ {
			id := ids.GetOneForMarshal(i).(int64)
			if id%w.m.rejectEvery == 0 {
				res.Rejected = append(res.Rejected, sdk.RejectedRow{Row: i, Reason: fmt.Sprintf("id %d refused", id)})
			}
		}
	}
	w.pending += rec.NumRows() - int64(len(res.Rejected))
	return res, nil
}

func (w *memWriter) Commit(context.Context) (sdk.CommitResult, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	w.m.committed[w.dest] += w.pending
	w.pending = 0
	return sdk.CommitResult{}, nil
}

func (w *memWriter) Close(context.Context) error { w.pending = 0; return nil }

func (m *memConn) count(dest string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.committed[dest]
}
