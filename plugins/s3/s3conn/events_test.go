package s3conn

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/plugins/s3/s3test"
	"github.com/sluice-dev/sluice/sdk"
)

// eventCollector is an EventSender that keeps the id column of what
// arrives and every position, and acknowledges each position the way an
// engine does, on a channel the subscription must drain.
type eventCollector struct {
	t    *testing.T
	ctx  context.Context // the subscription's
	acks chan []byte

	mu        sync.Mutex
	bad       []sdk.BadRecord
	ids       []string
	rows      int64
	schema    *arrow.Schema
	positions [][]byte
}

func (e *eventCollector) Send(rec arrow.RecordBatch, pos []byte) error {
	var ids []string
	if rec != nil {
		ids = e.check(rec)
	}
	e.mu.Lock()
	if rec != nil {
		e.schema = rec.Schema()
		e.rows += rec.NumRows()
		e.ids = append(e.ids, ids...)
	}
	if pos != nil {
		e.positions = append(e.positions, append([]byte(nil), pos...))
	}
	e.mu.Unlock()
	if pos == nil {
		return nil
	}
	select {
	case e.acks <- pos:
		return nil
	case <-e.ctx.Done():
		return e.ctx.Err()
	case <-time.After(20 * time.Second):
		return errors.New("the acknowledgement was not taken: Acked is not drained")
	}
}

// check asserts the change-type column and returns the ids.
func (e *eventCollector) check(rec arrow.RecordBatch) []string {
	sc := rec.Schema()
	last := sc.Field(sc.NumFields() - 1)
	if last.Name != sdk.ChangeTypeField || last.Type.ID() != arrow.STRING || last.Nullable {
		e.t.Errorf("last field %s, want %s, utf8, not null", last, sdk.ChangeTypeField)
		return nil
	}
	changes := rec.Column(sc.NumFields() - 1).(*array.String)
	for i := 0; i < changes.Len(); i++ {
		if !changes.IsValid(i) || changes.Value(i) != sdk.ChangeCreate {
			e.t.Errorf("row %d: %s = %q, want %s", i, sdk.ChangeTypeField, changes.ValueStr(i), sdk.ChangeCreate)
		}
	}
	var ids []string
	if idx := sc.FieldIndices("id"); len(idx) == 1 {
		col := rec.Column(idx[0])
		for i := 0; i < col.Len(); i++ {
			ids = append(ids, col.ValueStr(i))
		}
	}
	return ids
}

func (e *eventCollector) Acked() <-chan []byte { return e.acks }

func (e *eventCollector) Reject(bad sdk.BadRecord) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.bad = append(e.bad, bad)
	return nil
}

func (e *eventCollector) rejected() []sdk.BadRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]sdk.BadRecord(nil), e.bad...)
}

func (e *eventCollector) gotIDs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.ids)
}

func (e *eventCollector) lastPosition() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.positions) == 0 {
		return nil
	}
	return e.positions[len(e.positions)-1]
}

// running is one Subscribe call in the background.
type running struct {
	col      *eventCollector
	cancel   context.CancelFunc
	finished chan struct{}
	err      error // set before finished is closed
	stopOnce sync.Once
}

func subscribe(t *testing.T, c *Connector, req sdk.SubscribeRequest) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{col: &eventCollector{t: t, ctx: ctx, acks: make(chan []byte)}, cancel: cancel, finished: make(chan struct{})}
	if req.Entity == "" {
		req.Entity = req.Options.String("bucket", "")
	}
	go func() {
		defer close(r.finished)
		r.err = c.Subscribe(ctx, req, r.col)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the subscription and returns what Subscribe returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.stopOnce.Do(r.cancel)
	select {
	case <-r.finished:
		return r.err
	case <-time.After(20 * time.Second):
		t.Fatal("Subscribe did not return after its context was cancelled")
		return nil
	}
}

// waitFor waits for cond, failing early if the subscription ends.
func (r *running) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		select {
		case <-r.finished:
			t.Fatalf("waiting for %s: Subscribe returned %v", what, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30s; ids so far %v", what, r.col.gotIDs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitForIDs waits until every id in want has arrived.
func (r *running) waitForIDs(t *testing.T, want ...string) {
	t.Helper()
	r.waitFor(t, "ids "+strings.Join(want, ","), func() bool {
		got := r.col.gotIDs()
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false
			}
		}
		return true
	})
}

func (r *running) waitForPosition(t *testing.T) {
	t.Helper()
	r.waitFor(t, "position", func() bool { return r.col.lastPosition() != nil })
}

