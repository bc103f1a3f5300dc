package sfconn

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/plugins/salesforce/sfemu"
	"github.com/sluice-dev/sluice/sdk"
)

// waitFor bounds every wait on the emulator; the waits end as soon as what
// they wait for happens, so this is only reached when something is wrong.
const waitFor = 30 * time.Second

// startPubSubEmu is an emulator with its Pub/Sub API on a loopback port.
func startPubSubEmu(t *testing.T, opts sfemu.Options) (*emu, string) {
	t.Helper()
	if opts.KeepAlive == 0 {
		opts.KeepAlive = 50 * time.Millisecond
	}
	e := startEmu(t, opts)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.ServePubSub(lis) }()
	t.Cleanup(func() {
		e.StopPubSub()
		if err := <-done; err != nil {
			t.Errorf("ServePubSub: %v", err)
		}
	})
	return e, lis.Addr().String()
}

// eventsConfig connects to the emulator's REST and Pub/Sub APIs with the
// given client tag ("" for the default).
func (e *emu) eventsConfig(addr, tag string) sdk.Values {
	v := e.passwordConfig()
	v["pubsub_endpoint"] = addr
	v["pubsub_insecure"] = true
	if tag != "" {
		v["client_tag"] = tag
	}
	return v
}

// logBuffer collects a connector's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func captureLog(c *Connector) *logBuffer {
	lb := &logBuffer{}
	c.log = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return lb
}

// eventCollector is the engine's side of a subscription: it keeps the
// rows and positions it is sent and acknowledges every position.
type eventCollector struct {
	mu       sync.Mutex
	rows     []map[string]any
	rowPos   [][]byte // the position of the batch each row came in
	pos      [][]byte // every position, in order
	schemas  []*arrow.Schema
	rejected []sdk.BadRecord
	changed  chan struct{} // closed and replaced on every Send
	acks     chan []byte
}

func newEventCollector() *eventCollector {
	return &eventCollector{changed: make(chan struct{}), acks: make(chan []byte, 1024)}
}

func (c *eventCollector) Send(rec arrow.RecordBatch, position []byte) error {
	c.mu.Lock()
	p := append([]byte(nil), position...)
	if rec != nil {
		c.schemas = append(c.schemas, rec.Schema())
		for _, r := range rowsOf([]arrow.RecordBatch{rec}) {
			c.rows = append(c.rows, r)
			c.rowPos = append(c.rowPos, p)
		}
	}
	c.pos = append(c.pos, p)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	select {
	case c.acks <- p:
	default:
	}
	return nil
}

func (c *eventCollector) Reject(b sdk.BadRecord) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rejected = append(c.rejected, b)
	return nil
}

func (c *eventCollector) Acked() <-chan []byte { return c.acks }

// subRun is one Subscribe running in the background.
type subRun struct {
	col    *eventCollector
	cancel context.CancelFunc
	done   chan error
	err    error
	ended  bool
}

func startSub(t *testing.T, c *Connector, req sdk.SubscribeRequest) *subRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &subRun{col: newEventCollector(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Subscribe(ctx, req, r.col) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the subscription and returns how it ended (nil for the
// cancellation itself).
func (r *subRun) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	if !r.ended {
		select {
		case r.err = <-r.done:
			r.ended = true
		case <-time.After(waitFor):
			t.Fatal("Subscribe did not return after its context was cancelled")
		}
	}
	if errors.Is(r.err, context.Canceled) {
		return nil
	}
	return r.err
}

// wait blocks until cond holds for what was collected.
func (r *subRun) wait(t *testing.T, what string, cond func(rows []map[string]any, pos [][]byte) bool) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		r.col.mu.Lock()
		ok := cond(r.col.rows, r.col.pos)
		ch := r.col.changed
		r.col.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case err := <-r.done:
			r.ended, r.err = true, err
			t.Fatalf("waiting for %s: Subscribe ended: %v", what, err)
		case <-deadline:
			t.Fatalf("waiting for %s: timed out; rows so far:\n%s", what, r.dump())
		}
	}
}

