package fileconn

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/format"
)

const typedCSV = `id,price,ok,at,day,name
1,1.5,true,2024-05-01T10:00:00Z,2024-05-01,alpha
2,2,false,2024-05-01T11:30:00.123456+02:00,2024-05-02,"beta, with comma"
3,,TRUE,2024-05-01 12:00:00,2024-05-03,
`

func TestInferTypes(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "t.csv"), typedCSV)
	sc := describeSchema(t, sdk.Values{"path": p})
	want := "id:int64 price:float64 ok:bool at:timestamp[us, tz=UTC] day:date32 name:utf8"
	if got := typesOf(sc); got != want {
		t.Fatalf("inferred %s\nwant     %s", got, want)
	}
	s := readAll(t, sdk.Values{"path": p})
	if got := strings.Join(s.column(t, "at"), "|"); got != "2024-05-01T10:00:00Z|2024-05-01T09:30:00.123456Z|2024-05-01T12:00:00Z" {
		t.Errorf("timestamps: %s", got)
	}
	if got := strings.Join(s.column(t, "price"), "|"); got != "1.5|2|(null)" {
		t.Errorf("prices: %s", got)
	}
	if got := strings.Join(s.column(t, "name"), "|"); got != "alpha|beta, with comma|(null)" {
		t.Errorf("names: %s", got)
	}
}

func TestSchemaOverride(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "t.csv"), typedCSV)
	opts := sdk.Values{"path": p, "schema": map[string]string{"id": "string", "price": "float", "day": "timestamp"}}
	sc := describeSchema(t, opts)
	want := "id:utf8 price:float64 ok:bool at:timestamp[us, tz=UTC] day:timestamp[us, tz=UTC] name:utf8"
	if got := typesOf(sc); got != want {
		t.Fatalf("schema %s\nwant   %s", got, want)
	}
	s := readAll(t, opts)
	if got := s.column(t, "day")[1]; got != "2024-05-02T00:00:00Z" {
		t.Errorf("date read as timestamp: %s", got)
	}

	_, err := New().DescribeEntity(context.Background(), sdk.DescribeRequest{Options: sdk.Values{"path": p, "schema": map[string]string{"nope": "int"}}})
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown override field: %v", err)
	}
	_, err = New().DescribeEntity(context.Background(), sdk.DescribeRequest{Options: sdk.Values{"path": p, "schema": map[string]string{"id": "decimal"}}})
	if err == nil || !strings.Contains(err.Error(), "decimal") {
		t.Errorf("unknown type: %v", err)
	}
}

func TestHeaderFalse(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "t.csv"), "1,a\n2,b\n")
	opts := sdk.Values{"path": p, "header": false}
	if got := typesOf(describeSchema(t, opts)); got != "c1:int64 c2:utf8" {
		t.Fatalf("schema %s", got)
	}
	s := readAll(t, opts)
	if got := strings.Join(s.column(t, "c1"), ","); got != "1,2" {
		t.Errorf("c1 = %s (first line must be data)", got)
	}
}

func TestDelimiterAndNullValues(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "t.txt"), "a;b;c\n1;NA;x\nN/A;2.5;\n3;4;\"NA\"\n")
	opts := sdk.Values{"path": p, "format": "csv", "delimiter": ";", "null_values": []string{"NA", "N/A"}}
	if got := typesOf(describeSchema(t, opts)); got != "a:int64 b:float64 c:utf8" {
		t.Fatalf("schema %s", got)
	}
	s := readAll(t, opts)
	for col, want := range map[string]string{
		"a": "1|(null)|3",
		"b": "(null)|2.5|4",
		// "" is not a null value here; a quoted "NA" is literal text.
		"c": "x||NA",
	} {
		if got := strings.Join(s.column(t, col), "|"); got != want {
			t.Errorf("%s = %q, want %q", col, got, want)
		}
	}
}

func TestTSVByExtension(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "t.tsv"), "a\tb\n1\tx,y\n")
	s := readAll(t, sdk.Values{"path": p})
	if got := s.column(t, "b")[0]; got != "x,y" {
		t.Fatalf("b = %q", got)
	}
}

