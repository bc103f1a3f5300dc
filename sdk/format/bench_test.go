package format_test

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/format"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

// benchCSVRows is the size of the benchmarks' input: about 50 MB of
// sdktest.WriteBenchCSV's contact-like CSV, which the S3 copy benchmark
// moves.
const benchCSVRows = 500_000

var (
	benchOnce sync.Once
	benchData []byte
)

// benchCSV generates the input once per process, in memory, so the
// benchmarks time parsing and encoding alone.
func benchCSV(b *testing.B) []byte {
	b.Helper()
	benchOnce.Do(func() {
		buf := []byte(sdktest.BenchCSVColumns + "\n")
		for i := 0; i < benchCSVRows; i++ {
			buf = sdktest.AppendBenchCSVRow(buf, i)
		}
		benchData = buf
	})
	return benchData
}

// collect keeps the batches a read sends.
type collect struct {
	recs []arrow.RecordBatch
	rows int64
}

func (c *collect) Send(rec arrow.RecordBatch) error {
	rec.Retain()
	c.recs = append(c.recs, rec)
	c.rows += rec.NumRows()
	return nil
}
func (c *collect) Checkpoint([]byte) error { return nil }
func (c *collect) Reject(r sdk.BadRecord) error {
	panic("unexpected reject at " + r.Location + ": " + r.Reason)
}
func (c *collect) Progress(sdk.Progress) error { return nil }

func (c *collect) release() {
	for _, r := range c.recs {
		r.Release()
	}
	c.recs = nil
}

// readBench infers the schema of data and reads it whole into out.
func readBench(b *testing.B, data []byte, out sdk.RecordSender) *format.Batcher {
	b.Helper()
	ctx := context.Background()
	opts, err := format.ParseReadOptions(sdk.Values{})
	if err != nil {
		b.Fatal(err)
	}
	in, err := format.NewInput(bytes.NewReader(data), "bench.csv", "none")
	if err != nil {
		b.Fatal(err)
	}
	ts, ok, err := format.InferCSV(ctx, in, opts)
	if err != nil || !ok {
		b.Fatal(ok, err)
	}
	proj, err := format.Projection(nil, ts.Arrow())
	if err != nil {
		b.Fatal(err)
	}
	bt := format.NewBatcher(nil, ts, proj, sdk.DefaultLimits)
	in, err = format.NewInput(bytes.NewReader(data), "bench.csv", "none")
	if err != nil {
		b.Fatal(err)
	}
	if err := format.ReadCSV(ctx, in, opts, format.Target{Out: out, Batcher: bt}); err != nil {
		b.Fatal(err)
	}
	return bt
}

// BenchmarkReadCSV parses typed CSV (int, float, string, bool and
// timestamp columns) into Arrow batches.
func BenchmarkReadCSV(b *testing.B) {
	data := benchCSV(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		c := &collect{}
		readBench(b, data, c).Release()
		if c.rows != benchCSVRows {
			b.Fatalf("%d rows", c.rows)
		}
		c.release()
	}
}

// BenchmarkWriteCSV encodes the batches of the benchmark CSV back into
// CSV.
func BenchmarkWriteCSV(b *testing.B) {
	data := benchCSV(b)
	c := &collect{}
	readBench(b, data, c).Release()
	defer c.release()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		enc := format.NewCSVEncoder(io.Discard, format.CSVWriteOptions{Header: true})
		for _, rec := range c.recs {
			if err := enc.Write(rec, nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := enc.Finish(); err != nil {
			b.Fatal(err)
		}
	}
}