// waitRows waits for n rows and returns them all.
func (r *subRun) waitRows(t *testing.T, n int) []map[string]any {
	t.Helper()
	r.wait(t, fmt.Sprintf("%d rows", n), func(rows []map[string]any, _ [][]byte) bool { return len(rows) >= n })
	return r.rows()
}

func (r *subRun) rows() []map[string]any {
	r.col.mu.Lock()
	defer r.col.mu.Unlock()
	return append([]map[string]any(nil), r.col.rows...)
}

func (r *subRun) lastPos() []byte {
	r.col.mu.Lock()
	defer r.col.mu.Unlock()
	if len(r.col.pos) == 0 {
		return nil
	}
	return r.col.pos[len(r.col.pos)-1]
}

func (r *subRun) dump() string {
	var b strings.Builder
	for _, row := range r.rows() {
		fmt.Fprintf(&b, "  %v\n", row)
	}
	return b.String()
}

// ended waits for Subscribe to return by itself.
func (r *subRun) result(t *testing.T) error {
	t.Helper()
	select {
	case r.err = <-r.done:
		r.ended = true
		return r.err
	case <-time.After(waitFor):
		t.Fatal("Subscribe did not end")
		return nil
	}
}

// restWriter writes records through a connector's REST client (and so
// with its client tag).
type restWriter struct{ c *Connector }

func (w restWriter) create(t *testing.T, obj string, vals map[string]any) string {
	t.Helper()
	body, _ := json.Marshal(vals)
	var res struct {
		ID string `json:"id"`
	}
	if err := w.c.cl.doJSON(context.Background(), request{method: "POST", path: "sobjects/" + obj, body: body, contentType: "application/json"}, &res); err != nil {
		t.Fatalf("create %s: %v", obj, err)
	}
	return res.ID
}

func (w restWriter) update(t *testing.T, obj, id string, vals map[string]any) {
	t.Helper()
	body, _ := json.Marshal(vals)
	if err := w.c.cl.doJSON(context.Background(), request{method: "PATCH", path: "sobjects/" + obj + "/" + id, body: body, contentType: "application/json"}, nil); err != nil {
		t.Fatalf("update %s %s: %v", obj, id, err)
	}
}

func (w restWriter) delete(t *testing.T, obj, id string) {
	t.Helper()
	if err := w.c.cl.doJSON(context.Background(), request{method: "DELETE", path: "sobjects/" + obj + "/" + id}, nil); err != nil {
		t.Fatalf("delete %s %s: %v", obj, id, err)
	}
}

// expectRow checks one row's change type, Id and some values (nil: null).
func expectRow(t *testing.T, row map[string]any, change, id string, vals map[string]any) {
	t.Helper()
	if row[sdk.ChangeTypeField] != change || row["Id"] != id {
		t.Fatalf("row %v: want %s of %s", row, change, id)
	}
	for k, v := range vals {
		if row[k] != v {
			t.Fatalf("row %v: %s = %v, want %v", row, k, row[k], v)
		}
	}
}