func TestMultiFileDirectoryAndGlob(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "b.csv"), "id,v\n3,c\n4,d\n")
	writeFile(t, filepath.Join(dir, "a.csv"), "id,v\n1,a\n2,b\n")
	writeFile(t, filepath.Join(dir, "sub", "c.csv"), "id,v\n5,e\n")
	writeFile(t, filepath.Join(dir, ".hidden.csv"), "id,v\n99,zz\n")
	writeFile(t, filepath.Join(dir, ".part-run-00000.csv.tmp"), "id,v\n98,zz\n")
	writeFile(t, filepath.Join(dir, "_SUCCESS"), "")
	writeFile(t, filepath.Join(dir, "_temporary", "x.csv"), "id,v\n97,zz\n")

	s := readAll(t, sdk.Values{"path": dir})
	if got := strings.Join(s.column(t, "id"), ","); got != "1,2,3,4,5" {
		t.Errorf("directory read ids %s", got)
	}
	if len(s.checkpoints) != 3 {
		t.Fatalf("checkpoints %v, want one per file", s.checkpoints)
	}
	var pos position
	if err := json.Unmarshal([]byte(s.checkpoints[2]), &pos); err != nil || pos.FilesDone != 3 || !strings.HasSuffix(pos.File, "c.csv") {
		t.Errorf("last checkpoint %s", s.checkpoints[2])
	}
	last := s.progress[len(s.progress)-1]
	if last.BytesTotal == 0 || last.BytesRead != last.BytesTotal {
		t.Errorf("final progress %+v", last)
	}

	s = readAll(t, sdk.Values{"path": filepath.Join(dir, "*.csv")})
	if got := strings.Join(s.column(t, "id"), ","); got != "1,2,3,4" {
		t.Errorf("glob *.csv ids %s", got)
	}
	s = readAll(t, sdk.Values{"path": filepath.Join(dir, "**", "*.csv")})
	if got := strings.Join(s.column(t, "id"), ","); got != "1,2,3,4,5" {
		t.Errorf("glob **/*.csv ids %s", got)
	}

	// Resuming from the first file's checkpoint reads the rest.
	first := readAll(t, sdk.Values{"path": dir}).checkpoints[0]
	rs := &fakeSender{}
	defer rs.release()
	err := New().Read(context.Background(), sdk.ReadRequest{Options: sdk.Values{"path": dir}, Checkpoint: []byte(first)}, rs)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rs.column(t, "id"), ","); got != "3,4,5" {
		t.Errorf("resumed ids %s", got)
	}
}

func TestHeaderMismatchNamesFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.csv"), "id,v\n1,a\n")
	bad := writeFile(t, filepath.Join(dir, "b.csv"), "id,w\n2,b\n")
	_, err := tryRead(context.Background(), sdk.Values{"path": dir}, sdk.Limits{})
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("want an error naming %s, got %v", bad, err)
	}
}

func TestUnknownFormat(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "data.xlsx"), "x")
	_, err := tryRead(context.Background(), sdk.Values{"path": p}, sdk.Limits{})
	if err == nil || !strings.Contains(err.Error(), "format") {
		t.Fatalf("want a format error, got %v", err)
	}
	_, err = tryRead(context.Background(), sdk.Values{"path": p, "format": "xml"}, sdk.Limits{})
	if err == nil || !strings.Contains(err.Error(), "xml") {
		t.Fatalf("want a format error, got %v", err)
	}
	_, err = tryRead(context.Background(), sdk.Values{"path": filepath.Join(dir, "missing.csv")}, sdk.Limits{})
	if err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Fatalf("want a not-found error naming the path, got %v", err)
	}
}

func TestProjection(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "t.csv"), typedCSV)
	s := readAll(t, sdk.Values{"path": p}, "name", "id")
	sc := s.batches[0].Schema()
	if typesOf(sc) != "name:utf8 id:int64" {
		t.Fatalf("projected schema %s", typesOf(sc))
	}
	_, err := tryRead(context.Background(), sdk.Values{"path": p}, sdk.Limits{}, "nope")
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown field: %v", err)
	}
}

func genCSV(rows int) string {
	var b strings.Builder
	b.WriteString("id,name\n")
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&b, "%d,name-%d\n", i, i)
	}
	return b.String()
}

