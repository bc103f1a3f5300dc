package sfemu

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sluice-dev/sluice/plugins/salesforce/eventbusv1"
)

// waitFor bounds every wait on the stream; it is a deadlock guard, not a
// timing assertion.
const waitFor = 20 * time.Second

// psEnv is an emulator with its Pub/Sub API on a loopback gRPC connection,
// and a client built from the eventbusv1 stubs that decodes payloads with
// goavro, a different Avro library than the emulator's.
type psEnv struct {
	*env
	client  eventbusv1.PubSubClient
	schemas map[string]string
	codecs  map[string]*goavro.Codec
}

func newPubSubEnv(t *testing.T, opts Options) *psEnv {
	t.Helper()
	e := newEnv(t, opts)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- e.s.ServePubSub(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		_ = lis.Close()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("ServePubSub: %v", err)
			}
		case <-time.After(waitFor):
			t.Error("ServePubSub did not return after its listener closed")
		}
	})
	return &psEnv{env: e, client: eventbusv1.NewPubSubClient(conn), schemas: map[string]string{}, codecs: map[string]*goavro.Codec{}}
}

// ctx carries the auth metadata of the env's session.
func (p *psEnv) ctx() context.Context {
	return p.ctxWith(p.tok, p.ts.URL, p.s.OrgID())
}

func (p *psEnv) ctxWith(token, instance, tenant string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "accesstoken", token, "instanceurl", instance, "tenantid", tenant)
}

// codec fetches (once) and compiles the schema of an event.
func (p *psEnv) codec(t *testing.T, id string) (*goavro.Codec, string) {
	t.Helper()
	if c := p.codecs[id]; c != nil {
		return c, p.schemas[id]
	}
	info, err := p.client.GetSchema(p.ctx(), &eventbusv1.SchemaRequest{SchemaId: id})
	if err != nil {
		t.Fatalf("GetSchema %s: %v", id, err)
	}
	if info.SchemaId != id || info.RpcId == "" {
		t.Fatalf("schema info %v", info)
	}
	c, err := goavro.NewCodec(info.SchemaJson)
	if err != nil {
		t.Fatalf("goavro rejects schema %s: %v", info.SchemaJson, err)
	}
	p.codecs[id], p.schemas[id] = c, info.SchemaJson
	return c, info.SchemaJson
}

// changeEvent is a decoded event.
type changeEvent struct {
	replay   []byte
	schemaID string
	header   map[string]any
	body     map[string]any // union wrappers removed; null fields absent
	changed  []string       // decoded changedFields
	nulled   []string       // decoded nulledFields
}

func (p *psEnv) decode(t *testing.T, ce *eventbusv1.ConsumerEvent) changeEvent {
	t.Helper()
	c, schemaJSON := p.codec(t, ce.Event.SchemaId)
	native, rest, err := c.NativeFromBinary(ce.Event.Payload)
	if err != nil || len(rest) != 0 {
		t.Fatalf("goavro decode: %v (%d bytes left)", err, len(rest))
	}
	m := native.(map[string]any)
	ev := changeEvent{replay: ce.ReplayId, schemaID: ce.Event.SchemaId, header: m["ChangeEventHeader"].(map[string]any), body: map[string]any{}}
	for k, v := range m {
		if k != "ChangeEventHeader" && v != nil {
			ev.body[k] = unwrapUnion(v)
		}
	}
	ev.changed = bitmapFields(t, schemaJSON, ev.header["changedFields"])
	ev.nulled = bitmapFields(t, schemaJSON, ev.header["nulledFields"])
	return ev
}

// unwrapUnion turns goavro's {"type": value} union values into plain ones.
func unwrapUnion(v any) any {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return v
	}
	for k, x := range m {
		switch {
		case k == "string" || k == "int" || k == "long" || k == "double" || k == "boolean":
			return x
		case strings.HasPrefix(k, "com.sforce.eventbus."):
			nested := map[string]any{}
			for nk, nv := range x.(map[string]any) {
				if nv != nil {
					nested[nk] = unwrapUnion(nv)
				}
			}
			return nested
		}
	}
	return v
}

