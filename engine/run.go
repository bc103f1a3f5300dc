package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/util"
	"golang.org/x/sync/errgroup"

	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/transform"
	"github.com/sluice-dev/sluice/sdk"
)

// Status is how a run ended.
type Status string

const (
	StatusSucceeded Status = "succeeded"
	// StatusCompletedWithErrors: every record is accounted for, but some
	// went to the dead-letter location instead of the sinks.
	StatusCompletedWithErrors Status = "completed_with_errors"
	StatusFailed              Status = "failed"
	StatusCancelled           Status = "cancelled"
)

// Stats are a run's counters.
type Stats struct {
	RecordsRead     int64 `json:"records_read"`
	RecordsFiltered int64 `json:"records_filtered"`
	RecordsWritten  int64 `json:"records_written"`
	RecordsFailed   int64 `json:"records_failed"`
	BytesRead       int64 `json:"bytes_read"`
	BytesWritten    int64 `json:"bytes_written"`
}

// SinkStats are one sink's counters.
type SinkStats struct {
	Sink         string `json:"sink"`
	Written      int64  `json:"records_written"`
	Rejected     int64  `json:"records_rejected"`
	BytesWritten int64  `json:"bytes_written"`
}

// RunResult is what a run reports when it ends.
type RunResult struct {
	Flow       string
	RunID      string
	Status     Status
	Stats      Stats
	Sinks      []SinkStats
	StartedAt  time.Time
	FinishedAt time.Time
	// Err says why a run failed or was cancelled.
	Err error
	// ErrorSample holds the first ErrorSampleSize records the run refused
	// (dead-lettered, or the one that stopped a fail_fast run), so history
	// can say what went wrong without the dead-letter file;
	// Stats.RecordsFailed counts them all.
	ErrorSample []RecordError
	// DeadLetter is the file rejected records went to, if any did.
	DeadLetter string
	// Checkpoint is the last position saved, if the source reported one.
	Checkpoint []byte
	// ResumedFrom is the position an incremental run started from (nil
	// for a full read or a first run).
	ResumedFrom []byte
}

// RunOptions tune one run.
type RunOptions struct {
	// RunID names the run; a random one is made when empty.
	RunID string
	// OnProgress is called every ProgressEvery while the run goes on.
	OnProgress    func(Stats)
	ProgressEvery time.Duration
	// Window is the incremental window of a scheduled run, passed to the
	// source (the daemon computes it from the flow's watermark).
	Window *sdk.Window
	// Partition, when set, runs one part of a partitioned read (a
	// Partition's Spec, from Prepared.Partitions). The source's
	// checkpoints are then ignored: a part commits once, at its end, so
	// a part that fails can be run again without writing anything twice.
	Partition []byte
	// Stop, when closed, ends an event flow's run gracefully: the
	// subscription stops, what arrived is committed and checkpointed, and
	// the run succeeds. (Cancelling the context abandons the uncommitted
	// tail instead; it is delivered again from the stored position.)
	Stop <-chan struct{}
}

// NewRunID returns a fresh, sortable run id.
func NewRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

type counters struct {
	read, filtered, failed, bytesRead, arrowBytes atomic.Int64
	sourceReportsBytes                            atomic.Bool
	sinks                                         []sinkCounters
}

type sinkCounters struct {
	written, rejected, bytes atomic.Int64
}

func (c *counters) snapshot() Stats {
	s := Stats{
		RecordsRead:     c.read.Load(),
		RecordsFiltered: c.filtered.Load(),
		RecordsFailed:   c.failed.Load(),
		BytesRead:       c.bytesRead.Load(),
	}
	if !c.sourceReportsBytes.Load() {
		s.BytesRead = c.arrowBytes.Load()
	}
	// A record counts as written once every sink has it.
	for i := range c.sinks {
		w := c.sinks[i].written.Load()
		if i == 0 || w < s.RecordsWritten {
			s.RecordsWritten = w
		}
		s.BytesWritten += c.sinks[i].bytes.Load()
	}
	return s
}