func TestBatchCaps(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "t.csv"), genCSV(1000))
	s, err := tryRead(context.Background(), sdk.Values{"path": p}, sdk.Limits{MaxRows: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer s.release()
	for i, b := range s.batches {
		if b.NumRows() > 7 {
			t.Fatalf("batch %d has %d rows", i, b.NumRows())
		}
	}
	if s.rows() != 1000 || len(s.batches) != 143 {
		t.Fatalf("%d rows in %d batches", s.rows(), len(s.batches))
	}
	if len(s.progress) < len(s.batches) {
		t.Errorf("%d progress reports for %d batches", len(s.progress), len(s.batches))
	}

	s, err = tryRead(context.Background(), sdk.Values{"path": p}, sdk.Limits{MaxBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.release()
	for i, b := range s.batches {
		if sz := format.RecordBytes(b); sz > 2000 {
			t.Fatalf("batch %d is %d bytes under a 1000-byte cap", i, sz)
		}
	}
	if s.rows() != 1000 {
		t.Fatalf("%d rows", s.rows())
	}
}

func TestMalformedCSVRowsAreRejected(t *testing.T) {
	dir := t.TempDir()
	content := "id,name,n\n" + // line 1
		"1,ok,10\n" + // 2
		"2,\"multi\nline\",20\n" + // 3-4
		"3,too,many,fields\n" + // 5
		"4,bare\"quote,40\n" + // 6
		"5,\"stray\"x,50\n" + // 7
		"6,fine,60\n" + // 8
		"7,short\n" + // 9
		"8,bad int,abc\n" + // 10
		"9,last,90" // 11, no newline
	p := writeFile(t, filepath.Join(dir, "bad.csv"), content)
	opts := sdk.Values{"path": p, "schema": map[string]string{"n": "int"}}
	s := readAll(t, opts)
	if got := strings.Join(s.column(t, "id"), ","); got != "1,2,6,9" {
		t.Errorf("good rows %s", got)
	}
	if got := s.column(t, "name")[1]; got != "multi\nline" {
		t.Errorf("multi-line field %q", got)
	}
	want := []struct{ line, reason, raw string }{
		{"5", "expected 3 fields, got 4", "3,too,many,fields"},
		{"6", "bare", `4,bare"quote,40`},
		{"7", "extraneous", `5,"stray"x,50`},
		{"9", "expected 3 fields, got 2", "7,short"},
		{"10", `field "n"`, "8,bad int,abc"},
	}
	if len(s.rejects) != len(want) {
		t.Fatalf("rejects %+v", s.rejects)
	}
	for i, w := range want {
		r := s.rejects[i]
		if r.Location != p+":"+w.line || !strings.Contains(r.Reason, w.reason) || string(r.Raw) != w.raw {
			t.Errorf("reject %d = {%s %q %q}, want line %s, reason containing %q, raw %q", i, r.Location, r.Reason, r.Raw, w.line, w.reason, w.raw)
		}
	}
}

func TestUnterminatedQuoteCostsOneLine(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "q.csv"), "id,v\n1,\"open\n2,b\n3,c\n")
	s := readAll(t, sdk.Values{"path": p})
	if got := strings.Join(s.column(t, "id"), ","); got != "2,3" {
		t.Errorf("ids %s", got)
	}
	if len(s.rejects) != 1 || s.rejects[0].Location != p+":2" {
		t.Errorf("rejects %+v", s.rejects)
	}
}

func TestBadIntRejectNamesField(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "t.csv"), "qty,label\n1,a\nabc,b\n3,c\n")
	s := readAll(t, sdk.Values{"path": p, "schema": map[string]string{"qty": "int"}})
	if s.rows() != 2 {
		t.Fatalf("%d rows", s.rows())
	}
	if len(s.rejects) != 1 {
		t.Fatalf("rejects %+v", s.rejects)
	}
	r := s.rejects[0]
	if r.Location != p+":3" || !strings.Contains(r.Reason, `"qty"`) || !strings.Contains(r.Reason, `"abc"`) || string(r.Raw) != "abc,b" {
		t.Errorf("reject %+v", r)
	}
}

