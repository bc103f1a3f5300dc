package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/util"

	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/transform"
	"github.com/sluice-dev/sluice/sdk"
)

// An event flow's run lasts as long as its subscription. Events travel the
// same path as a read's batches; what differs is how checkpoints arise:
// the engine closes a micro-batch after BatchSize events or BatchWindow
// after its first one, and the checkpoint that follows it makes every sink
// commit before the replay position is stored. A stop (RunOptions.Stop)
// ends the subscription, commits what arrived and ends the run as a
// success; a cancelled context abandons what was not committed, which the
// next run receives again from the stored position.

// withChangeType is an event source's schema: the entity's fields, then
// the change type.
func withChangeType(s *arrow.Schema) *arrow.Schema {
	if transform.ChangeColumn(s) >= 0 {
		return s
	}
	fields := append(append([]arrow.Field(nil), s.Fields()...),
		arrow.Field{Name: sdk.ChangeTypeField, Type: arrow.BinaryTypes.String})
	md := s.Metadata()
	return arrow.NewSchema(fields, &md)
}

// withChangeColumn is rec with a change-type column holding change on
// every row. The caller releases it.
func withChangeColumn(rec arrow.RecordBatch, change string) arrow.RecordBatch {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.Reserve(int(rec.NumRows()))
	for range rec.NumRows() {
		b.Append(change)
	}
	col := b.NewArray()
	defer col.Release()
	cols := append(append([]arrow.Array(nil), rec.Columns()...), col)
	return array.NewRecordBatch(withChangeType(rec.Schema()), cols, rec.NumRows())
}

func removeField(s *arrow.Schema, i int) *arrow.Schema {
	fields := append(append([]arrow.Field(nil), s.Fields()[:i]...), s.Fields()[i+1:]...)
	md := s.Metadata()
	return arrow.NewSchema(fields, &md)
}

// countDeletes counts the rows of rec that are deletions.
func countDeletes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, d := range transform.Deletions(rec) {
		if d {
			n++
		}
	}
	return n
}

// withoutDeletions is rec for a sink that does not apply deletions: the
// deletion rows and the change-type column removed. The caller releases
// the result.
func withoutDeletions(ctx context.Context, rec arrow.RecordBatch, schema *arrow.Schema) (arrow.RecordBatch, error) {
	col := transform.ChangeColumn(rec.Schema())
	if col < 0 {
		rec.Retain()
		return rec, nil
	}
	cols := make([]arrow.Array, 0, rec.NumCols()-1)
	for i, c := range rec.Columns() {
		if i != col {
			cols = append(cols, c)
		}
	}
	narrowed := array.NewRecordBatch(schema, cols, rec.NumRows())
	defer narrowed.Release()
	del := transform.Deletions(rec)
	if del == nil {
		narrowed.Retain()
		return narrowed, nil
	}
	keep := array.NewBooleanBuilder(memory.DefaultAllocator)
	defer keep.Release()
	keep.Reserve(len(del))
	for _, d := range del {
		keep.UnsafeAppend(!d)
	}
	mask := keep.NewBooleanArray()
	defer mask.Release()
	return compute.FilterRecordBatch(ctx, narrowed, mask, compute.DefaultFilterOptions())
}