// bitmapFields decodes a changedFields / nulledFields value independently
// of the emulator: element 0 is a hex integer whose bit i marks the i-th
// field of the schema, "<pos>-0x…" the same over the nested record at pos.
func bitmapFields(t *testing.T, schemaJSON string, raw any) []string {
	t.Helper()
	type field struct {
		Name string          `json:"name"`
		Type json.RawMessage `json:"type"`
	}
	var top struct{ Fields []field }
	if err := json.Unmarshal([]byte(schemaJSON), &top); err != nil {
		t.Fatal(err)
	}
	records := map[string][]field{}
	nestedFields := func(ft json.RawMessage) []field {
		var union []json.RawMessage
		if json.Unmarshal(ft, &union) != nil || len(union) != 2 {
			return nil
		}
		var rec struct {
			Name   string
			Fields []field
		}
		if json.Unmarshal(union[1], &rec) == nil && rec.Fields != nil {
			records[rec.Name] = rec.Fields
			return rec.Fields
		}
		var ref string
		if json.Unmarshal(union[1], &ref) == nil {
			return records[strings.TrimPrefix(ref, "com.sforce.eventbus.")]
		}
		return nil
	}
	nested := map[int][]field{}
	for i, f := range top.Fields {
		if fs := nestedFields(f.Type); fs != nil {
			nested[i] = fs
		}
	}
	bits := func(hex string) []int {
		n, ok := new(big.Int).SetString(strings.TrimPrefix(hex, "0x"), 16)
		if !ok {
			t.Fatalf("bitmap %q is not hex", hex)
		}
		var out []int
		for i := 0; i < n.BitLen(); i++ {
			if n.Bit(i) == 1 {
				out = append(out, i)
			}
		}
		return out
	}
	var names []string
	for i, el := range raw.([]any) {
		s := el.(string)
		if i == 0 {
			for _, b := range bits(s) {
				names = append(names, top.Fields[b].Name)
			}
			continue
		}
		posStr, hex, _ := strings.Cut(s, "-")
		pos, err := strconv.Atoi(posStr)
		if err != nil || nested[pos] == nil {
			t.Fatalf("bitmap element %q", s)
		}
		for _, b := range bits(hex) {
			names = append(names, top.Fields[pos].Name+"."+nested[pos][b].Name)
		}
	}
	sort.Strings(names)
	return names
}

// subscription is a Subscribe stream whose responses are read in the
// background.
type subscription struct {
	t      *testing.T
	p      *psEnv
	stream eventbusv1.PubSub_SubscribeClient
	resps  chan *eventbusv1.FetchResponse
	err    error // set before resps is closed
	cancel context.CancelFunc
}

func (p *psEnv) subscribe(t *testing.T, first *eventbusv1.FetchRequest) *subscription {
	t.Helper()
	ctx, cancel := context.WithCancel(p.ctx())
	t.Cleanup(cancel)
	stream, err := p.client.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(first); err != nil {
		t.Fatal(err)
	}
	s := &subscription{t: t, p: p, stream: stream, resps: make(chan *eventbusv1.FetchResponse, 1000), cancel: cancel}
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				s.err = err
				close(s.resps)
				return
			}
			s.resps <- r
		}
	}()
	return s
}

// next returns the next response (nil once the stream ended).
func (s *subscription) next() *eventbusv1.FetchResponse {
	s.t.Helper()
	select {
	case r := <-s.resps:
		return r
	case <-time.After(waitFor):
		s.t.Fatal("no FetchResponse")
		return nil
	}
}

// keepAlive waits for the next response and requires it to be empty.
func (s *subscription) keepAlive() *eventbusv1.FetchResponse {
	s.t.Helper()
	r := s.next()
	if r == nil {
		s.t.Fatalf("stream ended: %v", s.err)
	}
	if len(r.Events) != 0 {
		s.t.Fatalf("expected a keep-alive, got %d events", len(r.Events))
	}
	return r
}

// events gathers n events, skipping keep-alives.
func (s *subscription) events(n int) []changeEvent {
	s.t.Helper()
	var out []changeEvent
	for len(out) < n {
		r := s.next()
		if r == nil {
			s.t.Fatalf("stream ended after %d of %d events: %v", len(out), n, s.err)
		}
		if r.RpcId == "" || len(r.LatestReplayId) != 8 {
			s.t.Fatalf("response without rpc_id or latest_replay_id: %v", r)
		}
		for _, ce := range r.Events {
			out = append(out, s.p.decode(s.t, ce))
		}
	}
	if len(out) > n {
		s.t.Fatalf("got %d events, asked for %d", len(out), n)
	}
	return out
}

// ended waits for the stream's error.
func (s *subscription) ended() error {
	s.t.Helper()
	for {
		select {
		case r, ok := <-s.resps:
			if !ok {
				return s.err
			}
			_ = r
		case <-time.After(waitFor):
			s.t.Fatal("the stream did not end")
			return nil
		}
	}
}

func (s *subscription) request(n int32) {
	s.t.Helper()
	if err := s.stream.Send(&eventbusv1.FetchRequest{NumRequested: n}); err != nil {
		s.t.Fatal(err)
	}
}

// rpcFailure is a failed RPC as a client sees it.
type rpcFailure struct {
	code                codes.Code
	msg, errCode, rpcID string
}

func failureOf(t *testing.T, err error, trailer metadata.MD) rpcFailure {
	t.Helper()
	st, ok := status.FromError(err)
	if err == nil || !ok {
		t.Fatalf("expected a gRPC error, got %v", err)
	}
	f := rpcFailure{code: st.Code(), msg: st.Message()}
	if v := trailer.Get("error-code"); len(v) == 1 {
		f.errCode = v[0]
	}
	if v := trailer.Get("rpc-id"); len(v) == 1 {
		f.rpcID = v[0]
	}
	if f.rpcID == "" || !strings.HasSuffix(f.msg, "rpcId: "+f.rpcID) {
		t.Fatalf("message %q does not end with the rpc-id trailer %q", f.msg, f.rpcID)
	}
	return f
}

// streamFailure is the failure that ended a subscription.
func (s *subscription) failure() rpcFailure {
	s.t.Helper()
	err := s.ended()
	if errors.Is(err, context.Canceled) {
		s.t.Fatal("the stream was cancelled, not failed")
	}
	return failureOf(s.t, err, s.stream.Trailer())
}
