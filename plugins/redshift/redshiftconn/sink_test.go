package redshiftconn

import (
	"context"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/sdk"
)

var kv = []arrow.Field{i64("id"), str("name"), i64("qty")}

func wantRows(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWriteModes(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	req := func(mode sdk.WriteMode) sdk.WriteRequest {
		return sdk.WriteRequest{Entity: "public.items", Mode: mode, Keys: []string{"id"}}
	}
	all := func() []string { return db.rows(t, "SELECT id, name, qty FROM public.items ORDER BY id") }

	load(t, c, req(sdk.WriteInsert), batch(t, kv,
		[]any{int64(1), int64(2), int64(3)}, []any{"a", "b", "c"}, []any{int64(10), int64(20), nil}))
	wantRows(t, all(), "1|a|10", "2|b|20", "3|c|∅")

	// upsert: 2 and 3 replaced, 4 new, 1 untouched.
	load(t, c, req(sdk.WriteUpsert), batch(t, kv,
		[]any{int64(2), int64(3), int64(4)}, []any{"B", "C", "D"}, []any{int64(21), int64(31), int64(41)}))
	wantRows(t, all(), "1|a|10", "2|B|21", "3|C|31", "4|D|41")

	// update: only existing keys change; 9 is not inserted.
	load(t, c, req(sdk.WriteUpdate), batch(t, kv,
		[]any{int64(1), int64(9)}, []any{"A", "Z"}, []any{nil, int64(99)}))
	wantRows(t, all(), "1|A|∅", "2|B|21", "3|C|31", "4|D|41")

	// delete: by key; the other fields do not matter.
	load(t, c, req(sdk.WriteDelete), batch(t, kv,
		[]any{int64(2), int64(4), int64(8)}, []any{nil, nil, nil}, []any{nil, nil, nil}))
	wantRows(t, all(), "1|A|∅", "3|C|31")

	// insert duplicates on purpose: inserts do not match keys.
	load(t, c, req(sdk.WriteInsert), batch(t, kv, []any{int64(3)}, []any{"again"}, []any{int64(0)}))
	wantRows(t, all(), "1|A|∅", "3|C|31", "3|again|0")
}

func TestDuplicateKeysLastWins(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	db.exec(t, "CREATE TABLE items (id bigint, name varchar(100), qty bigint)")
	db.exec(t, "INSERT INTO items VALUES (1, 'old', 0)")
	// Two batches in one load; key 1 appears three times, key 2 twice
	// within one batch. The last arrival wins.
	b1 := batch(t, kv, []any{int64(1), int64(2), int64(1)}, []any{"first", "x", "second"}, []any{int64(1), int64(2), int64(3)})
	b2 := batch(t, kv, []any{int64(2), int64(1)}, []any{"y", "third"}, []any{int64(4), int64(5)})
	for _, mode := range []sdk.WriteMode{sdk.WriteUpsert, sdk.WriteUpdate} {
		load(t, c, sdk.WriteRequest{Entity: "items", Mode: mode, Keys: []string{"id"}}, b1, b2)
	}
	wantRows(t, db.rows(t, "SELECT id, name, qty FROM items ORDER BY id"), "1|third|5", "2|y|4")
}

func TestCompositeKeyUpsert(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	fields := []arrow.Field{str("Region"), i64("Id"), i64("v")}
	req := sdk.WriteRequest{Entity: "Public.Regional", Mode: sdk.WriteUpsert, Keys: []string{"Region", "Id"}}
	load(t, c, req, batch(t, fields, []any{"eu", "us", "eu"}, []any{int64(1), int64(1), int64(2)}, []any{int64(1), int64(2), int64(3)}))
	load(t, c, req, batch(t, fields, []any{"us", "eu"}, []any{int64(1), int64(3)}, []any{int64(20), int64(4)}))
	// Names were folded to lower case, like Redshift does.
	wantRows(t, db.rows(t, "SELECT region, id, v FROM public.regional ORDER BY region, id"),
		"eu|1|1", "eu|2|3", "eu|3|4", "us|1|20")
}

func TestMissingKeyFieldFailsOpenWriter(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	_, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "items", Mode: sdk.WriteUpsert,
		Keys: []string{"sku"}, Schema: arrow.NewSchema(kv, nil)})
	if err == nil || !strings.Contains(err.Error(), `key field "sku" is not in the data`) {
		t.Fatalf("OpenWriter = %v, want an error naming the missing key field", err)
	}
	_, err = c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "items", Mode: sdk.WriteDelete, Schema: arrow.NewSchema(kv, nil)})
	if err == nil || !strings.Contains(err.Error(), "needs key fields") {
		t.Fatalf("OpenWriter without keys = %v", err)
	}
}