func decodePos(t *testing.T, b []byte) eventPosition {
	t.Helper()
	p, err := decodePosition(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEventsLiveChanges: a subscription started at LATEST delivers what
// other clients change afterwards as rows holding the records' current
// values, and nothing of our own writes.
func TestEventsLiveChanges(t *testing.T) {
	e, addr := startPubSubEmu(t, sfemu.Options{Records: 0, CDCEntities: []string{"Contact", "Account"}})
	c := configured(t, e.eventsConfig(addr, ""))
	own := restWriter{c}
	other := restWriter{configured(t, e.eventsConfig(addr, "other"))}
	ctx := context.Background()

	if err := c.Subscribe(ctx, sdk.SubscribeRequest{Entity: "Contact", Fields: []string{"Email"}}, newEventCollector()); err == nil || !strings.Contains(err.Error(), "need the Id field") {
		t.Fatalf("fields without Id: %v", err)
	}
	if err := c.Subscribe(ctx, sdk.SubscribeRequest{Entity: "Lead"}, newEventCollector()); err == nil || !strings.Contains(err.Error(), "Change Data Capture enabled for Lead") {
		t.Fatalf("object without CDC: %v", err)
	}

	before := other.create(t, "Contact", map[string]any{"LastName": "Before"})
	fields := []string{"Id", "FirstName", "LastName", "Email"}
	run := startSub(t, c, sdk.SubscribeRequest{Entity: "Contact", Fields: fields})
	// The first keep-alive carries a replay id: the subscription is placed.
	run.wait(t, "a position", func(_ []map[string]any, pos [][]byte) bool { return len(pos) > 0 })
	if p := decodePos(t, run.lastPos()); len(p.ReplayID) == 0 || p.Topic != "/data/ContactChangeEvent" {
		t.Fatalf("keep-alive position %+v", p)
	}

	a := other.create(t, "Contact", map[string]any{"FirstName": "Ann", "LastName": "Lee", "Email": "ann@example.com"})
	rows := run.waitRows(t, 1)
	expectRow(t, rows[0], sdk.ChangeCreate, a, map[string]any{"FirstName": "Ann", "LastName": "Lee", "Email": "ann@example.com"})

	other.update(t, "Contact", a, map[string]any{"Email": "ann2@example.com"})
	rows = run.waitRows(t, 2)
	expectRow(t, rows[1], sdk.ChangeUpdate, a, map[string]any{"Email": "ann2@example.com", "FirstName": "Ann"})

	// Our own writes come first and give no rows; the next row still
	// shows their effect, as it is read back.
	own.update(t, "Contact", a, map[string]any{"Email": "own@example.com"})
	own.create(t, "Contact", map[string]any{"LastName": "Own"})
	other.update(t, "Contact", a, map[string]any{"FirstName": "Anna"})
	rows = run.waitRows(t, 3)
	expectRow(t, rows[2], sdk.ChangeUpdate, a, map[string]any{"FirstName": "Anna", "Email": "own@example.com"})

	// A change to fields that are not delivered gives no row either.
	other.update(t, "Contact", a, map[string]any{"Phone": "+1 555 0100"})
	other.create(t, "Account", map[string]any{"Name": "Elsewhere"})
	b := other.create(t, "Contact", map[string]any{"LastName": "Bee"})
	rows = run.waitRows(t, 4)
	expectRow(t, rows[3], sdk.ChangeCreate, b, map[string]any{"LastName": "Bee", "Email": nil})

	other.delete(t, "Contact", a)
	rows = run.waitRows(t, 5)
	expectRow(t, rows[4], sdk.ChangeDelete, a, map[string]any{"FirstName": nil, "LastName": nil, "Email": nil})

	if err := e.Undelete(a); err != nil {
		t.Fatal(err)
	}
	rows = run.waitRows(t, 6)
	expectRow(t, rows[5], sdk.ChangeUndelete, a, map[string]any{"FirstName": "Anna", "Email": "own@example.com"})

	if err := run.stop(t); err != nil {
		t.Fatalf("Subscribe ended with %v", err)
	}
	if rows := run.rows(); len(rows) != 6 {
		t.Fatalf("%d rows, want 6:\n%s", len(rows), run.dump())
	}
	for _, r := range run.rows() {
		if r["Id"] == before {
			t.Fatalf("a change from before the subscription was delivered: %v", r)
		}
	}
	// Schema: the requested fields in order, then _change_type.
	s := run.col.schemas[0]
	var names []string
	for _, f := range s.Fields() {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "Id,FirstName,LastName,Email,_change_type" || s.Field(4).Nullable {
		t.Fatalf("schema %v", s)
	}
	// Positions only move forward.
	var last int64
	for _, b := range run.col.pos {
		p := decodePos(t, b)
		if len(p.ReplayID) == 0 || p.CommitTS < last {
			t.Fatalf("positions went back or lost the replay id: %s", b)
		}
		last = p.CommitTS
	}
}

// TestEventsResume: a subscription resumed from a position gets only what
// came after it.
func TestEventsResume(t *testing.T) {
	e, addr := startPubSubEmu(t, sfemu.Options{Records: 0, CDCEntities: []string{"Contact"}})
	c := configured(t, e.eventsConfig(addr, ""))
	other := restWriter{configured(t, e.eventsConfig(addr, "other"))}
	req := sdk.SubscribeRequest{Entity: "Contact", Fields: []string{"Id", "LastName", "Email"}, Options: sdk.Values{"start": "earliest"}}

	a := other.create(t, "Contact", map[string]any{"LastName": "A"})
	run := startSub(t, c, req)
	expectRow(t, run.waitRows(t, 1)[0], sdk.ChangeCreate, a, nil)
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
	pos := run.lastPos()

	b := other.create(t, "Contact", map[string]any{"LastName": "B"})
	other.update(t, "Contact", a, map[string]any{"Email": "a@example.com"})
	req.Position = pos
	run = startSub(t, c, req)
	rows := run.waitRows(t, 2)
	expectRow(t, rows[0], sdk.ChangeCreate, b, nil)
	expectRow(t, rows[1], sdk.ChangeUpdate, a, map[string]any{"Email": "a@example.com"})
	// Nothing else arrives before a later change.
	m := other.create(t, "Contact", map[string]any{"LastName": "Marker"})
	rows = run.waitRows(t, 3)
	expectRow(t, rows[2], sdk.ChangeCreate, m, nil)
}

// TestEventsReconnect: a stream that drops every so many events is
// reopened from the last position handed on; nothing is lost or repeated,
// also when there are more events than credits.
func TestEventsReconnect(t *testing.T) {
	e, addr := startPubSubEmu(t, sfemu.Options{Records: 0, CDCEntities: []string{"Contact"}, Faults: sfemu.Faults{PubSubDropAfter: 70}})
	c := configured(t, e.eventsConfig(addr, ""))
	logs := captureLog(c)
	other := configured(t, e.eventsConfig(addr, "other"))
	const n = 250
	var names [][]string
	for i := 0; i < n; i++ {
		names = append(names, []string{fmt.Sprint("R", i)})
	}
	batch := batchOf([]string{"LastName"}, names...)
	defer batch.Release()
	w, err := other.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "Contact", Mode: sdk.WriteInsert, Schema: batch.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := w.Write(context.Background(), batch); err != nil || len(res.Rejected) > 0 {
		t.Fatalf("insert: %v %v", err, res.Rejected)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	run := startSub(t, c, sdk.SubscribeRequest{Entity: "Contact", Fields: []string{"Id", "LastName"}, Options: sdk.Values{"start": "earliest"}})
	run.waitRows(t, n)
	m := restWriter{other}.create(t, "Contact", map[string]any{"LastName": "Marker"})
	rows := run.waitRows(t, n+1)
	expectRow(t, rows[n], sdk.ChangeCreate, m, nil)
	seen := map[string]bool{}
	for i, r := range rows[:n] {
		id := r["Id"].(string)
		if seen[id] || r[sdk.ChangeTypeField] != sdk.ChangeCreate || r["LastName"] != fmt.Sprint("R", i) {
			t.Fatalf("row %d: %v (repeated or out of order)", i, r)
		}
		seen[id] = true
	}
	if got := strings.Count(logs.String(), "reconnecting"); got < n/70 {
		t.Fatalf("%d reconnects logged, want at least %d:\n%s", got, n/70, logs)
	}
}

// TestEventsAuthError: a refused session is renewed once; refused twice in
// a row, the subscription ends with a message that names no secret.
func TestEventsAuthError(t *testing.T) {
	e, addr := startPubSubEmu(t, sfemu.Options{Records: 0, CDCEntities: []string{"Contact"}, Faults: sfemu.Faults{PubSubAuthErrors: 1}})
	c := configured(t, e.eventsConfig(addr, ""))
	other := restWriter{configured(t, e.eventsConfig(addr, "other"))}
	a := other.create(t, "Contact", map[string]any{"LastName": "A"})
	req := sdk.SubscribeRequest{Entity: "Contact", Fields: []string{"Id", "LastName"}, Options: sdk.Values{"start": "earliest"}}
	run := startSub(t, c, req)
	expectRow(t, run.waitRows(t, 1)[0], sdk.ChangeCreate, a, nil)
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
	if n := c.cl.logins.Load(); n != 2 {
		t.Fatalf("%d sign-ins, want 2 (the first and one after the refusal)", n)
	}

	e.SetFaults(sfemu.Faults{PubSubAuthErrors: 2})
	run = startSub(t, c, req)
	err := run.result(t)
	if err == nil || !strings.Contains(err.Error(), "refused a fresh session") || !strings.Contains(err.Error(), sfemu.PubSubErrorAuth) {
		t.Fatalf("second refusal: %v", err)
	}
	tok, _, _, _ := c.cl.session(context.Background())
	if strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), sfemu.DefaultPassword) {
		t.Fatalf("the error shows a secret: %v", err)
	}
}

// TestEventsExpiredReplay: a position whose events have expired falls back
// per replay_fallback and re-reads what changed meanwhile.
func TestEventsExpiredReplay(t *testing.T) {
	e, addr := startPubSubEmu(t, sfemu.Options{Records: 0, CDCEntities: []string{"Contact"}})
	c := configured(t, e.eventsConfig(addr, ""))
	logs := captureLog(c)
	other := restWriter{configured(t, e.eventsConfig(addr, "other"))}
	req := sdk.SubscribeRequest{Entity: "Contact", Fields: []string{"Id", "LastName", "Email"}, Options: sdk.Values{"start": "earliest"}}

	a := other.create(t, "Contact", map[string]any{"LastName": "A"})
	b := other.create(t, "Contact", map[string]any{"LastName": "B"})
	run := startSub(t, c, req)
	run.waitRows(t, 2)
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
	pos := run.lastPos()

	// Changes while nobody listens, then their events expire.
	other.update(t, "Contact", a, map[string]any{"Email": "a@example.com"})
	n := other.create(t, "Contact", map[string]any{"LastName": "New"})
	other.delete(t, "Contact", b)
	e.ExpireEvents(time.Now().Add(time.Hour))

	req.Position = pos
	req.Options = sdk.Values{"replay_fallback": "fail"}
	run = startSub(t, c, req)
	if err := run.result(t); err == nil || !strings.Contains(err.Error(), "replay_fallback = fail") {
		t.Fatalf("replay_fallback = fail: %v", err)
	}

	for _, fallback := range []string{"earliest", "latest"} {
		t.Run(fallback, func(t *testing.T) {
			req.Options = sdk.Values{"replay_fallback": fallback}
			run := startSub(t, c, req)
			// The resync's rows come in one batch; the records changed
			// by the previous subtest's marker are among them.
			run.waitRows(t, 1)
			got := map[string]map[string]any{}
			for i, r := range run.rows() {
				got[r["Id"].(string)] = r
				// The resync's rows come with the old commit time and no
				// replay id: a run that ends during the resync does it
				// again rather than skip it.
				if p := decodePos(t, run.col.rowPos[i]); len(p.ReplayID) != 0 || p.CommitTS != decodePos(t, pos).CommitTS {
					t.Fatalf("resync rows came with %s (the old position: %s)", run.col.rowPos[i], pos)
				}
			}
			if got[a] == nil || got[n] == nil || got[b] == nil {
				t.Fatalf("resync rows:\n%s", run.dump())
			}
			expectRow(t, got[a], sdk.ChangeUpdate, a, map[string]any{"Email": "a@example.com"})
			expectRow(t, got[n], sdk.ChangeUpdate, n, map[string]any{"LastName": "New"})
			expectRow(t, got[b], sdk.ChangeDelete, b, map[string]any{"LastName": nil})
			// Live events follow.
			m := other.create(t, "Contact", map[string]any{"LastName": "Marker " + fallback})
			run.wait(t, "the marker", func(rows []map[string]any, _ [][]byte) bool {
				return len(rows) > 0 && rows[len(rows)-1]["Id"] == m
			})
			if err := run.stop(t); err != nil {
				t.Fatal(err)
			}
			if p := decodePos(t, run.lastPos()); len(p.ReplayID) == 0 {
				t.Fatalf("no replay id after the fallback: %+v", p)
			}
		})
	}
	if !strings.Contains(logs.String(), "replay id cannot be used") || !strings.Contains(logs.String(), "re-reading the records changed") {
		t.Fatalf("the fallback was not logged:\n%s", logs)
	}
}

// TestEventsSchemaChange: a field added mid-stream gives the events a new
// schema id, which is fetched; events go on.
func TestEventsSchemaChange(t *testing.T) {
	e, addr := startPubSubEmu(t, sfemu.Options{Records: 0, CDCEntities: []string{"Contact"}})
	c := configured(t, e.eventsConfig(addr, ""))
	logs := captureLog(c)
	other := restWriter{configured(t, e.eventsConfig(addr, "other"))}
	run := startSub(t, c, sdk.SubscribeRequest{Entity: "Contact", Options: sdk.Values{"start": "earliest"}})
	a := other.create(t, "Contact", map[string]any{"LastName": "A"})
	expectRow(t, run.waitRows(t, 1)[0], sdk.ChangeCreate, a, map[string]any{"LastName": "A"})

	if err := e.AddField("Contact", sfemu.Field{Name: "Extra__c", Type: "string"}); err != nil {
		t.Fatal(err)
	}
	other.update(t, "Contact", a, map[string]any{"Extra__c": "x", "Title": "Boss"})
	rows := run.waitRows(t, 2)
	expectRow(t, rows[1], sdk.ChangeUpdate, a, map[string]any{"Title": "Boss"})
	if !strings.Contains(logs.String(), "schema changed") {
		t.Fatalf("the schema change was not noticed:\n%s", logs)
	}
}

// TestEventsGaps: gap events are read back by Id; GAP_OVERFLOW re-reads
// the object's recent changes.
func TestEventsGaps(t *testing.T) {
	e, addr := startPubSubEmu(t, sfemu.Options{Records: 0, CDCEntities: []string{"Contact"}})
	c := configured(t, e.eventsConfig(addr, ""))
	own := restWriter{c}
	other := restWriter{configured(t, e.eventsConfig(addr, "other"))}
	run := startSub(t, c, sdk.SubscribeRequest{Entity: "Contact", Fields: []string{"Id", "LastName", "Email"}, Options: sdk.Values{"start": "earliest"}})
	a := other.create(t, "Contact", map[string]any{"LastName": "A"})
	b := other.create(t, "Contact", map[string]any{"LastName": "B"})
	x := other.create(t, "Contact", map[string]any{"LastName": "X"})
	run.waitRows(t, 3)
	other.delete(t, "Contact", x)
	expectRow(t, run.waitRows(t, 4)[3], sdk.ChangeDelete, x, nil)

	own.update(t, "Contact", a, map[string]any{"Email": "quiet@example.com"})
	e.InjectGap("Contact", []string{a}, "UPDATE")
	expectRow(t, run.waitRows(t, 5)[4], sdk.ChangeUpdate, a, map[string]any{"Email": "quiet@example.com"})
	e.InjectGap("Contact", []string{b}, "GAP_DELETE")
	expectRow(t, run.waitRows(t, 6)[5], sdk.ChangeDelete, b, map[string]any{"LastName": nil})
	e.InjectGap("Contact", []string{a}, "CREATE")
	expectRow(t, run.waitRows(t, 7)[6], sdk.ChangeCreate, a, map[string]any{"LastName": "A"})
	// A record gone since is skipped: its DELETE came already.
	e.InjectGap("Contact", []string{x}, "UPDATE")
	e.InjectGap("Contact", []string{a}, "UNDELETE")
	expectRow(t, run.waitRows(t, 8)[7], sdk.ChangeUndelete, a, nil)

	// GAP_OVERFLOW: the records changed lately are read again, the
	// deleted one included.
	own.update(t, "Contact", b, map[string]any{"Email": "b@example.com"})
	e.InjectOverflow("Contact")
	rows := run.waitRows(t, 11)[8:]
	got := map[string]map[string]any{}
	for _, r := range rows {
		got[r["Id"].(string)] = r
	}
	if len(got) != 3 {
		t.Fatalf("after GAP_OVERFLOW:\n%s", run.dump())
	}
	expectRow(t, got[a], sdk.ChangeUpdate, a, map[string]any{"Email": "quiet@example.com"})
	expectRow(t, got[b], sdk.ChangeUpdate, b, map[string]any{"Email": "b@example.com"})
	expectRow(t, got[x], sdk.ChangeDelete, x, nil)
	m := other.create(t, "Contact", map[string]any{"LastName": "Marker"})
	expectRow(t, run.waitRows(t, 12)[11], sdk.ChangeCreate, m, nil)
}

// selfSigned is a TLS certificate for localhost and the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestEventsTLS: the default transport is TLS, verified against the
// trusted CAs and the endpoint's host name.
func TestEventsTLS(t *testing.T) {
	e := startEmu(t, sfemu.Options{Records: 0, CDCEntities: []string{"Contact"}, KeepAlive: 50 * time.Millisecond})
	cert, pool := selfSigned(t)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis := tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
	done := make(chan error, 1)
	go func() { done <- e.ServePubSub(lis) }()
	t.Cleanup(func() { e.StopPubSub(); <-done })
	_, port, _ := net.SplitHostPort(raw.Addr().String())

	cfg := e.passwordConfig()
	cfg["pubsub_endpoint"] = "localhost:" + port
	cfg["max_attempts"] = int64(2)
	other := restWriter{configured(t, e.eventsConfig("localhost:"+port, "other"))}
	req := sdk.SubscribeRequest{Entity: "Contact", Fields: []string{"Id", "LastName"}, Options: sdk.Values{"start": "earliest"}}

	// The system's CAs do not know the certificate.
	untrusted := configured(t, cfg)
	captureLog(untrusted)
	run := startSub(t, untrusted, req)
	if err := run.result(t); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an unknown certificate was accepted: %v", err)
	}

	c := configured(t, cfg)
	c.pubsubRoots = pool
	run = startSub(t, c, req)
	a := other.create(t, "Contact", map[string]any{"LastName": "A"})
	expectRow(t, run.waitRows(t, 1)[0], sdk.ChangeCreate, a, nil)
}

// TestEventsSilentStream: a stream that says nothing, not even keep-alives,
// is given up on and reopened.
func TestEventsSilentStream(t *testing.T) {
	e, addr := startPubSubEmu(t, sfemu.Options{Records: 0, CDCEntities: []string{"Contact"}, KeepAlive: time.Hour})
	cfg := e.eventsConfig(addr, "")
	cfg["max_attempts"] = int64(1000)
	c := configured(t, cfg)
	c.streamIdle = 50 * time.Millisecond
	logs := captureLog(c)
	other := restWriter{configured(t, e.eventsConfig(addr, "other"))}
	run := startSub(t, c, sdk.SubscribeRequest{Entity: "Contact", Fields: []string{"Id", "LastName"}, Options: sdk.Values{"start": "earliest"}})
	deadline := time.Now().Add(waitFor)
	for strings.Count(logs.String(), "reconnecting") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the silent stream was not reopened:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	a := other.create(t, "Contact", map[string]any{"LastName": "A"})
	expectRow(t, run.waitRows(t, 1)[0], sdk.ChangeCreate, a, nil)
}