func TestJSONL(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "t.jsonl"), `{"id": 1, "name": "a\"b\u00e9", "score": 1.5, "ok": true, "at": "2024-01-01T00:00:00Z", "tags": [1,2]}
{"id": 2, "name": null, "score": 2, "ok": false, "at": "2024-01-02T00:00:00Z", "extra": 1}

not json
{"id": "x", "name": "bad id"}
{"id": 3}
["an", "array"]
{"id": 4, "name": "trailing" } junk
`)
	if got := typesOf(describeSchema(t, sdk.Values{"path": p})); !strings.HasPrefix(got, "id:utf8") {
		t.Errorf("a string id in the sample must make id a string: %s", got)
	}
	opts := sdk.Values{"path": p, "infer_rows": int64(2)}
	sc := describeSchema(t, opts)
	if got := typesOf(sc); got != "id:int64 name:utf8 score:float64 ok:bool at:timestamp[us, tz=UTC] tags:utf8 extra:int64" {
		t.Fatalf("schema %s", got)
	}
	s := readAll(t, opts)
	if got := strings.Join(s.column(t, "id"), ","); got != "1,2,3" {
		t.Errorf("ids %s", got)
	}
	if got := strings.Join(s.column(t, "name"), "|"); got != "a\"bé|(null)|(null)" {
		t.Errorf("names %s", got)
	}
	if got := s.column(t, "tags")[0]; got != "[1,2]" {
		t.Errorf("nested value %q", got)
	}
	lines := []string{}
	for _, r := range s.rejects {
		lines = append(lines, strings.TrimPrefix(r.Location, p+":"))
	}
	if got := strings.Join(lines, ","); got != "4,5,7,8" {
		t.Errorf("rejected lines %s: %+v", got, s.rejects)
	}
	if !strings.Contains(s.rejects[1].Reason, `"id"`) {
		t.Errorf("type reject does not name the field: %s", s.rejects[1].Reason)
	}
}

func TestGzipSniffedWithoutExtension(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(genCSV(50)))
	zw.Close()
	p := filepath.Join(dir, "data.csv")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if s := readAll(t, sdk.Values{"path": p}); s.rows() != 50 {
		t.Fatalf("%d rows", s.rows())
	}
	if _, err := tryRead(context.Background(), sdk.Values{"path": p, "compression": "none"}, sdk.Limits{}); err == nil {
		// Read as plain text the gzip bytes make no valid header; either
		// an error or rejects is fine, rows are not.
		s, _ := tryRead(context.Background(), sdk.Values{"path": p, "compression": "none"}, sdk.Limits{})
		defer s.release()
		if s.rows() == 50 {
			t.Fatal("compression=none still decompressed")
		}
	}
}

func TestCancelStopsReadPromptly(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "big.csv"), genCSV(200_000))
	ctx, cancel := context.WithCancel(context.Background())
	s := &fakeSender{onSend: func(arrow.RecordBatch) error { cancel(); return nil }}
	defer s.release()
	start := time.Now()
	err := New().Read(ctx, sdk.ReadRequest{Options: sdk.Values{"path": p}, Limits: sdk.Limits{MaxRows: 100}}, s)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if len(s.batches) != 1 {
		t.Errorf("%d batches sent after cancel", len(s.batches))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestEmptyAndHeaderOnlyFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.csv"), "")
	writeFile(t, filepath.Join(dir, "b.csv"), "id,v\n")
	writeFile(t, filepath.Join(dir, "c.csv"), "id,v\n1,x\n")
	s := readAll(t, sdk.Values{"path": dir})
	if s.rows() != 1 || len(s.checkpoints) != 3 {
		t.Fatalf("%d rows, %d checkpoints", s.rows(), len(s.checkpoints))
	}
}

func TestParquetSourceProjectionAndCaps(t *testing.T) {
	dir := t.TempDir()
	var recs []arrow.RecordBatch
	for i := 0; i < 3; i++ {
		recs = append(recs, trickyBatch(i*100, 100))
	}
	writeBatches(t, sdk.Values{"path": dir, "format": "parquet", "target_file_size": int64(100)}, "p", recs...)
	for _, r := range recs {
		r.Release()
	}
	s, err := tryRead(context.Background(), sdk.Values{"path": dir}, sdk.Limits{MaxRows: 7, MaxBytes: 64}, "note", "id")
	if err != nil {
		t.Fatal(err)
	}
	defer s.release()
	if s.rows() != 300 || len(s.checkpoints) != 3 {
		t.Fatalf("%d rows, %d checkpoints", s.rows(), len(s.checkpoints))
	}
	for i, b := range s.batches {
		if b.NumRows() > 7 {
			t.Fatalf("batch %d: %d rows", i, b.NumRows())
		}
		if typesOf(b.Schema()) != "note:utf8 id:int64" {
			t.Fatalf("schema %s", typesOf(b.Schema()))
		}
	}
	ids := s.column(t, "id")
	if ids[0] != "0" || ids[299] != "299" {
		t.Errorf("ids %s..%s", ids[0], ids[299])
	}
	if len(s.progress) < len(s.batches) {
		t.Errorf("%d progress reports for %d batches", len(s.progress), len(s.batches))
	}

	// A file with another schema in the same read is an error naming it.
	other := filepath.Join(dir, "zz")
	rec := oneColumnBatch()
	defer rec.Release()
	writeBatches(t, sdk.Values{"path": other, "format": "parquet"}, "o", rec)
	_, err = tryRead(context.Background(), sdk.Values{"path": dir}, sdk.Limits{})
	if err == nil || !strings.Contains(err.Error(), other) {
		t.Fatalf("schema mismatch: %v", err)
	}
}

