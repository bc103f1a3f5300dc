package fileconn

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

const benchRows = 500_000

// benchFile writes benchRows rows of the kit's ten-column shape (the one
// the performance notes measure) with this connector's sink and returns the
// file's path and size.
func benchFile(b *testing.B, format string, gzip bool) (string, int64) {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "in")
	opts := sdk.Values{"path": dir, "format": format}
	if gzip {
		opts["compression"] = "gzip"
	}
	w, err := New().OpenWriter(context.Background(), sdk.WriteRequest{Options: opts, Schema: sdktest.TenColumnSchema, RunID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	for first := 0; first < benchRows; first += 50_000 {
		rec := sdktest.TenColumnBatch(first, 50_000)
		if _, err := w.Write(context.Background(), rec); err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
	if _, err := w.Commit(context.Background()); err != nil {
		b.Fatal(err)
	}
	w.Close(context.Background())
	files, err := listFiles(dir)
	if err != nil || len(files) != 1 {
		b.Fatalf("%v %v", files, err)
	}
	return files[0].path, files[0].size
}

// discard is a RecordSender that drops everything, so the benchmark
// measures the source alone.
type discard struct{ rows int64 }

func (d *discard) Send(rec arrow.RecordBatch) error { d.rows += rec.NumRows(); return nil }
func (d *discard) Checkpoint([]byte) error          { return nil }
func (d *discard) Reject(sdk.BadRecord) error       { return nil }
func (d *discard) Progress(sdk.Progress) error      { return nil }

func benchmarkRead(b *testing.B, format string, gzip bool) {
	path, size := benchFile(b, format, gzip)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := &discard{}
		if err := New().Read(context.Background(), sdk.ReadRequest{Options: sdk.Values{"path": path}, Limits: sdk.DefaultLimits}, d); err != nil {
			b.Fatal(err)
		}
		if d.rows != benchRows {
			b.Fatalf("%d rows", d.rows)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkCSVRead(b *testing.B)     { benchmarkRead(b, "csv", false) }
func BenchmarkCSVReadGzip(b *testing.B) { benchmarkRead(b, "csv", true) }
func BenchmarkJSONLRead(b *testing.B)   { benchmarkRead(b, "jsonl", false) }
func BenchmarkParquetRead(b *testing.B) { benchmarkRead(b, "parquet", false) }

// writerSender feeds a source's batches straight into a sink's writer, the
// engine's data path without the process boundary.
type writerSender struct {
	discard
	w sdk.Writer
}

func (s *writerSender) Send(rec arrow.RecordBatch) error {
	s.rows += rec.NumRows()
	_, err := s.w.Write(context.Background(), rec)
	return err
}

func benchmarkCSVTo(b *testing.B, format string) {
	path, size := benchFile(b, "csv", false)
	out := b.TempDir()
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(out, "run")
		c := New()
		w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Options: sdk.Values{"path": dir, "format": format}, RunID: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		s := &writerSender{w: w}
		if err := c.Read(context.Background(), sdk.ReadRequest{Options: sdk.Values{"path": path}, Limits: sdk.DefaultLimits}, s); err != nil {
			b.Fatal(err)
		}
		if _, err := w.Commit(context.Background()); err != nil {
			b.Fatal(err)
		}
		w.Close(context.Background())
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkCSVToParquet(b *testing.B) { benchmarkCSVTo(b, "parquet") }
func BenchmarkCSVToCSV(b *testing.B)     { benchmarkCSVTo(b, "csv") }
