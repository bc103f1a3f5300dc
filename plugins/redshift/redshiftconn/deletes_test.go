package redshiftconn

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/sdk"
)

var changeField = arrow.Field{Name: sdk.ChangeTypeField, Type: arrow.BinaryTypes.String}

func withChange(fields []arrow.Field) []arrow.Field {
	return append(append([]arrow.Field(nil), fields...), changeField)
}

// changeBatch is goldenBatch's shape as change events. Row 1 is a delete
// whose other fields would be rejected if they were loaded (NaN), row 3
// deletes the key row 0 created, and rows 4 and 5 are rejected (no change
// type the sink knows, a delete without its key): five rows are staged.
func changeBatch(t *testing.T) arrow.RecordBatch {
	sch := arrow.NewSchema(withChange(goldenFields), nil)
	rec, _, err := arrayFromJSON(sch, `[
		{"Id":1,"Name":"Ada","score":1.5,"tags":["x"],"raw":"3q2+7w==","amount":"12.50","at":"2026-01-02T03:04:05Z","_change_type":"CREATE"},
		{"Id":2,"Name":"gone","score":"NaN","tags":null,"raw":null,"amount":null,"at":null,"_change_type":"DELETE"},
		{"Id":3,"Name":"kept","score":2,"tags":[],"raw":"","amount":"1.00","at":null,"_change_type":"UPDATE"},
		{"Id":1,"Name":null,"score":null,"tags":null,"raw":null,"amount":null,"at":null,"_change_type":"DELETE"},
		{"Id":4,"Name":"gap","score":null,"tags":null,"raw":null,"amount":null,"at":null,"_change_type":"GAP_UPDATE"},
		{"Id":null,"Name":null,"score":null,"tags":null,"raw":null,"amount":null,"at":null,"_change_type":"DELETE"},
		{"Id":5,"Name":"back","score":0,"tags":null,"raw":null,"amount":null,"at":null,"_change_type":"UNDELETE"}
	]`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rec.Release)
	return rec
}

