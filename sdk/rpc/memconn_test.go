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
	_ sdk.Partitioner     = (*memConn)(nil)
)

func newMemConn() *memConn { return &memConn{committed: map[string]int64{}} }

func (m *memConn) Spec() sdk.Spec {
	return sdk.Spec{Name: "mem", Version: "1.0.0", Capabilities: []sdk.Capability{sdk.CapSource, sdk.CapSink, sdk.CapPartitions},
		Source: sdk.ConfigSchema{Attributes: []sdk.Attribute{{Name: "rows", Type: sdk.TypeInt},
			{Name: "part_rows", Type: sdk.TypeInt, Description: "rows per partition"}}},
		Sink: sdk.ConfigSchema{Attributes: []sdk.Attribute{{Name: "dest", Type: sdk.TypeString, Required: true, Entity: true},
			{Name: "refuse_at_commit", Type: sdk.TypeInt, Description: "refuse rows whose id is a multiple of this at commit"}}}}
}

func (m *memConn) Configure(context.Context, sdk.Values) sdk.Diagnostics { return nil }

func (m *memConn) DescribeEntity(context.Context, sdk.DescribeRequest) (sdk.Entity, error) {
	return sdk.Entity{Name: "rows", Schema: sdktest.TenColumnSchema}, nil
}

// memPart is a partition's spec: rows [From, To).
type memPart struct{ From, To int }

func (m *memConn) Partitions(_ context.Context, req sdk.ReadRequest) ([]sdk.Partition, error) {
	total := int(req.Options.Int("rows", 1000))
	size := int(req.Options.Int("part_rows", 1000))
	var parts []sdk.Partition
	for from := 0; from < total; from += size {
		p := memPart{From: from, To: min(from+size, total)}
		spec, _ := json.Marshal(p)
		parts = append(parts, sdk.Partition{Key: fmt.Sprintf("rows %d-%d", p.From, p.To-1), Spec: spec, Size: int64(p.To - p.From)})
	}
	return parts, nil
}

func (m *memConn) Read(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	first, total := 0, int(req.Options.Int("rows", 1000))
	if req.Partition != nil {
		var p memPart
		if err := json.Unmarshal(req.Partition, &p); err != nil {
			return fmt.Errorf("partition %q: %w", req.Partition, err)
		}
		first, total = p.From, p.To
	}
	step := req.Limits.MaxRows
	if step <= 0 {
		step = sdk.DefaultLimits.MaxRows
	}
	for start := first; start < total; start += step {
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
	return &memWriter{m: m, dest: req.Entity, refuseEvery: req.Options.Int("refuse_at_commit", 0), rejectOnCommit: req.RejectOnCommit}, nil
}

type memWriter struct {
	m       *memConn
	dest    string
	pending int64
	// refuseEvery makes Commit refuse the pending rows whose id is a
	// multiple of it, as a bulk load refuses rows it cannot load.
	refuseEvery    int64
	rejectOnCommit bool
	refused        []int64 // pending ids to refuse
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
	if w.refuseEvery > 0 {
		ids := rec.Column(0)
		for i := 0; i < int(rec.NumRows()); i++ {
			if id := ids.GetOneForMarshal(i).(int64); id%w.refuseEvery == 0 {
				w.refused = append(w.refused, id)
			}
		}
	}
	return res, nil
}

func (w *memWriter) Commit(context.Context) (sdk.CommitResult, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	var res sdk.CommitResult
	if len(w.refused) > 0 && !w.rejectOnCommit {
		return res, fmt.Errorf("the destination refused %d rows", len(w.refused))
	}
	for _, id := range w.refused {
		res.Rejected = append(res.Rejected, sdk.CommitRejection{Fields: map[string]string{"id": fmt.Sprint(id)},
			Reason: fmt.Sprintf("id %d refused at commit", id), Location: fmt.Sprintf("mem:%d", id)})
	}
	w.m.committed[w.dest] += w.pending - int64(len(w.refused))
	res.BytesWritten = 10 * (w.pending - int64(len(w.refused)))
	w.pending, w.refused = 0, nil
	return res, nil
}

func (w *memWriter) Close(context.Context) error { w.pending, w.refused = 0, nil; return nil }

func (m *memConn) count(dest string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.committed[dest]
}