// item travels between stages: a batch, a checkpoint marker, or the end
// marker. Only the end marker lets a sink make its last commit: a channel
// that closes without one means the source failed, and nothing after the
// last checkpoint may be published.
type item struct {
	rec        arrow.RecordBatch
	checkpoint []byte
	seq        int
	end        bool
}

// run is the state of one execution.
type run struct {
	window  *sdk.Window
	p       *Prepared
	id      string
	ctx     context.Context
	cont    bool
	dead    *deadLetterFile
	sample  errorSample
	count   counters
	firstMu sync.Mutex
	first   error

	ackMu   sync.Mutex
	acks    map[int]int
	cps     map[int][]byte
	cpSeq   int
	savedCP []byte
	// resumedFrom is the checkpoint an incremental run started from.
	resumedFrom []byte
	// onSaved hears every stored checkpoint (event flows acknowledge
	// them to the connector).
	onSaved func([]byte)
	stop    <-chan struct{}
	// partition is the part of a partitioned read this run reads.
	partition []byte
}

// fail records the run's first error; later ones are consequences.
func (r *run) fail(err error) error {
	r.firstMu.Lock()
	defer r.firstMu.Unlock()
	if r.first == nil {
		r.first = err
	}
	return err
}

func (r *run) firstErr() error {
	r.firstMu.Lock()
	defer r.firstMu.Unlock()
	return r.first
}

// Run executes the flow once.
func (p *Prepared) Run(ctx context.Context, ro RunOptions) *RunResult {
	res := &RunResult{Flow: p.Flow.Name, RunID: ro.RunID, StartedAt: time.Now().UTC()}
	if res.RunID == "" {
		res.RunID = NewRunID()
	}
	r := &run{p: p, id: res.RunID, cont: p.Flow.OnError.Mode == plan.Continue,
		acks: map[int]int{}, cps: map[int][]byte{}}
	r.count.sinks = make([]sinkCounters, len(p.Sinks))
	r.sample.p = p
	dir := p.Flow.OnError.DeadLetter
	if dir == "" {
		dir = p.opts.DeadLetterDir
	}
	if dir == "" {
		dir = filepath.Join(".sluice", "dead-letter")
	}
	r.dead = &deadLetterFile{path: filepath.Join(dir, p.Flow.Name+"-"+res.RunID+".jsonl")}

	stopProgress := r.reportProgress(ro)
	r.window = ro.Window
	r.stop = ro.Stop
	r.partition = ro.Partition
	err := r.execute(ctx)
	p.notePluginFailure(err)
	stopProgress()
	if cerr := r.dead.close(); err == nil && cerr != nil {
		err = cerr
	}

	res.FinishedAt = time.Now().UTC()
	res.Stats = r.count.snapshot()
	for i, s := range p.Sinks {
		c := &r.count.sinks[i]
		res.Sinks = append(res.Sinks, SinkStats{Sink: s.Label(), Written: c.written.Load(),
			Rejected: c.rejected.Load(), BytesWritten: c.bytes.Load()})
	}
	res.Checkpoint = r.savedCP
	res.ResumedFrom = r.resumedFrom
	if r.dead.count > 0 {
		res.DeadLetter = r.dead.path
	}
	res.ErrorSample = r.sample.list()
	switch {
	case err == nil && res.Stats.RecordsFailed > 0:
		res.Status = StatusCompletedWithErrors
	case err == nil:
		res.Status = StatusSucceeded
	case ctx.Err() != nil:
		res.Status, res.Err = StatusCancelled, fmt.Errorf("run cancelled: %w", context.Cause(ctx))
	default:
		res.Status, res.Err = StatusFailed, err
	}
	return res
}