func TestRejectedRows(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	db.exec(t, "CREATE TABLE bad (id bigint, name varchar(5), amount numeric(6,2), score double precision, at timestamp)")
	fields := []arrow.Field{i64("id"), str("name"),
		{Name: "amount", Type: &arrow.Decimal128Type{Precision: 10, Scale: 3}, Nullable: true},
		f64("score"),
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true}}
	ts := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	rec := batch(t, fields,
		[]any{int64(1), int64(2), int64(3), int64(4), int64(5), int64(6), int64(7), int64(8), int64(9)},
		[]any{"ok", "héllo", "a\x00b", "fine", "fine", "fine", "fine", "x,\"y", "fine"}, // héllo: 5 chars, 6 bytes
		[]any{decimalValue{1234560}, nil, nil, decimalValue{99999999}, decimalValue{1001}, nil, nil, nil, nil},
		[]any{1.5, nil, nil, nil, nil, math.NaN(), math.Inf(1), nil, nil},
		[]any{ts, nil, nil, nil, nil, nil, nil, nil, ts + 1})
	rejected := load(t, c, sdk.WriteRequest{Entity: "bad", Mode: sdk.WriteInsert}, rec)
	want := []string{
		`0/1: field "name": value is 6 bytes long; the column holds 5 bytes`,
		`0/2: field "name": value contains a NUL byte`,
		`0/3: field "amount": 99999.999 has more than 2 decimal places`,
		`0/4: field "amount": 1.001 has more than 2 decimal places`,
		`0/5: field "score": NaN cannot be loaded`,
		`0/6: field "score": +Inf cannot be loaded`,
		`0/8: field "at": timestamp has sub-microsecond digits`,
	}
	if len(rejected) != len(want) {
		t.Fatalf("rejected:\n%s", strings.Join(rejected, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(rejected[i], w) {
			t.Errorf("rejected[%d] = %s\nwant prefix %s", i, rejected[i], w)
		}
	}
	wantRows(t, db.rows(t, "SELECT id, name, amount, score, at FROM bad ORDER BY id"),
		"1|ok|1234.56|1.5|2026-05-01 12:00:00", `8|x,"y|∅|∅|∅`)

	// Precision overflow (too many integer digits) and integer range.
	db.exec(t, "CREATE TABLE narrow (id smallint, amount numeric(4,2))")
	nf := []arrow.Field{i64("id"), {Name: "amount", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true}}
	rejected = load(t, c, sdk.WriteRequest{Entity: "narrow"}, batch(t, nf,
		[]any{int64(1), int64(40000), int64(3)}, []any{decimalValue{9999}, nil, decimalValue{10000}}))
	if len(rejected) != 2 || !strings.Contains(rejected[0], `field "id": 40000 is out of range for a SMALLINT column`) ||
		!strings.Contains(rejected[1], `field "amount": 100.00 does not fit numeric(4,2)`) {
		t.Fatalf("rejected:\n%s", strings.Join(rejected, "\n"))
	}
	wantRows(t, db.rows(t, "SELECT id, amount FROM narrow"), "1|99.99")

	// A null key in a keyed mode.
	rejected = load(t, c, sdk.WriteRequest{Entity: "bad", Mode: sdk.WriteUpsert, Keys: []string{"id"}},
		batch(t, []arrow.Field{i64("id"), str("name")}, []any{nil, int64(1)}, []any{"x", "y"}))
	if len(rejected) != 1 || !strings.Contains(rejected[0], `field "id": key is null`) {
		t.Fatalf("rejected: %v", rejected)
	}
}

func TestDecimalPrecisionOver38(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	fields := []arrow.Field{{Name: "big", Type: &arrow.Decimal128Type{Precision: 38, Scale: 0}, Nullable: true}}
	// Into a created DECIMAL(38,0) every decimal128(38,0) fits; a wider
	// existing column in PostgreSQL would not stop Redshift-sized checks
	// for a created one.
	load(t, c, sdk.WriteRequest{Entity: "wide"}, batch(t, fields, []any{decimalValue{math.MaxInt64}}))
	wantRows(t, db.rows(t, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'wide'::regclass AND attname = 'big'"),
		"numeric(38,0)")
}

func TestCreatedTableTypes(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	fields := []arrow.Field{
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "t", Type: arrow.FixedWidthTypes.Time64us, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond}, Nullable: true},
		{Name: "tstz", Type: &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}, Nullable: true},
		{Name: "dur", Type: arrow.FixedWidthTypes.Duration_ms, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	}
	sch := arrow.NewSchema(fields, nil)
	js := `[{"b":true,"i8":-3,"i32":7,"u64":18446744073709551615,"f32":0.25,"s":"","bin":"AAH/","d":"2024-02-29","t":"13:14:15.5",` +
		`"ts":"1999-12-31 23:59:59.999","tstz":"2020-01-01T00:00:00Z","dur":1500,"tags":["a","b,c"]}]`
	rec, _, err := arrayFromJSON(sch, js)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if rej := load(t, c, sdk.WriteRequest{Entity: "typed"}, rec); len(rej) > 0 {
		t.Fatal(rej)
	}
	wantRows(t, db.rows(t, "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'typed'::regclass AND attnum > 0"),
		"b boolean, i8 smallint, i32 integer, u64 numeric(20,0), f32 real, s character varying(65535), bin bytea, d date, "+
			"t time without time zone, ts timestamp without time zone, tstz timestamp with time zone, dur bigint, tags jsonb")
	wantRows(t, db.rows(t, "SELECT * FROM typed"),
		`t|-3|7|18446744073709551615|0.25||\x0001ff|2024-02-29|13:14:15.5|1999-12-31 23:59:59.999|2020-01-01 00:00:00+00|1500000|["a", "b,c"]`)
}

