package sfemu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sluice-dev/sluice/plugins/salesforce/eventbusv1"
)

// Values of the error-code trailer of failed Pub/Sub RPCs. The first four
// are Salesforce's; Salesforce documents no code for the other cases, so
// those are the emulator's own.
const (
	PubSubErrorAuth               = "sfdc.platform.eventbus.grpc.service.auth.error"
	PubSubErrorReplayIDCorrupted  = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
	PubSubErrorReplayIDValidation = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed"
	PubSubErrorRequestedEvents    = "sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid"
	PubSubErrorTopicNotFound      = "sfdc.platform.eventbus.grpc.topic.notfound"
	PubSubErrorTopicMismatch      = "sfdc.platform.eventbus.grpc.subscription.fetch.topic.mismatch"
	PubSubErrorSchemaNotFound     = "sfdc.platform.eventbus.grpc.schema.notfound"
	PubSubErrorPublishNotAllowed  = "sfdc.platform.eventbus.grpc.publish.not.allowed"
	PubSubErrorUnavailable        = "sfdc.platform.eventbus.grpc.service.unavailable"
)

// maxNumRequested is the most events one FetchRequest may ask for.
const maxNumRequested = 100

// ServePubSub serves the Pub/Sub API (eventbus.v1) as plaintext HTTP/2 gRPC
// on lis until lis is closed or StopPubSub is called; both return nil.
// Clients authenticate every RPC with the accesstoken, instanceurl and
// tenantid metadata, as against api.pubsub.salesforce.com.
func (s *Server) ServePubSub(lis net.Listener) error {
	gs := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		// Clients tuned for Salesforce ping often; the emulator must not
		// answer that with GOAWAY.
		MinTime: time.Second, PermitWithoutStream: true,
	}))
	eventbusv1.RegisterPubSubServer(gs, &pubSubService{s: s})
	s.pubSubMu.Lock()
	s.pubSubServers[gs] = struct{}{}
	s.pubSubMu.Unlock()
	err := gs.Serve(lis)
	// A closed listener leaves accepted connections open; end them too.
	gs.Stop()
	s.pubSubMu.Lock()
	delete(s.pubSubServers, gs)
	s.pubSubMu.Unlock()
	if err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return fmt.Errorf("sfemu: pub/sub: %w", err)
}

// StopPubSub stops every running ServePubSub, ending its streams.
func (s *Server) StopPubSub() {
	s.pubSubMu.Lock()
	servers := make([]*grpc.Server, 0, len(s.pubSubServers))
	for gs := range s.pubSubServers {
		servers = append(servers, gs)
	}
	s.pubSubMu.Unlock()
	for _, gs := range servers {
		gs.Stop()
	}
}

type pubSubService struct {
	eventbusv1.UnimplementedPubSubServer
	s *Server
}

var rpcSeq atomic.Uint64

// newRPCID identifies one RPC, as Salesforce's rpc-id trailer does.
func newRPCID() string {
	return uuidOf(uint64(time.Now().UnixNano()), rpcSeq.Add(1))
}

// rpcError fails an RPC the way Salesforce does: the gRPC status, the
// error-code and rpc-id trailers, and the message ending in "rpcId: <id>".
func rpcError(ctx context.Context, rpcID string, code codes.Code, errorCode, msg string) error {
	_ = grpc.SetTrailer(ctx, metadata.Pairs("error-code", errorCode, "rpc-id", rpcID))
	return status.Errorf(code, "%s rpcId: %s", msg, rpcID)
}

func (s *Server) takePubSubAuthFault() bool {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if s.faults.PubSubAuthErrors > 0 {
		s.faults.PubSubAuthErrors--
		return true
	}
	return false
}

// authorize checks an RPC's metadata. Pub/Sub calls keep a session alive
// like REST calls but count against no REST limit.
func (p *pubSubService) authorize(ctx context.Context, rpcID string) error {
	s := p.s
	md, _ := metadata.FromIncomingContext(ctx)
	get := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	tok, instance, tenant := get("accesstoken"), get("instanceurl"), get("tenantid")
	why := ""
	switch {
	case s.takePubSubAuthFault():
		why = "the session was refused (injected by the emulator)"
	case tok == "":
		why = "no accesstoken header"
	case s.sessionFor(tok) == nil:
		why = "the access token is invalid or expired"
	case instance == "":
		why = "no instanceurl header"
	case s.BaseURL != "" && !strings.EqualFold(strings.TrimSuffix(instance, "/"), s.BaseURL):
		why = fmt.Sprintf("instanceurl %s is not this org's instance %s", instance, s.BaseURL)
	case normID(tenant) != s.orgID:
		why = fmt.Sprintf("tenantid %q is not this org's id", tenant)
	default:
		return nil
	}
	return rpcError(ctx, rpcID, codes.Unauthenticated, PubSubErrorAuth, "Authentication exception: "+why+".")
}

