package redshiftconn

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-dev/sluice/sdk"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// recorder is a session that records every statement and answers the few
// queries the loader makes from a scripted table.
type recorder struct {
	stmts    []string
	columns  map[string][][]string // table name -> information_schema rows
	copied   string                // pg_last_copy_count answer
	stdin    bool                  // accept COPY … FROM STDIN (postgres mode), answering its line count
	failCopy bool
	closed   bool
	// onCopy, when set, runs at the COPY (before failCopy); its error is
	// the COPY's.
	onCopy func(sql string) error
	// loadErrors answers sys_load_error_detail (file, line, column, type,
	// length, code, message); nil answers one refused line.
	loadErrors [][]string
}

// oneLoadError is the recorder's default load-error answer.
var oneLoadError = [][]string{{"s3://bkt/sluice/0001-1/part-00000.csv.gz", "2", "name", "varchar", "", "1204",
	"String length exceeds DDL length"}}

func (r *recorder) Exec(ctx context.Context, sql string) error {
	r.stmts = append(r.stmts, sql)
	if r.onCopy != nil && strings.HasPrefix(sql, "COPY") {
		if err := r.onCopy(sql); err != nil {
			return err
		}
	}
	if r.failCopy && strings.HasPrefix(sql, "COPY") {
		return &pgconn.PgError{Severity: "ERROR", Code: "XX000", Message: "Load into table 'sluice_stage_0001_1' failed. Check 'sys_load_error_detail' system table for details."}
	}
	return nil
}

func (r *recorder) Query(ctx context.Context, sql string) ([][]string, error) {
	r.stmts = append(r.stmts, sql)
	switch {
	case strings.HasPrefix(sql, "SELECT CAST(current_schema()"):
		return [][]string{{"public"}}, nil
	case strings.Contains(sql, "FROM information_schema.columns"):
		for name, rows := range r.columns {
			if strings.Contains(sql, "table_name = '"+name+"'") {
				return rows, nil
			}
		}
		return nil, nil
	case strings.HasPrefix(sql, "SELECT pg_last_copy_count()"):
		return [][]string{{r.copied}}, nil
	case strings.Contains(sql, "FROM sys_load_error_detail"):
		if r.loadErrors != nil {
			return r.loadErrors, nil
		}
		return oneLoadError, nil
	}
	return nil, fmt.Errorf("recorder: unexpected query %q", sql)
}

func (r *recorder) CopyFrom(ctx context.Context, rd io.Reader, sql string) (int64, error) {
	if !r.stdin {
		return 0, errors.New("Redshift has no COPY FROM STDIN")
	}
	r.stmts = append(r.stmts, sql)
	b, err := io.ReadAll(rd)
	return int64(bytes.Count(b, []byte("\n"))), err
}
func (r *recorder) Closed() bool                    { return r.closed }
func (r *recorder) Close(ctx context.Context) error { r.closed = true; return nil }

// memStore is an in-memory ObjectStore.
type memStore struct {
	objects map[string][]byte
	deleted []string
}

func (m *memStore) Put(ctx context.Context, url string, r io.Reader, size int64) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if int64(len(b)) != size {
		return fmt.Errorf("put %s: %d bytes, announced %d", url, len(b), size)
	}
	m.objects[url] = b
	return nil
}

func (m *memStore) Delete(ctx context.Context, urls []string) error {
	m.deleted = append(m.deleted, urls...)
	return nil
}

func redshiftConnector(t *testing.T, rec *recorder, store *memStore) *Connector {
	c := New()
	c.open = func(ctx context.Context, cfg connConfig) (session, error) { return rec, nil }
	c.newID = func() string { return "0001" }
	if err := c.Configure(context.Background(), sdk.Values{"dsn": "postgres://u:p@example.invalid:5439/dev",
		"staging": "s3://bkt/sluice/", "iam_role": "arn:aws:iam::123456789012:role/rs-load"}).Err(); err != nil {
		t.Fatal(err)
	}
	c.store = store
	return c
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the generated text (go test -update rewrites it):\n%s", path, got)
	}
}

func script(stmts []string) []byte {
	var b strings.Builder
	for _, s := range stmts {
		b.WriteString(s)
		b.WriteString(";\n\n")
	}
	return []byte(b.String())
}

