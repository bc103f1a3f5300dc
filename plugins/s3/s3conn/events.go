package s3conn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/format"
)

// A subscription polls the source's bucket and prefix and delivers every
// object that appeared since its position as CREATE events, read exactly
// as Read reads it (glob, format, compression, CSV and schema options).
//
// S3 has no change feed, only listings, and those are ordered by key, not
// by arrival. So the position is a watermark on last-modified times plus
// the keys delivered in the watermark's own second:
//
//	{"after":"2026-11-26T10:00:00Z","keys":["in/b.csv","in/c.csv"]}
//
// means: every object last modified before "after" has been delivered (or
// was there before a start = "latest"), and of those last modified at
// "after" exactly the listed keys. Last-modified times have one-second
// resolution on S3 and most compatible stores; a watermark alone would
// either deliver its second's objects again or miss those that show up in
// that second later with a smaller key. The key list stays small: it only
// holds one second's objects.
//
// Last-modified is when an upload began (for a multipart upload, when it
// was initiated), not when the object became visible, so an object can
// appear below a watermark that younger objects have already moved past.
// Two things guard against that:
//
//   - settle: an object is delivered only once its last-modified time is
//     settle old by the server's clock (the listing's Date header, so a
//     skewed local clock does no harm). Uploads shorter than settle
//     become visible before the watermark can pass them; younger objects
//     wait for the next poll.
//   - While it runs, the subscription keeps the previous listing; an
//     object below the watermark that was not in it arrived late and is
//     delivered as well. The watermark does not move for it, and after a
//     restart it is below the watermark, so it is not delivered twice.
//
// What stays uncovered: an upload longer than settle that completes while
// no subscription runs is, on restart, indistinguishable from an object
// delivered before. Closing that gap means keeping every key ever
// delivered, a position without bound.
//
// The last batch of each object carries the position past it (earlier
// batches the one before it), so a restart re-reads an object whole or not
// at all. An object written again gets a new last-modified time and is
// delivered again. Each poll lists the whole prefix, as S3 cannot list by
// time: keep prefix narrow enough for the poll interval.
//
// Malformed rows go to the engine as bad records naming
// s3://bucket/key:line (EventSender.Reject), which dead-letters them or
// fails the run by the flow's policy, exactly as for a read. What
// concerns a whole object (it cannot be read, its CSV header differs from
// the first object's, its name says another format) ends the subscription,
// as it ends a Read.

// eventAttributes are the attributes of a flow's `trigger "event"` block.
var eventAttributes = []sdk.Attribute{
	{Name: "poll_interval", Type: sdk.TypeString, Default: defaultPollInterval.String(),
		Description: "How often the prefix is listed for new objects, as a Go duration."},
	{Name: "settle", Type: sdk.TypeString, Default: defaultSettle.String(),
		Description: "How old (by the store's clock) an object's last-modified time must be before it is delivered, as a Go duration, so that uploads still in flight are not overtaken by later ones."},
	{Name: "start", Type: sdk.TypeString, Default: "latest",
		Description: "Where a subscription without a stored position begins: latest (objects that appear from now on) or earliest (every object under the prefix first)."},
}

const (
	defaultPollInterval = 30 * time.Second
	defaultSettle       = 5 * time.Second
)

// eventOptions are the decoded eventAttributes.
type eventOptions struct {
	every, settle time.Duration
	earliest      bool
}

func parseEventOptions(v sdk.Values) (eventOptions, error) {
	var o eventOptions
	var err error
	if o.every, err = time.ParseDuration(v.String("poll_interval", defaultPollInterval.String())); err != nil || o.every <= 0 {
		return o, format.OptionError("poll_interval", "%q: want a positive Go duration such as 30s", v.String("poll_interval", ""))
	}
	if o.settle, err = time.ParseDuration(v.String("settle", defaultSettle.String())); err != nil || o.settle < 0 {
		return o, format.OptionError("settle", "%q: want a Go duration such as 5s", v.String("settle", ""))
	}
	switch start := v.String("start", "latest"); start {
	case "latest":
	case "earliest":
		o.earliest = true
	default:
		return o, format.OptionError("start", "%q: want latest or earliest", start)
	}
	return o, nil
}

// cursor is the decoded position.
type cursor struct {
	after time.Time
	keys  map[string]bool // delivered, last modified at after
}

// eventPosition is the position as stored; readable, since `sluice state
// show` prints it.
type eventPosition struct {
	After *time.Time `json:"after"`
	Keys  []string   `json:"keys"`
}

