package redshiftconn

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

// fakeEvents is seedEvents as the Data API returns it: rows 1–50 (three
// share each minute of "at") and row 51, NULL but for id.
func fakeEvents() *fakeSource {
	src := &fakeSource{meta: []map[string]any{
		{"name": "id", "label": "id", "typeName": "int8"},
		{"name": "name", "label": "name", "typeName": "varchar", "length": 50},
		{"name": "amount", "label": "amount", "typeName": "numeric", "precision": 10, "scale": 2},
		{"name": "ok", "label": "ok", "typeName": "bool"},
		{"name": "at", "label": "at", "typeName": "timestamptz"},
		{"name": "day", "label": "day", "typeName": "date"},
		{"name": "raw", "label": "raw", "typeName": "varbyte"},
		{"name": "doc", "label": "doc", "typeName": "super"},
		{"name": "ratio", "label": "ratio", "typeName": "float4"},
		{"name": "small", "label": "small", "typeName": "int2"},
		{"name": "ts", "label": "ts", "typeName": "timestamp"},
		{"name": "t", "label": "t", "typeName": "time"},
		{"name": "big", "label": "big", "typeName": "numeric", "precision": 0, "scale": 0},
	}}
	for i := int64(1); i <= 50; i++ {
		src.rows = append(src.rows, []any{i, fmt.Sprintf("event-%d", i), fmt.Sprintf("%d.%02d", i*125/100, i*125%100),
			i%2 == 0, fmt.Sprintf("2026-01-01 00:%02d:00+00", i/3), fmt.Sprintf("2026-%02d-%02d", 1+i/31, 1+i%31), "00ff",
			fmt.Sprintf(`{"i":%d}`, i), float64(i) / 4, i, fmt.Sprintf("2026-03-04 05:06:%02d.123456", i), "12:34:56.5",
			"123456789012345678901234567890123456789012.5"})
	}
	null := make([]any, len(src.meta))
	null[0] = int64(51)
	return &fakeSource{meta: src.meta, rows: append(src.rows, null)}
}

func fakeSourceConnector(t *testing.T) (*fakeDataAPI, *Connector) {
	fake, srv := newFakeDataAPI(t, &recorder{})
	fake.sources = map[string]*fakeSource{`"events"`: fakeEvents()}
	fake.pageSize = 7
	return fake, dataAPIConnector(t, srv, &memStore{})
}

func (f *fakeDataAPI) count(target string) int {
	n := 0
	for _, t := range f.targets {
		if t == "RedshiftData."+target {
			n++
		}
	}
	return n
}