var goldenFields = []arrow.Field{i64("Id"), str("Name"), f64("score"),
	{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	{Name: "raw", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "amount", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}, Nullable: true},
	{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true}}

// existingColumns is an information_schema answer for a Redshift table
// with the first three fields' columns.
var existingColumns = [][]string{
	{"id", "bigint", "", "64", "0"},
	{"name", "character varying", "256", "", ""},
	{"score", "double precision", "", "53", ""},
}

func TestRedshiftGoldenSQL(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mode     sdk.WriteMode
		keys     []string
		existing bool
		opts     sdk.Values
	}{
		{"create_insert", sdk.WriteInsert, nil, false, sdk.Values{"table": "Analytics.Events"}},
		{"create_distkey_sortkey", sdk.WriteUpsert, []string{"Id"}, false,
			sdk.Values{"table": "analytics.events", "distkey": "Id", "sortkey": []string{"at", "Id"}}},
		{"upsert_add_columns", sdk.WriteUpsert, []string{"Id"}, true, sdk.Values{"table": "events", "distkey": "id"}},
		{"update", sdk.WriteUpdate, []string{"id"}, true, sdk.Values{"table": "events", "keep_staging": true}},
		{"delete", sdk.WriteDelete, []string{"ID"}, true, sdk.Values{"table": "events"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{copied: "3", columns: map[string][][]string{}}
			if tc.existing {
				rec.columns["events"] = existingColumns
			}
			store := &memStore{objects: map[string][]byte{}}
			c := redshiftConnector(t, rec, store)
			w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: tc.opts.String("table", ""), Mode: tc.mode,
				Keys: tc.keys, Options: tc.opts, Schema: arrow.NewSchema(goldenFields, nil)})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close(context.Background())
			res, err := w.Write(context.Background(), goldenBatch(t))
			if err != nil || len(res.Rejected) != 1 {
				t.Fatalf("Write: %v %+v", err, res)
			}
			if _, err := w.Commit(context.Background()); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			golden(t, tc.name+".sql", script(rec.stmts))
			lintRedshift(t, rec.stmts, tc.opts)
			if tc.name == "create_insert" {
				golden(t, "manifest.json", store.objects["s3://bkt/sluice/0001-1/manifest.json"])
				golden(t, "part-00000.csv", gunzip(t, store.objects["s3://bkt/sluice/0001-1/part-00000.csv.gz"]))
			}
			if keep := tc.opts.Bool("keep_staging", false); keep != (len(store.deleted) == 0) {
				t.Fatalf("keep_staging=%v, deleted %v", keep, store.deleted)
			}
		})
	}
}

func goldenBatch(t *testing.T) arrow.RecordBatch {
	sch := arrow.NewSchema(goldenFields, nil)
	rec, _, err := arrayFromJSON(sch, `[
		{"Id":1,"Name":"Ada","score":1.5,"tags":["x","y"],"raw":"3q2+7w==","amount":"12.50","at":"2026-01-02T03:04:05.123456Z"},
		{"Id":2,"Name":"a \"quoted\", name","score":null,"tags":null,"raw":null,"amount":null,"at":null},
		{"Id":3,"Name":"NaN score","score":"NaN","tags":[],"raw":"","amount":"-0.01","at":"1999-12-31T23:59:59Z"},
		{"Id":1,"Name":"Ada again","score":-2e-7,"tags":[],"raw":"","amount":"0","at":"2026-01-02T03:04:05Z"}
	]`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rec.Release)
	return rec
}

var quotedIdent = regexp.MustCompile(`"((?:[^"]|"")*)"`)

