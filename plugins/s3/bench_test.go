//lint:file-ignore SA1019 feature/s3/manager is the plain aws-sdk-go-v2 uploader the baseline stands for; its successor, transfermanager, is still v0.

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/plugins/s3/s3conn"
	"github.com/sluice-dev/sluice/plugins/s3/s3test"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

// benchObjects is how many objects the benchmark's CSV is split into, so
// the source's parallel reads and the baseline's have the same to work on.
const benchObjects = 4

// benchMB is the CSV size in MB: SLUICE_S3_BENCH_MB, default 200 (use 1000
// for the ~1 GB figure).
func benchMB() int {
	if s := os.Getenv("SLUICE_S3_BENCH_MB"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return 200
}

// benchUnsigned is SLUICE_S3_BENCH_UNSIGNED=1: both copies sign bodies
// with UNSIGNED-PAYLOAD (the connection's unsigned_payload) rather than
// the SHA-256 aws-sdk-go-v2 computes over plain http by default. Either
// way the plain copy and the connector sign alike.
func benchUnsigned() bool { return os.Getenv("SLUICE_S3_BENCH_UNSIGNED") == "1" }

// benchClient is the plain copy's client: the server's test client
// (checksums only when required, as the connector sets them), with
// unsigned bodies under benchUnsigned.
func benchClient(srv *s3test.Server) *s3.Client {
	client := srv.Client()
	if !benchUnsigned() {
		return client
	}
	return s3.New(client.Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, s3conn.UnsignedPayload)
	})
}

// benchConfig is the connectors' connection block.
func benchConfig(srv *s3test.Server) sdk.Values {
	cfg := srv.Config()
	if benchUnsigned() {
		cfg["unsigned_payload"] = true
	}
	return cfg
}

// seedBench writes the CSV objects (sdktest.WriteBenchCSV, about 100 bytes
// a row) into a new bucket and returns the bucket and the total size.
func seedBench(b *testing.B, srv *s3test.Server) (string, int64) {
	b.Helper()
	bucket := srv.NewBucket(b)
	rows := benchMB() * 1_000_000 / 100 / benchObjects
	dir := b.TempDir()
	up := manager.NewUploader(srv.Client(), func(u *manager.Uploader) { u.PartSize = 8 << 20 })
	var total int64
	for i := 0; i < benchObjects; i++ {
		path := filepath.Join(dir, fmt.Sprintf("part-%d.csv", i))
		if err := sdktest.WriteBenchCSV(path, rows); err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		info, _ := f.Stat()
		total += info.Size()
		_, err = up.Upload(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket),
			Key: aws.String(fmt.Sprintf("in/part-%d.csv", i)), Body: f})
		f.Close()
		os.Remove(path)
		if err != nil {
			b.Fatal(err)
		}
	}
	return bucket, total
}

// plainCopy downloads every input object and uploads it under out/ with
// aws-sdk-go-v2 alone, streaming, the objects in parallel as the source
// reads them: the most a copy through this server can do.
func plainCopy(b *testing.B, srv *s3test.Server, bucket, out string) {
	client := benchClient(srv)
	up := manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = 8 << 20
		// The uploader has a checksum setting of its own, WhenSupported
		// by default, which adds a CRC32 to every part (computed here,
		// checked by the server). The client, like the connector's,
		// computes checksums only when an operation requires them; the
		// uploader follows it, so both copies do the same work per byte.
		u.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	var wg sync.WaitGroup
	errs := make(chan error, benchObjects)
	for i := 0; i < benchObjects; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			obj, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("in/part-%d.csv", i))})
			if err != nil {
				errs <- err
				return
			}
			defer obj.Body.Close()
			_, err = up.Upload(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket),
				Key: aws.String(fmt.Sprintf("%s/part-%d.csv", out, i)), Body: struct{ io.Reader }{obj.Body}})
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// writerSender feeds the source's batches into the sink's writer through
// a bounded queue, as the engine's stages do: the source reads the next
// batch while the sink writes the last. Here both sit behind their own
// gRPC plugin connection.
type writerSender struct {
	w     sdk.Writer
	rows  int64
	queue chan arrow.RecordBatch
	done  chan error
}