// assertIDs checks that exactly want arrived, each once, in any order.
func assertIDs(t *testing.T, r *running, want ...string) {
	t.Helper()
	got := r.col.gotIDs()
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("ids %v, want each of %v once", got, want)
	}
}

func ids(first, n int) []string {
	var s []string
	for i := first; i < first+n; i++ {
		s = append(s, fmt.Sprint(i))
	}
	return s
}

func csvObject(first, n int) []byte { return []byte(csvHeader + csvRows(first, n)) }

// eventOpts are the source and trigger options of a quick subscription.
func eventOpts(bucket, prefix string, more ...any) sdk.Values {
	v := sdk.Values{"bucket": bucket, "prefix": prefix, "poll_interval": "50ms", "settle": "0s"}
	for i := 0; i+1 < len(more); i += 2 {
		v[more[i].(string)] = more[i+1]
	}
	return v
}

// putAt makes key appear at once with the given last-modified time, as an
// upload that began then and completed now would: it is put under
// staging/, its file in the server's posix backend dated back, then moved
// into place.
func putAt(t *testing.T, srv *s3test.Server, bucket, key string, body []byte, at time.Time) {
	t.Helper()
	staged := "staging/" + key
	put(t, srv, bucket, staged, body)
	from := filepath.Join(srv.Dir, bucket, filepath.FromSlash(staged))
	to := filepath.Join(srv.Dir, bucket, filepath.FromSlash(key))
	if err := os.Chtimes(from, at, at); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
	head, err := srv.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	if got := aws.ToTime(head.LastModified); !got.Equal(at.Truncate(time.Second)) {
		t.Fatalf("%s last modified %s, want %s", key, got, at)
	}
}