// lintRedshift pins the Redshift rules PostgreSQL cannot catch.
func lintRedshift(t *testing.T, stmts []string, opts sdk.Values) {
	t.Helper()
	inTx := false
	for _, s := range stmts {
		up := strings.ToUpper(s)
		switch {
		case up == "BEGIN":
			inTx = true
		case up == "COMMIT" || up == "ROLLBACK":
			inTx = false
		}
		if inTx && (strings.HasPrefix(up, "TRUNCATE") || strings.HasPrefix(up, "VACUUM") ||
			strings.Contains(up, "ALTER COLUMN") || strings.Contains(up, "APPEND FROM")) {
			t.Errorf("Redshift commits or refuses this inside a transaction: %s", s)
		}
		for _, banned := range []string{" TEXT", "BYTEA", "JSONB", " UUID", "ON CONFLICT", "QUALIFY", "[]", "SERIAL", "FROM STDIN"} {
			if strings.Contains(up, banned) {
				t.Errorf("%q is not Redshift SQL: %s", banned, s)
			}
		}
		if n := strings.Count(up, "ADD COLUMN"); n > 1 {
			t.Errorf("Redshift takes one ADD COLUMN per ALTER TABLE, found %d: %s", n, s)
		}
		for _, m := range quotedIdent.FindAllStringSubmatch(s, -1) {
			if m[1] != strings.ToLower(m[1]) {
				t.Errorf("identifier %q is not folded to lower case: %s", m[1], s)
			}
		}
		if strings.HasPrefix(up, "CREATE TABLE") {
			if strings.Contains(up, "DISTKEY") != (opts.String("distkey", "") != "") ||
				strings.Contains(up, "SORTKEY") != (len(opts.Strings("sortkey")) > 0) {
				t.Errorf("DISTKEY/SORTKEY must appear exactly when configured: %s", s)
			}
			if strings.Contains(up, "VARCHAR(") && !strings.Contains(up, "VARCHAR(65535)") {
				t.Errorf("created string columns are VARCHAR(65535): %s", s)
			}
		}
	}
	if inTx {
		t.Error("the statements leave a transaction open")
	}
}

func TestRedshiftLoadErrorsReadBack(t *testing.T) {
	rec := &recorder{copied: "0", columns: map[string][][]string{"events": existingColumns}, failCopy: true}
	store := &memStore{objects: map[string][]byte{}}
	c := redshiftConnector(t, rec, store)
	c.cfg.region = "eu-west-1"
	w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "events", Mode: sdk.WriteUpsert, Keys: []string{"id"},
		Schema: arrow.NewSchema(goldenFields, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if _, err := w.Write(context.Background(), goldenBatch(t)); err != nil {
		t.Fatal(err)
	}
	_, err = w.Commit(context.Background())
	if err == nil || !strings.Contains(err.Error(), "\nCOPY tolerates no refused row (MAXERROR 0: max_load_errors = 0, or the flow does not continue on error") ||
		!strings.Contains(err.Error(), `part-00000.csv.gz line 2, column "name" (varchar): String length exceeds DDL length [1204] — row Id=2`) {
		t.Fatalf("Commit = %v, want the load error read back, with the row's key", err)
	}
	if len(store.deleted) != 0 {
		t.Fatalf("staged objects deleted after a failed load: %v", store.deleted)
	}
	golden(t, "copy_error.sql", script(rec.stmts))
}

func TestRedshiftModeWithoutStaging(t *testing.T) {
	rec := &recorder{copied: "3", columns: map[string][][]string{}}
	c := New()
	c.open = func(ctx context.Context, cfg connConfig) (session, error) { return rec, nil }
	if err := c.Configure(context.Background(), sdk.Values{"dsn": "postgres://u:p@example.invalid:5439/dev"}).Err(); err != nil {
		t.Fatal(err)
	}
	if c.store != nil {
		t.Fatal("an S3 client without a staging location")
	}
	w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "events", Schema: arrow.NewSchema(goldenFields, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if _, err := w.Write(context.Background(), goldenBatch(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(context.Background()); err == nil || !strings.Contains(err.Error(), `needs a staging location (staging = "s3://bucket/prefix/")`) {
		t.Fatalf("Commit = %v", err)
	}
	for _, s := range rec.stmts {
		if s == "BEGIN" {
			t.Fatal("a transaction began without staged files")
		}
	}
}

func TestRedshiftIdentifierLimits(t *testing.T) {
	d := redshiftDialect
	if err := d.checkIdent(strings.Repeat("é", 64)); err == nil || !strings.Contains(err.Error(), "128 bytes long; redshift allows at most 127") {
		t.Fatalf("128-byte name: %v", err)
	}
	if err := d.checkIdent(strings.Repeat("n", 127)); err != nil {
		t.Fatal(err)
	}
	tn, err := d.parseTable(`Sales."Q1.Orders"`)
	if err != nil || tn.String() != `"sales"."q1.orders"` {
		t.Fatalf("parseTable = %v, %v", tn, err)
	}
}