func newWriterSender(w sdk.Writer) *writerSender {
	s := &writerSender{w: w, queue: make(chan arrow.RecordBatch, 4), done: make(chan error, 1)}
	go func() {
		var err error
		for rec := range s.queue {
			if err == nil {
				var res sdk.WriteResult
				res, err = s.w.Write(context.Background(), rec)
				if err == nil && len(res.Rejected) > 0 {
					err = fmt.Errorf("%d rows rejected: %s", len(res.Rejected), res.Rejected[0].Reason)
				}
			}
			rec.Release()
		}
		s.done <- err
	}()
	return s
}

func (s *writerSender) Send(rec arrow.RecordBatch) error {
	s.rows += rec.NumRows()
	rec.Retain()
	s.queue <- rec
	return nil
}

// finish waits for the queue to drain and returns the first write error.
func (s *writerSender) finish() error {
	close(s.queue)
	return <-s.done
}
func (s *writerSender) Checkpoint([]byte) error    { return nil }
func (s *writerSender) Reject(sdk.BadRecord) error { return fmt.Errorf("unexpected reject") }
func (s *writerSender) Progress(sdk.Progress) error {
	return nil
}

// sluiceCopy reads the input objects with the s3 source and writes them
// with the s3 sink, each connector behind its own sdktest.Pipe (real gRPC
// and the shared-memory batch transport).
func sluiceCopy(b *testing.B, srv *s3test.Server, bucket, out, format string) int64 {
	ctx := context.Background()
	src, dst := sdktest.Pipe(b, s3conn.New()), sdktest.Pipe(b, s3conn.New())
	for _, c := range []sdk.Connector{src, dst} {
		if err := c.Configure(ctx, benchConfig(srv)).Err(); err != nil {
			b.Fatal(err)
		}
	}
	in := sdk.Values{"bucket": bucket, "prefix": "in/"}
	ent, err := src.DescribeEntity(ctx, sdk.DescribeRequest{Entity: bucket, Options: in})
	if err != nil {
		b.Fatal(err)
	}
	w, err := dst.OpenWriter(ctx, sdk.WriteRequest{Entity: bucket, Options: sdk.Values{"bucket": bucket, "prefix": out, "format": format},
		Schema: ent.Schema, FlowName: "bench", RunID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close(ctx)
	s := newWriterSender(w)
	rerr := src.Read(ctx, sdk.ReadRequest{Entity: bucket, Options: in, Limits: sdk.DefaultLimits}, s)
	if err := s.finish(); err != nil {
		b.Fatal(err)
	}
	if rerr != nil {
		b.Fatal(rerr)
	}
	if _, err := w.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	return s.rows
}

// BenchmarkCopy copies SLUICE_S3_BENCH_MB of CSV from the server to the
// server: with a plain aws-sdk-go-v2 download and upload (the baseline),
// and through the s3 source and sink as CSV and as Parquet. It reports MB/s
// of input CSV for each and the ratios to the baseline measured in the same
// run (target: csv/plain >= 0.7), in wall time and in CPU (this process's
// and the server's; -v logs the split). Both copies sign bodies the same
// way and compute no checksum an operation does not require. The server
// writes under TMPDIR; on a disk, writeback of a 1 GB run's output can
// stall either copy for seconds, which the CPU ratio does not see.
func BenchmarkCopy(b *testing.B) {
	srv := s3test.Get(b)
	bucket, size := seedBench(b, srv)
	mbps := func(d time.Duration) float64 { return float64(size) / 1e6 / d.Seconds() }
	// free deletes a copy's output off the clock, keeping the server's
	// disk from filling over many rounds.
	free := func(out string) {
		b.StopTimer()
		os.RemoveAll(filepath.Join(srv.Dir, bucket, out))
		b.StartTimer()
	}
	var plain, toCSV, toParquet time.Duration
	// CPU per copy, this process's (client, connectors) and the server's,
	// summed over rounds: on a small machine both compete for the same
	// cores, so the extra CPU a flow spends is what its time lacks.
	var selfCPU, srvCPU [3]time.Duration
	want := int64(benchMB() * 1_000_000 / 100 / benchObjects * benchObjects)
	// Each copy runs alone on the same input (in the server's page cache
	// since seeding), its output is deleted off the clock right after it,
	// and the order rotates every round so that no side always runs
	// first, or right after another's writes. Each runs under a pprof
	// label (copy=plain|csv|parquet), so -cpuprofile splits by copy with
	// -tagfocus.
	timed := func(k int, name string, total *time.Duration, fn func()) {
		self0, srv0 := processCPU(), srv.CPUTime()
		start := time.Now()
		pprof.Do(context.Background(), pprof.Labels("copy", name), func(context.Context) { fn() })
		*total += time.Since(start)
		selfCPU[k] += processCPU() - self0
		srvCPU[k] += srv.CPUTime() - srv0
	}
	copies := []func(run int){
		func(run int) {
			timed(0, "plain", &plain, func() { plainCopy(b, srv, bucket, fmt.Sprintf("plain-%d", run)) })
			free(fmt.Sprintf("plain-%d", run))
		},
		func(run int) {
			var rows int64
			timed(1, "csv", &toCSV, func() { rows = sluiceCopy(b, srv, bucket, fmt.Sprintf("csv-%d", run), "csv") })
			free(fmt.Sprintf("csv-%d", run))
			if rows != want {
				b.Fatalf("copied %d rows, want %d", rows, want)
			}
		},
		func(run int) {
			timed(2, "parquet", &toParquet, func() { sluiceCopy(b, srv, bucket, fmt.Sprintf("parquet-%d", run), "parquet") })
			free(fmt.Sprintf("parquet-%d", run))
		},
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range copies {
			copies[(i+j)%len(copies)](i + 1)
		}
	}
	b.ReportMetric(mbps(plain/time.Duration(b.N)), "plain-MB/s")
	b.ReportMetric(mbps(toCSV/time.Duration(b.N)), "csv-MB/s")
	b.ReportMetric(mbps(toParquet/time.Duration(b.N)), "parquet-MB/s")
	b.ReportMetric(float64(plain)/float64(toCSV), "csv/plain")
	b.ReportMetric(float64(plain)/float64(toParquet), "parquet/plain")
	b.Logf("%.0f MB of CSV in %d objects: plain %.1f MB/s, csv->csv %.1f MB/s (%.2fx), csv->parquet %.1f MB/s (%.2fx)",
		float64(size)/1e6, benchObjects, mbps(plain/time.Duration(b.N)), mbps(toCSV/time.Duration(b.N)), float64(plain)/float64(toCSV),
		mbps(toParquet/time.Duration(b.N)), float64(plain)/float64(toParquet))
	// The same ratios in CPU: what the copies would take on cores of
	// their own. Wall time stretches with whatever else runs on the
	// machine; CPU barely does, so these vary far less from run to run.
	cpu := func(k int) float64 { return (selfCPU[k] + srvCPU[k]).Seconds() }
	if cpu(1) > 0 && cpu(2) > 0 {
		b.ReportMetric(cpu(0)/cpu(1), "csv/plain-cpu")
		b.ReportMetric(cpu(0)/cpu(2), "parquet/plain-cpu")
	}
	for k, name := range []string{"plain", "csv", "parquet"} {
		n := time.Duration(b.N)
		b.Logf("%-7s CPU per copy: this process %5.2fs, server %5.2fs (%.2fx plain's)", name,
			(selfCPU[k] / n).Seconds(), (srvCPU[k] / n).Seconds(), cpu(k)/cpu(0))
	}
}

// processCPU is the CPU this process has used so far, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