func (p *pubSubService) topicNotFound(ctx context.Context, rpcID, topic string) error {
	return rpcError(ctx, rpcID, codes.NotFound, PubSubErrorTopicNotFound,
		fmt.Sprintf("Topic %q does not exist or is not enabled for Change Data Capture.", topic))
}

func (p *pubSubService) GetTopic(ctx context.Context, req *eventbusv1.TopicRequest) (*eventbusv1.TopicInfo, error) {
	rpcID := newRPCID()
	if err := p.authorize(ctx, rpcID); err != nil {
		return nil, err
	}
	e, ok := p.s.cdc.topic(req.GetTopicName())
	if !ok {
		return nil, p.topicNotFound(ctx, rpcID, req.GetTopicName())
	}
	info := &eventbusv1.TopicInfo{TopicName: req.GetTopicName(), TenantGuid: p.s.orgID, CanSubscribe: true, RpcId: rpcID}
	// The all-entities channel mixes schemas: each event names its own.
	if e != nil {
		info.SchemaId = p.s.cdc.currentSchema(e).id
	}
	return info, nil
}

func (p *pubSubService) GetSchema(ctx context.Context, req *eventbusv1.SchemaRequest) (*eventbusv1.SchemaInfo, error) {
	rpcID := newRPCID()
	if err := p.authorize(ctx, rpcID); err != nil {
		return nil, err
	}
	sch := p.s.cdc.schemaByID(req.GetSchemaId())
	if sch == nil {
		return nil, rpcError(ctx, rpcID, codes.NotFound, PubSubErrorSchemaNotFound,
			fmt.Sprintf("Schema %q was not found.", req.GetSchemaId()))
	}
	return &eventbusv1.SchemaInfo{SchemaJson: sch.json, SchemaId: sch.id, RpcId: rpcID}, nil
}

func (p *pubSubService) publishRefused(ctx context.Context, rpcID, topic string) error {
	if _, ok := p.s.cdc.topic(topic); !ok {
		return p.topicNotFound(ctx, rpcID, topic)
	}
	return rpcError(ctx, rpcID, codes.PermissionDenied, PubSubErrorPublishNotAllowed,
		fmt.Sprintf("Publishing to %s is not allowed: Change Data Capture channels are published by Salesforce only.", topic))
}

func (p *pubSubService) Publish(ctx context.Context, req *eventbusv1.PublishRequest) (*eventbusv1.PublishResponse, error) {
	rpcID := newRPCID()
	if err := p.authorize(ctx, rpcID); err != nil {
		return nil, err
	}
	return nil, p.publishRefused(ctx, rpcID, req.GetTopicName())
}

func (p *pubSubService) PublishStream(stream eventbusv1.PubSub_PublishStreamServer) error {
	ctx := stream.Context()
	rpcID := newRPCID()
	if err := p.authorize(ctx, rpcID); err != nil {
		return err
	}
	req, err := stream.Recv()
	if err != nil {
		return nil // the client went away before asking anything
	}
	return p.publishRefused(ctx, rpcID, req.GetTopicName())
}

// fetchMsg is one FetchRequest (or the end of the request stream) handed
// from the receiving goroutine to the sending one.
type fetchMsg struct {
	req *eventbusv1.FetchRequest
	err error
}

func (p *pubSubService) checkNumRequested(ctx context.Context, rpcID string, n int32) error {
	if n < 1 || n > maxNumRequested {
		return rpcError(ctx, rpcID, codes.InvalidArgument, PubSubErrorRequestedEvents,
			fmt.Sprintf("The number of requested events must be between 1 and %d; it is %d.", maxNumRequested, n))
	}
	return nil
}