// subscribe runs the flow's subscription, feeding ch.
func (r *run) subscribe(ctx context.Context, ch chan<- item, resume []byte, stop <-chan struct{}) error {
	p := r.p
	es := p.Source.(sdk.EventSource)
	trig := p.Flow.Trigger
	opts := maps.Clone(p.Flow.Source.Options)
	if opts == nil {
		opts = sdk.Values{}
	}
	maps.Copy(opts, trig.EventOptions)
	s := &eventSender{r: r, ch: ch, batchSize: int64(max(1, trig.BatchSize)), window: trig.BatchWindow,
		acks: make(chan []byte, 16)}
	if s.window <= 0 {
		s.window = plan.DefaultEventBatchWindow
	}
	r.ackMu.Lock()
	r.onSaved = s.saved
	r.ackMu.Unlock()

	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := make(chan struct{})
	if stop != nil {
		go func() {
			select {
			case <-stop:
				close(stopped)
				cancel()
			case <-subCtx.Done():
			}
		}()
	}
	var fields []string
	if len(p.Flow.Source.Fields) > 0 {
		fields = p.Flow.Source.Fields
	}
	err := es.Subscribe(subCtx, sdk.SubscribeRequest{
		Entity: p.Flow.Source.Entity, Options: opts, Position: resume, Limits: p.opts.Limits, Fields: fields,
	}, s)
	wasStopped := false
	select {
	case <-stopped:
		wasStopped = true
	default:
	}
	if err != nil && !(wasStopped && ctx.Err() == nil) {
		s.close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if !wasStopped && err == nil {
		// A subscription has no natural end; one that ended by itself
		// while nobody asked it to stop lost its feed.
		s.close()
		return errors.New("the event subscription ended unexpectedly")
	}
	// Stopped: what arrived is committed and checkpointed.
	return s.finish(ctx)
}

// eventSender is the EventSender a subscription writes into; it closes
// micro-batches by count and by time.
type eventSender struct {
	r         *run
	ch        chan<- item
	batchSize int64
	window    time.Duration
	acks      chan []byte

	mu      sync.Mutex
	pending int64  // events since the last checkpoint
	lastPos []byte // position after the last event received
	timer   *time.Timer
	closed  bool
}

var _ sdk.EventSender = (*eventSender)(nil)

func (s *eventSender) Send(rec arrow.RecordBatch, position []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("the run has ended")
	}
	if rec != nil && rec.NumRows() > 0 {
		if err := s.checkSchema(rec.Schema()); err != nil {
			return s.r.fail(err)
		}
		s.r.count.read.Add(rec.NumRows())
		s.r.count.arrowBytes.Add(util.TotalRecordSize(rec))
		rec.Retain()
		select {
		case s.ch <- item{rec: rec}:
		case <-s.r.ctx.Done():
			rec.Release()
			return s.r.ctx.Err()
		}
		s.pending += rec.NumRows()
	}
	if position != nil {
		s.lastPos = append([]byte(nil), position...)
	}
	switch {
	case s.pending >= s.batchSize:
		return s.flushLocked()
	case s.pending == 0 && rec == nil && position != nil:
		// A keep-alive moved the position with nothing pending: store it,
		// so a restart does not replay an idle stretch.
		return s.flushLocked()
	case s.pending > 0 && s.timer == nil:
		s.timer = time.AfterFunc(s.window, s.flushOnTimer)
	}
	return nil
}

// checkSchema makes sure a connector sends what the tasks were compiled
// for (names and types; metadata and nullability may differ), naming the
// difference.
func (s *eventSender) checkSchema(got *arrow.Schema) error {
	want := s.r.p.SourceEntity.Schema
	same := got.NumFields() == want.NumFields()
	for i := 0; same && i < got.NumFields(); i++ {
		same = got.Field(i).Name == want.Field(i).Name && arrow.TypeEqual(got.Field(i).Type, want.Field(i).Type)
	}
	if same {
		return nil
	}
	return fmt.Errorf("source %s sent change events with fields (%s), expected (%s)",
		s.r.p.Flow.Source.Type, fieldNames(got), fieldNames(want))
}

func (s *eventSender) flushOnTimer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer = nil
	if s.closed || s.pending == 0 {
		return
	}
	_ = s.flushLocked() // a failure has already been recorded by the run
}

// flushLocked closes the micro-batch: a checkpoint at the last position.
func (s *eventSender) flushLocked() error {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if s.lastPos == nil {
		return nil // nothing to resume from yet; the next batch will carry one
	}
	select {
	case s.ch <- item{checkpoint: s.lastPos}:
	case <-s.r.ctx.Done():
		return s.r.ctx.Err()
	}
	s.pending = 0
	return nil
}

// close stops the timer; nothing is sent after it.
func (s *eventSender) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

// finish flushes the last micro-batch after a stop.
func (s *eventSender) finish(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.pending > 0 {
		err = s.flushLocked()
	}
	s.closed = true
	if err != nil {
		return err
	}
	return ctx.Err()
}

// saved hears that pos was stored; the connector learns it through Acked.
// Acknowledgements are cumulative, so when the connector lags, older ones
// make room for the newest.
func (s *eventSender) saved(pos []byte) {
	for {
		select {
		case s.acks <- pos:
			return
		default:
		}
		select {
		case <-s.acks:
		default:
		}
	}
}

func (s *eventSender) Acked() <-chan []byte { return s.acks }

// Reject handles a bad input record as a read does: counted, then
// dead-lettered or the end of the run. Its dead letter is synced with the
// checkpoint that follows it.
func (s *eventSender) Reject(bad sdk.BadRecord) error {
	return (&sourceSender{r: s.r, ch: s.ch}).Reject(bad)
}