func oneColumnBatch() arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil))
	defer b.Release()
	b.Field(0).(*array.Int64Builder).Append(1)
	return b.NewRecordBatch()
}

func TestInferenceKeepsLeadingZeros(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "ids.csv"), "id,zip,n,f\n003000000000000001,01234,0,0.5\n003000000000000002,99501,-7,-0.25\n")
	sc := describeSchema(t, sdk.Values{"path": p})
	if got, want := typesOf(sc), "id:utf8 zip:utf8 n:int64 f:float64"; got != want {
		t.Fatalf("inferred %s, want %s: numbers with leading zeros are identifiers", got, want)
	}
	s := readAll(t, sdk.Values{"path": p})
	if got := strings.Join(s.column(t, "id"), "|"); got != "003000000000000001|003000000000000002" {
		t.Fatalf("ids read back as %s", got)
	}
}

func TestDeclaredColumnsNameHeaderlessFieldsAndTypeOnlyFromSchema(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "h.csv"), "1,ada,12.5\n2,alan,7\n")
	opts := sdk.Values{"path": p, "header": false, "columns": []string{"id", "name", "amount"},
		"schema": map[string]string{"amount": "float"}}
	// Declared columns are not inferred: id stays a string.
	if got := typesOf(describeSchema(t, opts)); got != "id:utf8 name:utf8 amount:float64" {
		t.Fatalf("schema %s", got)
	}
	s := readAll(t, opts)
	if got := strings.Join(s.column(t, "name"), ","); got != "ada,alan" {
		t.Errorf("name = %s (the first line is data)", got)
	}
	if got := strings.Join(s.column(t, "amount"), ","); got != "12.5,7" {
		t.Errorf("amount = %s", got)
	}
}

func TestDeclaredColumnsMustMatchEveryHeader(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.csv"), "id,name\n1,ada\n")
	bad := writeFile(t, filepath.Join(dir, "b.csv"), "id,nick\n2,alan\n")
	_, err := tryRead(context.Background(), sdk.Values{"path": dir, "columns": []string{"id", "name"}}, sdk.Limits{})
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "columns attribute") {
		t.Fatalf("want an error naming %s and the columns attribute, got %v", bad, err)
	}
}

func TestBadDeclaredColumnsAreOptionErrors(t *testing.T) {
	dir := t.TempDir()
	csvPath := writeFile(t, filepath.Join(dir, "t.csv"), "id\n1\n")
	for name, tc := range map[string]struct {
		opts sdk.Values
		want string
	}{
		"twice":        {sdk.Values{"path": csvPath, "columns": []string{"id", "id"}}, `names "id" twice`},
		"empty list":   {sdk.Values{"path": csvPath, "columns": []string{}}, "names no column"},
		"blank name":   {sdk.Values{"path": csvPath, "columns": []string{"id", " "}}, "column 2 has no name"},
		"schema typo":  {sdk.Values{"path": csvPath, "columns": []string{"id"}, "schema": map[string]string{"idd": "int"}}, `"idd"`},
		"with parquet": {sdk.Values{"path": csvPath, "format": "parquet", "columns": []string{"id"}}, "does not apply to parquet"},
	} {
		_, err := New().DescribeEntity(context.Background(), sdk.DescribeRequest{Options: tc.opts})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "columns") && name != "schema typo" {
			t.Errorf("%s: got %v, want an error about %q", name, err, tc.want)
		}
	}
}
