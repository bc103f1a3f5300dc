package rpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/util"

	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

// replaySource sends the same prepared batch again and again, so the
// benchmark measures the boundary, not record generation.
type replaySource struct {
	sdk.Unimplemented
	batch   arrow.RecordBatch
	batches int
}

func (r *replaySource) Spec() sdk.Spec {
	return sdk.Spec{Name: "replay", Version: "1", Capabilities: []sdk.Capability{sdk.CapSource}}
}
func (r *replaySource) Configure(context.Context, sdk.Values) sdk.Diagnostics { return nil }
func (r *replaySource) Read(ctx context.Context, _ sdk.ReadRequest, out sdk.RecordSender) error {
	for i := 0; i < r.batches; i++ {
		if err := out.Send(r.batch); err != nil {
			return err
		}
	}
	return nil
}

// countingSender touches nothing but the row count, like a sink that
// keeps up.
type countingSender struct{ rows int64 }

func (c *countingSender) Send(rec arrow.RecordBatch) error { c.rows += rec.NumRows(); return nil }
func (c *countingSender) Checkpoint([]byte) error          { return nil }
func (c *countingSender) Reject(sdk.BadRecord) error       { return nil }
func (c *countingSender) Progress(sdk.Progress) error      { return nil }

// BenchmarkBoundaryRead moves 10-column batches (16,384 rows, about 1.4 MB
// of Arrow) through the real protocol on a unix socket — the transport
// go-plugin uses — and reports rows/s and MB/s per stream. The figure to
// hold is ≥ 5M rows/s; the engine-level ratio against in-process
// connectors is BenchmarkPluginBoundary in package engine.
func BenchmarkBoundaryRead(b *testing.B) {
	for _, shm := range []bool{false, true} {
		b.Run(transportName(shm), func(b *testing.B) { benchmarkBoundaryRead(b, shm) })
	}
}

func transportName(shm bool) string {
	if shm {
		return "shared-memory"
	}
	return "inline"
}

func benchmarkBoundaryRead(b *testing.B, shm bool) {
	const rowsPerBatch, batches = 16384, 200
	batch := sdktest.TenColumnBatch(0, rowsPerBatch)
	defer batch.Release()
	src := &replaySource{batch: batch, batches: batches}
	client := sdktest.Pipe(b, src)
	client.SharedMemory = shm
	req := sdk.ReadRequest{Limits: sdk.Limits{MaxRows: rowsPerBatch, MaxBytes: 8 << 20}}

	var wire time.Duration
	var rows int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		var w countingSender
		if err := client.Read(context.Background(), req, &w); err != nil {
			b.Fatal(err)
		}
		wire += time.Since(start)
		if w.rows != rowsPerBatch*batches {
			b.Fatalf("received %d rows, want %d", w.rows, rowsPerBatch*batches)
		}
		rows += w.rows
	}
	b.ReportMetric(float64(rows)/wire.Seconds(), "wire_rows/s")
	b.ReportMetric(float64(rows)*float64(util.TotalRecordSize(batch))/rowsPerBatch/wire.Seconds()/1e6, "wire_MB/s")
}

// BenchmarkBoundaryWrite is the same in the engine-to-plugin direction,
// waiting for each batch's answer (Write) and, as the engine drives a
// plugin's sink, with up to four batches sent ahead of their answers.
func BenchmarkBoundaryWrite(b *testing.B) {
	for _, shm := range []bool{false, true} {
		for _, ahead := range []int{1, 4} {
			name := transportName(shm)
			if ahead > 1 {
				name += "/pipelined"
			}
			b.Run(name, func(b *testing.B) { benchmarkBoundaryWrite(b, shm, ahead) })
		}
	}
}

// pipelined is how the engine drives a plugin's sink.
type pipelined interface {
	Send(context.Context, arrow.RecordBatch) error
	Await(context.Context) (sdk.WriteResult, error)
}

func benchmarkBoundaryWrite(b *testing.B, shm bool, ahead int) {
	const rowsPerBatch, batches = 16384, 200
	batch := sdktest.TenColumnBatch(0, rowsPerBatch)
	defer batch.Release()
	mem := newMemConn()
	client := sdktest.Pipe(b, mem)
	client.SharedMemory = shm
	ctx := context.Background()
	b.ResetTimer()
	var rows int64
	start := time.Now()
	for i := 0; i < b.N; i++ {
		w, err := client.OpenWriter(ctx, sdk.WriteRequest{Entity: "bench", Schema: sdktest.TenColumnSchema})
		if err != nil {
			b.Fatal(err)
		}
		pw := w.(pipelined)
		owed := 0
		for j := 0; j < batches; j++ {
			if err := pw.Send(ctx, batch); err != nil {
				b.Fatal(err)
			}
			if owed++; owed == ahead {
				if _, err := pw.Await(ctx); err != nil {
					b.Fatal(err)
				}
				owed--
			}
		}
		for ; owed > 0; owed-- {
			if _, err := pw.Await(ctx); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(ctx); err != nil {
			b.Fatal(err)
		}
		rows += rowsPerBatch * batches
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "wire_rows/s")
}
