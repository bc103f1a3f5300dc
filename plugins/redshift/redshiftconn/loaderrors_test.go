package redshiftconn

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/klauspost/compress/gzip"

	"github.com/sluice-dev/sluice/sdk"
)

func TestScanStagedNumbersLines(t *testing.T) {
	// Record 2 holds a quoted line break, record 4 a quoted CR LF and a
	// doubled quote.
	data := "1,a,x\n2,\"two\nlines\",y\n3,__sluice_null__,z\n4,\"cr\r\nlf \"\"q\"\"\",\n"
	var got []string
	var lc lineCounter
	err := scanStaged(strings.NewReader(data), &lc, func(r *stagedRecord) bool {
		got = append(got, fmt.Sprintf("%d-%d pg %d-%d %v", r.first, r.last, r.pgFirst, r.pgLast, splitStaged(r.raw)))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"1-1 pg 1-1 [{1 false} {a false} {x false}]",
		"2-3 pg 2-3 [{2 false} {two\nlines false} {y false}]",
		"4-4 pg 4-4 [{3 false} {__sluice_null__ true} {z false}]",
		"5-6 pg 5-6 [{4 false} {cr\r\nlf \"q\" false} { false}]",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// PostgreSQL does not count the line breaks inside the very first
	// record (it does not know the line ending yet): the counts part.
	lc = lineCounter{}
	got = nil
	err = scanStaged(strings.NewReader("1,\"a\nb\nc\",1\n2,\"m\nl\",2\n3,c,3\n"), &lc, func(r *stagedRecord) bool {
		got = append(got, fmt.Sprintf("%d-%d pg %d-%d", r.first, r.last, r.pgFirst, r.pgLast))
		return true
	})
	if err != nil || strings.Join(got, "|") != "1-3 pg 1-1|4-5 pg 2-3|6-6 pg 4-4" {
		t.Fatalf("records %v, %v", got, err)
	}

	lc = lineCounter{}
	if err := scanStaged(strings.NewReader("1,\"open\n"), &lc, func(*stagedRecord) bool { return true }); err == nil {
		t.Fatal("a file ending inside a quoted value was read without error")
	}
}

func TestMatchLinesByBothCounts(t *testing.T) {
	data := "1,a\n2,\"two\nlines\"\n3,c\n"
	found, err := matchLines(strings.NewReader(data), []int64{2, 3, 4, 9})
	if err != nil {
		t.Fatal(err)
	}
	for line, want := range map[int64]int64{2: 2, 3: 2, 4: 3, 9: 0} {
		if m := found[line]; m.phys != want || m.pg != want {
			t.Errorf("line %d: record %d by line ends, %d as PostgreSQL counts; want %d", line, m.phys, m.pg, want)
		}
	}
	// After a first record spanning lines the two counts disagree: the
	// line is ambiguous.
	found, err = matchLines(strings.NewReader("1,\"a\nb\"\n2,c\n3,d\n"), []int64{3})
	if err != nil || found[3].phys != 2 || found[3].pg != 3 {
		t.Fatalf("line 3: %+v, %v", found[3], err)
	}
}

// writePart writes data as a gzip part under dir.
func writePart(t *testing.T, dir, name, data string) part {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write([]byte(data))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return part{Path: p, CSVBytes: int64(len(data))}
}

func TestMatchLoadErrors(t *testing.T) {
	dir := t.TempDir()
	parts := []part{
		writePart(t, dir, "part-00000.csv.gz", "1,a\n2,\"two\nlines\"\n3,c\n"),
		writePart(t, dir, "part-00001.csv.gz", "4,\"x\ny\"\n5,e\n"),
	}
	errs := parseLoadErrors([][]string{
		{"s3://b/p/part-00001.csv.gz", "3", "name", "varchar", "1", "1204", "too long"},
		{"s3://b/p/part-00000.csv.gz", "4", "name", "varchar", "1", "1204", "too long"},
		{"s3://b/p/part-00000.csv.gz", "4", "name", "varchar", "1", "1204", "too long"}, // a retried attempt's
		{"s3://b/p/part-00000.csv.gz", "3", "", "", "", "1214", "Delimiter not found"},
		{"s3://b/p/part-00002.csv.gz", "1", "", "", "", "1214", "Delimiter not found"},
	})
	if len(errs) != 4 {
		t.Fatalf("%d distinct lines, want 4: %+v", len(errs), errs)
	}
	var got []string
	for _, r := range matchLoadErrors(parts, errs) {
		got = append(got, fmt.Sprintf("%s:%d %v %s", r.file(), r.line, r.values, r.why))
	}
	want := []string{
		"part-00000.csv.gz:3 [{2 false} {two\nlines false}] ",
		"part-00000.csv.gz:4 [{3 false} {c false}] ",
		"part-00001.csv.gz:3 [] line 3 of part-00001.csv.gz is ambiguous: an earlier value spans lines",
		"part-00002.csv.gz:1 [] the load staged no file part-00002.csv.gz",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("matched:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// refusingBatch has a value spanning two lines in its second row, so the
// third row sits on the staged file's fourth line.
func refusingBatch(t *testing.T) arrow.RecordBatch {
	return batch(t, kv, []any{int64(1), int64(2), int64(3)}, []any{"Ada", "two\nlines", "Bob"}, []any{int64(10), nil, int64(30)})
}

// kvColumns is an items table whose qty is NOT NULL in Redshift, which
// the catalog answer does not say.
var kvColumns = [][]string{{"id", "bigint", "", "64", "0"}, {"name", "character varying", "100", "", ""}, {"qty", "bigint", "", "64", "0"}}

// rowsRefusedAtCommit answers: Redshift refused the second row (by its
// last line) and the third.
var rowsRefusedAtCommit = [][]string{
	{"s3://bkt/sluice/0001-1/part-00000.csv.gz", "4", "name", "varchar", "100", "1220", "String contains invalid or unsupported UTF8 codepoints"},
	{"s3://bkt/sluice/0001-1/part-00000.csv.gz", "3", "qty", "int8", "0", "1213", "Missing data for not-null field"},
}

// wantRefused is what Commit returns for rowsRefusedAtCommit.
var wantRefused = []sdk.CommitRejection{
	{Fields: map[string]string{"id": "2", "name": "two\nlines"}, Location: "part-00000.csv.gz:3",
		Reason: `field "qty": Redshift refused the value: Missing data for not-null field (load error 1213, column "qty" int8)`},
	{Fields: map[string]string{"id": "3", "name": "Bob", "qty": "30"}, Location: "part-00000.csv.gz:4",
		Reason: `field "name": Redshift refused the value: String contains invalid or unsupported UTF8 codepoints (load error 1220, column "name" varchar(100))`},
}

func checkRefused(t *testing.T, got []sdk.CommitRejection) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(wantRefused) {
		t.Fatalf("refused rows:\n%+v\nwant:\n%+v", got, wantRefused)
	}
}

// TestRedshiftRowsRefusedAtCommit: COPY skips rows (MAXERROR), the loader
// reads sys_load_error_detail in the same transaction, before the merge,
// and Commit returns the staged rows with Redshift's reasons; the rest is
// committed.
func TestRedshiftRowsRefusedAtCommit(t *testing.T) {
	rec := &recorder{copied: "1", columns: map[string][][]string{"items": kvColumns}, loadErrors: rowsRefusedAtCommit}
	store := &memStore{objects: map[string][]byte{}}
	c := redshiftConnector(t, rec, store)
	w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "items", Mode: sdk.WriteUpsert, Keys: []string{"id"},
		Schema: arrow.NewSchema(kv, nil), RejectOnCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if _, err := w.Write(context.Background(), refusingBatch(t)); err != nil {
		t.Fatal(err)
	}
	res, err := w.Commit(context.Background())
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	checkRefused(t, res.Rejected)
	golden(t, "copy_refused_rows.sql", script(rec.stmts))
	lintRedshift(t, rec.stmts, nil)
	if len(store.deleted) != 2 {
		t.Fatalf("staged objects deleted: %v, want the committed load's two", store.deleted)
	}
}

// TestDataAPIRowsRefusedAtCommit: through the Data API the batch commits,
// and the refused rows are read afterwards with the wire transport's SQL.
func TestDataAPIRowsRefusedAtCommit(t *testing.T) {
	rec := &recorder{copied: "1", columns: map[string][][]string{"items": kvColumns}, loadErrors: rowsRefusedAtCommit}
	fake, srv := newFakeDataAPI(t, rec)
	c := dataAPIConnector(t, srv, &memStore{objects: map[string][]byte{}})
	w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "items", Mode: sdk.WriteUpsert, Keys: []string{"id"},
		Schema: arrow.NewSchema(kv, nil), RejectOnCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if _, err := w.Write(context.Background(), refusingBatch(t)); err != nil {
		t.Fatal(err)
	}
	res, err := w.Commit(context.Background())
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	checkRefused(t, res.Rejected)
	golden(t, "copy_refused_rows_data_api.sql", script(fake.sent))
	// The same statements as the wire transport's, the read of the
	// refused rows moved after the batch.
	wire, err := os.ReadFile(filepath.Join("testdata", "copy_refused_rows.sql"))
	if err != nil {
		t.Fatal(err)
	}
	stmts := strings.Split(string(wire), ";\n\n")
	for i, s := range stmts {
		if strings.Contains(s, "FROM sys_load_error_detail") {
			stmts = append(append(stmts[:i:i], stmts[i+1:len(stmts)-1]...), s, "")
			break
		}
	}
	if got := string(script(fake.sent)); got != strings.Join(stmts, ";\n\n") {
		t.Fatalf("Data API statements differ from the wire transport's:\n%s", got)
	}
}

// TestRefusedRowsThatCannotBeNamedFailTheLoad: the load-error view lists
// fewer lines than COPY skipped even after waiting; the wire transport
// rolls the load back (the rows are not lost) and says why.
func TestRefusedRowsThatCannotBeNamedFailTheLoad(t *testing.T) {
	rec := &recorder{copied: "0", columns: map[string][][]string{"items": kvColumns}, loadErrors: rowsRefusedAtCommit[:1]}
	store := &memStore{objects: map[string][]byte{}}
	c := redshiftConnector(t, rec, store)
	c.loadErrorWaits = []time.Duration{time.Millisecond, time.Millisecond}
	w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "items", Mode: sdk.WriteUpsert, Keys: []string{"id"},
		Schema: arrow.NewSchema(kv, nil), RejectOnCommit: true, Options: sdk.Values{"max_load_errors": int64(5)}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if _, err := w.Write(context.Background(), refusingBatch(t)); err != nil {
		t.Fatal(err)
	}
	_, err = w.Commit(context.Background())
	if err == nil || !strings.Contains(err.Error(), "COPY skipped 3 of the 3 staged rows, but sys_load_error_detail lists 1 refused lines under s3://bkt/sluice/0001-1/") {
		t.Fatalf("Commit = %v", err)
	}
	reads, copyAt := 0, -1
	for i, s := range rec.stmts {
		if strings.Contains(s, "FROM sys_load_error_detail") {
			reads++
		}
		if strings.HasPrefix(s, "COPY") {
			copyAt = i
			if !strings.Contains(s, "\nMAXERROR 5\n") {
				t.Errorf("COPY without max_load_errors' MAXERROR 5:\n%s", s)
			}
		}
	}
	if reads != 3 {
		t.Errorf("the view was read %d times, want 3 (once, then after each of 2 waits)", reads)
	}
	if last := rec.stmts[len(rec.stmts)-1]; last != "ROLLBACK" || copyAt < 0 || contains(rec.stmts, "COMMIT") {
		t.Fatalf("statements after the COPY: %q", rec.stmts[copyAt:])
	}
	if len(store.deleted) != 0 {
		t.Fatalf("staged objects of a failed load deleted: %v", store.deleted)
	}
}

// TestMaxErrorsFollowsTheRequest: without RejectOnCommit the engine would
// not take refused rows, so COPY tolerates none, whatever max_load_errors
// says; with it, max_load_errors is MAXERROR, and PostgreSQL mode has none.
func TestMaxErrorsFollowsTheRequest(t *testing.T) {
	for _, tc := range []struct {
		reject bool
		opts   sdk.Values
		want   string
	}{
		{false, nil, "MAXERROR 0"},
		{false, sdk.Values{"max_load_errors": int64(50)}, "MAXERROR 0"},
		{true, nil, "MAXERROR 1000"},
		{true, sdk.Values{"max_load_errors": int64(0)}, "MAXERROR 0"},
		{true, sdk.Values{"max_load_errors": int64(100000)}, "MAXERROR 100000"},
	} {
		rec := &recorder{copied: "3", columns: map[string][][]string{"items": kvColumns}}
		c := redshiftConnector(t, rec, &memStore{objects: map[string][]byte{}})
		opts := tc.opts
		if opts == nil {
			opts = sdk.Values{}
		}
		w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "items", Schema: arrow.NewSchema(kv, nil),
			RejectOnCommit: tc.reject, Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(context.Background(), refusingBatch(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Commit(context.Background()); err != nil {
			t.Fatal(err)
		}
		w.Close(context.Background())
		found := false
		for _, s := range rec.stmts {
			found = found || strings.HasPrefix(s, "COPY") && strings.Contains(s, "\n"+tc.want+"\n")
		}
		if !found {
			t.Errorf("RejectOnCommit=%v %v: no COPY with %s in\n%s", tc.reject, tc.opts, tc.want, script(rec.stmts))
		}
	}
	for _, bad := range []int64{-1, 100001} {
		_, err := parseSinkOptions(sdk.Values{"max_load_errors": bad}, "items")
		if err == nil || !strings.Contains(err.Error(), "max_load_errors") {
			t.Errorf("max_load_errors = %d: %v", bad, err)
		}
		// validate finds it too, on the attribute.
		diags := (&Connector{}).CheckWrite(context.Background(), sdk.WriteRequest{Entity: "items", Options: sdk.Values{"max_load_errors": bad}})
		if len(diags) != 1 || strings.Join(diags[0].Path, ".") != "max_load_errors" {
			t.Errorf("CheckWrite with max_load_errors = %d: %#v", bad, diags)
		}
	}
}

// commitErr writes recs in one stream and returns Commit's error.
func commitErr(t *testing.T, c *Connector, req sdk.WriteRequest, recs ...arrow.RecordBatch) error {
	t.Helper()
	ctx := context.Background()
	req.Schema = recs[0].Schema()
	w, err := c.OpenWriter(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	for _, rec := range recs {
		res, err := w.Write(ctx, rec)
		if err != nil || len(res.Rejected) > 0 {
			t.Fatalf("Write: %v %+v", err, res.Rejected)
		}
	}
	_, err = w.Commit(ctx)
	return err
}

// TestPostgresCopyErrorNamesTheRow: a row pre-validation cannot judge
// (a CHECK constraint, a NOT NULL column) fails PostgreSQL's COPY, which
// names a line of its input; the Commit error names the row it holds,
// found again in the staged parts, across part files and past values that
// span lines. Nothing is loaded.
func TestPostgresCopyErrorNamesTheRow(t *testing.T) {
	db := newDB(t)
	c := configured(t, db.dsn)

	t.Run("insert", func(t *testing.T) {
		db.exec(t, "CREATE TABLE checked (id bigint, name varchar(100), qty bigint CHECK (qty >= 0))")
		// The first row spans three lines, which PostgreSQL does not count
		// (see lineCounter); the rows' 1.5 MB of CSV fill two 1 MiB parts.
		const n = 40_000
		ids, names, qty := make([]any, n), make([]any, n), make([]any, n)
		for i := range ids {
			ids[i], names[i], qty[i] = int64(i), fmt.Sprintf("customer name number %08d", i), int64(1)
			if i%1000 == 0 {
				names[i] = fmt.Sprintf("multi\nline\n%d", i)
			}
		}
		b1 := batch(t, kv, ids[:n/2], names[:n/2], qty[:n/2])
		qty[n-3] = int64(-3)
		b2 := batch(t, kv, ids[n/2:], names[n/2:], qty[n/2:])
		err := commitErr(t, c, sdk.WriteRequest{Entity: "checked", Options: sdk.Values{"part_size": int64(1 << 20)}}, b1, b2)
		if err == nil || !strings.Contains(err.Error(), `violates check constraint "checked_qty_check"`) ||
			!strings.Contains(err.Error(), fmt.Sprintf("the refused row is id=%d, name=customer name number %08d, qty=-3 (staged row %d, line ", n-3, n-3, n-2)) {
			t.Fatalf("Commit = %v", err)
		}
		t.Log(err)
		if got := db.count(t, "checked"); got != 0 {
			t.Fatalf("%d rows loaded by a failed COPY", got)
		}
	})

	t.Run("upsert", func(t *testing.T) {
		// LIKE copies NOT NULL onto the staging table, so the COPY into
		// it refuses the null; the error names the key.
		db.exec(t, "CREATE TABLE strict (id bigint, name varchar(100), qty bigint NOT NULL)")
		rec := batch(t, kv, []any{int64(1), int64(2), int64(3)}, []any{"a\nb", "b", "c"}, []any{int64(1), nil, int64(3)})
		err := commitErr(t, c, sdk.WriteRequest{Entity: "strict", Mode: sdk.WriteUpsert, Keys: []string{"id"}}, rec)
		if err == nil || !strings.Contains(err.Error(), `null value in column "qty"`) ||
			!strings.Contains(err.Error(), "the refused row is id=2 (staged row 2, line 2 of the COPY input)") {
			t.Fatalf("Commit = %v", err)
		}
	})
}

// TestRefusedChangeEvents: a refused delete says it is one; a refused
// write carries its staged fields, without the loader's own columns.
func TestRefusedChangeEvents(t *testing.T) {
	rec := &recorder{copied: "3", columns: map[string][][]string{"events": existingColumns}, loadErrors: [][]string{
		{"s3://bkt/sluice/0001-1/part-00000.csv.gz", "2", "id", "int8", "0", "1207", "Invalid digit"},
		{"s3://bkt/sluice/0001-1/part-00000.csv.gz", "3", "", "", "", "1214", "Delimiter not found"},
	}}
	c := redshiftConnector(t, rec, &memStore{objects: map[string][]byte{}})
	req := changeRequest("events", sdk.WriteUpsert, "Id")
	req.Schema, req.RejectOnCommit = arrow.NewSchema(withChange(goldenFields), nil), true
	w, err := c.OpenWriter(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if _, err := w.Write(context.Background(), changeBatch(t)); err != nil {
		t.Fatal(err)
	}
	res, err := w.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []sdk.CommitRejection{
		{Fields: map[string]string{"Id": "2", sdk.ChangeTypeField: sdk.ChangeDelete}, Location: "part-00000.csv.gz:2",
			Reason: `field "Id": Redshift refused the value: Invalid digit (load error 1207, column "id" int8)`},
		{Fields: map[string]string{"Id": "3", "Name": "kept", "score": "2", "tags": "[]", "raw": "", "amount": "1.00"}, Location: "part-00000.csv.gz:3",
			Reason: `Redshift refused the row: Delimiter not found (load error 1214)`},
	}
	if fmt.Sprint(res.Rejected) != fmt.Sprint(want) {
		t.Fatalf("refused:\n%+v\nwant:\n%+v", res.Rejected, want)
	}
}

// TestDataAPIRefusedRowsUnmatched: through the Data API the batch has
// committed before the refused rows are read; one that cannot be matched
// fails Commit with a message saying so, and the staged files stay.
func TestDataAPIRefusedRowsUnmatched(t *testing.T) {
	rec := &recorder{copied: "2", columns: map[string][][]string{"items": kvColumns}, loadErrors: [][]string{
		{"s3://bkt/sluice/0001-1/part-00007.csv.gz", "1", "qty", "int8", "0", "1213", "Missing data for not-null field"}}}
	_, srv := newFakeDataAPI(t, rec)
	store := &memStore{objects: map[string][]byte{}}
	c := dataAPIConnector(t, srv, store)
	w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "items", Schema: arrow.NewSchema(kv, nil), RejectOnCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if _, err := w.Write(context.Background(), refusingBatch(t)); err != nil {
		t.Fatal(err)
	}
	_, err = w.Commit(context.Background())
	if err == nil || !strings.Contains(err.Error(), "the load was committed without 1 of the 3 staged rows, which Redshift refused: "+
		"of the 1 rows Redshift refused, 1 cannot be matched to a staged row:\n  part-00007.csv.gz line 1 (the load staged no file part-00007.csv.gz): Missing data for not-null field") {
		t.Fatalf("Commit = %v", err)
	}
	if len(store.deleted) != 0 {
		t.Fatalf("staged objects deleted: %v", store.deleted)
	}
}