// start places a new subscription according to its first FetchRequest.
func (p *pubSubService) start(ctx context.Context, rpcID string, req *eventbusv1.FetchRequest) (changeCursor, error) {
	l := p.s.cdc
	switch req.GetReplayPreset() {
	case eventbusv1.ReplayPreset_LATEST:
		return l.cursorLatest(), nil
	case eventbusv1.ReplayPreset_EARLIEST:
		return l.cursorEarliest(), nil
	case eventbusv1.ReplayPreset_CUSTOM:
		id := req.GetReplayId()
		if len(id) == 0 {
			return changeCursor{}, rpcError(ctx, rpcID, codes.InvalidArgument, PubSubErrorReplayIDValidation,
				"The replay_preset field in FetchRequest is set to ReplayPreset.CUSTOM, but no Replay ID value is set.")
		}
		if len(id) == 8 {
			if c, err := l.cursorAfter(binary.BigEndian.Uint64(id)); err == nil {
				return c, nil
			}
		}
		return changeCursor{}, rpcError(ctx, rpcID, codes.InvalidArgument, PubSubErrorReplayIDCorrupted,
			"The Replay ID validation failed. Ensure that the Replay ID is valid and is within the retention window.")
	}
	return changeCursor{}, rpcError(ctx, rpcID, codes.InvalidArgument, PubSubErrorReplayIDValidation,
		fmt.Sprintf("Unknown replay_preset %d.", req.GetReplayPreset()))
}

// Subscribe streams the change events of one topic. It is pull-based: the
// client's num_requested credits accumulate, each sent event spends one,
// and an idle stream gets an empty FetchResponse with latest_replay_id
// every Options.KeepAlive.
func (p *pubSubService) Subscribe(stream eventbusv1.PubSub_SubscribeServer) error {
	ctx := stream.Context()
	rpcID := newRPCID()
	if err := p.authorize(ctx, rpcID); err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return nil // the client went away before asking anything
	}
	topic := first.GetTopicName()
	entity, ok := p.s.cdc.topic(topic)
	if !ok {
		return p.topicNotFound(ctx, rpcID, topic)
	}
	if err := p.checkNumRequested(ctx, rpcID, first.GetNumRequested()); err != nil {
		return err
	}
	cur, err := p.start(ctx, rpcID, first)
	if err != nil {
		return err
	}
	pending := int(first.GetNumRequested())

	done := make(chan struct{})
	defer close(done)
	requests := make(chan fetchMsg)
	go func() {
		for {
			req, err := stream.Recv()
			select {
			case requests <- fetchMsg{req, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()

	keepAlive := time.NewTimer(p.s.opts.KeepAlive)
	defer keepAlive.Stop()
	sent := 0
	for {
		dropAfter := p.s.Faults().PubSubDropAfter
		if dropAfter > 0 && sent >= dropAfter {
			return rpcError(ctx, rpcID, codes.Unavailable, PubSubErrorUnavailable,
				"The service is temporarily unavailable (stream dropped by the emulator).")
		}
		limit := min(pending, maxNumRequested)
		if dropAfter > 0 {
			limit = min(limit, dropAfter-sent)
		}
		events, wake := p.s.cdc.collect(&cur, entity, limit)
		if len(events) > 0 {
			pending -= len(events)
			sent += len(events)
			if err := stream.Send(p.fetchResponse(events, cur.position, pending, rpcID)); err != nil {
				return err
			}
			keepAlive.Reset(p.s.opts.KeepAlive)
			continue
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-wake:
		case <-keepAlive.C:
			if err := stream.Send(p.fetchResponse(nil, cur.position, pending, rpcID)); err != nil {
				return err
			}
			keepAlive.Reset(p.s.opts.KeepAlive)
		case m := <-requests:
			if m.err != nil {
				if errors.Is(m.err, io.EOF) {
					// The client sends no more credits but may still
					// spend the ones it has.
					requests = nil
					continue
				}
				return nil
			}
			if t := m.req.GetTopicName(); t != "" && t != topic {
				return rpcError(ctx, rpcID, codes.InvalidArgument, PubSubErrorTopicMismatch,
					fmt.Sprintf("A FetchRequest names topic %s but the subscription is to %s.", t, topic))
			}
			if err := p.checkNumRequested(ctx, rpcID, m.req.GetNumRequested()); err != nil {
				return err
			}
			pending += int(m.req.GetNumRequested())
		}
	}
}

func (p *pubSubService) fetchResponse(events []storedEvent, position uint64, pending int, rpcID string) *eventbusv1.FetchResponse {
	resp := &eventbusv1.FetchResponse{LatestReplayId: replayBytes(position), RpcId: rpcID,
		PendingNumRequested: int32(pending)}
	for _, ev := range events {
		resp.Events = append(resp.Events, &eventbusv1.ConsumerEvent{
			Event:    &eventbusv1.ProducerEvent{Id: uuidOf(p.s.cdc.nonce, ev.replay), SchemaId: ev.schema.id, Payload: ev.payload},
			ReplayId: replayBytes(ev.replay),
		})
	}
	return resp
}