// decodePosition reads a position as `sluice state show` would print it.
func decodePosition(t *testing.T, b []byte) (time.Time, []string) {
	t.Helper()
	var p struct {
		After string   `json:"after"`
		Keys  []string `json:"keys"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("position %s: %v", b, err)
	}
	after, err := time.Parse(time.RFC3339, p.After)
	if err != nil {
		t.Fatalf("position %s: after: %v", b, err)
	}
	return after, p.Keys
}

func TestSubscribeDeliversNewObjectsOnce(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	c := configured(t, srv.Config())
	put(t, srv, bucket, "in/old.csv", csvObject(0, 3))
	r := subscribe(t, c, sdk.SubscribeRequest{Options: eventOpts(bucket, "in/"), Fields: []string{"name", "id"}})
	// start = "latest": what is there when the subscription starts is not
	// delivered, and the starting point is stored at once.
	r.waitForPosition(t)
	put(t, srv, bucket, "in/b.csv", csvObject(20, 5))
	put(t, srv, bucket, "in/a.csv", csvObject(10, 5))
	r.waitForIDs(t, append(ids(10, 5), ids(20, 5)...)...)
	// Later polls deliver nothing twice: by the time a later object
	// arrives, they have seen a.csv and b.csv again.
	put(t, srv, bucket, "in/z.csv", csvObject(90, 2))
	r.waitForIDs(t, "90", "91")
	assertIDs(t, r, append(append(ids(10, 5), ids(20, 5)...), "90", "91")...)

	r.col.mu.Lock()
	sc := r.col.schema
	r.col.mu.Unlock()
	var names []string
	for _, f := range sc.Fields() {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, ","); got != "name,id,"+sdk.ChangeTypeField {
		t.Errorf("fields %s, want the requested ones, then %s", got, sdk.ChangeTypeField)
	}
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe returned %v after cancel, want context.Canceled", err)
	}
}

func TestSubscribeResumesFromPosition(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	c := configured(t, srv.Config())
	put(t, srv, bucket, "in/a.csv", csvObject(0, 5))
	put(t, srv, bucket, "in/b.csv", csvObject(5, 5))
	opts := eventOpts(bucket, "in/", "start", "earliest")
	r := subscribe(t, c, sdk.SubscribeRequest{Options: opts})
	r.waitForIDs(t, ids(0, 10)...)
	r.stop(t)
	pos := r.col.lastPosition()
	after, keys := decodePosition(t, pos)
	if after.IsZero() || !slices.Contains(keys, "in/b.csv") {
		t.Fatalf("position %s: want b.csv's time and key", pos)
	}

	put(t, srv, bucket, "in/c.csv", csvObject(100, 3))
	r2 := subscribe(t, c, sdk.SubscribeRequest{Options: opts, Position: pos})
	r2.waitForIDs(t, ids(100, 3)...)
	put(t, srv, bucket, "in/z.csv", csvObject(900, 1))
	r2.waitForIDs(t, "900")
	assertIDs(t, r2, "100", "101", "102", "900")
}

// Objects last modified in the second of the position with keys before the
// ones delivered, and objects that show up dated before it (long uploads),
// are delivered too.
func TestSubscribeSameSecondAndLateObjects(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	c := configured(t, srv.Config())
	put(t, srv, bucket, "in/m.csv", csvObject(50, 2))
	opts := eventOpts(bucket, "in/", "start", "earliest")
	r := subscribe(t, c, sdk.SubscribeRequest{Options: opts})
	r.waitForIDs(t, "50", "51")
	at, _ := decodePosition(t, r.col.lastPosition())

	putAt(t, srv, bucket, "in/a.csv", csvObject(10, 2), at)
	putAt(t, srv, bucket, "in/0-late.csv", csvObject(20, 2), at.Add(-time.Minute))
	r.waitForIDs(t, "10", "11", "20", "21")
	r.stop(t)
	assertIDs(t, r, "10", "11", "20", "21", "50", "51")
	pos := r.col.lastPosition()
	after, keys := decodePosition(t, pos)
	if !after.Equal(at) || !slices.Equal(keys, []string{"in/a.csv", "in/m.csv"}) {
		t.Fatalf("position %s: want after %s with a.csv and m.csv", pos, at.Format(time.RFC3339))
	}

	// Across a restart, the keys tell the position's second apart.
	putAt(t, srv, bucket, "in/00.csv", csvObject(30, 2), at)
	r2 := subscribe(t, c, sdk.SubscribeRequest{Options: opts, Position: pos})
	r2.waitForIDs(t, "30", "31")
	put(t, srv, bucket, "in/z.csv", csvObject(900, 1))
	r2.waitForIDs(t, "900")
	assertIDs(t, r2, "30", "31", "900")
}

func TestSubscribeStartLatestOrEarliest(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	c := configured(t, srv.Config())
	put(t, srv, bucket, "in/old1.csv", csvObject(0, 2))
	put(t, srv, bucket, "in/old2.csv", csvObject(2, 2))

	latest := subscribe(t, c, sdk.SubscribeRequest{Options: eventOpts(bucket, "in/")})
	latest.waitForPosition(t)
	if _, keys := decodePosition(t, latest.col.lastPosition()); !slices.Contains(keys, "in/old2.csv") {
		t.Fatalf("starting position %s does not cover old2.csv", latest.col.lastPosition())
	}
	put(t, srv, bucket, "in/new.csv", csvObject(10, 2))
	latest.waitForIDs(t, "10", "11")
	assertIDs(t, latest, "10", "11")

	earliest := subscribe(t, c, sdk.SubscribeRequest{Options: eventOpts(bucket, "in/", "start", "earliest")})
	earliest.waitForIDs(t, "0", "1", "2", "3", "10", "11")
	assertIDs(t, earliest, "0", "1", "2", "3", "10", "11")
}

func TestSubscribeAppliesGlob(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	c := configured(t, srv.Config())
	put(t, srv, bucket, "in/a.csv", csvObject(1, 1))
	put(t, srv, bucket, "in/sub/b.csv", csvObject(2, 1))
	put(t, srv, bucket, "in/c.jsonl", []byte(`{"id":3}`+"\n"))
	put(t, srv, bucket, "in/_tmp.csv", csvObject(4, 1))
	r := subscribe(t, c, sdk.SubscribeRequest{Options: eventOpts(bucket, "in/", "start", "earliest", "glob", "*.csv")})
	r.waitForIDs(t, "1")
	put(t, srv, bucket, "in/sub/d.csv", csvObject(5, 1))
	put(t, srv, bucket, "in/d.jsonl", []byte(`{"id":6}`+"\n"))
	put(t, srv, bucket, "in/z.csv", csvObject(9, 1))
	r.waitForIDs(t, "9")
	assertIDs(t, r, "1", "9")
}

func TestSubscribeReturnsPromptlyOnCancel(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	c := configured(t, srv.Config())
	r := subscribe(t, c, sdk.SubscribeRequest{Options: eventOpts(bucket, "in/", "poll_interval", "1h")})
	// An empty prefix at start = "latest": everything that shows up later
	// is new.
	r.waitForPosition(t)
	if after, keys := decodePosition(t, r.col.lastPosition()); !after.Equal(time.Unix(0, 0)) || len(keys) != 0 {
		t.Fatalf("starting position %s on an empty prefix", r.col.lastPosition())
	}
	// Between polls an hour apart: stop must not wait for the next one.
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe returned %v, want context.Canceled", err)
	}
}

func TestSubscribeRejectsMalformedRecords(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	c := configured(t, srv.Config())
	put(t, srv, bucket, "in/contacts.csv", []byte(csvHeader+"1,a,1.5,2026-01-02T03:04:05Z\n2,\"broken,2.5,2026-01-02T03:04:05Z\n3,c,not-a-number,2026-01-02T03:04:05Z\n4,d,4.5,2026-01-02T03:04:05Z\n"))
	opts := eventOpts(bucket, "in/", "start", "earliest", "schema", map[string]string{"amount": "float"})
	r := subscribe(t, c, sdk.SubscribeRequest{Options: opts})
	r.waitForIDs(t, "1", "4")
	put(t, srv, bucket, "in/z.csv", csvObject(9, 1))
	r.waitForIDs(t, "9")
	assertIDs(t, r, "1", "4", "9")
	bad := r.col.rejected()
	want := []string{"s3://" + bucket + "/in/contacts.csv:3", "s3://" + bucket + "/in/contacts.csv:4"}
	if len(bad) != len(want) {
		t.Fatalf("rejected %+v, want records at %v", bad, want)
	}
	for i, where := range want {
		if bad[i].Location != where || bad[i].Reason == "" {
			t.Errorf("rejected[%d] = %+v, want one at %s with a reason", i, bad[i], where)
		}
	}
}

func TestSubscribeFormats(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	c := configured(t, srv.Config())
	t.Run("jsonl.gz", func(t *testing.T) {
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		fmt.Fprintln(w, `{"id":1,"amount":"7"}`)
		fmt.Fprintln(w, `{"id":2,"amount":"8"}`)
		w.Close()
		put(t, srv, bucket, "js/a.jsonl.gz", gz.Bytes())
		r := subscribe(t, c, sdk.SubscribeRequest{Options: eventOpts(bucket, "js/", "start", "earliest", "schema", map[string]string{"amount": "int"})})
		r.waitForIDs(t, "1", "2")
		r.col.mu.Lock()
		sc := r.col.schema
		r.col.mu.Unlock()
		if f, _ := sc.FieldsByName("amount"); len(f) != 1 || f[0].Type.ID() != arrow.INT64 {
			t.Fatalf("schema %s: amount is not the int64 the schema option asks for", sc)
		}
	})
	t.Run("parquet", func(t *testing.T) {
		r := subscribe(t, c, sdk.SubscribeRequest{Options: eventOpts(bucket, "pq/")})
		r.waitForPosition(t)
		writeRecords(t, c, sdk.Values{"bucket": bucket, "prefix": "pq", "format": "parquet"}, 500)
		r.waitFor(t, "500 rows", func() bool {
			r.col.mu.Lock()
			defer r.col.mu.Unlock()
			return r.col.rows >= 500
		})
		if got := len(r.col.gotIDs()); got != 500 {
			t.Fatalf("%d rows, want 500", got)
		}
	})
}

func TestSubscribeRefusesBadOptionsAndPositions(t *testing.T) {
	c := configured(t, s3test.ConfigFor("http://127.0.0.1:1"))
	readCheckpoint, _ := json.Marshal(position{LastModified: time.Now().UTC(), Key: "in/a.csv"})
	for _, tc := range []struct {
		name string
		opts sdk.Values
		pos  []byte
		want string
	}{
		{"start", sdk.Values{"start": "middle"}, nil, "start:"},
		{"poll_interval", sdk.Values{"poll_interval": "soon"}, nil, "poll_interval:"},
		{"zero poll_interval", sdk.Values{"poll_interval": "0s"}, nil, "poll_interval:"},
		{"settle", sdk.Values{"settle": "-1s"}, nil, "settle:"},
		{"read checkpoint", nil, readCheckpoint, "not from this connector"},
		{"garbage", nil, []byte("17"), "not from this connector"},
		{"no after", nil, []byte(`{"keys":[]}`), "not from this connector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := sdk.Values{"bucket": "b"}
			for k, v := range tc.opts {
				opts[k] = v
			}
			err := c.Subscribe(context.Background(), sdk.SubscribeRequest{Entity: "b", Options: opts, Position: tc.pos},
				&eventCollector{t: t, ctx: context.Background(), acks: make(chan []byte)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Subscribe: %v, want an error with %q", err, tc.want)
			}
		})
	}
	if spec := New().Spec(); !spec.Has(sdk.CapEvents) {
		t.Error("the spec does not declare events")
	} else if _, ok := spec.Events.Lookup("poll_interval"); !ok {
		t.Error("the spec's event attributes lack poll_interval")
	}
}

// The cursor's choice of objects, on listings made up here: what the
// integration tests cannot arrange without waiting on clocks.
func TestCursorPick(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	obj := func(key string, sec int) object {
		return object{key: key, modified: t0.Add(time.Duration(sec) * time.Second)}
	}
	keysOf := func(objs []object) string {
		var k []string
		for _, o := range objs {
			k = append(k, o.key)
		}
		return strings.Join(k, ",")
	}
	cur, err := parsePosition([]byte(`{"after":"2026-11-26T10:00:00Z","keys":["m"]}`))
	if err != nil {
		t.Fatal(err)
	}
	listing := []object{obj("a", 0), obj("b", 5), obj("c", 2), obj("m", 0), obj("old", -60), obj("z", 0)}

	// First listing after a restart: nothing can be told late; b (5s old
	// at the horizon t0+4s is too young) waits.
	if got := keysOf(cur.pick(listing, nil, t0.Add(4*time.Second))); got != "a,z,c" {
		t.Errorf("first pick %s, want a,z,c", got)
	}
	// With a previous listing, an object dated below the watermark that
	// was not in it is a late arrival; one that was, is not.
	known := map[string]time.Time{"a": t0, "m": t0, "old": t0.Add(-60 * time.Second)}
	withLate := append(slices.Clone(listing), obj("late", -30))
	if got := keysOf(cur.pick(withLate, known, t0.Add(10*time.Second))); got != "late,a,z,c,b" {
		t.Errorf("pick %s, want late,a,z,c,b", got)
	}

	// Delivering in that order: the late object leaves the watermark, the
	// same second adds keys, a later second replaces them.
	for _, o := range []object{obj("late", -30), obj("a", 0), obj("z", 0)} {
		cur.advance(o)
	}
	if got := string(cur.encode()); got != `{"after":"2026-11-26T10:00:00Z","keys":["a","m","z"]}` {
		t.Errorf("position %s", got)
	}
	cur.advance(obj("c", 2))
	if got := string(cur.encode()); got != `{"after":"2026-11-26T10:00:02Z","keys":["c"]}` {
		t.Errorf("position %s", got)
	}
	// A start at "latest" on an empty prefix: whatever shows up later.
	empty := latestCursor(nil)
	if got := keysOf(empty.pick(listing, map[string]time.Time{}, t0.Add(time.Hour))); got != "old,a,m,z,c,b" {
		t.Errorf("pick after an empty baseline %s", got)
	}
}

// With its format and columns declared, a source describes an empty prefix,
// so an event flow can start before the first object arrives, and reads
// it as no rows; without them there is nothing to take columns from.
func TestDeclaredColumnsLetAnEmptyPrefixBeFollowed(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	c := configured(t, srv.Config())
	ctx := context.Background()
	if _, err := c.DescribeEntity(ctx, sdk.DescribeRequest{Options: eventOpts(bucket, "in/")}); err == nil || !strings.Contains(err.Error(), "no objects") {
		t.Fatalf("describing an empty prefix without columns: %v", err)
	}
	opts := eventOpts(bucket, "in/", "format", "csv", "columns", []string{"id", "name", "amount", "at"},
		"schema", map[string]string{"amount": "float"})
	ent, err := c.DescribeEntity(ctx, sdk.DescribeRequest{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range ent.Schema.Fields() {
		got = append(got, f.Name+":"+f.Type.String())
	}
	if want := "id:utf8 name:utf8 amount:float64 at:utf8"; strings.Join(got, " ") != want {
		t.Fatalf("schema %s, want %s", strings.Join(got, " "), want)
	}
	var none countingSender
	if err := c.Read(ctx, sdk.ReadRequest{Options: opts}, &none); err != nil || none.rows != 0 {
		t.Fatalf("reading the empty prefix: %v, %d rows", err, none.rows)
	}

	r := subscribe(t, c, sdk.SubscribeRequest{Options: opts, Fields: []string{"name", "id"}})
	r.waitForPosition(t)
	put(t, srv, bucket, "in/a.csv", csvObject(10, 3))
	r.waitForIDs(t, ids(10, 3)...)
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe returned %v after cancel, want context.Canceled", err)
	}
}

// countingSender counts the rows a read sends.
type countingSender struct{ rows int64 }

func (s *countingSender) Send(rec arrow.RecordBatch) error { s.rows += rec.NumRows(); return nil }
func (s *countingSender) Checkpoint([]byte) error          { return nil }
func (s *countingSender) Reject(sdk.BadRecord) error       { return nil }
func (s *countingSender) Progress(sdk.Progress) error      { return nil }
