package redshiftconn

import (
	"bytes"
	"context"
	"fmt"
	"github.com/klauspost/compress/gzip"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-dev/sluice/plugins/redshift/pgtest"
	"github.com/sluice-dev/sluice/sdk"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	stopS3()
	os.Exit(code)
}

// testDB is a fresh database on the shared test cluster.
type testDB struct {
	dsn  string
	conn *pgx.Conn
}

func newDB(t testing.TB) *testDB {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &testDB{dsn: dsn, conn: conn}
}

func (db *testDB) exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if _, err := db.conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// count is the number of rows in table, 0 when it does not exist.
func (db *testDB) count(t testing.TB, table string) int64 {
	t.Helper()
	var exists bool
	if err := db.conn.QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		return 0
	}
	var n int64
	if err := db.conn.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// rows returns the result of sql as text, one string per row, fields
// joined by "|" and NULL as "∅".
func (db *testDB) rows(t testing.TB, sql string) []string {
	t.Helper()
	r, err := db.conn.Query(context.Background(), sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer r.Close()
	var out []string
	for r.Next() {
		var parts []string
		for _, v := range r.RawValues() {
			if v == nil {
				parts = append(parts, "∅")
			} else {
				parts = append(parts, string(v))
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func pgConfig(dsn string) sdk.Values { return sdk.Values{"dsn": dsn, "mode": ModePostgres} }

func configured(t testing.TB, dsn string) *Connector {
	t.Helper()
	c := New()
	if err := c.Configure(context.Background(), pgConfig(dsn)).Err(); err != nil {
		t.Fatal(err)
	}
	return c
}

// load opens a writer, writes the batches, commits and closes, returning
// every rejected row (batch index, row, reason).
func load(t testing.TB, c *Connector, req sdk.WriteRequest, recs ...arrow.RecordBatch) []string {
	t.Helper()
	ctx := context.Background()
	if req.Schema == nil && len(recs) > 0 {
		req.Schema = recs[0].Schema()
	}
	w, err := c.OpenWriter(ctx, req)
	if err != nil {
		t.Fatalf("OpenWriter: %v", err)
	}
	defer w.Close(ctx)
	var rejected []string
	for b, rec := range recs {
		res, err := w.Write(ctx, rec)
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		for _, r := range res.Rejected {
			rejected = append(rejected, fmt.Sprintf("%d/%d: %s", b, r.Row, r.Reason))
		}
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return rejected
}

// batch builds a record from columns given as Go slices: []any elements
// of int64, float64, string, bool or nil.
func batch(t testing.TB, fields []arrow.Field, cols ...[]any) arrow.RecordBatch {
	t.Helper()
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for c, vals := range cols {
		fb := b.Field(c)
		for _, v := range vals {
			if v == nil {
				fb.AppendNull()
				continue
			}
			switch x := fb.(type) {
			case *array.Int64Builder:
				x.Append(v.(int64))
			case *array.Int32Builder:
				x.Append(int32(v.(int64)))
			case *array.Float64Builder:
				x.Append(v.(float64))
			case *array.StringBuilder:
				x.Append(v.(string))
			case *array.BooleanBuilder:
				x.Append(v.(bool))
			case *array.Decimal128Builder:
				x.Append(v.(decimalValue).num())
			case *array.TimestampBuilder:
				x.Append(arrow.Timestamp(v.(int64)))
			default:
				t.Fatalf("batch: no case for %T", fb)
			}
		}
	}
	rec := b.NewRecordBatch()
	t.Cleanup(rec.Release)
	return rec
}

func i64(name string) arrow.Field {
	return arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Int64, Nullable: true}
}
func str(name string) arrow.Field {
	return arrow.Field{Name: name, Type: arrow.BinaryTypes.String, Nullable: true}
}
func f64(name string) arrow.Field {
	return arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Float64, Nullable: true}
}

func itoa(i int) string { return fmt.Sprint(i) }

// decimalValue is a decimal128 cell given as its unscaled integer.
type decimalValue struct{ unscaled int64 }

func (d decimalValue) num() decimal128.Num { return decimal128.FromI64(d.unscaled) }

func statDir(dir string) (os.FileInfo, error) { return os.Stat(dir) }

func pgError(code, msg string) error {
	return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code, Message: msg})
}

func arrayFromJSON(schema *arrow.Schema, js string) (arrow.RecordBatch, int, error) {
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, schema, strings.NewReader(js))
	return rec, 0, err
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
