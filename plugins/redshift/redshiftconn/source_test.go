package redshiftconn

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

func seedEvents(t *testing.T, db *testDB) {
	db.exec(t, `CREATE TABLE events (id bigint, name varchar(50), amount numeric(10,2), ok boolean,
		at timestamptz, day date, raw bytea, doc jsonb, ratio real, small smallint)`)
	db.exec(t, `INSERT INTO events
		SELECT i, 'event-' || i, i * 1.25, i % 2 = 0,
		       timestamptz '2026-01-01 00:00:00+00' + (i / 3) * interval '1 minute',
		       date '2026-01-01' + i, decode('00ff', 'hex'), jsonb_build_object('i', i), i / 4.0, i
		FROM generate_series(1, 50) AS i`)
	db.exec(t, "INSERT INTO events (id) VALUES (51)") // nulls everywhere else
}

func TestConformanceSource(t *testing.T) {
	db := newDB(t)
	seedEvents(t, db)
	for _, tc := range []struct {
		name string
		opts sdk.Values
	}{
		{"table", sdk.Values{"table": "events"}},
		{"query-with-cursor", sdk.Values{"query": "SELECT id, name, at FROM events WHERE id <= 50", "cursor": "at"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sdktest.Run(t, sdktest.Suite{
				New:    func() sdk.Connector { return New() },
				Config: pgConfig(db.dsn),
				Source: &sdktest.SourceCase{Options: tc.opts, MinRows: 50},
			})
		})
	}
}

func TestDescribeTypes(t *testing.T) {
	db := newDB(t)
	seedEvents(t, db)
	c := configured(t, db.dsn)
	ent, err := c.DescribeEntity(context.Background(), sdk.DescribeRequest{Entity: "events", Options: sdk.Values{"cursor": "id"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range ent.Schema.Fields() {
		got = append(got, f.Name+" "+f.Type.String())
	}
	want := "id int64, name utf8, amount decimal(10, 2), ok bool, at timestamp[us, tz=UTC], day date32, raw binary, doc utf8, ratio float32, small int16"
	if strings.Join(got, ", ") != want {
		t.Fatalf("schema:\n%s\nwant:\n%s", strings.Join(got, ", "), want)
	}
	if len(ent.CursorFields) != 1 || ent.CursorFields[0] != "id" {
		t.Fatalf("cursor fields %v", ent.CursorFields)
	}
}

func TestReadValues(t *testing.T) {
	db := newDB(t)
	seedEvents(t, db)
	c := configured(t, db.dsn)
	col := &sdktest.Collector{}
	defer col.Release()
	err := c.Read(context.Background(), sdk.ReadRequest{Options: sdk.Values{"query": "SELECT * FROM events WHERE id IN (2, 51) ORDER BY id"},
		Limits: sdk.DefaultLimits}, col)
	if err != nil {
		t.Fatal(err)
	}
	if col.Rows() != 2 {
		t.Fatalf("%d rows", col.Rows())
	}
	rec := col.Batches[0]
	var cells []string
	for i := 0; i < int(rec.NumCols()); i++ {
		cells = append(cells, rec.Column(i).ValueStr(0))
	}
	want := "2|event-2|2.5|true|2026-01-01T00:00:00Z|2026-01-03|AP8=|{\"i\": 2}|0.5|2"
	if strings.Join(cells, "|") != want {
		t.Fatalf("row:\n%s\nwant:\n%s", strings.Join(cells, "|"), want)
	}
	for i := 1; i < int(rec.NumCols()); i++ {
		if !rec.Column(i).IsNull(1) {
			t.Errorf("column %d of the all-null row is %s", i, rec.Column(i).ValueStr(1))
		}
	}
}

// TestIncrementalResume reads with a cursor in small batches, stops after
// the first checkpoint, resumes from it, and checks that every row arrives
// (rows sharing the last cursor value may repeat, none is skipped).
func TestIncrementalResume(t *testing.T) {
	db := newDB(t)
	seedEvents(t, db)
	c := configured(t, db.dsn)
	opts := sdk.Values{"table": "events", "cursor": "at"} // three rows share each minute
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
	if err := json.Unmarshal(cp, &pos); err != nil || pos.Cursor != "at" {
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
	if second.Rows() >= 50 {
		t.Fatalf("the resumed read returned %d rows: it did not start from the checkpoint %s", second.Rows(), cp)
	}
	collect(second)
	for id := int64(1); id <= 50; id++ {
		if ids[id] == 0 {
			t.Errorf("row %d was never read (checkpoint %s)", id, cp)
		}
	}
	// The second read ends on the last value; a third read from there is empty.
	last := second.Checkpoints[len(second.Checkpoints)-1]
	if !strings.Contains(string(last), "2026-01-01 00:16:00+00") {
		t.Fatalf("final checkpoint %s", last)
	}
	third := &sdktest.Collector{}
	defer third.Release()
	if err := c.Read(context.Background(), sdk.ReadRequest{Options: opts, Limits: limits, Checkpoint: last}, third); err != nil {
		t.Fatal(err)
	}
	if third.Rows() != 0 {
		t.Fatalf("read %d rows after the final checkpoint", third.Rows())
	}
	// A checkpoint of another cursor is refused.
	err = c.Read(context.Background(), sdk.ReadRequest{Options: sdk.Values{"table": "events", "cursor": "id"}, Limits: limits, Checkpoint: last}, &sdktest.Collector{})
	if err == nil || !strings.Contains(err.Error(), "reset the flow's state") {
		t.Fatalf("mismatched checkpoint: %v", err)
	}
}

type stopErr struct{}

func (stopErr) Error() string { return "stop here" }

var errStop error = stopErr{}