func TestSchemaChanges(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	db.exec(t, "CREATE TABLE evolve (id bigint, name varchar(20))")
	more := []arrow.Field{i64("id"), str("name"), i64("Extra"), str("note")}
	rec := batch(t, more, []any{int64(1)}, []any{"a"}, []any{int64(7)}, []any{"n"})

	// fail: an error naming the new columns, at OpenWriter.
	_, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "evolve", Schema: rec.Schema(),
		Options: sdk.Values{"on_schema_change": "fail"}})
	if err == nil || !strings.Contains(err.Error(), "has no column for extra, note") {
		t.Fatalf("fail policy: %v", err)
	}
	// ignore: the new fields are not loaded.
	load(t, c, sdk.WriteRequest{Entity: "evolve", Options: sdk.Values{"on_schema_change": "ignore"}}, rec)
	wantRows(t, db.rows(t, "SELECT * FROM evolve"), "1|a")
	// add_columns (the default): nullable columns, one ALTER each.
	load(t, c, sdk.WriteRequest{Entity: "evolve"}, rec)
	wantRows(t, db.rows(t, "SELECT * FROM evolve ORDER BY extra NULLS FIRST"), "1|a|∅|∅", "1|a|7|n")
	wantRows(t, db.rows(t, "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute WHERE attrelid = 'evolve'::regclass AND attnum > 2 ORDER BY attnum"),
		"extra|bigint|f", "note|character varying(65535)|f")
}

func TestIncompatibleTableFails(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	db.exec(t, "CREATE TABLE typed (id bigint, name integer, qty text)")
	_, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "typed", Schema: arrow.NewSchema(kv, nil)})
	for _, want := range []string{`column "name" is integer`, `field "name" is utf8`, `column "qty" is text`, `field "qty" is int64`, "never changes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("OpenWriter = %v\nwant it to mention %q", err, want)
		}
	}
}

func TestFieldNameCollision(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	_, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "x",
		Schema: arrow.NewSchema([]arrow.Field{str("Email"), str("email")}, nil)})
	if err == nil || !strings.Contains(err.Error(), `fields "Email" and "email" both become column "email"`) {
		t.Fatalf("OpenWriter = %v", err)
	}
	_, err = c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "x",
		Schema: arrow.NewSchema([]arrow.Field{str(strings.Repeat("n", 64))}, nil)})
	if err == nil || !strings.Contains(err.Error(), "is 64 bytes long; postgres allows at most 63") {
		t.Fatalf("OpenWriter = %v", err)
	}
}

