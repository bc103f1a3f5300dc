package sfemu

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/sluice-dev/sluice/plugins/salesforce/eventbusv1"
)

const accountTopic = "/data/AccountChangeEvent"

func earliest(topic string, n int32) *eventbusv1.FetchRequest {
	return &eventbusv1.FetchRequest{TopicName: topic, ReplayPreset: eventbusv1.ReplayPreset_EARLIEST, NumRequested: n}
}

func (e *env) createAccount(t *testing.T, body string, hdr ...string) string {
	t.Helper()
	r := e.do("POST", v+"/sobjects/Account", body, hdr...)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var res saveResult
	r.json(t, &res)
	return res.ID
}

// want compares values by their JSON, so that structs, maps and decoded
// Avro values of the same content are equal.
func want(t *testing.T, what string, got, exp any) {
	t.Helper()
	canonical := func(v any) []byte {
		b, _ := json.Marshal(v)
		var x any
		_ = json.Unmarshal(b, &x)
		b, _ = json.Marshal(x)
		return b
	}
	g, x := canonical(got), canonical(exp)
	if !bytes.Equal(g, x) {
		t.Fatalf("%s: got %s, want %s", what, g, x)
	}
}

func TestChangeEventsFromREST(t *testing.T) {
	p := newPubSubEnv(t, Options{Records: 2})
	client := []string{"Sforce-Call-Options", "client=sluice-etl, defaultNamespace=x"}
	id := p.createAccount(t, `{"Name":"Acme","Phone":"555-0100","Website":"acme.example","BillingCity":"Paris","NumberOfEmployees":12}`, client...)
	p.clk.Advance(time.Minute)
	if r := p.do("PATCH", v+"/sobjects/Account/"+id, `{"Phone":"555-0199","Website":null,"BillingCity":"Lyon","Name":"Acme"}`); r.status != 204 {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	if r := p.do("DELETE", v+"/sobjects/Account/"+id, ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := p.do("POST", "/__emulator/undelete", `{"ids":["`+id+`"]}`, client...); r.status != 204 {
		t.Fatalf("undelete: %d %s", r.status, r.body)
	}
	if n := p.s.ChangeEventCount(accountTopic); n != 4 {
		t.Fatalf("ChangeEventCount = %d", n)
	}

	evs := p.subscribe(t, earliest(accountTopic, 10)).events(4)
	var types, keys []string
	for i, ev := range evs {
		h := ev.header
		types = append(types, h["changeType"].(string))
		keys = append(keys, h["transactionKey"].(string))
		want(t, "recordIds", h["recordIds"], []string{id})
		if h["entityName"] != "Account" || h["sequenceNumber"] != int32(1) || h["commitUser"] != p.s.UserID() ||
			h["commitNumber"].(int64) <= 0 || len(ev.replay) != 8 {
			t.Fatalf("event %d header %v", i, h)
		}
		if i > 0 && bytes.Compare(ev.replay, evs[i-1].replay) <= 0 {
			t.Fatal("replay ids out of commit order")
		}
		if i > 0 && binary.BigEndian.Uint64(ev.replay)-binary.BigEndian.Uint64(evs[i-1].replay) < 2 {
			t.Fatal("replay ids are contiguous")
		}
	}
	want(t, "change types", types, []string{"CREATE", "UPDATE", "DELETE", "UNDELETE"})
	if keys[0] == keys[1] || keys[1] == keys[2] {
		t.Fatalf("one transactionKey across requests: %v", keys)
	}

	create, update, del, undel := evs[0], evs[1], evs[2], evs[3]
	if create.header["changeOrigin"] != "com/salesforce/api/rest/60.0;client=sluice-etl" ||
		update.header["changeOrigin"] != "com/salesforce/api/rest/60.0" ||
		undel.header["changeOrigin"] != "com/salesforce/api/soap/"+DefaultAPIVersion+";client=sluice-etl" {
		t.Fatalf("changeOrigin: %v / %v / %v", create.header["changeOrigin"], update.header["changeOrigin"], undel.header["changeOrigin"])
	}
	if create.header["commitTimestamp"] != t0.UnixMilli() || update.header["commitTimestamp"] != t0.Add(time.Minute).UnixMilli() {
		t.Fatalf("commitTimestamp %v %v", create.header["commitTimestamp"], update.header["commitTimestamp"])
	}
	// CREATE: every non-null value, compound address nested, no bitmaps
	if create.body["Name"] != "Acme" || create.body["Phone"] != "555-0100" || create.body["NumberOfEmployees"] != int32(12) ||
		create.body["OwnerId"] != p.s.UserID() || create.body["CreatedDate"] != t0.UnixMilli() {
		t.Fatalf("create body %v", create.body)
	}
	want(t, "BillingAddress", create.body["BillingAddress"], map[string]any{"City": "Paris"})
	for _, absent := range []string{"Id", "IsDeleted", "SystemModstamp", "BillingCity", "ShippingAddress"} {
		if _, ok := create.body[absent]; ok {
			t.Fatalf("create body has %s: %v", absent, create.body)
		}
	}
	if len(create.changed) != 0 || len(create.nulled) != 0 {
		t.Fatalf("create bitmaps %v %v", create.changed, create.nulled)
	}
	// UPDATE: changed values only; bitmaps name exactly what changed
	want(t, "changedFields", update.changed, []string{"BillingAddress.City", "LastModifiedDate", "Phone", "Website"})
	want(t, "nulledFields", update.nulled, []string{"Website"})
	want(t, "update body", update.body, map[string]any{"Phone": "555-0199", "BillingAddress": map[string]any{"City": "Lyon"},
		"LastModifiedDate": t0.Add(time.Minute).UnixMilli()})
	// DELETE: header only
	if len(del.body) != 0 {
		t.Fatalf("delete body %v", del.body)
	}
	// UNDELETE: the whole record again
	if undel.body["Name"] != "Acme" || undel.body["Phone"] != "555-0199" {
		t.Fatalf("undelete body %v", undel.body)
	}
	if p.s.Count("Account") != 3 {
		t.Fatal("undelete did not restore the record")
	}
	if r := p.do("POST", "/__emulator/undelete", `{"ids":["`+id+`"]}`); r.status != 400 || !strings.Contains(string(r.body), "UNDELETE_FAILED") {
		t.Fatalf("undelete of a live record: %d %s", r.status, r.body)
	}
}

func TestChangeEventsCompoundName(t *testing.T) {
	p := newPubSubEnv(t, Options{Records: 1})
	r := p.do("POST", v+"/sobjects/Contact", `{"FirstName":"Ada","LastName":"Byron","Title":"Countess","MailingCity":"London"}`)
	var res saveResult
	r.json(t, &res)
	if r := p.do("PATCH", v+"/sobjects/Contact/"+res.ID, `{"LastName":"Lovelace","FirstName":null}`); r.status != 204 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := p.do("PATCH", v+"/sobjects/Contact/"+res.ID, `{"MailingCity":null}`); r.status != 204 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	evs := p.subscribe(t, earliest("/data/ContactChangeEvent", 3)).events(3)
	want(t, "create Name", evs[0].body["Name"], map[string]any{"FirstName": "Ada", "LastName": "Byron"})
	want(t, "create MailingAddress", evs[0].body["MailingAddress"], map[string]any{"City": "London"})
	want(t, "nulled address", evs[2].nulled, []string{"MailingAddress.City"})
	want(t, "nulled address body", evs[2].body, map[string]any{"MailingAddress": map[string]any{}})
	want(t, "changedFields", evs[1].changed, []string{"Name.FirstName", "Name.LastName"})
	want(t, "nulledFields", evs[1].nulled, []string{"Name.FirstName"})
	want(t, "update Name", evs[1].body["Name"], map[string]any{"LastName": "Lovelace"})
	// the bitmap strings themselves: element 0 has no top-level bit, the
	// nested element names Name's position
	raw := evs[1].header["changedFields"].([]any)
	if len(raw) != 2 || raw[0] != "0x00" || !strings.Contains(raw[1].(string), "-0x") {
		t.Fatalf("raw changedFields %v", raw)
	}
}

func TestChangeEventsFromCollections(t *testing.T) {
	p := newPubSubEnv(t, Options{Records: 1})
	r := p.do("POST", v+"/composite/sobjects", `{"allOrNone":false,"records":[
		{"attributes":{"type":"Account"},"Name":"C1"},{"attributes":{"type":"Contact"},"LastName":"C2"},
		{"attributes":{"type":"Account"}},{"attributes":{"type":"Account"},"Name":"C3"}]}`, "Sforce-Call-Options", "client=coll")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// the failed record commits nothing; the others share one transaction
	evs := p.subscribe(t, earliest(AllChangeEventsTopic, 10)).events(3)
	var entities []string
	for i, ev := range evs {
		entities = append(entities, ev.header["entityName"].(string))
		if ev.header["transactionKey"] != evs[0].header["transactionKey"] || ev.header["sequenceNumber"] != int32(i+1) ||
			ev.header["commitNumber"] != evs[0].header["commitNumber"] || ev.header["changeOrigin"] != "com/salesforce/api/rest/60.0;client=coll" {
			t.Fatalf("event %d header %v", i, ev.header)
		}
	}
	want(t, "entities", entities, []string{"Account", "Contact", "Account"})
	if evs[1].schemaID == evs[0].schemaID {
		t.Fatal("Account and Contact events share a schema")
	}

	// upsert by id updates
	id := evs[0].header["recordIds"].([]any)[0].(string)
	if r := p.do("PATCH", v+"/sobjects/Account/Id/"+id, `{"Phone":"42"}`); r.status != 200 {
		t.Fatalf("upsert: %d %s", r.status, r.body)
	}
	up := p.subscribe(t, &eventbusv1.FetchRequest{TopicName: accountTopic, ReplayPreset: eventbusv1.ReplayPreset_CUSTOM,
		ReplayId: evs[2].replay, NumRequested: 1}).events(1)[0]
	if up.header["changeType"] != "UPDATE" || up.body["Phone"] != "42" {
		t.Fatalf("upsert event %v %v", up.header, up.body)
	}

	// all or none: a failure publishes nothing
	before := p.s.ChangeEventCount(AllChangeEventsTopic)
	p.do("POST", v+"/composite/sobjects", `{"allOrNone":true,"records":[{"attributes":{"type":"Account"},"Name":"X"},{"attributes":{"type":"Account"}}]}`)
	if p.s.ChangeEventCount(AllChangeEventsTopic) != before {
		t.Fatal("a rolled-back request published events")
	}
}

func TestChangeEventsFromBulkIngest(t *testing.T) {
	p := newPubSubEnv(t, Options{Records: 1})
	r := p.do("POST", v+"/jobs/ingest", `{"object":"Account","operation":"insert"}`, "Sforce-Call-Options", "client=bulk-etl")
	var info map[string]any
	r.json(t, &info)
	id := info["id"].(string)
	if r := p.do("PUT", v+"/jobs/ingest/"+id+"/batches", "Name,Phone\nB1,1\nB2,2\n,3\n", "Content-Type", "text/csv"); r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	p.do("PATCH", v+"/jobs/ingest/"+id, `{"state":"UploadComplete"}`)
	for info["state"] != "JobComplete" {
		p.do("GET", v+"/jobs/ingest/"+id, "").json(t, &info)
	}
	evs := p.subscribe(t, earliest(accountTopic, 5)).events(2)
	for i, ev := range evs {
		if ev.header["changeType"] != "CREATE" || ev.header["changeOrigin"] != "com/salesforce/api/bulkapi/60.0;client=bulk-etl" ||
			ev.header["sequenceNumber"] != int32(i+1) || ev.body["Name"] != []string{"B1", "B2"}[i] {
			t.Fatalf("event %d: %v %v", i, ev.header, ev.body)
		}
	}
	if p.s.ChangeEventCount(accountTopic) != 2 {
		t.Fatal("the failed row published an event")
	}
}

// started waits for a LATEST subscription's first keep-alive, which proves
// the server has placed it, and returns the position it reports.
func started(s *subscription) []byte {
	s.t.Helper()
	return s.keepAlive().LatestReplayId
}

func TestSubscribeReplayPresets(t *testing.T) {
	p := newPubSubEnv(t, Options{Records: 1, KeepAlive: 20 * time.Millisecond})
	first := p.createAccount(t, `{"Name":"One"}`)
	p.createAccount(t, `{"Name":"Two"}`)

	latest := p.subscribe(t, &eventbusv1.FetchRequest{TopicName: accountTopic, NumRequested: 10})
	pos := started(latest)
	p.createAccount(t, `{"Name":"Three"}`)
	got := latest.events(1)
	if got[0].body["Name"] != "Three" {
		t.Fatalf("LATEST delivered %v", got[0].body)
	}

	all := p.subscribe(t, earliest(accountTopic, 10)).events(3)
	if all[0].header["recordIds"].([]any)[0] != first || !bytes.Equal(all[1].replay, pos) {
		t.Fatalf("EARLIEST: %v; the keep-alive position should be the second event", all[0].header)
	}

	after := p.subscribe(t, &eventbusv1.FetchRequest{TopicName: accountTopic, ReplayPreset: eventbusv1.ReplayPreset_CUSTOM,
		ReplayId: all[0].replay, NumRequested: 10}).events(2)
	if after[0].body["Name"] != "Two" || after[1].body["Name"] != "Three" {
		t.Fatalf("CUSTOM starts after the given event: %v %v", after[0].body, after[1].body)
	}

	// a keep-alive position is a valid replay id too, on this or another topic
	resumed := p.subscribe(t, &eventbusv1.FetchRequest{TopicName: AllChangeEventsTopic, ReplayPreset: eventbusv1.ReplayPreset_CUSTOM,
		ReplayId: pos, NumRequested: 10})
	if got := resumed.events(1); got[0].body["Name"] != "Three" {
		t.Fatalf("resume from a keep-alive position: %v", got[0].body)
	}
}

func TestSubscribeCredits(t *testing.T) {
	p := newPubSubEnv(t, Options{Records: 1, KeepAlive: 20 * time.Millisecond})
	for i := 0; i < 5; i++ {
		p.createAccount(t, `{"Name":"N`+string(rune('0'+i))+`"}`)
	}
	s := p.subscribe(t, earliest(accountTopic, 2))
	r := s.next()
	if len(r.Events) != 2 || r.PendingNumRequested != 0 {
		t.Fatalf("first response: %d events, pending %d", len(r.Events), r.PendingNumRequested)
	}
	// with no credit left the stream only keeps alive; the position stays
	// at the last delivered event
	ka := s.keepAlive()
	if !bytes.Equal(ka.LatestReplayId, r.Events[1].ReplayId) || ka.PendingNumRequested != 0 {
		t.Fatalf("keep-alive at %x pending %d", ka.LatestReplayId, ka.PendingNumRequested)
	}
	s.request(1)
	s.request(2)
	if got := s.events(3); got[2].body["Name"] != "N4" {
		t.Fatalf("after more credits: %v", got[2].body)
	}
	s.request(3)
	p.createAccount(t, `{"Name":"N5"}`)
	r = s.next()
	for len(r.Events) == 0 {
		r = s.next()
	}
	if len(r.Events) != 1 || r.PendingNumRequested != 2 {
		t.Fatalf("pending_num_requested %d after 1 of 3", r.PendingNumRequested)
	}
}

func TestSubscribeKeepAlive(t *testing.T) {
	p := newPubSubEnv(t, Options{Records: 1, KeepAlive: 20 * time.Millisecond})
	p.createAccount(t, `{"Name":"K"}`)
	contact := p.do("POST", v+"/sobjects/Contact", `{"LastName":"Other topic"}`)
	if contact.status != 201 {
		t.Fatal(contact.status)
	}
	s := p.subscribe(t, earliest(accountTopic, 5))
	ev := s.events(1)
	ka := s.keepAlive()
	// the position moves past other entities' events, so resuming from
	// it skips nothing of this topic
	if bytes.Equal(ka.LatestReplayId, ev[0].replay) || ka.RpcId == "" || ka.PendingNumRequested != 4 {
		t.Fatalf("keep-alive %x (event %x) pending %d", ka.LatestReplayId, ev[0].replay, ka.PendingNumRequested)
	}
	all := p.subscribe(t, earliest(AllChangeEventsTopic, 5)).events(2)
	if !bytes.Equal(ka.LatestReplayId, all[1].replay) {
		t.Fatal("keep-alive position is not the latest event")
	}
}

func TestPubSubAuthentication(t *testing.T) {
	p := newPubSubEnv(t, Options{Records: 1})
	usage := p.s.APIUsage()
	var trailer metadata.MD
	topic := &eventbusv1.TopicRequest{TopicName: accountTopic}
	for name, ctx := range map[string]context.Context{
		"bad token":      p.ctxWith("00Dbogus!token", p.ts.URL, p.s.OrgID()),
		"wrong tenant":   p.ctxWith(p.tok, p.ts.URL, "00D000000000001AAA"),
		"wrong instance": p.ctxWith(p.tok, "https://other.my.salesforce.com", p.s.OrgID()),
	} {
		_, err := p.client.GetTopic(ctx, topic, grpc.Trailer(&trailer))
		f := failureOf(t, err, trailer)
		if f.code != codes.Unauthenticated || f.errCode != PubSubErrorAuth {
			t.Fatalf("%s: %+v", name, f)
		}
	}
	// a stream is refused the same way
	stream, err := p.client.Subscribe(p.ctxWith("bogus", p.ts.URL, p.s.OrgID()))
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.Send(earliest(accountTopic, 1))
	_, err = stream.Recv()
	if f := failureOf(t, err, stream.Trailer()); f.errCode != PubSubErrorAuth {
		t.Fatalf("%+v", f)
	}
	// injected: the next two RPCs fail whatever the token
	p.s.SetFaults(Faults{PubSubAuthErrors: 2})
	for i := 0; i < 2; i++ {
		_, err := p.client.GetTopic(p.ctx(), topic, grpc.Trailer(&trailer))
		if f := failureOf(t, err, trailer); f.errCode != PubSubErrorAuth {
			t.Fatalf("%+v", f)
		}
	}
	info, err := p.client.GetTopic(p.ctx(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if info.TenantGuid != p.s.OrgID() || info.CanPublish || !info.CanSubscribe || info.SchemaId == "" || info.RpcId == "" {
		t.Fatalf("%v", info)
	}
	// the REST session's expiry applies: idle past SessionTTL, then refused
	p.clk.Advance(3 * time.Hour)
	_, err = p.client.GetTopic(p.ctx(), topic, grpc.Trailer(&trailer))
	if f := failureOf(t, err, trailer); f.errCode != PubSubErrorAuth {
		t.Fatalf("expired session: %+v", f)
	}
	if p.s.APIUsage() != usage {
		t.Fatalf("Pub/Sub RPCs counted against the REST API limit: %d → %d", usage, p.s.APIUsage())
	}
}

func TestSubscribeErrors(t *testing.T) {
	p := newPubSubEnv(t, Options{Records: 1})
	p.createAccount(t, `{"Name":"E1"}`)
	old := p.subscribe(t, earliest(accountTopic, 1)).events(1)[0]
	p.clk.Advance(time.Hour)
	p.createAccount(t, `{"Name":"E2"}`)

	custom := func(id []byte) *eventbusv1.FetchRequest {
		return &eventbusv1.FetchRequest{TopicName: accountTopic, ReplayPreset: eventbusv1.ReplayPreset_CUSTOM, ReplayId: id, NumRequested: 5}
	}
	check := func(name string, s *subscription, code codes.Code, errCode string) {
		t.Helper()
		if f := s.failure(); f.code != code || f.errCode != errCode {
			t.Fatalf("%s: %+v", name, f)
		}
	}
	check("unknown replay id", p.subscribe(t, custom([]byte{0, 0, 0, 0, 0, 0, 0, 42})), codes.InvalidArgument, PubSubErrorReplayIDCorrupted)
	check("malformed replay id", p.subscribe(t, custom([]byte("xyz"))), codes.InvalidArgument, PubSubErrorReplayIDCorrupted)
	check("CUSTOM without id", p.subscribe(t, custom(nil)), codes.InvalidArgument, PubSubErrorReplayIDValidation)
	check("zero requested", p.subscribe(t, earliest(accountTopic, 0)), codes.InvalidArgument, PubSubErrorRequestedEvents)
	check("too many requested", p.subscribe(t, earliest(accountTopic, 101)), codes.InvalidArgument, PubSubErrorRequestedEvents)
	check("unknown topic", p.subscribe(t, earliest("/data/NoSuchChangeEvent", 1)), codes.NotFound, PubSubErrorTopicNotFound)

	s := p.subscribe(t, earliest(accountTopic, 1))
	s.events(1)
	s.request(500)
	check("later num_requested", s, codes.InvalidArgument, PubSubErrorRequestedEvents)
	s = p.subscribe(t, earliest(accountTopic, 1))
	if err := s.stream.Send(&eventbusv1.FetchRequest{TopicName: "/data/ContactChangeEvent", NumRequested: 1}); err != nil {
		t.Fatal(err)
	}
	check("later topic", s, codes.InvalidArgument, PubSubErrorTopicMismatch)

	// expired events take their replay ids with them
	p.s.ExpireEvents(t0.Add(time.Minute))
	if p.s.ChangeEventCount(accountTopic) != 1 {
		t.Fatal("ExpireEvents kept the old event")
	}
	check("expired replay id", p.subscribe(t, custom(old.replay)), codes.InvalidArgument, PubSubErrorReplayIDCorrupted)
	if got := p.subscribe(t, earliest(accountTopic, 5)).events(1); got[0].body["Name"] != "E2" {
		t.Fatalf("EARLIEST after expiry: %v", got[0].body)
	}
	// and so does the retention window
	p.clk.Advance(defaultRetention + time.Second)
	if n := p.s.ChangeEventCount(AllChangeEventsTopic); n != 0 {
		t.Fatalf("%d events outlived the retention window", n)
	}
}

func TestSubscribeDropAfter(t *testing.T) {
	p := newPubSubEnv(t, Options{Records: 1, Faults: Faults{PubSubDropAfter: 2}})
	for _, n := range []string{"D1", "D2", "D3"} {
		p.createAccount(t, `{"Name":"`+n+`"}`)
	}
	s := p.subscribe(t, earliest(accountTopic, 10))
	got := s.events(2)
	if f := s.failure(); f.code != codes.Unavailable || f.errCode != PubSubErrorUnavailable {
		t.Fatalf("%+v", f)
	}
	p.s.SetFaults(Faults{})
	rest := p.subscribe(t, &eventbusv1.FetchRequest{TopicName: accountTopic, ReplayPreset: eventbusv1.ReplayPreset_CUSTOM,
		ReplayId: got[1].replay, NumRequested: 10}).events(1)
	if rest[0].body["Name"] != "D3" {
		t.Fatalf("resumed at %v", rest[0].body)
	}
}

func TestInjectedGapEvents(t *testing.T) {
	p := newPubSubEnv(t, Options{Records: 3})
	ids := []string{mintID("001", 1), mintID("001", 2)[:15]}
	p.s.InjectGap("Account", ids, "update")
	p.s.InjectOverflow("account")
	evs := p.subscribe(t, earliest(accountTopic, 5)).events(2)
	gap, overflow := evs[0], evs[1]
	if gap.header["changeType"] != "GAP_UPDATE" || len(gap.body) != 0 || gap.header["sequenceNumber"] != int32(1) {
		t.Fatalf("gap %v %v", gap.header, gap.body)
	}
	want(t, "gap ids", gap.header["recordIds"], []string{mintID("001", 1), mintID("001", 2)})
	if overflow.header["changeType"] != "GAP_OVERFLOW" || len(overflow.header["recordIds"].([]any)) != 0 {
		t.Fatalf("overflow %v", overflow.header)
	}
}

func TestSchemaChangeMidStream(t *testing.T) {
	p := newPubSubEnv(t, Options{Records: 1})
	id := p.createAccount(t, `{"Name":"S"}`)
	s := p.subscribe(t, earliest(accountTopic, 10))
	before := s.events(1)[0]

	if err := p.s.AddField("Account", Field{Name: "Tier__c", Type: "picklist", PicklistValues: []string{"Gold", "Silver"}}); err != nil {
		t.Fatal(err)
	}
	if err := p.s.AddField("Account", Field{Name: "Tier__c"}); err == nil {
		t.Fatal("a field was added twice")
	}
	if err := p.s.AddField("Account", Field{Name: "Tier"}); err == nil {
		t.Fatal("a custom field without __c was added")
	}
	if r := p.do("PATCH", v+"/sobjects/Account/"+id, `{"Tier__c":"Gold"}`); r.status != 204 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	after := s.events(1)[0]
	if after.schemaID == before.schemaID {
		t.Fatal("the schema id did not change")
	}
	want(t, "changed", after.changed, []string{"Tier__c"})
	if after.body["Tier__c"] != "Gold" {
		t.Fatalf("%v", after.body)
	}
	info, err := p.client.GetTopic(p.ctx(), &eventbusv1.TopicRequest{TopicName: accountTopic})
	if err != nil || info.SchemaId != after.schemaID {
		t.Fatalf("GetTopic after the change: %v %v", info, err)
	}
	if _, js := p.codec(t, before.schemaID); strings.Contains(js, "Tier__c") {
		t.Fatal("the old schema changed")
	}
	q := p.query(v+"/query", "SELECT Tier__c FROM Account WHERE Id = '"+id+"'")
	if q.status != 200 || !strings.Contains(string(q.body), `"Tier__c":"Gold"`) {
		t.Fatalf("query of the new field: %d %s", q.status, q.body)
	}
}

func TestTopicsSchemasAndPublish(t *testing.T) {
	p := newPubSubEnv(t, Options{Records: 1, CDCEntities: []string{"Account", "ContactChangeEvent"}})
	var trailer metadata.MD
	_, err := p.client.GetTopic(p.ctx(), &eventbusv1.TopicRequest{TopicName: "/data/LeadChangeEvent"}, grpc.Trailer(&trailer))
	if f := failureOf(t, err, trailer); f.code != codes.NotFound || f.errCode != PubSubErrorTopicNotFound {
		t.Fatalf("%+v", f)
	}
	all, err := p.client.GetTopic(p.ctx(), &eventbusv1.TopicRequest{TopicName: AllChangeEventsTopic})
	if err != nil || all.SchemaId != "" || !all.CanSubscribe {
		t.Fatalf("%v %v", all, err)
	}
	want(t, "topics", p.s.ChangeEventTopics(), []string{"/data/AccountChangeEvent", "/data/ContactChangeEvent"})
	p.do("POST", v+"/sobjects/Lead", `{"LastName":"L","Company":"C"}`)
	if p.s.ChangeEventCount(AllChangeEventsTopic) != 0 {
		t.Fatal("an unselected entity published")
	}

	info, err := p.client.GetTopic(p.ctx(), &eventbusv1.TopicRequest{TopicName: "/data/ContactChangeEvent"})
	if err != nil {
		t.Fatal(err)
	}
	_, js := p.codec(t, info.SchemaId)
	var sch struct {
		Name, Namespace string
		Fields          []struct {
			Name    string
			Type    any
			Doc     string
			Default any
		}
	}
	if err := json.Unmarshal([]byte(js), &sch); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range sch.Fields {
		names = append(names, f.Name)
		if f.Name == "CreatedDate" {
			want(t, "CreatedDate", f, map[string]any{"Name": "CreatedDate", "Type": []string{"null", "long"}, "Doc": "CreatedDate:DateTime", "Default": nil})
		}
	}
	if sch.Name != "ContactChangeEvent" || sch.Namespace != "com.sforce.eventbus" || names[0] != "ChangeEventHeader" ||
		!slices.Contains(names, "MailingAddress") || !slices.Contains(names, "Name") || slices.Contains(names, "FirstName") ||
		slices.Contains(names, "SystemModstamp") || slices.Contains(names, "IsDeleted") || slices.Contains(names, "Id") ||
		!strings.Contains(js, `"type":"enum","name":"ChangeType"`) || !strings.Contains(js, `"name":"Birthdate","type":["null","int"]`) {
		t.Fatalf("schema %s", js)
	}
	// ids are fingerprints: another emulator (a restart) serves the same
	other, err := New(Options{Records: 1, CDCEntities: []string{"Contact"}})
	if err != nil {
		t.Fatal(err)
	}
	if other.cdc.byTopic["/data/ContactChangeEvent"].schema.id != info.SchemaId || len(info.SchemaId) != 22 {
		t.Fatalf("schema id %q not stable", info.SchemaId)
	}
	_, err = p.client.GetSchema(p.ctx(), &eventbusv1.SchemaRequest{SchemaId: "nope"}, grpc.Trailer(&trailer))
	if f := failureOf(t, err, trailer); f.code != codes.NotFound || f.errCode != PubSubErrorSchemaNotFound {
		t.Fatalf("%+v", f)
	}

	_, err = p.client.Publish(p.ctx(), &eventbusv1.PublishRequest{TopicName: accountTopic, Events: []*eventbusv1.ProducerEvent{{Id: "x"}}}, grpc.Trailer(&trailer))
	if f := failureOf(t, err, trailer); f.code != codes.PermissionDenied || f.errCode != PubSubErrorPublishNotAllowed {
		t.Fatalf("%+v", f)
	}
	ps, err := p.client.PublishStream(p.ctx())
	if err != nil {
		t.Fatal(err)
	}
	_ = ps.Send(&eventbusv1.PublishRequest{TopicName: accountTopic})
	_, err = ps.Recv()
	if f := failureOf(t, err, ps.Trailer()); f.errCode != PubSubErrorPublishNotAllowed {
		t.Fatalf("%+v", f)
	}

	if _, err := New(Options{Records: 1, CDCEntities: []string{"Nope"}}); err == nil {
		t.Fatal("an unknown CDC entity was accepted")
	}
}

func TestRetainedEventsCap(t *testing.T) {
	p := newPubSubEnv(t, Options{Records: 1, MaxRetainedEvents: 3})
	for i := 0; i < 5; i++ {
		p.createAccount(t, `{"Name":"R`+string(rune('0'+i))+`"}`)
	}
	if n := p.s.ChangeEventCount(accountTopic); n != 3 {
		t.Fatalf("retained %d", n)
	}
	if got := p.subscribe(t, earliest(accountTopic, 5)).events(3); got[0].body["Name"] != "R2" {
		t.Fatalf("oldest retained %v", got[0].body)
	}
}

func TestStopPubSub(t *testing.T) {
	p := newPubSubEnv(t, Options{Records: 1})
	s := p.subscribe(t, earliest(accountTopic, 1))
	p.createAccount(t, `{"Name":"before stop"}`)
	s.events(1)
	p.s.StopPubSub()
	if err := s.ended(); err == nil || err == io.EOF {
		t.Fatalf("stream after StopPubSub: %v", err)
	}
}

func TestBitmapHex(t *testing.T) {
	var b bitmap
	for _, pos := range []int{5, 6, 7, 10, 24, 26, 29, 30} {
		setBit(&b.top, pos)
	}
	b.setNested(4, 4)
	b.setNested(7, 1)
	b.setNested(7, 2)
	want(t, "bitmap", b.render(), []string{"0x650004E0", "4-0x10", "7-0x06"})
	var empty bitmap
	want(t, "empty", empty.render(), []string{})
}
