package redshiftconn

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

var benchRows = flag.Int("rows", 0, "rows BenchmarkLoad loads (default 1,000,000, or $SLUICE_BENCH_ROWS); e.g. -args -rows=10000000")

func loadRows() int {
	if *benchRows > 0 {
		return *benchRows
	}
	if n, err := strconv.Atoi(os.Getenv("SLUICE_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

const benchDDL = `(id bigint, qty bigint, price double precision, score double precision, name varchar(65535),
	country varchar(65535), active boolean, flagged boolean, created timestamptz, day date)`

// BenchmarkLoad loads generated rows of the kit's ten-column shape through
// the sink (insert into a new table; upsert of the same number of rows into
// a table of that size with half the keys overlapping) and, in the same
// run, through a bare COPY … FROM STDIN of the same CSV into an empty
// table. It reports rows/s for each and the ratios sink/COPY (target for
// insert: ≥ 0.7).
//
//	go test ./plugins/redshift/redshiftconn -run '^$' -bench BenchmarkLoad -benchtime 1x
//	go test ./plugins/redshift/redshiftconn -run '^$' -bench BenchmarkLoad -benchtime 1x -args -rows=10000000
func BenchmarkLoad(b *testing.B) {
	rows := loadRows()
	const batchRows = 16384
	var batches []arrow.RecordBatch
	for first := 0; first < rows; first += batchRows {
		batches = append(batches, sdktest.TenColumnBatch(first, min(batchRows, rows-first)))
	}
	defer func() {
		for _, r := range batches {
			r.Release()
		}
	}()
	// The same CSV the sink stages, uncompressed, on disk.
	csvPath := filepath.Join(b.TempDir(), "bare.csv")
	csvBytes := writeCSV(b, csvPath, batches)

	var bare, ins, ups time.Duration
	for i := 0; i < b.N; i++ {
		db := newDB(b)
		c := configured(b, db.dsn)
		db.exec(b, "CREATE TABLE bare "+benchDDL)

		start := time.Now()
		bareCopy(b, db, csvPath, "COPY bare FROM STDIN WITH (FORMAT csv, NULL '"+nullSentinel+"')")
		bare += time.Since(start)

		start = time.Now()
		sinkLoad(b, c, sdk.WriteRequest{Entity: "inserted", Mode: sdk.WriteInsert}, batches)
		ins += time.Since(start)

		// Upsert target: rows with ids shifted by half, so half the keys
		// overlap and half are new.
		db.exec(b, "CREATE TABLE upserted "+benchDDL)
		db.exec(b, fmt.Sprintf("INSERT INTO upserted SELECT id + %d, qty, price, score, name, country, active, flagged, created, day FROM bare", rows/2))
		db.exec(b, "VACUUM ANALYZE upserted")
		start = time.Now()
		sinkLoad(b, c, sdk.WriteRequest{Entity: "upserted", Mode: sdk.WriteUpsert, Keys: []string{"id"}}, batches)
		ups += time.Since(start)
		if got, want := db.count(b, "upserted"), int64(rows+rows/2); got != want {
			b.Fatalf("upserted holds %d rows, want %d", got, want)
		}
		if got := db.count(b, "inserted"); got != int64(rows) {
			b.Fatalf("inserted holds %d rows, want %d", got, rows)
		}
	}
	n := float64(b.N)
	rate := func(d time.Duration) float64 { return float64(rows) * n / d.Seconds() }
	b.ReportMetric(rate(bare), "copy_rows/s")
	b.ReportMetric(rate(ins), "insert_rows/s")
	b.ReportMetric(rate(ups), "upsert_rows/s")
	b.ReportMetric(bare.Seconds()/ins.Seconds(), "insert/copy")
	b.ReportMetric(bare.Seconds()/ups.Seconds(), "upsert/copy")
	b.ReportMetric(ups.Seconds()/n, "upsert_s")
	b.Logf("%d rows, %.0f MB of CSV: bare COPY %v, sink insert %v (ratio %.2f), sink upsert into %d rows with half the keys overlapping %v (%.0f rows/s)",
		rows, float64(csvBytes)/1e6, bare/time.Duration(b.N), ins/time.Duration(b.N), bare.Seconds()/ins.Seconds(), rows, ups/time.Duration(b.N), rate(ups))
}

func sinkLoad(b *testing.B, c *Connector, req sdk.WriteRequest, batches []arrow.RecordBatch) {
	ctx := context.Background()
	req.Schema = sdktest.TenColumnSchema
	start := time.Now()
	w, err := c.OpenWriter(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close(ctx)
	for _, rec := range batches {
		res, err := w.Write(ctx, rec)
		if err != nil || len(res.Rejected) > 0 {
			b.Fatalf("Write: %v %v", err, res.Rejected)
		}
	}
	wrote := time.Now()
	if _, err := w.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: Write %v, Commit %v", req.Mode, wrote.Sub(start), time.Since(wrote))
}

func bareCopy(b *testing.B, db *testDB, path, sql string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := conn.PgConn().CopyFrom(ctx, bufio.NewReaderSize(f, 1<<20), sql); err != nil {
		b.Fatal(err)
	}
}

// writeCSV encodes batches with the sink's own encoders (PostgreSQL mode).
func writeCSV(b *testing.B, path string, batches []arrow.RecordBatch) int64 {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	var total int64
	var buf []byte
	for _, rec := range batches {
		encs := make([]encodeFunc, rec.NumCols())
		for c, fld := range rec.Schema().Fields() {
			col, _ := postgresDialect.columnType(fld)
			if encs[c], err = newEncoder(postgresDialect, fld, col, rec.Column(c), encodeOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			buf = buf[:0]
			for c, enc := range encs {
				if c > 0 {
					buf = append(buf, ',')
				}
				if rec.Column(c).IsNull(i) {
					buf = append(buf, nullSentinel...)
					continue
				}
				buf, _ = enc(buf, i)
			}
			buf = append(buf, '\n')
			n, _ := bw.Write(buf)
			total += int64(n)
		}
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	return total
}