func TestCloseWithoutCommitDiscards(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	ctx := context.Background()
	rec := batch(t, kv, []any{int64(1)}, []any{"a"}, []any{int64(1)})
	w, err := c.OpenWriter(ctx, sdk.WriteRequest{Entity: "items", Schema: rec.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	dir := w.(*writer).dir
	w.Close(ctx)
	if n := db.count(t, "items"); n != 1 {
		t.Fatalf("%d rows after commit + uncommitted write + close, want 1", n)
	}
	if _, err := statDir(dir); err == nil {
		t.Fatalf("staging directory %s is still there after Close", dir)
	}
}

// TestConnectionDroppedMidLoad terminates the writer's backend while its
// COPY runs: nothing is committed, and running the same load again
// succeeds and leaves no duplicates.
func TestConnectionDroppedMidLoad(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	ctx := context.Background()
	const rows = 300_000
	ids, names, qty := make([]any, rows), make([]any, rows), make([]any, rows)
	for i := range ids {
		ids[i], names[i], qty[i] = int64(i), "name-"+itoa(i), int64(i%7)
	}
	rec := batch(t, kv, ids, names, qty)
	db.exec(t, "CREATE TABLE items (id bigint, name varchar(100), qty bigint)")
	db.exec(t, "INSERT INTO items VALUES (1, 'existing', 0)")

	w, err := c.OpenWriter(ctx, sdk.WriteRequest{Entity: "items", Mode: sdk.WriteUpsert, Keys: []string{"id"}, Schema: rec.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	if _, err := w.Write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	pid := w.(*writer).sess.(*wireSession).conn.PgConn().PID()
	var killed atomic.Bool
	stop := make(chan struct{})
	go func() {
		// Wait until the backend is inside the COPY, then kill it.
		killer, err := pgx.Connect(ctx, db.dsn)
		if err != nil {
			return
		}
		defer killer.Close(ctx)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var q string
			_ = killer.QueryRow(ctx, "SELECT coalesce(query, '') FROM pg_stat_activity WHERE pid = $1", pid).Scan(&q)
			if strings.HasPrefix(q, "COPY") {
				killer.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
				killed.Store(true)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	_, err = w.Commit(ctx)
	close(stop)
	if !killed.Load() {
		t.Skip("the load finished before the backend could be terminated")
	}
	if err == nil {
		t.Fatal("Commit succeeded although its connection was terminated")
	}
	t.Logf("Commit after pg_terminate_backend: %v", err)
	wantRows(t, db.rows(t, "SELECT count(*), max(name) FROM items"), "1|existing")
	wantRows(t, db.rows(t, "SELECT count(*) FROM pg_class WHERE relname LIKE 'sluice_%'"), "0")

	// The same load again, from a new stream: all rows, once each.
	load(t, c, sdk.WriteRequest{Entity: "items", Mode: sdk.WriteUpsert, Keys: []string{"id"}}, rec)
	wantRows(t, db.rows(t, "SELECT count(*), count(DISTINCT id), min(name) FROM items WHERE id < 3"), "3|3|name-0")
	if n := db.count(t, "items"); n != rows {
		t.Fatalf("%d rows after the second load, want %d", n, rows)
	}
}

// TestSerializationConflictRetried makes the first attempt fail with
// SQLSTATE 40001 (a trigger raises it once: the sequence is not rolled
// back) and expects the load to be retried and committed once.
func TestSerializationConflictRetried(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	db.exec(t, "CREATE TABLE items (id bigint, name varchar(100), qty bigint)")
	db.exec(t, "CREATE SEQUENCE attempts")
	db.exec(t, `CREATE FUNCTION conflict_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('attempts') = 1 THEN
    RAISE EXCEPTION 'injected conflict' USING ERRCODE = '40001';
  END IF;
  RETURN NULL;
END $$`)
	db.exec(t, "CREATE TRIGGER conflict AFTER INSERT ON items FOR EACH STATEMENT EXECUTE FUNCTION conflict_once()")
	load(t, c, sdk.WriteRequest{Entity: "items", Mode: sdk.WriteUpsert, Keys: []string{"id"}},
		batch(t, kv, []any{int64(1), int64(2)}, []any{"a", "b"}, []any{int64(1), int64(2)}))
	wantRows(t, db.rows(t, "SELECT id, name FROM items ORDER BY id"), "1|a", "2|b")
	wantRows(t, db.rows(t, "SELECT last_value FROM attempts"), "2")
}

func TestRetryableClassification(t *testing.T) {
	for _, tc := range []struct {
		code, msg string
		want      bool
	}{
		{"40001", "could not serialize access", true},
		{"40P01", "deadlock detected", true},
		{"XX000", "1023", true},
		{"XX000", "Serializable isolation violation on table - 123", true},
		{"XX000", "something else", false},
		{"23505", "duplicate key", false},
	} {
		if got := retryable(pgError(tc.code, tc.msg)); got != tc.want {
			t.Errorf("retryable(%s %q) = %v", tc.code, tc.msg, got)
		}
	}
}