func parsePosition(b []byte) (cursor, error) {
	var p eventPosition
	dec := json.NewDecoder(bytes.NewReader(b))
	// A Read checkpoint ({"last_modified", "key"}) must not pass for an
	// empty position, which would deliver the whole prefix again.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return cursor{}, fmt.Errorf("position %s is not from this connector's subscriptions: %w", b, err)
	}
	if p.After == nil {
		return cursor{}, fmt.Errorf("position %s is not from this connector's subscriptions: no \"after\"", b)
	}
	c := cursor{after: p.After.UTC(), keys: map[string]bool{}}
	for _, k := range p.Keys {
		c.keys[k] = true
	}
	return c, nil
}

func (c *cursor) encode() []byte {
	keys := make([]string, 0, len(c.keys))
	for k := range c.keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	after := c.after.UTC()
	b, _ := json.Marshal(eventPosition{After: &after, Keys: keys})
	return b
}

// covers reports whether o is at or below the watermark, that is,
// delivered unless it arrived late.
func (c *cursor) covers(o object) bool {
	return o.modified.Before(c.after) || (o.modified.Equal(c.after) && c.keys[o.key])
}

// advance moves the watermark over o, just delivered. Objects come in
// (last modified, key) order, so one below the watermark is a late
// arrival, which leaves it where it is.
func (c *cursor) advance(o object) {
	switch {
	case o.modified.After(c.after):
		c.after = o.modified
		c.keys = map[string]bool{o.key: true}
	case o.modified.Equal(c.after):
		c.keys[o.key] = true
	}
}

// latestCursor puts the watermark over objs, the listing that exists when
// a subscription starts at "latest". An empty listing leaves it below
// every object, since anything that shows up later is new.
func latestCursor(objs []object) cursor {
	c := cursor{after: time.Unix(0, 0).UTC(), keys: map[string]bool{}}
	for _, o := range objs {
		c.advance(o)
	}
	return c
}

// pick returns the objects of a listing to deliver, in (last modified,
// key) order: those above the watermark that have settled (last modified
// at or before horizon), and those below it that were not in the previous
// listing, known (nil on a first listing, which can tell nothing late).
func (c *cursor) pick(objs []object, known map[string]time.Time, horizon time.Time) []object {
	var todo []object
	for _, o := range objs {
		if c.covers(o) {
			if known == nil || !o.modified.Before(c.after) {
				continue
			}
			if was, ok := known[o.key]; ok && was.Equal(o.modified) {
				continue
			}
		} else if o.modified.After(horizon) {
			continue
		}
		todo = append(todo, o)
	}
	sort.Slice(todo, func(i, j int) bool {
		if !todo[i].modified.Equal(todo[j].modified) {
			return todo[i].modified.Before(todo[j].modified)
		}
		return todo[i].key < todo[j].key
	})
	return todo
}

// subscription is one Subscribe call's state.
type subscription struct {
	c      *Connector
	opts   *sourceOptions
	ev     eventOptions
	fields []string
	limits sdk.Limits
	out    sdk.EventSender

	cur cursor
	pos []byte // cur encoded; nil until there is a position to resume from
	// baseline: the next listing is what exists before a start = "latest".
	baseline bool
	known    map[string]time.Time // the previous listing; nil before the first

	plan *plan
	proj []int
	// creates holds sdk.ChangeCreate often enough for the longest batch
	// so far; batches take slices of it.
	creates      arrow.Array
	inSchema, sc *arrow.Schema // the last batch's schema and its event schema
}

// Subscribe polls bucket/prefix every poll_interval and delivers the
// objects that appeared since req.Position as CREATE events; see the top
// of this file for how it keeps its place.
func (c *Connector) Subscribe(ctx context.Context, req sdk.SubscribeRequest, out sdk.EventSender) error {
	ev, err := parseEventOptions(req.Options)
	if err != nil {
		return err
	}
	opts, err := c.parseSourceOptions(req.Options, req.Entity)
	if err != nil {
		return err
	}
	s := &subscription{c: c, opts: opts, ev: ev, fields: req.Fields, limits: format.NormLimits(req.Limits), out: out,
		cur: cursor{keys: map[string]bool{}}}
	if len(req.Position) > 0 {
		if s.cur, err = parsePosition(req.Position); err != nil {
			return err
		}
		s.pos = append([]byte(nil), req.Position...)
	} else {
		s.baseline = !ev.earliest
	}
	if err := c.ready(); err != nil {
		return err
	}
	defer func() {
		if s.creates != nil {
			s.creates.Release()
		}
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Nothing here needs the acknowledgements (a position is complete in
	// itself), but a sender may block once its queue of them is full.
	go func() {
		acks := out.Acked()
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-acks:
				if !ok {
					return
				}
			}
		}
	}()

	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wait.C:
		}
		if err := s.poll(ctx); err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return err
		}
		// The interval runs from the end of a poll, so a slow listing
		// never queues polls behind it.
		wait.Reset(s.ev.every)
	}
}