// loadChanges writes changeBatch through c and commits, checking what
// was rejected.
func loadChanges(t *testing.T, c *Connector, mode sdk.WriteMode, opts sdk.Values) {
	t.Helper()
	ctx := context.Background()
	w, err := c.OpenWriter(ctx, sdk.WriteRequest{Entity: opts.String("table", ""), Mode: mode, Keys: []string{"Id"},
		Options: opts, Schema: arrow.NewSchema(withChange(goldenFields), nil), Deletes: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	res, err := w.Write(ctx, changeBatch(t))
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	var reasons []string
	for _, r := range res.Rejected {
		reasons = append(reasons, itoa(r.Row)+": "+r.Reason)
	}
	want := []string{
		`4: field "_change_type": "GAP_UPDATE" is not a change this sink applies (CREATE, UPDATE, DELETE or UNDELETE)`,
		`5: field "Id": key is null; ` + string(mode) + ` matches rows by key`,
	}
	if strings.Join(reasons, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rejected:\n%s\nwant:\n%s", strings.Join(reasons, "\n"), strings.Join(want, "\n"))
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// TestDeletesGoldenSQL pins the merge with deletes: Redshift over the wire
// and over the Data API send the same statements (one golden file), and
// PostgreSQL mode differs only by its COPY.
func TestDeletesGoldenSQL(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mode     sdk.WriteMode
		existing bool
		opts     sdk.Values
	}{
		{"upsert_deletes", sdk.WriteUpsert, true, sdk.Values{"table": "events"}},
		{"update_deletes", sdk.WriteUpdate, true, sdk.Values{"table": "events"}},
		{"create_upsert_deletes", sdk.WriteUpsert, false, sdk.Values{"table": "analytics.events", "distkey": "Id", "sortkey": []string{"Id"}}},
	} {
		catalog := func() *recorder {
			rec := &recorder{copied: "5", columns: map[string][][]string{}}
			if tc.existing {
				rec.columns["events"] = existingColumns
			}
			return rec
		}
		t.Run(tc.name+"/wire", func(t *testing.T) {
			rec := catalog()
			store := &memStore{objects: map[string][]byte{}}
			loadChanges(t, redshiftConnector(t, rec, store), tc.mode, tc.opts)
			golden(t, tc.name+".sql", script(rec.stmts))
			lintRedshift(t, rec.stmts, tc.opts)
			if tc.name == "upsert_deletes" {
				golden(t, "part-deletes.csv", gunzip(t, store.objects["s3://bkt/sluice/0001-1/part-00000.csv.gz"]))
			}
		})
		t.Run(tc.name+"/data_api", func(t *testing.T) {
			fake, srv := newFakeDataAPI(t, catalog())
			loadChanges(t, dataAPIConnector(t, srv, &memStore{objects: map[string][]byte{}}), tc.mode, tc.opts)
			golden(t, tc.name+".sql", script(fake.sent))
		})
	}
	t.Run("postgres_upsert_deletes", func(t *testing.T) {
		rec := &recorder{stdin: true, columns: map[string][][]string{"events": existingColumns}}
		c := New()
		c.open = func(ctx context.Context, cfg connConfig) (session, error) { return rec, nil }
		c.newID = func() string { return "0001" }
		if err := c.Configure(context.Background(), sdk.Values{"dsn": "postgres://u:p@example.invalid:5432/dev", "mode": ModePostgres}).Err(); err != nil {
			t.Fatal(err)
		}
		loadChanges(t, c, sdk.WriteUpsert, sdk.Values{"table": "events"})
		golden(t, "postgres_upsert_deletes.sql", script(rec.stmts))
	})
}

// TestDeletesRefused: deletes need a keyed upsert or update and the
// change-type column; CheckWrite says so on the deletes attribute, and
// OpenWriter refuses the same requests.
func TestDeletesRefused(t *testing.T) {
	rec := &recorder{copied: "0", columns: map[string][][]string{"events": existingColumns}}
	c := redshiftConnector(t, rec, &memStore{objects: map[string][]byte{}})
	withCT := arrow.NewSchema(withChange(goldenFields), nil)
	intCT := arrow.NewSchema(append(append([]arrow.Field(nil), goldenFields...),
		arrow.Field{Name: sdk.ChangeTypeField, Type: arrow.PrimitiveTypes.Int64}), nil)
	for _, tc := range []struct {
		name   string
		mode   sdk.WriteMode
		schema *arrow.Schema
		want   string
	}{
		{"insert", sdk.WriteInsert, withCT, `write = "insert" appends rows and matches no key`},
		{"default mode", "", withCT, `write = "insert" appends rows and matches no key`},
		{"delete", sdk.WriteDelete, withCT, `write = "delete" deletes every record it receives`},
		{"no change type", sdk.WriteUpsert, arrow.NewSchema(goldenFields, nil),
			`deletes = true needs the "_change_type" field (CREATE, UPDATE, DELETE or UNDELETE per record), which change events carry; the records have Id, Name, amount, at, raw, score, tags`},
		{"change type not a string", sdk.WriteUpdate, intCT, `field "_change_type" is int64; the change type is a string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := sdk.WriteRequest{Entity: "events", Mode: tc.mode, Keys: []string{"id"}, Schema: tc.schema, Deletes: true}
			diags := c.CheckWrite(context.Background(), req)
			if len(diags) != 1 || diags[0].Severity != sdk.SeverityError || strings.Join(diags[0].Path, ".") != "deletes" ||
				!strings.Contains(diags[0].Detail, tc.want) {
				t.Fatalf("CheckWrite = %#v\nwant one error on deletes containing %q", diags, tc.want)
			}
			_, err := c.OpenWriter(context.Background(), req)
			if err == nil || !strings.Contains(err.Error(), "deletes: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("OpenWriter = %v\nwant an error containing %q", err, tc.want)
			}
			req.Deletes = false
			if diags := c.CheckWrite(context.Background(), req); len(diags) != 0 {
				t.Fatalf("CheckWrite without deletes = %v", diags)
			}
		})
	}
	for _, s := range rec.stmts {
		if s == "BEGIN" {
			t.Fatal("a refused write began a transaction")
		}
	}

	// The schema may first come with a batch: the missing column fails
	// that Write.
	w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "events", Mode: sdk.WriteUpsert, Keys: []string{"id"}, Deletes: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if _, err := w.Write(context.Background(), goldenBatch(t)); err == nil || !strings.Contains(err.Error(), `needs the "_change_type" field`) {
		t.Fatalf("Write without the change type = %v", err)
	}
}

// The tests below load into a real PostgreSQL.

var kvChange = withChange(kv)

func changeRequest(table string, mode sdk.WriteMode, keys ...string) sdk.WriteRequest {
	return sdk.WriteRequest{Entity: table, Mode: mode, Keys: keys, Deletes: true}
}

func ops(v ...string) []any {
	out := make([]any, len(v))
	for i, s := range v {
		out[i] = s
	}
	return out
}

func TestDeletesUpsert(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	// name is NOT NULL: deletes carry nulls there, which the stage must
	// take (CREATE TABLE (LIKE …) would copy the constraint).
	db.exec(t, "CREATE TABLE items (id bigint, name varchar(5) NOT NULL, qty bigint)")
	db.exec(t, "INSERT INTO items VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 4)")
	ctx := context.Background()
	rec := batch(t, kvChange,
		[]any{int64(2), int64(3), int64(5), int64(9), int64(4)},
		// The delete of 4 carries a name too long for the column: it is
		// not loaded, so it is not checked.
		[]any{"B", nil, "E", nil, "much too long"},
		[]any{int64(21), nil, int64(51), nil, int64(-1)},
		ops(sdk.ChangeUpdate, sdk.ChangeDelete, sdk.ChangeCreate, sdk.ChangeDelete, sdk.ChangeDelete))
	w, err := c.OpenWriter(ctx, sdk.WriteRequest{Entity: "items", Mode: sdk.WriteUpsert, Keys: []string{"id"}, Schema: rec.Schema(), Deletes: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	res, err := w.Write(ctx, rec)
	if err != nil || len(res.Rejected) > 0 {
		t.Fatalf("Write: %v %+v", err, res.Rejected)
	}
	// Deletes are written rows: staged, loaded and counted with the rest
	// (9, which the table lacks, too: deleting it is a no-op).
	if n := w.(*writer).staged; n != 5 {
		t.Fatalf("%d rows staged, want 5", n)
	}
	cres, err := w.Commit(ctx)
	if err != nil || cres.BytesWritten == 0 {
		t.Fatalf("Commit: %v %+v", err, cres)
	}
	wantRows(t, db.rows(t, "SELECT id, name, qty FROM items ORDER BY id"), "1|a|1", "2|B|21", "5|E|51")
	wantRows(t, db.rows(t, "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attnum > 0"),
		"id,name,qty")
}

// TestDeletesLastEventWins: within one load (two batches), each key ends
// as its last event says, whether that is a write or a delete; the same
// load again changes nothing.
func TestDeletesLastEventWins(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	db.exec(t, "CREATE TABLE items (id bigint, name varchar(100), qty bigint)")
	db.exec(t, "INSERT INTO items VALUES (1, 'a', 1), (2, 'b', 2), (6, 'f', 6)")
	b1 := batch(t, kvChange,
		[]any{int64(1), int64(3), int64(2), int64(5), int64(5), int64(4)},
		[]any{nil, "c", "b2", "e", nil, "d"},
		[]any{nil, int64(3), int64(22), int64(5), nil, int64(4)},
		ops(sdk.ChangeDelete, sdk.ChangeCreate, sdk.ChangeUpdate, sdk.ChangeCreate, sdk.ChangeDelete, sdk.ChangeCreate))
	b2 := batch(t, kvChange,
		[]any{int64(1), int64(3), int64(2), int64(4), int64(6)},
		[]any{"a2", nil, nil, "d2", "f2"},
		[]any{int64(11), nil, nil, int64(44), int64(66)},
		ops(sdk.ChangeUndelete, sdk.ChangeDelete, sdk.ChangeDelete, sdk.ChangeUpdate, sdk.ChangeUpdate))
	want := []string{
		"1|a2|11", // deleted, then undeleted
		// 2: updated, then deleted; 3 and 5: created, then deleted
		"4|d2|44", // created, then updated
		"6|f2|66",
	}
	for run := 0; run < 2; run++ {
		if rej := load(t, c, changeRequest("items", sdk.WriteUpsert, "id"), b1, b2); len(rej) > 0 {
			t.Fatal(rej)
		}
		wantRows(t, db.rows(t, "SELECT id, name, qty FROM items ORDER BY id"), want...)
	}
}

func TestDeletesUpdate(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	db.exec(t, "CREATE TABLE items (id bigint, name varchar(100), qty bigint)")
	db.exec(t, "INSERT INTO items VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)")
	// update changes existing keys only: 7 is not inserted; 8 is not there
	// to delete.
	load(t, c, changeRequest("items", sdk.WriteUpdate, "id"), batch(t, kvChange,
		[]any{int64(1), int64(2), int64(7), int64(8)},
		[]any{"A", nil, "G", nil},
		[]any{int64(10), nil, int64(70), nil},
		ops(sdk.ChangeUpdate, sdk.ChangeDelete, sdk.ChangeCreate, sdk.ChangeDelete)))
	wantRows(t, db.rows(t, "SELECT id, name, qty FROM items ORDER BY id"), "1|A|10", "3|c|3")
}

func TestDeletesCompositeKey(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	fields := []arrow.Field{str("Region"), i64("Id"), i64("v")}
	load(t, c, sdk.WriteRequest{Entity: "regional", Mode: sdk.WriteUpsert, Keys: []string{"Region", "Id"}}, batch(t, fields,
		[]any{"eu", "eu", "us", "us"}, []any{int64(1), int64(2), int64(1), int64(2)}, []any{int64(1), int64(2), int64(3), int64(4)}))
	// Only the whole key matches: deleting (eu, 1) leaves (us, 1) and
	// (eu, 2); (us, 9) is not there.
	load(t, c, changeRequest("regional", sdk.WriteUpsert, "Region", "Id"), batch(t, withChange(fields),
		[]any{"eu", "us", "us", "eu"}, []any{int64(1), int64(2), int64(9), int64(3)}, []any{nil, int64(40), nil, int64(5)},
		ops(sdk.ChangeDelete, sdk.ChangeUpdate, sdk.ChangeDelete, sdk.ChangeCreate)))
	wantRows(t, db.rows(t, "SELECT region, id, v FROM regional ORDER BY region, id"), "eu|2|2", "eu|3|5", "us|1|3", "us|2|40")
}

// TestDeletesCreateTable: a first load that carries deletes creates the
// table from the record fields, without the change type.
func TestDeletesCreateTable(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	load(t, c, changeRequest("fresh", sdk.WriteUpsert, "id"), batch(t, kvChange,
		[]any{int64(1), int64(2), int64(1), int64(3)},
		[]any{"a", nil, "a2", "c"},
		[]any{int64(1), nil, int64(11), int64(3)},
		ops(sdk.ChangeCreate, sdk.ChangeDelete, sdk.ChangeUpdate, sdk.ChangeCreate)))
	wantRows(t, db.rows(t, "SELECT * FROM fresh ORDER BY id"), "1|a2|11", "3|c|3")
	wantRows(t, db.rows(t, "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'fresh'::regclass AND attnum > 0"),
		"id,name,qty")
	// Only deletes, into a table that does not exist yet: it is created,
	// empty.
	load(t, c, changeRequest("empty", sdk.WriteUpsert, "id"), batch(t, kvChange,
		[]any{int64(1)}, []any{nil}, []any{nil}, ops(sdk.ChangeDelete)))
	wantRows(t, db.rows(t, "SELECT count(*) FROM empty"), "0")
}

func TestDeletesRejectedRows(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	db.exec(t, "CREATE TABLE items (id bigint, name varchar(100), qty bigint)")
	db.exec(t, "INSERT INTO items VALUES (1, 'a', 1), (2, 'b', 2)")
	rejected := load(t, c, changeRequest("items", sdk.WriteUpsert, "id"), batch(t, kvChange,
		[]any{int64(1), nil, int64(2), int64(3)},
		[]any{nil, nil, nil, "c"},
		[]any{nil, nil, nil, int64(3)},
		[]any{nil, sdk.ChangeDelete, "delete", sdk.ChangeCreate}))
	want := []string{
		`0/0: field "_change_type" is null; a change event is CREATE, UPDATE, DELETE or UNDELETE`,
		`0/1: field "id": key is null; upsert matches rows by key`,
		`0/2: field "_change_type": "delete" is not a change this sink applies (CREATE, UPDATE, DELETE or UNDELETE)`,
	}
	if strings.Join(rejected, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rejected:\n%s\nwant:\n%s", strings.Join(rejected, "\n"), strings.Join(want, "\n"))
	}
	wantRows(t, db.rows(t, "SELECT id, name, qty FROM items ORDER BY id"), "1|a|1", "2|b|2", "3|c|3")
}

// TestChangeTypeWithoutDeletes: without deletes, a field named
// _change_type is the user's own and loads like any other.
func TestChangeTypeWithoutDeletes(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	load(t, c, sdk.WriteRequest{Entity: "plain", Mode: sdk.WriteUpsert, Keys: []string{"id"}}, batch(t, kvChange,
		[]any{int64(1), int64(2)}, []any{"a", "b"}, []any{int64(1), int64(2)}, ops(sdk.ChangeCreate, sdk.ChangeDelete)))
	wantRows(t, db.rows(t, "SELECT * FROM plain ORDER BY id"), "1|a|1|CREATE", "2|b|2|DELETE")
}

func TestReservedStagingNames(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)
	_, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "x", Schema: arrow.NewSchema([]arrow.Field{i64("__Sluice_Deleted")}, nil)})
	if err == nil || !strings.Contains(err.Error(), "reserved for the loader's staging tables") {
		t.Fatalf("OpenWriter = %v", err)
	}
}
