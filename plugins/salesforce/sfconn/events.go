package sfconn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sluice-dev/sluice/plugins/salesforce/eventbusv1"
	"github.com/sluice-dev/sluice/sdk"
)

const (
	// maxCredits is the most events requested and not yet received; the
	// Pub/Sub API takes at most 100 per FetchRequest.
	maxCredits = 100
	// refetchChunk is how many Ids one refetch query names, which keeps
	// its URL far below Salesforce's 16 KB.
	refetchChunk = 200
	// defaultStreamIdle ends a stream that has said nothing for longer
	// than the Pub/Sub API's keep-alive interval (270 s): the connection
	// is dead even if TCP has not noticed.
	defaultStreamIdle = 330 * time.Second
	// retention is how far back an EARLIEST subscription reaches.
	retention = 72 * time.Hour
	// resyncMargin widens a resync backwards: SystemModstamp is stamped
	// when a transaction writes, commitTimestamp when it commits, so a
	// record of a later transaction can carry an earlier SystemModstamp
	// than the last event seen; clocks differ too. Re-reading a little
	// more only repeats records, which sinks upsert.
	resyncMargin = 10 * time.Minute
)

// eventAttributes are the connector's arguments of a flow's event trigger.
var eventAttributes = []sdk.Attribute{
	{Name: "event", Type: sdk.TypeString,
		Description: "The Pub/Sub channel: ContactChangeEvent, /data/ChangeEvents, /data/Sales__chn, ...; default /data/<Object>ChangeEvent (/data/<Name>__ChangeEvent for custom objects)."},
	{Name: "start", Type: sdk.TypeString, Default: "latest",
		Description: "Where a subscription without a stored position begins: latest (changes from now on) or earliest (the retained 72 hours)."},
	{Name: "replay_fallback", Type: sdk.TypeString, Default: "earliest",
		Description: "When Salesforce refuses the stored replay id (expired or corrupted) or reports a gap it cannot detail (GAP_OVERFLOW): earliest or latest (resubscribe there and re-read the records changed since the last event, so nothing is missed), or fail."},
}

type eventOptions struct {
	object, event, start, fallback string
}

func parseEventOptions(v sdk.Values, entity string) (*eventOptions, error) {
	o := &eventOptions{
		object:   v.String("object", entity),
		event:    strings.TrimSpace(v.String("event", "")),
		start:    strings.ToLower(v.String("start", "latest")),
		fallback: strings.ToLower(v.String("replay_fallback", "earliest")),
	}
	if entity != "" {
		o.object = entity
	}
	if o.start != "latest" && o.start != "earliest" {
		return nil, fmt.Errorf("salesforce: start = %q: want latest or earliest", o.start)
	}
	switch o.fallback {
	case "earliest", "latest", "fail":
	default:
		return nil, fmt.Errorf("salesforce: replay_fallback = %q: want earliest, latest or fail", o.fallback)
	}
	return o, nil
}

func presetOf(s string) eventbusv1.ReplayPreset {
	if s == "earliest" {
		return eventbusv1.ReplayPreset_EARLIEST
	}
	return eventbusv1.ReplayPreset_LATEST
}

// topicFor is the channel to subscribe to: event as given (a bare name is
// under /data/), else the object's own change event channel.
func topicFor(object, event string) string {
	switch {
	case strings.HasPrefix(event, "/"):
		return event
	case event != "":
		return "/data/" + event
	case strings.HasSuffix(object, "__c"):
		return "/data/" + strings.TrimSuffix(object, "__c") + "__ChangeEvent"
	default:
		return "/data/" + object + "ChangeEvent"
	}
}

// eventPosition is the position handed to the engine. It is JSON so that
// `sluice state show` can print it; replay_id is base64.
type eventPosition struct {
	Topic    string `json:"topic,omitempty"`
	ReplayID []byte `json:"replay_id,omitempty"`
	// CommitTS (epoch ms) is the commit time of the last event delivered:
	// changes before it are covered. A resync re-reads from it.
	CommitTS int64 `json:"commit_ts"`
}