// poll lists the prefix once and delivers what is new.
func (s *subscription) poll(ctx context.Context) error {
	objs, now, err := s.c.listMatching(ctx, s.opts)
	if err != nil {
		return err
	}
	if now.IsZero() {
		now = time.Now()
	}
	listed := make(map[string]time.Time, len(objs))
	for _, o := range objs {
		listed[o.key] = o.modified
	}
	if s.plan == nil && len(objs) > 0 {
		if err := s.settlePlan(ctx, objs); err != nil {
			return err
		}
	}
	if s.baseline {
		s.baseline = false
		s.known = listed
		s.cur = latestCursor(objs)
		s.pos = s.cur.encode()
		// Stored, it makes a restart resume here rather than at a later
		// "latest", which would lose what arrived in between.
		if err := s.out.Send(nil, s.pos); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		return nil
	}
	todo := s.cur.pick(objs, s.known, now.Add(-s.ev.settle))
	if len(todo) > 0 {
		if err := s.deliver(ctx, todo); err != nil {
			return err
		}
	}
	s.known = listed
	return nil
}

// settlePlan fixes the format and schema from the first listing with
// objects, as DescribeEntity does, so events match what the engine was
// told.
func (s *subscription) settlePlan(ctx context.Context, objs []object) error {
	p, err := s.c.planFor(ctx, s.opts, objs)
	if err != nil {
		return err
	}
	proj, err := format.Projection(s.fields, p.schema())
	if err != nil {
		return err
	}
	for _, i := range proj {
		if p.schema().Field(i).Name == sdk.ChangeTypeField {
			return fmt.Errorf("s3://%s/%s: the objects have a column %s, which change events add themselves; leave it out of the source's fields",
				s.opts.bucket, s.opts.prefix, sdk.ChangeTypeField)
		}
	}
	s.plan, s.proj = p, proj
	return nil
}

// deliver reads todo and sends its records, each object's last batch with
// the position past it.
func (s *subscription) deliver(ctx context.Context, todo []object) error {
	if s.opts.Format == "" {
		// One read takes one format; the plan settled it from the names.
		for _, o := range todo {
			if f, _ := format.FormatFromName(o.key); f != s.plan.format {
				return fmt.Errorf("%s does not look like %s, the format of the objects before it; one subscription takes one format (set format, or narrow prefix or glob)",
					o.location(s.opts.bucket), s.plan.format)
			}
		}
	}
	// held is the latest batch, kept back until the next one shows it
	// was not its object's last.
	var held arrow.RecordBatch
	defer func() {
		if held != nil {
			held.Release()
		}
	}()
	send := func(pos []byte) error {
		err := s.out.Send(held, pos)
		if held != nil {
			held.Release()
			held = nil
		}
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
		return nil
	}
	return s.c.readObjects(ctx, s.plan, todo, s.proj, s.limits, delivery{
		batch: func(rec arrow.RecordBatch, _ int64) error {
			if held != nil {
				if err := send(s.pos); err != nil {
					return err
				}
			}
			held = s.events(rec)
			return nil
		},
		reject: func(bad sdk.BadRecord) error {
			if err := s.out.Reject(bad); err != nil {
				return fmt.Errorf("reject: %w", err)
			}
			return nil
		},
		done: func(i int) error {
			s.cur.advance(todo[i])
			s.pos = s.cur.encode()
			return send(s.pos)
		},
	})
}

// events is rec with the change-type column after its fields.
func (s *subscription) events(rec arrow.RecordBatch) arrow.RecordBatch {
	n := int(rec.NumRows())
	if s.creates == nil || s.creates.Len() < n {
		if s.creates != nil {
			s.creates.Release()
		}
		b := array.NewStringBuilder(s.c.mem)
		b.Reserve(n)
		b.ReserveData(n * len(sdk.ChangeCreate))
		for range n {
			b.Append(sdk.ChangeCreate)
		}
		s.creates = b.NewArray()
		b.Release()
	}
	if rec.Schema() != s.inSchema {
		in := rec.Schema()
		fields := append(in.Fields(), arrow.Field{Name: sdk.ChangeTypeField, Type: arrow.BinaryTypes.String})
		md := in.Metadata()
		s.inSchema, s.sc = in, arrow.NewSchema(fields, &md)
	}
	changes := array.NewSlice(s.creates, 0, int64(n))
	defer changes.Release()
	cols := append(slices.Clone(rec.Columns()), changes)
	return array.NewRecordBatch(s.sc, cols, int64(n))
}