func TestDataAPIDescribeTypes(t *testing.T) {
	fake, c := fakeSourceConnector(t)
	ent, err := c.DescribeEntity(context.Background(), sdk.DescribeRequest{Entity: "events", Options: sdk.Values{"cursor": "id"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range ent.Schema.Fields() {
		got = append(got, f.Name+" "+f.Type.String())
	}
	want := "id int64, name utf8, amount decimal(10, 2), ok bool, at timestamp[us, tz=UTC], day date32, raw binary, doc utf8, " +
		"ratio float32, small int16, ts timestamp[us], t time64[us], big utf8"
	if strings.Join(got, ", ") != want {
		t.Fatalf("schema:\n%s\nwant:\n%s", strings.Join(got, ", "), want)
	}
	if len(ent.CursorFields) != 1 || ent.CursorFields[0] != "id" {
		t.Fatalf("cursor fields %v", ent.CursorFields)
	}
	if fmt.Sprint(fake.sent) != `[SELECT * FROM "events" LIMIT 0]` {
		t.Fatalf("sent %q, want the wire transport's describe", fake.sent)
	}
	if fake.count("GetStatementResult") != 1 {
		t.Fatalf("targets %v", fake.targets)
	}
}

// TestDataAPIRead reads the whole table over several result pages (7
// records a page) into batches of 4 rows.
func TestDataAPIRead(t *testing.T) {
	fake, c := fakeSourceConnector(t)
	col := &sdktest.Collector{}
	defer col.Release()
	if err := c.Read(context.Background(), sdk.ReadRequest{Entity: "events", Limits: sdk.Limits{MaxRows: 4, MaxBytes: 1 << 20}}, col); err != nil {
		t.Fatal(err)
	}
	if col.Rows() != 51 || len(col.Batches) != 13 {
		t.Fatalf("%d rows in %d batches, want 51 in 13", col.Rows(), len(col.Batches))
	}
	if n := fake.count("GetStatementResult"); n != 1+8 {
		t.Fatalf("%d GetStatementResult calls, want the describe's and 8 pages", n)
	}
	if last := fake.sent[len(fake.sent)-1]; !strings.HasPrefix(last, `SELECT s."id", s."name", `) || !strings.HasSuffix(last, "\nFROM (SELECT * FROM \"events\") AS s") {
		t.Fatalf("read SQL %q", last)
	}
	var rows []string
	for _, b := range col.Batches {
		if b.NumRows() > 4 {
			t.Fatalf("a batch of %d rows", b.NumRows())
		}
		for r := 0; r < int(b.NumRows()); r++ {
			var cells []string
			for i := 0; i < int(b.NumCols()); i++ {
				if b.Column(i).IsNull(r) {
					cells = append(cells, "NULL")
				} else {
					cells = append(cells, b.Column(i).ValueStr(r))
				}
			}
			rows = append(rows, strings.Join(cells, "|"))
		}
	}
	for i, want := range map[int]string{
		1:  `2|event-2|2.5|true|2026-01-01T00:00:00Z|2026-01-03|AP8=|{"i":2}|0.5|2|2026-03-04T05:06:02.123456|12:34:56.500000|123456789012345678901234567890123456789012.5`,
		43: `44|event-44|55|true|2026-01-01T00:14:00Z|2026-02-14|AP8=|{"i":44}|11|44|2026-03-04T05:06:44.123456|12:34:56.500000|123456789012345678901234567890123456789012.5`,
		50: `51|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL`,
	} {
		if rows[i] != want {
			t.Errorf("row %d:\n%s\nwant:\n%s", i, rows[i], want)
		}
	}
	for i, r := range rows {
		if !strings.HasPrefix(r, fmt.Sprint(i+1)+"|") {
			t.Fatalf("row %d is %s", i, r)
		}
	}

	// Fields select columns, in their order.
	col2 := &sdktest.Collector{}
	defer col2.Release()
	if err := c.Read(context.Background(), sdk.ReadRequest{Entity: "events", Fields: []string{"name", "id"}}, col2); err != nil {
		t.Fatal(err)
	}
	if col2.Rows() != 51 {
		t.Fatalf("%d rows", col2.Rows())
	}
	if s := col2.Batches[0].Schema(); s.NumFields() != 2 || s.Field(0).Name != "name" || s.Field(1).Name != "id" {
		t.Fatalf("schema %s", s)
	}
}

// TestDataAPIIncrementalResume is TestIncrementalResume over the Data API:
// the checkpointed value goes as the :cursor parameter.
func TestDataAPIIncrementalResume(t *testing.T) {
	fake, c := fakeSourceConnector(t)
	opts := sdk.Values{"table": "events", "cursor": "at"}
	limits := sdk.Limits{MaxRows: 4, MaxBytes: 1 << 20}

	first := &sdktest.Collector{OnSend: func(col *sdktest.Collector) error {
		if col.Rows() >= 20 {
			return errStop
		}
		return nil
	}}
	defer first.Release()
	err := c.Read(context.Background(), sdk.ReadRequest{Options: opts, Limits: limits}, first)
	if err == nil || !strings.Contains(err.Error(), errStop.Error()) {
		t.Fatalf("first read: %v", err)
	}
	if len(first.Checkpoints) == 0 {
		t.Fatal("no checkpoint after the first batches")
	}
	cp := first.Checkpoints[len(first.Checkpoints)-1]
	var pos checkpoint
	if err := json.Unmarshal(cp, &pos); err != nil || pos.Cursor != "at" || pos.Value != "2026-01-01 00:04:00+00" {
		t.Fatalf("checkpoint %s: %v", cp, err)
	}
	ids := map[int64]int{}
	collect := func(col *sdktest.Collector) {
		for _, b := range col.Batches {
			idCol := b.Column(0).(*array.Int64)
			for i := 0; i < idCol.Len(); i++ {
				ids[idCol.Value(i)]++
			}
		}
	}
	collect(first)
	second := &sdktest.Collector{}
	defer second.Release()
	if err := c.Read(context.Background(), sdk.ReadRequest{Options: opts, Limits: limits, Checkpoint: cp}, second); err != nil {
		t.Fatal(err)
	}
	// The first read sent ids 1–16 and checkpointed minute 4 (ids 12–14),
	// not minute 5 (15–17, not all sent): the rest is ids 15–50 (51's
	// cursor is NULL).
	if second.Rows() != 36 {
		t.Fatalf("the resumed read returned %d rows, want 36 (from the checkpoint %s)", second.Rows(), cp)
	}
	last := fake.sent[len(fake.sent)-1]
	if !strings.Contains(last, "\nWHERE s.\"at\" > CAST(CAST(:cursor AS VARCHAR) AS TIMESTAMPTZ)\nORDER BY s.\"at\"") {
		t.Fatalf("resumed read SQL %q", last)
	}
	var body map[string]any
	for i, target := range fake.targets {
		if target == "RedshiftData.ExecuteStatement" {
			body = fake.bodies[i] // the last one: the resumed read
		}
	}
	if got := fmt.Sprint(body["Parameters"]); got != "[map[name:cursor value:2026-01-01 00:04:00+00]]" {
		t.Fatalf("parameters %s", got)
	}
	collect(second)
	for id := int64(1); id <= 50; id++ {
		if ids[id] == 0 {
			t.Errorf("row %d was never read (checkpoint %s)", id, cp)
		}
	}
	final := second.Checkpoints[len(second.Checkpoints)-1]
	if !strings.Contains(string(final), "2026-01-01 00:16:00+00") {
		t.Fatalf("final checkpoint %s", final)
	}
	for i := 1; i < len(second.Checkpoints); i++ {
		if string(second.Checkpoints[i]) <= string(second.Checkpoints[i-1]) {
			t.Fatalf("checkpoints not increasing: %s", second.Checkpoints)
		}
	}
	third := &sdktest.Collector{}
	defer third.Release()
	if err := c.Read(context.Background(), sdk.ReadRequest{Options: opts, Limits: limits, Checkpoint: final}, third); err != nil {
		t.Fatal(err)
	}
	if third.Rows() != 0 {
		t.Fatalf("read %d rows after the final checkpoint", third.Rows())
	}
	err = c.Read(context.Background(), sdk.ReadRequest{Options: sdk.Values{"table": "events", "cursor": "doc"}, Limits: limits}, &sdktest.Collector{})
	if err == nil || !strings.Contains(err.Error(), `cursor "doc" has a type (super)`) {
		t.Fatalf("SUPER cursor: %v", err)
	}
}

// TestDataAPIReadErrors: a FAILED statement surfaces Redshift's message
// without the secret; a value the column's type cannot hold names it.
func TestDataAPIReadErrors(t *testing.T) {
	noSecrets := func(t *testing.T, err error) {
		t.Helper()
		for _, s := range []string{testSecretKey, testSecretARN} {
			if strings.Contains(err.Error(), s) {
				t.Fatalf("a credential is in the message: %v", err)
			}
		}
	}
	t.Run("failed read", func(t *testing.T) {
		fake, c := fakeSourceConnector(t)
		fake.failSQL["FROM (SELECT * FROM"] = `ERROR: permission denied for relation events (secret ` + testSecretARN + `)`
		err := c.Read(context.Background(), sdk.ReadRequest{Entity: "events"}, &sdktest.Collector{})
		if err == nil || !strings.Contains(err.Error(), "ERROR: permission denied for relation events") {
			t.Fatalf("Read = %v, want Redshift's message", err)
		}
		noSecrets(t, err)
		t.Log(err)
	})
	t.Run("failed describe", func(t *testing.T) {
		fake, c := fakeSourceConnector(t)
		fake.failSQL["LIMIT 0"] = `ERROR: relation "public.events" does not exist (` + testSecretARN + `)`
		_, err := c.DescribeEntity(context.Background(), sdk.DescribeRequest{Entity: "events"})
		if err == nil || !strings.Contains(err.Error(), `describe "events": SELECT * FROM "events" LIMIT 0: ERROR: relation "public.events" does not exist`) {
			t.Fatalf("DescribeEntity = %v", err)
		}
		noSecrets(t, err)
	})
	t.Run("bad value", func(t *testing.T) {
		fake, c := fakeSourceConnector(t)
		fake.sources[`"events"`].rows[3][4] = "yesterday"
		err := c.Read(context.Background(), sdk.ReadRequest{Entity: "events"}, &sdktest.Collector{})
		if err == nil || !strings.Contains(err.Error(), `column "at": "yesterday" is not a timestamp`) {
			t.Fatalf("Read = %v", err)
		}
	})
}

func TestParseRedshiftValues(t *testing.T) {
	for _, tc := range []struct {
		in    string
		zoned bool
		want  string
	}{
		{"2026-01-02 03:04:05", false, "2026-01-02T03:04:05Z"},
		{"2026-01-02 03:04:05.123456", false, "2026-01-02T03:04:05.123456Z"},
		{"2026-01-02 03:04:05.5+00", true, "2026-01-02T03:04:05.5Z"},
		{"2026-01-02 03:04:05+05:30", true, "2026-01-01T21:34:05Z"},
		{"2026-01-02 03:04:05-0100", true, "2026-01-02T04:04:05Z"},
		{"2026-01-02 03:04:05", true, "2026-01-02T03:04:05Z"},
		{"2026-01-02 03:04:05+00", false, "error"},
		{"2026-01-02T03:04:05", false, "error"},
	} {
		got := "error"
		if ts, err := parseRedshiftTimestamp(tc.in, tc.zoned); err == nil {
			got = ts.Format("2006-01-02T15:04:05.999999Z07:00")
		}
		if got != tc.want {
			t.Errorf("%q (zoned %v) = %s, want %s", tc.in, tc.zoned, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"12.5", "1250"}, {"-0.01", "-1"}, {"7", "700"}, {"1.230", "123"}, {"12345678.99", "1234567899"},
		{"1.234", "error"}, {"123456789.00", "error"}, {"1e3", "error"}, {"", "error"},
	} {
		got := "error"
		if n, err := parseDecimal(tc.in, 10, 2); err == nil {
			got = n.BigInt().String()
		}
		if got != tc.want {
			t.Errorf("parseDecimal(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestDataAPIConformanceSource runs the SDK's source checks over the Data
// API fake.
func TestDataAPIConformanceSource(t *testing.T) {
	fake, srv := newFakeDataAPI(t, &recorder{})
	fake.sources = map[string]*fakeSource{`"events"`: fakeEvents()}
	fake.pageSize, fake.polls = 7, 0
	sdktest.Run(t, sdktest.Suite{
		New: func() sdk.Connector { return New() },
		Config: sdk.Values{"transport": TransportDataAPI, "cluster_identifier": "rs-test", "database": "dev",
			"secret_arn": testSecretARN, "data_api_endpoint": srv.URL, "cluster_region": "us-east-1",
			"access_key_id": testAccessKey, "secret_access_key": testSecretKey},
		Source: &sdktest.SourceCase{Entity: "events", Options: sdk.Values{"cursor": "at"}, MinRows: 50},
	})
}