func decodePosition(b []byte) (eventPosition, error) {
	var p eventPosition
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("salesforce: the stored position %q is not a change-event position (reset the flow's state): %w", b, err)
	}
	return p, nil
}

// resyncReq asks for the records changed since an epoch-ms time.
type resyncReq struct {
	since  int64
	reason string
}

// subscription is one Subscribe call.
type subscription struct {
	c      *Connector
	ps     *pubsub
	out    sdk.EventSender
	log    *slog.Logger
	opts   *eventOptions
	obj    *sfObject
	fields []*sfField
	idIdx  int
	schema *arrow.Schema
	limits sdk.Limits
	topic  string
	tag    string

	codecs map[string]*eventCodec

	pos    eventPosition // the last position handed to the engine
	sent   []byte        // pos, encoded
	preset eventbusv1.ReplayPreset
	// resync is owed before the next stream's events: after a refused
	// replay id, or resuming from a position that has none.
	resync  *resyncReq
	started bool // a stream was opened before
	gen     uint64
	strikes int // consecutive auth errors

	b      *array.RecordBuilder
	rows   int
	nbytes int
}

// Subscribe delivers the object's change events (Change Data Capture over
// the Pub/Sub API) until ctx ends; see doc.go.
func (c *Connector) Subscribe(ctx context.Context, req sdk.SubscribeRequest, out sdk.EventSender) error {
	if err := c.ready(); err != nil {
		return err
	}
	o, err := parseEventOptions(req.Options, req.Entity)
	if err != nil {
		return err
	}
	obj, err := c.describe(ctx, o.object)
	if err != nil {
		return err
	}
	fields, err := obj.selectFields(req.Fields)
	if err != nil {
		return err
	}
	s := &subscription{c: c, out: out, log: c.logger(), opts: o, obj: obj, fields: fields, idIdx: -1,
		limits: req.Limits, topic: topicFor(obj.Name, o.event), tag: c.cl.cfg.clientTag, codecs: map[string]*eventCodec{}}
	for i, f := range fields {
		if strings.EqualFold(f.Name, "Id") {
			s.idIdx = i
		}
	}
	if s.idIdx < 0 {
		return fmt.Errorf("salesforce: change events of %s need the Id field among the fields (deletes carry only it)", obj.Name)
	}
	af := schemaOf(fields).Fields()
	s.schema = arrow.NewSchema(append(af, arrow.Field{Name: sdk.ChangeTypeField, Type: arrow.BinaryTypes.String}), nil)
	if s.limits.MaxRows <= 0 {
		s.limits.MaxRows = sdk.DefaultLimits.MaxRows
	}
	if s.limits.MaxBytes <= 0 {
		s.limits.MaxBytes = sdk.DefaultLimits.MaxBytes
	}
	if err := s.startFrom(req.Position); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Nothing is committed server-side, but the engine's acknowledgements
	// must be taken or the transport stalls.
	go func() {
		acks := out.Acked()
		for {
			select {
			case _, ok := <-acks:
				if !ok {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	if s.ps, err = c.dialPubSub(); err != nil {
		return err
	}
	defer s.ps.close()
	defer s.release()
	return s.run(ctx)
}

// startFrom sets where the first stream starts.
func (s *subscription) startFrom(position []byte) error {
	s.preset = presetOf(s.opts.start)
	if len(position) == 0 {
		// Where the subscription begins to cover changes: a resync later
		// re-reads from here, not from the beginning of time.
		since := time.Now()
		if s.opts.start == "earliest" {
			since = since.Add(-retention)
		}
		s.pos = eventPosition{Topic: s.topic, CommitTS: since.UnixMilli()}
		return nil
	}
	p, err := decodePosition(position)
	if err != nil {
		return err
	}
	s.pos, s.sent = p, position
	if p.Topic != "" && p.Topic != s.topic {
		return s.replayRefused(fmt.Errorf("the stored position is one of %s, but the subscription is to %s", p.Topic, s.topic))
	}
	s.pos.Topic = s.topic
	if len(p.ReplayID) == 0 {
		// Only a resync after a fallback hands out such a position: it
		// did not finish before the run ended.
		if s.opts.fallback != "fail" {
			s.preset = presetOf(s.opts.fallback)
		}
		s.resync = &resyncReq{since: p.CommitTS, reason: "the stored position has no replay id (an earlier resync did not finish)"}
	}
	return nil
}

// replayRefused falls back per replay_fallback when the replay id cannot be
// used, and owes a resync for whatever the fallback skips.
func (s *subscription) replayRefused(cause error) error {
	if s.opts.fallback == "fail" {
		return fmt.Errorf("salesforce: change events of %s cannot resume from the stored position (replay_fallback = fail; reset the flow's state to start again): %w", s.obj.Name, cause)
	}
	s.log.Warn("the stored replay id cannot be used; resubscribing and re-reading the records changed since the last delivered event",
		"topic", s.topic, "replay_fallback", s.opts.fallback, "since", time.UnixMilli(s.pos.CommitTS).UTC().Format(time.RFC3339), "cause", cause.Error())
	s.preset = presetOf(s.opts.fallback)
	s.pos.ReplayID = nil
	s.pos.Topic = s.topic
	s.resync = &resyncReq{since: s.pos.CommitTS, reason: "replay id refused: " + cause.Error()}
	return nil
}

// fatalError is a failure that is not the stream's: no reconnect helps.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

func (s *subscription) run(ctx context.Context) error {
	if err := s.loadTopic(ctx); err != nil {
		return err
	}
	failures := 0
	for {
		progressed, err := s.stream(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if progressed {
			failures = 0
		}
		var fe *fatalError
		if errors.As(err, &fe) {
			return fe.err
		}
		switch classify(err) {
		case errAuth:
			if err := s.reauth(ctx, s.gen, err); err != nil {
				return err
			}
		case errReplay:
			if len(s.pos.ReplayID) == 0 {
				return err
			}
			if err := s.replayRefused(err); err != nil {
				return err
			}
		case errRetry:
			failures++
			if failures >= s.c.cl.cfg.maxAttempts {
				return fmt.Errorf("salesforce: change events of %s: gave up reconnecting after %d attempts: %w", s.obj.Name, failures, err)
			}
			s.log.Warn("the change event stream ended; reconnecting", "topic", s.topic, "attempt", failures, "cause", err.Error())
			if err := s.c.cl.backoff(ctx, failures); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// reauth signs in again after the Pub/Sub API refused the session; twice
// in a row means the session is not the problem.
func (s *subscription) reauth(ctx context.Context, gen uint64, cause error) error {
	if s.strikes > 0 {
		return fmt.Errorf("salesforce: the Pub/Sub API at %s refused a fresh session too; check that the connection's user has API access and may read %s change events (%s): %w",
			s.ps.endpoint, s.obj.Name, s.topic, cause)
	}
	s.strikes++
	s.log.Warn("the Pub/Sub API refused the session; signing in again", "topic", s.topic, "cause", cause.Error())
	return s.c.cl.relogin(ctx, gen)
}

// call runs a unary Pub/Sub call with the session's metadata, signing in
// again once on an auth error and backing off on transient ones.
func (s *subscription) call(ctx context.Context, op string, f func(context.Context, ...grpc.CallOption) error) error {
	for attempt := 1; ; attempt++ {
		rctx, gen, err := s.ps.rpcContext(ctx)
		if err != nil {
			return err
		}
		var trailer metadata.MD
		err = f(rctx, grpc.Trailer(&trailer))
		if err == nil {
			s.strikes = 0
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		pe := newPubsubError(op, err, trailer)
		switch classify(pe) {
		case errAuth:
			if err := s.reauth(ctx, gen, pe); err != nil {
				return err
			}
		case errRetry:
			if attempt >= s.c.cl.cfg.maxAttempts {
				return fmt.Errorf("%w (gave up after %d attempts)", pe, attempt)
			}
			if err := s.c.cl.backoff(ctx, attempt); err != nil {
				return err
			}
		default:
			return pe
		}
	}
}

// loadTopic checks the channel and loads its current schema.
func (s *subscription) loadTopic(ctx context.Context) error {
	var info *eventbusv1.TopicInfo
	err := s.call(ctx, "GetTopic "+s.topic, func(ctx context.Context, o ...grpc.CallOption) (err error) {
		info, err = s.ps.api.GetTopic(ctx, &eventbusv1.TopicRequest{TopicName: s.topic}, o...)
		return err
	})
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("%w (is Change Data Capture enabled for %s in Setup?)", err, s.obj.Name)
	}
	if err != nil {
		return err
	}
	if !info.GetCanSubscribe() {
		return fmt.Errorf("salesforce: the connection's user may not subscribe to %s", s.topic)
	}
	if id := info.GetSchemaId(); id != "" {
		_, err = s.codec(ctx, id)
	}
	return err
}

// codec returns the decoder of schema id, fetching the schema the first
// time the id shows up (a new id mid-stream is a changed schema).
func (s *subscription) codec(ctx context.Context, id string) (*eventCodec, error) {
	if ec := s.codecs[id]; ec != nil {
		return ec, nil
	}
	var info *eventbusv1.SchemaInfo
	err := s.call(ctx, "GetSchema "+id, func(ctx context.Context, o ...grpc.CallOption) (err error) {
		info, err = s.ps.api.GetSchema(ctx, &eventbusv1.SchemaRequest{SchemaId: id}, o...)
		return err
	})
	if err != nil {
		return nil, err
	}
	ec, err := newEventCodec(id, info.GetSchemaJson())
	if err != nil {
		return nil, fmt.Errorf("salesforce: %s: %w", s.topic, err)
	}
	if len(s.codecs) > 0 {
		s.log.Info("the change event schema changed", "topic", s.topic, "schema_id", id)
	}
	s.codecs[id] = ec
	return ec, nil
}

// stream runs one Subscribe stream until it ends. progressed reports
// whether the server answered at all (which resets the reconnect count).
func (s *subscription) stream(ctx context.Context) (progressed bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rctx, gen, err := s.ps.rpcContext(sctx)
	if err != nil {
		return false, &fatalError{err}
	}
	s.gen = gen
	op := "Subscribe " + s.topic
	st, err := s.ps.api.Subscribe(rctx)
	if err != nil {
		return false, newPubsubError(op, err, nil)
	}
	first := &eventbusv1.FetchRequest{TopicName: s.topic, NumRequested: maxCredits}
	resync := s.resync
	if len(s.pos.ReplayID) > 0 {
		first.ReplayPreset, first.ReplayId = eventbusv1.ReplayPreset_CUSTOM, s.pos.ReplayID
	} else {
		first.ReplayPreset = s.preset
		if s.preset == eventbusv1.ReplayPreset_LATEST && s.started && resync == nil {
			// The earlier stream ended before it gave a replay id:
			// what changed since it began is not in this one.
			resync = &resyncReq{since: s.pos.CommitTS, reason: "resubscribed at LATEST before any replay id was known"}
		}
	}
	s.started = true
	// A failed Send means the stream is gone already; Recv says why.
	_ = st.Send(first)
	credits := maxCredits
	// The resync must read after the subscription's starting point is
	// fixed, so that whatever changes later arrives as events. EARLIEST
	// is fixed in the past already; LATEST only once the server answers
	// (events or a keep-alive), until when the re-read waits.
	resyncNow := func() error {
		if resync == nil {
			return nil
		}
		if err := s.resyncSince(ctx, s.pos, resync); err != nil {
			return err
		}
		resync, s.resync = nil, nil
		return nil
	}
	if first.ReplayPreset != eventbusv1.ReplayPreset_LATEST {
		if err := resyncNow(); err != nil {
			return false, &fatalError{err}
		}
	}
	idleFor := s.c.streamIdle
	if idleFor <= 0 {
		idleFor = defaultStreamIdle
	}
	idle := time.AfterFunc(idleFor, cancel)
	defer idle.Stop()
	for {
		resp, err := st.Recv()
		idle.Stop()
		if err != nil {
			if ctx.Err() != nil {
				return progressed, ctx.Err()
			}
			return progressed, newPubsubError(op, err, st.Trailer())
		}
		progressed = true
		s.strikes = 0
		credits = max(credits-len(resp.GetEvents()), 0)
		if err := resyncNow(); err != nil {
			return progressed, &fatalError{err}
		}
		if err := s.handle(ctx, resp); err != nil {
			return progressed, &fatalError{err}
		}
		// Top up in chunks rather than per event: the server delivers
		// no more than requested, so this bounds how far we run ahead.
		if credits <= maxCredits/2 {
			if st.Send(&eventbusv1.FetchRequest{TopicName: s.topic, NumRequested: int32(maxCredits - credits)}) == nil {
				credits = maxCredits
			}
		}
		idle.Reset(idleFor)
	}
}

// Actions on one event.
const (
	actSkip = iota
	actRefetch
	actDelete
	actResync
)

type step struct {
	action int
	change string // _change_type of the rows
	ids    []string
	resync *resyncReq
	pos    eventPosition // after the event
}

var recordIDRE = regexp.MustCompile(`^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$`)

// idKey is the case-sensitive 15-character form: events and queries may
// not agree on the 18-character suffix's presence.
func idKey(id string) string {
	if len(id) > 15 {
		return id[:15]
	}
	return id
}

// handle turns one FetchResponse into rows and positions.
func (s *subscription) handle(ctx context.Context, resp *eventbusv1.FetchResponse) error {
	if len(resp.GetEvents()) == 0 {
		if len(resp.GetLatestReplayId()) == 0 {
			return nil
		}
		p := s.pos
		p.ReplayID = resp.GetLatestReplayId()
		return s.flush(p)
	}
	steps := make([]step, 0, len(resp.GetEvents()))
	var need []string
	seen := map[string]bool{}
	p := s.pos
	for _, ce := range resp.GetEvents() {
		ev := ce.GetEvent()
		ec, err := s.codec(ctx, ev.GetSchemaId())
		if err != nil {
			return err
		}
		h, err := ec.decode(ev.GetPayload())
		p.ReplayID = ce.GetReplayId()
		if err != nil {
			// The engine's error policy decides: dead-letter the event
			// or fail the run. The position moves past it either way.
			loc := fmt.Sprintf("%s event %s (replay id %s)", s.topic, ev.GetId(), base64.StdEncoding.EncodeToString(ce.GetReplayId()))
			s.log.Warn("a change event cannot be decoded", "event", loc, "error", err.Error())
			if err := s.out.Reject(sdk.BadRecord{Location: loc, Reason: err.Error(), Raw: ev.GetPayload()}); err != nil {
				return err
			}
			steps = append(steps, step{pos: p})
			continue
		}
		before := p.CommitTS
		p.CommitTS = max(p.CommitTS, h.commitTS)
		since := before
		if h.commitTS > 0 && h.commitTS < since {
			since = h.commitTS
		}
		st := s.plan(ec, h, since)
		st.pos = p
		if st.action == actRefetch {
			for _, id := range st.ids {
				if !seen[idKey(id)] {
					seen[idKey(id)] = true
					need = append(need, id)
				}
			}
		}
		steps = append(steps, st)
	}
	got, err := s.refetch(ctx, need)
	if err != nil {
		return err
	}
	before := s.pos
	for _, st := range steps {
		switch st.action {
		case actRefetch:
			for _, id := range st.ids {
				// Not found: deleted since; its DELETE event follows.
				if cells, ok := got[idKey(id)]; ok {
					if err := s.addRow(cells, st.change); err != nil {
						return err
					}
				}
			}
		case actDelete:
			for _, id := range st.ids {
				if err := s.addDelete(id); err != nil {
					return err
				}
			}
		case actResync:
			// The rows so far belong before this event; the resync's
			// rows keep the previous position until they are all out,
			// so a restart in between re-reads rather than skips.
			if err := s.flush(before); err != nil {
				return err
			}
			if err := s.resyncSince(ctx, before, st.resync); err != nil {
				return err
			}
		}
		// Batches end at event boundaries, where there is a position to
		// give them; one event's rows past the limits stay together and
		// the transport splits them.
		if s.rows >= s.limits.MaxRows || s.nbytes >= s.limits.MaxBytes {
			if err := s.flush(st.pos); err != nil {
				return err
			}
		}
		before = st.pos
	}
	return s.flush(before)
}

// plan decides what one event becomes. since is the commit time a resync
// for it starts from.
func (s *subscription) plan(ec *eventCodec, h changeHeader, since int64) step {
	if h.entity != "" && !strings.EqualFold(h.entity, s.obj.Name) {
		return step{} // another object on a shared channel
	}
	if ownOrigin(h.origin, s.tag) {
		return step{}
	}
	for _, id := range h.recordIDs {
		if !recordIDRE.MatchString(id) {
			// Wildcards ("001*") stand for records the event does not list.
			return step{action: actResync, resync: &resyncReq{since: since, reason: fmt.Sprintf("%s event for record ids %q", h.changeType, id)}}
		}
	}
	switch h.changeType {
	case cdcDelete, cdcGapDelete:
		return step{action: actDelete, ids: h.recordIDs}
	case cdcUpdate:
		if s.unchanged(ec, h) {
			return step{}
		}
		return step{action: actRefetch, change: sdk.ChangeUpdate, ids: h.recordIDs}
	case cdcGapUpdate:
		return step{action: actRefetch, change: sdk.ChangeUpdate, ids: h.recordIDs}
	case cdcCreate, cdcGapCreate:
		return step{action: actRefetch, change: sdk.ChangeCreate, ids: h.recordIDs}
	case cdcUndelete, cdcGapUndelete:
		return step{action: actRefetch, change: sdk.ChangeUndelete, ids: h.recordIDs}
	case cdcGapOverflow:
		return step{action: actResync, resync: &resyncReq{since: since, reason: "GAP_OVERFLOW (a transaction changed too many records to list)"}}
	}
	s.log.Warn("ignoring a change event of unknown type", "topic", s.topic, "change_type", h.changeType)
	return step{}
}

// unchanged reports whether an UPDATE's bitmaps show that none of the
// delivered fields changed, so there is nothing to refetch or send. A
// field the body does not carry (SystemModstamp, formulas) may have
// changed, so it keeps the event.
func (s *subscription) unchanged(ec *eventCodec, h changeHeader) bool {
	if len(h.changed) == 0 {
		return false
	}
	for i, f := range s.fields {
		if i == s.idIdx {
			continue
		}
		path, ok := ec.body[strings.ToLower(f.Name)]
		if !ok || h.changed[path] {
			return false
		}
	}
	return true
}

// fieldList is the SELECT list of the delivered fields.
func (s *subscription) fieldList() string {
	names := make([]string, len(s.fields))
	for i, f := range s.fields {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// refetch reads the records as they stand now, by Id; deleted ones are
// absent.
func (s *subscription) refetch(ctx context.Context, ids []string) (map[string][]cell, error) {
	got := map[string][]cell{}
	for i := 0; i < len(ids); i += refetchChunk {
		chunk := ids[i:min(i+refetchChunk, len(ids))]
		soql := "SELECT " + s.fieldList() + " FROM " + s.obj.Name + " WHERE Id IN ('" + strings.Join(chunk, "', '") + "')"
		err := s.c.queryEach(ctx, "query", soql, func(rec map[string]json.RawMessage) error {
			cells := make([]cell, len(s.fields))
			for j, f := range s.fields {
				cells[j] = jsonCell(rec[f.Name])
			}
			got[idKey(cells[s.idIdx].s)] = cells
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("salesforce: refetching changed %s records: %w", s.obj.Name, err)
		}
	}
	return got, nil
}

// resyncSince re-reads what changed since r.since, for a stretch that
// events cannot account for: live records as UPDATE, deleted ones (the
// recycle bin, through queryAll) as DELETE. Its batches carry pos.
func (s *subscription) resyncSince(ctx context.Context, pos eventPosition, r *resyncReq) error {
	if s.opts.fallback == "fail" {
		return fmt.Errorf("salesforce: change events of %s are incomplete (%s) and replay_fallback = fail", s.obj.Name, r.reason)
	}
	cursor := s.obj.field("SystemModstamp")
	if cursor == nil {
		cursor = s.obj.field("LastModifiedDate")
	}
	if cursor == nil {
		return fmt.Errorf("salesforce: change events of %s are incomplete (%s), and %s has no SystemModstamp to re-read the changed records by", s.obj.Name, r.reason, s.obj.Name)
	}
	since := time.UnixMilli(r.since).Add(-resyncMargin).UTC().Truncate(time.Second)
	s.log.Warn("change events are incomplete; re-reading the records changed since then",
		"object", s.obj.Name, "topic", s.topic, "since", since.Format(time.RFC3339), "reason", r.reason)
	cond := cursor.Name + " >= " + since.Format("2006-01-02T15:04:05Z")
	full := func() error {
		if s.rows >= s.limits.MaxRows || s.nbytes >= s.limits.MaxBytes {
			return s.flush(pos)
		}
		return nil
	}
	n := 0
	soql := "SELECT " + s.fieldList() + " FROM " + s.obj.Name + " WHERE " + cond + " ORDER BY " + cursor.Name + " ASC"
	err := s.c.queryEach(ctx, "query", soql, func(rec map[string]json.RawMessage) error {
		cells := make([]cell, len(s.fields))
		for j, f := range s.fields {
			cells[j] = jsonCell(rec[f.Name])
		}
		n++
		if err := s.addRow(cells, sdk.ChangeUpdate); err != nil {
			return err
		}
		return full()
	})
	if err != nil {
		return fmt.Errorf("salesforce: re-reading changed %s records: %w", s.obj.Name, err)
	}
	d := 0
	soql = "SELECT Id FROM " + s.obj.Name + " WHERE IsDeleted = true AND " + cond
	err = s.c.queryEach(ctx, "queryAll", soql, func(rec map[string]json.RawMessage) error {
		id := jsonCell(rec["Id"])
		if id.null {
			return nil
		}
		d++
		if err := s.addDelete(id.s); err != nil {
			return err
		}
		return full()
	})
	if err != nil {
		return fmt.Errorf("salesforce: re-reading deleted %s records: %w", s.obj.Name, err)
	}
	s.log.Warn("re-read the records changed while events were missing", "object", s.obj.Name, "updated", n, "deleted", d)
	return s.flush(pos)
}

func (s *subscription) builder() *array.RecordBuilder {
	if s.b == nil {
		s.b = array.NewRecordBuilder(s.c.mem, s.schema)
	}
	return s.b
}

// addRow appends a record (cells in field order).
func (s *subscription) addRow(cells []cell, change string) error {
	b := s.builder()
	for i, f := range s.fields {
		n, err := appendCell(b.Field(i), f, cells[i])
		if err != nil {
			return fmt.Errorf("salesforce: %s value %q: %w", f.Name, cells[i].s, err)
		}
		s.nbytes += n
	}
	b.Field(len(s.fields)).(*array.StringBuilder).Append(change)
	s.rows++
	return nil
}

// addDelete appends a DELETE row: the Id and nulls.
func (s *subscription) addDelete(id string) error {
	cells := make([]cell, len(s.fields))
	for i := range cells {
		cells[i] = cell{null: true}
	}
	cells[s.idIdx] = cell{s: id}
	return s.addRow(cells, sdk.ChangeDelete)
}

// flush hands the pending rows to the engine with pos, or pos alone when
// it moved without rows.
func (s *subscription) flush(pos eventPosition) error {
	enc, err := json.Marshal(pos)
	if err != nil {
		return err
	}
	if s.rows == 0 {
		if bytes.Equal(enc, s.sent) {
			return nil
		}
		if err := s.out.Send(nil, enc); err != nil {
			return err
		}
	} else {
		rec := s.b.NewRecordBatch()
		s.rows, s.nbytes = 0, 0
		err := s.out.Send(rec, enc)
		rec.Release()
		if err != nil {
			return err
		}
	}
	s.pos, s.sent = pos, enc
	return nil
}

func (s *subscription) release() {
	if s.b != nil {
		s.b.Release()
		s.b = nil
	}
}
