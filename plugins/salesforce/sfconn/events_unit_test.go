package sfconn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"golang.org/x/oauth2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sluice-dev/sluice/plugins/salesforce/eventbusv1"
	"github.com/sluice-dev/sluice/sdk"
)

func TestTopicFor(t *testing.T) {
	for _, tc := range []struct{ object, event, want string }{
		{"Contact", "", "/data/ContactChangeEvent"},
		{"Employee__c", "", "/data/Employee__ChangeEvent"},
		{"Contact", "ContactChangeEvent", "/data/ContactChangeEvent"},
		{"Contact", "/data/ChangeEvents", "/data/ChangeEvents"},
		{"Contact", "/data/Sales__chn", "/data/Sales__chn"},
	} {
		if got := topicFor(tc.object, tc.event); got != tc.want {
			t.Errorf("topicFor(%q, %q) = %q, want %q", tc.object, tc.event, got, tc.want)
		}
	}
}

func TestEventOptions(t *testing.T) {
	o, err := parseEventOptions(sdk.Values{}, "Contact")
	if err != nil || o.object != "Contact" || o.start != "latest" || o.fallback != "earliest" {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	o, err = parseEventOptions(sdk.Values{"object": "Lead", "start": "EARLIEST", "replay_fallback": "fail"}, "")
	if err != nil || o.object != "Lead" || o.start != "earliest" || o.fallback != "fail" {
		t.Fatalf("%+v %v", o, err)
	}
	if _, err := parseEventOptions(sdk.Values{"start": "now"}, "Contact"); err == nil || !strings.Contains(err.Error(), "start") {
		t.Fatalf("bad start: %v", err)
	}
	if _, err := parseEventOptions(sdk.Values{"replay_fallback": "skip"}, "Contact"); err == nil || !strings.Contains(err.Error(), "replay_fallback") {
		t.Fatalf("bad fallback: %v", err)
	}
}

func TestPositionJSON(t *testing.T) {
	p := eventPosition{Topic: "/data/ContactChangeEvent", ReplayID: []byte{0, 0, 0, 0, 0, 0, 0x1f, 0x40}, CommitTS: 1700000000123}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"topic":"/data/ContactChangeEvent","replay_id":"AAAAAAAAH0A=","commit_ts":1700000000123}`; string(b) != want {
		t.Fatalf("%s\nwant %s", b, want)
	}
	back, err := decodePosition(b)
	if err != nil || back.Topic != p.Topic || string(back.ReplayID) != string(p.ReplayID) || back.CommitTS != p.CommitTS {
		t.Fatalf("%+v %v", back, err)
	}
	// A Read checkpoint is not a position.
	if _, err := decodePosition([]byte(`{"cursor":"SystemModstamp","value":"2024-01-01T00:00:00.000Z"}`)); err == nil || !strings.Contains(err.Error(), "reset the flow's state") {
		t.Fatalf("checkpoint taken for a position: %v", err)
	}
}

func TestClassify(t *testing.T) {
	withCode := func(c codes.Code, msg, code string) error {
		return newPubsubError("Subscribe", status.Error(c, msg), metadata.Pairs("error-code", code))
	}
	for _, tc := range []struct {
		err  error
		want errKind
	}{
		{io.EOF, errRetry},
		{newPubsubError("Subscribe", io.EOF, nil), errRetry},
		{status.Error(codes.Unavailable, "drop"), errRetry},
		{newPubsubError("Subscribe", status.Error(codes.Unavailable, "drop"), nil), errRetry},
		{status.Error(codes.Internal, "x"), errRetry},
		{status.Error(codes.Canceled, "idle"), errRetry},
		{withCode(codes.Unauthenticated, "bad token", "sfdc.platform.eventbus.grpc.service.auth.error"), errAuth},
		{withCode(codes.PermissionDenied, "bad token", "sfdc.platform.eventbus.grpc.service.auth.error"), errAuth},
		{status.Error(codes.Unauthenticated, "bad token"), errAuth},
		{withCode(codes.InvalidArgument, "The Replay ID validation failed.", "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"), errReplay},
		{withCode(codes.InvalidArgument, "x", "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed"), errReplay},
		{status.Error(codes.InvalidArgument, "The Replay ID validation failed. rpcId: 1"), errReplay},
		{withCode(codes.InvalidArgument, "bad", "sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid"), errFatal},
		{status.Error(codes.NotFound, "no topic"), errFatal},
		{errors.New("other"), errFatal},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	e := withCode(codes.Unauthenticated, "bad token", "sfdc.platform.eventbus.grpc.service.auth.error")
	if got := e.Error(); got != "salesforce: Pub/Sub Subscribe: Unauthenticated: bad token (sfdc.platform.eventbus.grpc.service.auth.error)" {
		t.Fatalf("message: %s", got)
	}
}

func TestOrgIDOf(t *testing.T) {
	tok := (&oauth2.Token{AccessToken: "00Dxx0000001gPL!AQ0AQ"}).WithExtra(map[string]any{"id": "https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS"})
	if got := orgIDOf(tok); got != "00Dxx0000001gPLEAY" {
		t.Fatalf("from the identity URL: %q", got)
	}
	if got := orgIDOf(&oauth2.Token{AccessToken: "00Dxx0000001gPL!AQ0AQ"}); got != "00Dxx0000001gPL" {
		t.Fatalf("from the token: %q", got)
	}
	if got := orgIDOf(&oauth2.Token{AccessToken: "opaque"}); got != "" {
		t.Fatalf("opaque token: %q", got)
	}
}

func TestPubSubConfig(t *testing.T) {
	base := func(kv ...any) sdk.Values {
		v := sdk.Values{"login_url": "https://login.salesforce.com", "client_id": "id", "refresh_token": "rt"}
		for i := 0; i+1 < len(kv); i += 2 {
			v[kv[i].(string)] = kv[i+1]
		}
		return v
	}
	for _, tc := range []struct {
		v    sdk.Values
		diag string // "" means accepted
	}{
		{base(), ""},
		{base("pubsub_endpoint", "localhost:7011", "pubsub_insecure", true), ""},
		{base("pubsub_endpoint", "127.0.0.1:7011", "pubsub_insecure", true), ""},
		{base("pubsub_endpoint", "[::1]:7011", "pubsub_insecure", true), ""},
		{base("pubsub_endpoint", "emu.internal:7011", "pubsub_insecure", true), "pubsub_insecure"},
		{base("login_url", "http://emu.internal:8080", "pubsub_endpoint", "emu.internal:7011", "pubsub_insecure", true), ""},
		{base("pubsub_endpoint", "api.pubsub.salesforce.com"), "pubsub_endpoint"},
		{base("client_tag", "etl-b.2"), ""},
		{base("client_tag", "a;b"), "client_tag"},
		{base("client_tag", ""), "client_tag"},
	} {
		diags := New().Configure(context.Background(), tc.v)
		got := ""
		for _, d := range diags {
			if len(d.Path) > 0 {
				got = d.Path[0]
			}
		}
		if got != tc.diag || (tc.diag == "" && diags.HasErrors()) {
			t.Errorf("%v: diagnostics %v, want one on %q", tc.v, diags, tc.diag)
		}
	}
	c := New()
	if diags := c.Configure(context.Background(), base("client_tag", "etl-b")); diags.HasErrors() {
		t.Fatal(diags)
	}
	if c.cl.cfg.clientTag != "etl-b" || c.cl.cfg.pubsubEndpoint != DefaultPubSubEndpoint || c.cl.cfg.pubsubInsecure {
		t.Fatalf("%+v", c.cl.cfg)
	}
	spec := c.Spec()
	for _, a := range []string{"pubsub_endpoint", "pubsub_insecure", "client_tag"} {
		if _, ok := spec.Connection.Lookup(a); !ok {
			t.Errorf("connection attribute %s missing from the spec", a)
		}
	}
	for _, a := range []string{"event", "start", "replay_fallback"} {
		if _, ok := spec.Events.Lookup(a); !ok {
			t.Errorf("event trigger attribute %s missing from the spec", a)
		}
	}
	if !spec.Has(sdk.CapEvents) {
		t.Error("the spec does not declare events")
	}
}

// newTestSubscription is a subscription to Contact {Id, LastName, Email}
// whose codec is already known, so handle needs no server as long as no
// event asks for a refetch.
func newTestSubscription(t *testing.T, out sdk.EventSender) *subscription {
	t.Helper()
	obj := &sfObject{Name: "Contact", Fields: []sfField{{Name: "Id", Type: "id"}, {Name: "LastName", Type: "string"},
		{Name: "Email", Type: "email"}, {Name: "Phone", Type: "phone"}, {Name: "SystemModstamp", Type: "datetime"}}}
	obj.byName = map[string]*sfField{}
	for i := range obj.Fields {
		obj.byName[strings.ToLower(obj.Fields[i].Name)] = &obj.Fields[i]
	}
	fields, err := obj.selectFields([]string{"Id", "LastName", "Email"})
	if err != nil {
		t.Fatal(err)
	}
	c := New()
	s := &subscription{c: c, out: out, log: slog.New(slog.NewTextHandler(io.Discard, nil)), opts: &eventOptions{fallback: "earliest"},
		obj: obj, fields: fields, idIdx: 0, topic: "/data/ContactChangeEvent", tag: "sluice",
		limits: sdk.Limits{MaxRows: 2, MaxBytes: 1 << 20}, codecs: map[string]*eventCodec{"sch1": mustCodec(t, contactEventSchema)}}
	s.schema = arrow.NewSchema(append(schemaOf(fields).Fields(), arrow.Field{Name: sdk.ChangeTypeField, Type: arrow.BinaryTypes.String}), nil)
	t.Cleanup(s.release)
	return s
}

func consumerEvent(t *testing.T, replay byte, h map[string]any) *eventbusv1.ConsumerEvent {
	return &eventbusv1.ConsumerEvent{ReplayId: []byte{0, 0, 0, replay},
		Event: &eventbusv1.ProducerEvent{Id: fmt.Sprint("ev", replay), SchemaId: "sch1", Payload: encodeEvent(t, contactEventSchema, h, nil)}}
}

func TestHandleWithoutRefetch(t *testing.T) {
	col := newEventCollector()
	s := newTestSubscription(t, col)
	ids := func(ids ...string) []any {
		out := make([]any, len(ids))
		for i, id := range ids {
			out[i] = id
		}
		return out
	}
	corrupt := consumerEvent(t, 3, nil)
	corrupt.Event.Payload = []byte{0xff}
	resp := &eventbusv1.FetchResponse{Events: []*eventbusv1.ConsumerEvent{
		// Three deletes in one event: the batch limit (2 rows) splits them.
		consumerEvent(t, 1, map[string]any{"changeType": "DELETE", "recordIds": ids("003000000000001AAA", "003000000000002AAA", "003000000000003AAA"), "commitTimestamp": int64(1000)}),
		// Our own write, another object, an update of undelivered fields:
		// no rows.
		consumerEvent(t, 2, map[string]any{"changeType": "DELETE", "recordIds": ids("003000000000004AAA"), "changeOrigin": "com/salesforce/api/rest/64.0;client=sluice", "commitTimestamp": int64(2000)}),
		corrupt,
		consumerEvent(t, 4, map[string]any{"entityName": "Account", "changeType": "DELETE", "recordIds": ids("001000000000001AAA"), "commitTimestamp": int64(3000)}),
		consumerEvent(t, 5, map[string]any{"changeType": "UPDATE", "recordIds": ids("003000000000001AAA"), "changedFields": []any{"0x50"}, "commitTimestamp": int64(4000)}),
	}}
	if err := s.handle(context.Background(), resp); err != nil {
		t.Fatal(err)
	}
	if len(col.rows) != 3 || len(col.rejected) != 1 {
		t.Fatalf("rows %v, rejected %v", col.rows, col.rejected)
	}
	for i, r := range col.rows {
		if r[sdk.ChangeTypeField] != sdk.ChangeDelete || r["Id"] != fmt.Sprintf("00300000000000%dAAA", i+1) || r["LastName"] != nil {
			t.Fatalf("row %d: %v", i, r)
		}
	}
	if rj := col.rejected[0]; !strings.Contains(rj.Location, "ev3") || !strings.Contains(rj.Location, "AAAAAw==") || string(rj.Raw) != "\xff" {
		t.Fatalf("rejected %+v", rj)
	}
	// A batch at the limit goes out with the position of its last event,
	// whole (an event's rows share a position; the transport splits
	// batches over the limits); the rest of the response moves the
	// position on.
	if len(col.pos) != 2 {
		t.Fatalf("positions %q", col.pos)
	}
	if p := decodePos(t, col.pos[0]); p.ReplayID[3] != 1 || p.CommitTS != 1000 || !bytes.Equal(col.rowPos[2], col.pos[0]) {
		t.Fatalf("first batch position %+v", p)
	}
	if p := decodePos(t, col.pos[1]); p.ReplayID[3] != 5 || p.CommitTS != 4000 {
		t.Fatalf("last position %+v", p)
	}

	// A keep-alive moves the position once.
	ka := &eventbusv1.FetchResponse{LatestReplayId: []byte{0, 0, 0, 9}}
	for range 2 {
		if err := s.handle(context.Background(), ka); err != nil {
			t.Fatal(err)
		}
	}
	if len(col.pos) != 3 || decodePos(t, col.pos[2]).ReplayID[3] != 9 || decodePos(t, col.pos[2]).CommitTS != 4000 {
		t.Fatalf("keep-alive positions %q", col.pos)
	}

	// Bitmaps decide only over fields the body carries: SystemModstamp
	// always counts as changed.
	ec := s.codecs["sch1"]
	h, err := ec.decode(encodeEvent(t, contactEventSchema, map[string]any{"changeType": "UPDATE", "changedFields": []any{"0x10"}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !s.unchanged(ec, h) {
		t.Fatal("a Phone change should leave Id, LastName, Email unchanged")
	}
	s.fields = append(s.fields, s.obj.field("SystemModstamp"))
	if s.unchanged(ec, h) {
		t.Fatal("SystemModstamp is not in the body; it must count as changed")
	}
	h.changed = nil
	s.fields = s.fields[:3]
	if s.unchanged(ec, h) {
		t.Fatal("unknown bitmaps must count as changed")
	}
}

// TestPlanWildcardAndOverflow: events that name no usable ids become resyncs.
func TestPlanWildcardAndOverflow(t *testing.T) {
	s := newTestSubscription(t, newEventCollector())
	ec := s.codecs["sch1"]
	for _, h := range []changeHeader{
		{entity: "Contact", changeType: "UPDATE", recordIDs: []string{"003*"}},
		{entity: "Contact", changeType: "GAP_OVERFLOW"},
	} {
		if st := s.plan(ec, h, 77); st.action != actResync || st.resync.since != 77 {
			t.Fatalf("%+v: %+v", h, st)
		}
	}
	for ct, want := range map[string]string{"GAP_CREATE": sdk.ChangeCreate, "GAP_UPDATE": sdk.ChangeUpdate, "GAP_UNDELETE": sdk.ChangeUndelete, "UNDELETE": sdk.ChangeUndelete} {
		if st := s.plan(ec, changeHeader{entity: "Contact", changeType: ct, recordIDs: []string{"003000000000001AAA"}}, 0); st.action != actRefetch || st.change != want {
			t.Fatalf("%s: %+v", ct, st)
		}
	}
	if st := s.plan(ec, changeHeader{entity: "Contact", changeType: "GAP_DELETE", recordIDs: []string{"003000000000001AAA"}}, 0); st.action != actDelete {
		t.Fatalf("GAP_DELETE: %+v", st)
	}
	if st := s.plan(ec, changeHeader{entity: "Contact", changeType: "SNAPSHOT"}, 0); st.action != actSkip {
		t.Fatalf("SNAPSHOT: %+v", st)
	}
	s.opts.fallback = "fail"
	if err := s.resyncSince(context.Background(), s.pos, &resyncReq{reason: "GAP_OVERFLOW"}); err == nil || !strings.Contains(err.Error(), "replay_fallback = fail") {
		t.Fatalf("resync with replay_fallback = fail: %v", err)
	}
}