func (r *run) reportProgress(ro RunOptions) (stop func()) {
	if ro.OnProgress == nil {
		return func() {}
	}
	every := ro.ProgressEvery
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				ro.OnProgress(r.count.snapshot())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (r *run) depth() int {
	if r.p.opts.ChannelDepth > 0 {
		return r.p.opts.ChannelDepth
	}
	return 4
}

func (r *run) execute(parent context.Context) error {
	p := r.p
	g, ctx := errgroup.WithContext(parent)
	r.ctx = ctx

	// Writers are opened before anything is read, so a sink that cannot
	// start (an unwritable directory, say) fails the run before it begins.
	// Write streams outlive a cancelled run on purpose: Close has to reach
	// each sink so it can discard what was not committed.
	writers := make([]sdk.Writer, len(p.Sinks))
	closeWriters := func() error {
		var first error
		for i, w := range writers {
			if w == nil {
				continue
			}
			if err := w.Close(context.WithoutCancel(parent)); err != nil && first == nil {
				first = fmt.Errorf("sink %s: close: %w", p.Sinks[i].Label(), err)
			}
		}
		return first
	}
	for i, s := range p.Sinks {
		sink, ok := s.Connector.(sdk.Sink)
		if !ok {
			_ = closeWriters()
			return fmt.Errorf("sink %s: the %s connector cannot write", s.Label(), s.Plan.Type)
		}
		w, err := sink.OpenWriter(context.WithoutCancel(ctx), sdk.WriteRequest{
			Entity: s.Plan.Entity, Mode: s.Plan.Mode, Keys: s.Plan.Keys, Options: s.Options,
			Schema: s.Schema, FlowName: p.Flow.Name, RunID: r.id, Deletes: s.Plan.Deletes,
			RejectOnCommit: r.cont,
		})
		if err != nil {
			_ = closeWriters()
			return fmt.Errorf("sink %s: %w", s.Label(), err)
		}
		writers[i] = w
	}

	srcCh := make(chan item, r.depth())
	sinkChs := make([]chan item, len(p.Sinks))
	for i := range sinkChs {
		sinkChs[i] = make(chan item, r.depth())
	}

	resume, err := r.resumePosition(ctx)
	if err != nil {
		_ = closeWriters()
		return err
	}
	g.Go(func() error {
		defer close(srcCh)
		var err error
		if p.Flow.Trigger.Kind == "event" {
			err = r.subscribe(ctx, srcCh, resume, r.stop)
		} else {
			err = p.Source.(sdk.Source).Read(ctx, sdk.ReadRequest{
				Entity: p.Flow.Source.Entity, Fields: p.Flow.Source.Fields,
				Options: p.Flow.Source.Options, Limits: p.opts.Limits, Checkpoint: resume,
				Filters: p.SourceFilters, Window: r.window, Partition: r.partition,
			}, &sourceSender{r: r, ch: srcCh})
		}
		if err != nil {
			if first := r.firstErr(); first != nil {
				return first
			}
			return r.fail(fmt.Errorf("source %s: %w", p.Flow.Source.Type, err))
		}
		select {
		case srcCh <- item{end: true}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	g.Go(func() error {
		defer func() {
			for _, ch := range sinkChs {
				close(ch)
			}
		}()
		return r.transform(ctx, srcCh, sinkChs)
	})
	for i := range p.Sinks {
		g.Go(func() error { return r.write(ctx, i, writers[i], sinkChs[i]) })
	}
	err = g.Wait()
	// Whatever is still queued after a failure is released here.
	for it := range srcCh {
		if it.rec != nil {
			it.rec.Release()
		}
	}
	for _, ch := range sinkChs {
		for it := range ch {
			if it.rec != nil {
				it.rec.Release()
			}
		}
	}
	cerr := closeWriters()
	if first := r.firstErr(); first != nil && err != nil {
		return first
	}
	if err == nil {
		err = cerr
	}
	return err
}

// resumePosition is where the source starts: the stored checkpoint for a
// flow that pulls incrementally or follows events, nothing (a full read)
// otherwise.
func (r *run) resumePosition(ctx context.Context) ([]byte, error) {
	store := r.p.opts.Checkpoints
	if store == nil || r.partition != nil || (r.p.Flow.Trigger.Incremental == nil && r.p.Flow.Trigger.Kind != "event") {
		return nil, nil
	}
	pos, err := store.Load(ctx, r.p.Flow.Name)
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", r.p.Flow.Name, err)
	}
	r.resumedFrom = pos
	return pos, nil
}

// sourceSender is the RecordSender the source writes into.
type sourceSender struct {
	r  *run
	ch chan<- item
}

var _ sdk.RecordSender = (*sourceSender)(nil)

func (s *sourceSender) Send(rec arrow.RecordBatch) error {
	s.r.count.read.Add(rec.NumRows())
	s.r.count.arrowBytes.Add(util.TotalRecordSize(rec))
	rec.Retain()
	select {
	case s.ch <- item{rec: rec}:
		return nil
	case <-s.r.ctx.Done():
		rec.Release()
		return s.r.ctx.Err()
	}
}

func (s *sourceSender) Checkpoint(position []byte) error {
	if s.r.partition != nil {
		return nil // a part commits once, at its end (RunOptions.Partition)
	}
	select {
	case s.ch <- item{checkpoint: append([]byte(nil), position...)}:
		return nil
	case <-s.r.ctx.Done():
		return s.r.ctx.Err()
	}
}

func (s *sourceSender) Reject(bad sdk.BadRecord) error {
	// A bad record was still read: counting it keeps read equal to
	// filtered + written + failed, so every input record is accounted for.
	s.r.count.read.Add(1)
	s.r.count.failed.Add(1)
	if !s.r.cont {
		s.r.sample.add("source "+s.r.p.Flow.Source.Type, bad.Reason, bad.Location, nil)
		return s.r.fail(fmt.Errorf("source %s: bad record at %s: %s", s.r.p.Flow.Source.Type, bad.Location, bad.Reason))
	}
	return s.r.deadLetter(DeadLetter{Stage: "source " + s.r.p.Flow.Source.Type, Reason: bad.Reason,
		Location: bad.Location, Raw: string(bad.Raw)})
}

func (s *sourceSender) Progress(p sdk.Progress) error {
	s.r.count.sourceReportsBytes.Store(true)
	s.r.count.bytesRead.Store(p.BytesRead)
	return nil
}

func (r *run) deadLetter(dl DeadLetter) error {
	// The raw line is left out of the sample: it may hold anything, and
	// the location already finds it.
	r.sample.add(dl.Stage, dl.Reason, dl.Location, dl.Record)
	dl.Flow, dl.RunID, dl.At = r.p.Flow.Name, r.id, time.Now().UTC()
	if err := r.dead.add(dl); err != nil {
		return r.fail(err)
	}
	return nil
}

func (r *run) transform(ctx context.Context, in <-chan item, outs []chan item) error {
	runner := r.p.Pipeline.NewRunner()
	send := func(it item) error {
		// One reference per sink, all taken before the first send: a fast
		// sink may release its reference before the next sink is reached.
		for i := 1; it.rec != nil && i < len(outs); i++ {
			it.rec.Retain()
		}
		for i, ch := range outs {
			select {
			case ch <- it:
			case <-ctx.Done():
				if it.rec != nil {
					// This send's reference and those of the sinks not yet reached.
					for j := i; j < len(outs); j++ {
						it.rec.Release()
					}
				}
				return ctx.Err()
			}
		}
		return nil
	}
	for it := range in {
		if it.end {
			return send(it)
		}
		if it.rec == nil {
			r.ackMu.Lock()
			r.cpSeq++
			seq := r.cpSeq
			r.cps[seq] = it.checkpoint
			r.ackMu.Unlock()
			if len(outs) == 0 {
				r.acked(seq)
				continue
			}
			if err := send(item{checkpoint: it.checkpoint, seq: seq}); err != nil {
				return err
			}
			continue
		}
		res, err := runner.Apply(ctx, it.rec, r.cont)
		it.rec.Release()
		if err != nil {
			var row *transform.RowError
			if errors.As(err, &row) {
				// The record that stops the run counts as failed, as it
				// does when a source or a sink refuses it.
				r.count.failed.Add(1)
				reason := "refused"
				if row.Err != nil {
					reason = row.Err.Error()
				}
				r.sample.add(row.Task, reason, "", row.Record)
				// The run's error outlives it in history and logs: it
				// names the record as the sample does, not with every
				// field's value.
				cause := row.Err
				if cause == nil {
					cause = errors.New(reason)
				}
				return r.fail(fmt.Errorf("%s, record %s: %w", row.Task, r.sample.render(row.Record), cause))
			}
			return r.fail(err)
		}
		r.count.filtered.Add(int64(res.Filtered))
		if res.Out != nil && r.p.noSinkDeletes() {
			// No sink applies them: the deletions end here, filtered.
			r.count.filtered.Add(countDeletes(res.Out))
		}
		for _, rj := range res.Rejected {
			r.count.failed.Add(1)
			if err := r.deadLetter(DeadLetter{Stage: rj.Task, Reason: rj.Reason, Record: rj.Record}); err != nil {
				if res.Out != nil {
					res.Out.Release()
				}
				return err
			}
		}
		if res.Out == nil {
			continue
		}
		if res.Out.NumRows() == 0 || len(outs) == 0 {
			res.Out.Release()
			continue
		}
		if err := send(item{rec: res.Out}); err != nil {
			return err
		}
	}
	return nil
}

// pipelined is a sink writer that takes a batch before it has answered
// the one before, as a plugin's does: the next batch crosses the process
// boundary while the plugin writes this one. Answers come in order; the
// engine keeps each batch until its answer, which may reject rows of it.
type pipelined interface {
	Send(context.Context, arrow.RecordBatch) error
	Await(context.Context) (sdk.WriteResult, error)
}

func (r *run) write(ctx context.Context, i int, w sdk.Writer, in <-chan item) error {
	s := r.p.Sinks[i]
	c := &r.count.sinks[i]
	pw, _ := w.(pipelined)
	// Sent but not yet answered, oldest first; at most as many as a
	// channel between stages holds.
	var owed []arrow.RecordBatch
	defer func() {
		for _, rec := range owed {
			rec.Release()
		}
	}()
	await := func() error {
		rec := owed[0]
		owed = owed[1:]
		defer rec.Release()
		res, err := pw.Await(ctx)
		if err != nil {
			return r.fail(fmt.Errorf("sink %s: %w", s.Label(), err))
		}
		return r.written(s, c, rec, res)
	}
	drain := func() error {
		for len(owed) > 0 {
			if err := await(); err != nil {
				return err
			}
		}
		return nil
	}
	ended := false
	for it := range in {
		if it.end {
			ended = true
			continue
		}
		if it.rec == nil {
			if err := drain(); err != nil {
				return err
			}
			cr, err := w.Commit(ctx)
			if err != nil {
				return r.fail(fmt.Errorf("sink %s: commit: %w", s.Label(), err))
			}
			c.bytes.Add(cr.BytesWritten)
			if err := r.commitRejected(s, c, cr.Rejected); err != nil {
				return err
			}
			if err := r.acked(it.seq); err != nil {
				return err
			}
			continue
		}
		if s.dropChanges {
			narrowed, err := withoutDeletions(ctx, it.rec, s.Schema)
			it.rec.Release()
			if err != nil {
				return r.fail(fmt.Errorf("sink %s: %w", s.Label(), err))
			}
			it.rec = narrowed
			if it.rec.NumRows() == 0 {
				it.rec.Release()
				continue
			}
		}
		if pw != nil {
			if err := pw.Send(ctx, it.rec); err != nil {
				it.rec.Release()
				return r.fail(fmt.Errorf("sink %s: %w", s.Label(), err))
			}
			owed = append(owed, it.rec)
			if len(owed) >= r.depth() {
				if err := await(); err != nil {
					return err
				}
			}
			continue
		}
		res, err := w.Write(ctx, it.rec)
		if err == nil {
			err = r.written(s, c, it.rec, res)
		} else {
			err = r.fail(fmt.Errorf("sink %s: %w", s.Label(), err))
		}
		it.rec.Release()
		if err != nil {
			return err
		}
	}
	if !ended {
		// The source failed or the run was cancelled; whoever stopped it
		// reports why. Close will discard what is not committed.
		return ctx.Err()
	}
	if err := drain(); err != nil {
		return err
	}
	// The source is exhausted: everything this sink holds becomes durable.
	cr, err := w.Commit(ctx)
	if err != nil {
		return r.fail(fmt.Errorf("sink %s: commit: %w", s.Label(), err))
	}
	c.bytes.Add(cr.BytesWritten)
	return r.commitRejected(s, c, cr.Rejected)
}

// written accounts for a batch a sink has answered: the rows it took, and
// the ones it refused, which go to the dead-letter file (or stop the run).
func (r *run) written(s *PreparedSink, c *sinkCounters, rec arrow.RecordBatch, res sdk.WriteResult) error {
	c.bytes.Add(res.BytesWritten)
	c.written.Add(rec.NumRows() - int64(len(res.Rejected)))
	c.rejected.Add(int64(len(res.Rejected)))
	for _, rj := range res.Rejected {
		r.count.failed.Add(1)
		if !r.cont {
			row := rowValues(rec, rj.Row)
			r.sample.add("sink "+s.Label(), rj.Reason, "", row)
			return r.fail(fmt.Errorf("sink %s rejected a record: %s (record %s)", s.Label(), rj.Reason, r.sample.render(row)))
		}
		if err := r.deadLetter(DeadLetter{Stage: "sink " + s.Label(), Reason: rj.Reason, Record: rowValues(rec, rj.Row)}); err != nil {
			return err
		}
	}
	return nil
}

// commitRejected accounts for rows a sink refused while committing: Write
// counted them as written; they become failed records in the dead-letter
// file, before the checkpoint that follows is saved.
func (r *run) commitRejected(s *PreparedSink, c *sinkCounters, rejected []sdk.CommitRejection) error {
	if len(rejected) == 0 {
		return nil
	}
	if !r.cont {
		// The sink was told to fail the commit instead (RejectOnCommit).
		return r.fail(fmt.Errorf("sink %s refused %d record(s) at commit although the run stops at the first bad record: %s",
			s.Label(), len(rejected), rejected[0].Reason))
	}
	for _, rj := range rejected {
		c.written.Add(-1)
		c.rejected.Add(1)
		r.count.failed.Add(1)
		rec := make(map[string]any, len(rj.Fields))
		for k, v := range rj.Fields {
			rec[k] = v
		}
		if err := r.deadLetter(DeadLetter{Stage: "sink " + s.Label(), Reason: rj.Reason, Location: rj.Location, Record: rec}); err != nil {
			return err
		}
	}
	return nil
}

// acked notes that one sink committed through checkpoint seq; once all
// have, the checkpoint (and every dead letter before it) is made durable.
func (r *run) acked(seq int) error {
	r.ackMu.Lock()
	r.acks[seq]++
	if r.acks[seq] < max(1, len(r.p.Sinks)) {
		r.ackMu.Unlock()
		return nil
	}
	pos := r.cps[seq]
	delete(r.acks, seq)
	delete(r.cps, seq)
	r.ackMu.Unlock()
	if err := r.dead.sync(); err != nil {
		return r.fail(err)
	}
	if store := r.p.opts.Checkpoints; store != nil {
		if err := store.Save(r.ctx, r.p.Flow.Name, pos); err != nil {
			return r.fail(err)
		}
	}
	r.ackMu.Lock()
	r.savedCP = pos
	onSaved := r.onSaved
	r.ackMu.Unlock()
	if onSaved != nil {
		onSaved(pos)
	}
	return nil
}

// noSinkDeletes reports whether every sink holds deletions back.
func (p *Prepared) noSinkDeletes() bool {
	for _, s := range p.Sinks {
		if !s.dropChanges {
			return false
		}
	}
	return true
}

// rowValues renders one row for messages and dead letters.
func rowValues(rec arrow.RecordBatch, row int) map[string]any {
	out := make(map[string]any, rec.NumCols())
	if row < 0 || int64(row) >= rec.NumRows() {
		return out
	}
	for i, f := range rec.Schema().Fields() {
		col := rec.Column(i)
		if col.IsNull(row) {
			out[f.Name] = nil
			continue
		}
		out[f.Name] = col.GetOneForMarshal(row)
	}
	return out
}
