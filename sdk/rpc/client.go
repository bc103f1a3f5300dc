package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluice-dev/sluice/sdk"
	pb "github.com/sluice-dev/sluice/sdk/protocol/sluicev1"
)

// DefaultIdleTimeout is how long a stream may go without any message from
// the plugin before the plugin is declared hung. Slow sources keep a stream
// alive by sending Progress.
const DefaultIdleTimeout = 5 * time.Minute

// Client calls a connector plugin and implements every sdk role interface,
// so the engine treats in-process and out-of-process connectors alike.
type Client struct {
	rpc pb.ConnectorClient
	// Name labels errors ("plugin file: ...").
	Name string
	// Exited, when set, tells whether the plugin process has gone, so a
	// broken stream can be reported as a crash rather than a network error.
	Exited func() bool
	// IdleTimeout bounds the silence of a stream; zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// SharedMemory sends and receives large batch bodies through a ring in
	// /dev/shm instead of the socket; the host turns it on unless
	// SLUICE_SHM=0. It once measured no faster than the socket, but only
	// because the receiver never gave ring space back, so nearly every
	// body went inline. Since that was fixed a stream moves ten-column
	// batches about three times as fast as through the socket (≈ 110M vs
	// 35M rows/s), and the CSV → Parquet plugin flow takes about a tenth
	// less CPU, for 16 MiB of shared pages per stream and direction
	// mapped in both processes.
	SharedMemory bool

	spec *sdk.Spec
	shm  shmSession
}

// Close lets go of the shared memory kept for the connection's later
// streams. The host calls it when it stops the plugin.
func (c *Client) Close() { c.shm.close() }

var (
	_ sdk.Connector       = (*Client)(nil)
	_ sdk.Checker         = (*Client)(nil)
	_ sdk.EntityLister    = (*Client)(nil)
	_ sdk.EntityDescriber = (*Client)(nil)
	_ sdk.Source          = (*Client)(nil)
	_ sdk.Sink            = (*Client)(nil)
	_ sdk.EventSource     = (*Client)(nil)
	_ sdk.WriteChecker    = (*Client)(nil)
	_ sdk.Partitioner     = (*Client)(nil)
)

// NewClient wraps a protocol client.
func NewClient(c pb.ConnectorClient) *Client { return &Client{rpc: c, Name: "connector"} }

var errIdle = errors.New("idle timeout")

// wrap turns a gRPC error into one that names the plugin and says what
// happened in the user's terms.
func (c *Client) wrap(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("plugin %s: %w", c.Name, err)
	}
	switch st.Code() {
	case codes.Unimplemented:
		return fmt.Errorf("plugin %s: %w", c.Name, sdk.ErrUnsupported)
	case codes.Canceled:
		return fmt.Errorf("plugin %s: %w", c.Name, context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("plugin %s: %w", c.Name, context.DeadlineExceeded)
	case codes.Unavailable:
		if c.Exited != nil && c.exitedSoon() {
			return &PluginFailure{Plugin: c.Name, Kind: Crashed,
				Err: fmt.Errorf("plugin %s crashed: its process exited mid-call (%s)", c.Name, st.Message())}
		}
		return &PluginFailure{Plugin: c.Name, Kind: Unresponsive,
			Err: fmt.Errorf("plugin %s stopped answering: %s", c.Name, st.Message())}
	case codes.InvalidArgument:
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok && len(br.FieldViolations) > 0 {
				v := br.FieldViolations[0]
				return fmt.Errorf("plugin %s: %w", c.Name, &remoteAttributeError{msg: st.Message(),
					attr: &sdk.AttributeError{Attribute: v.Field, Err: errors.New(v.Description)}})
			}
		}
	}
	return fmt.Errorf("plugin %s: %s", c.Name, st.Message())
}

// remoteAttributeError is a plugin's sdk.AttributeError after the wire:
// its text as the plugin wrote it (context included), the attribute for
// errors.As.
type remoteAttributeError struct {
	msg  string
	attr *sdk.AttributeError
}

func (e *remoteAttributeError) Error() string { return e.msg }
func (e *remoteAttributeError) Unwrap() error { return e.attr }

// exitedSoon waits briefly for the process watcher to notice an exit: the
// broken connection is usually seen a moment before the process is reaped.
func (c *Client) exitedSoon() bool {
	for i := 0; i < 50; i++ {
		if c.Exited() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func (c *Client) idle() time.Duration {
	if c.IdleTimeout > 0 {
		return c.IdleTimeout
	}
	return DefaultIdleTimeout
}

// watchdog cancels a stream's context when the plugin stays silent too long.
type watchdog struct {
	timer *time.Timer
	d     time.Duration
}

func (c *Client) newWatchdog(ctx context.Context) (context.Context, *watchdog, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	d := c.idle()
	return ctx, &watchdog{d: d, timer: time.AfterFunc(d, func() { cancel(errIdle) })}, cancel
}

func (w *watchdog) kick()  { w.timer.Reset(w.d) }
func (w *watchdog) stop()  { w.timer.Stop() }
func (w *watchdog) pause() { w.timer.Stop() }

func (c *Client) streamErr(ctx context.Context, err error, d time.Duration) error {
	if errors.Is(context.Cause(ctx), errIdle) {
		return &PluginFailure{Plugin: c.Name, Kind: Unresponsive,
			Err: fmt.Errorf("plugin %s stopped answering: no message for %s", c.Name, d)}
	}
	return c.wrap(err)
}

// Spec returns the plugin's spec. It is fetched once and cached; a plugin
// that cannot answer GetSpec yields an empty spec (Fetch reports the error).
func (c *Client) Spec() sdk.Spec {
	s, _ := c.FetchSpec(context.Background())
	return s
}

// FetchSpec asks the plugin for its spec.
func (c *Client) FetchSpec(ctx context.Context) (sdk.Spec, error) {
	if c.spec != nil {
		return *c.spec, nil
	}
	resp, err := c.rpc.GetSpec(ctx, &pb.GetSpec_Request{})
	if err != nil {
		return sdk.Spec{}, c.wrap(err)
	}
	s := specFromPB(resp)
	c.spec = &s
	return s, nil
}

func (c *Client) Configure(ctx context.Context, config sdk.Values) sdk.Diagnostics {
	vals, err := valuesToPB(config)
	if err != nil {
		return sdk.Diagnostics{{Summary: "Invalid configuration", Detail: err.Error()}}
	}
	resp, err := c.rpc.Configure(ctx, &pb.Configure_Request{Config: vals})
	if err != nil {
		return sdk.Diagnostics{{Summary: "Plugin failed to configure", Detail: c.wrap(err).Error()}}
	}
	return diagsFromPB(resp.Diagnostics)
}

func (c *Client) Check(ctx context.Context) error {
	_, err := c.rpc.Check(ctx, &pb.Check_Request{})
	return c.wrap(err)
}

func (c *Client) ListEntities(ctx context.Context) ([]sdk.EntityInfo, error) {
	resp, err := c.rpc.ListEntities(ctx, &pb.ListEntities_Request{})
	if err != nil {
		return nil, c.wrap(err)
	}
	out := make([]sdk.EntityInfo, len(resp.Entities))
	for i, e := range resp.Entities {
		out[i] = sdk.EntityInfo{Name: e.Name, Description: e.Description}
	}
	return out, nil
}

func (c *Client) DescribeEntity(ctx context.Context, req sdk.DescribeRequest) (sdk.Entity, error) {
	opts, err := valuesToPB(req.Options)
	if err != nil {
		return sdk.Entity{}, err
	}
	resp, err := c.rpc.DescribeEntity(ctx, &pb.DescribeEntity_Request{Entity: req.Entity, Options: opts})
	if err != nil {
		return sdk.Entity{}, c.wrap(err)
	}
	schema, err := decodeSchema(resp.Schema)
	if err != nil {
		return sdk.Entity{}, fmt.Errorf("plugin %s: %w", c.Name, err)
	}
	return sdk.Entity{Name: resp.Name, Schema: schema, PrimaryKey: resp.PrimaryKey,
		CursorFields: resp.CursorFields, WriteModes: writeModesFromStrings(resp.WriteModes)}, nil
}

func (c *Client) Read(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	start, err := readRequestToPB(req)
	if err != nil {
		return err
	}
	start.SharedMemory = c.SharedMemory && shmAvailable()
	ctx, wd, cancel := c.newWatchdog(ctx)
	defer cancel(nil)
	defer wd.stop()
	stream, err := c.rpc.Read(ctx, callCodec)
	if err != nil {
		return c.streamErr(ctx, err, wd.d)
	}
	err = stream.Send(&pb.Read_Control{Kind: &pb.Read_Control_Request{Request: start}})
	if err != nil {
		return c.streamErr(ctx, err, wd.d)
	}
	var dec decoder
	defer dec.close()
	done := make(chan struct{})
	defer close(done)
	for {
		msg := readResponseIn{Read_Response: new(pb.Read_Response)}
		err := stream.RecvMsg(&msg)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return c.streamErr(ctx, err, wd.d)
		}
		// The engine's handlers may block on a slow sink; that silence is
		// ours, not the plugin's.
		wd.pause()
		switch kind := msg.Kind.(type) {
		case *pb.Read_Response_Data:
			rec, derr := dec.decode(msg.batch(kind.Data))
			if derr != nil {
				return fmt.Errorf("plugin %s sent a bad batch: %w", c.Name, derr)
			}
			err = out.Send(rec)
			rec.Release()
		case *pb.Read_Response_Checkpoint:
			err = out.Checkpoint(kind.Checkpoint)
		case *pb.Read_Response_Rejected:
			err = out.Reject(sdk.BadRecord{Location: kind.Rejected.Location, Reason: kind.Rejected.Reason, Raw: kind.Rejected.Raw})
		case *pb.Read_Response_Progress:
			err = out.Progress(sdk.Progress{BytesRead: kind.Progress.BytesRead, BytesTotal: kind.Progress.BytesTotal})
		case *pb.Read_Response_SharedMemory:
			m, merr := c.shm.mapRing(kind.SharedMemory)
			if merr != nil {
				return fmt.Errorf("plugin %s: %w", c.Name, merr)
			}
			dec.shm = m
			sendReleased := func(r *pb.Released) error {
				return stream.Send(&pb.Read_Control{Kind: &pb.Read_Control_Released{Released: r}})
			}
			// The first release tells the plugin the ring is mapped and
			// which regions of its earlier streams are still held.
			if err := sendReleased(m.resync()); err != nil {
				return c.streamErr(ctx, err, wd.d)
			}
			go forwardReleases(m, done, sendReleased)
		}
		if err != nil {
			return err
		}
		wd.kick()
	}
}

// Partitions asks the plugin how the read splits. A plugin built before
// the call existed answers Unimplemented, which becomes sdk.ErrUnsupported
// as for every role; so does a plugin that declines this particular read,
// whose reason is kept in the message.
func (c *Client) Partitions(ctx context.Context, req sdk.ReadRequest) ([]sdk.Partition, error) {
	pr, err := readRequestToPB(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.rpc.Partitions(ctx, pr)
	if err != nil {
		if st, ok := status.FromError(err); ok && st.Code() == codes.Unimplemented && st.Message() != "" &&
			st.Message() != sdk.ErrUnsupported.Error() && !isMissingMethod(st.Message()) {
			return nil, fmt.Errorf("plugin %s: %s: %w", c.Name, st.Message(), sdk.ErrUnsupported)
		}
		return nil, c.wrap(err)
	}
	out := make([]sdk.Partition, len(resp.Partitions))
	for i, p := range resp.Partitions {
		out[i] = sdk.Partition{Key: p.Key, Spec: p.Spec, Size: p.Size}
	}
	return out, nil
}

// isMissingMethod recognizes gRPC's own answer for a method the server
// does not register (a plugin built before it existed), which says nothing
// the user can act on.
func isMissingMethod(msg string) bool {
	return strings.HasPrefix(msg, "method ") && strings.HasSuffix(msg, " not implemented") ||
		strings.HasPrefix(msg, "unknown method ")
}

func (c *Client) OpenWriter(ctx context.Context, req sdk.WriteRequest) (sdk.Writer, error) {
	opts, err := valuesToPB(req.Options)
	if err != nil {
		return nil, err
	}
	schema, err := encodeSchema(req.Schema)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stream, err := c.rpc.Write(ctx, callCodec)
	if err != nil {
		cancel(nil)
		return nil, c.wrap(err)
	}
	w := &remoteWriter{c: c, stream: stream, ctx: ctx, cancel: cancel}
	header := &pb.Write_Header{
		Entity: req.Entity, Mode: string(req.Mode), Keys: req.Keys, Options: opts,
		FlowName: req.FlowName, RunId: req.RunID, Schema: schema, Deletes: req.Deletes,
		RejectOnCommit: req.RejectOnCommit,
	}
	if c.SharedMemory && shmAvailable() {
		if r, err := c.shm.takeRing(); err == nil {
			w.enc.ring = r
			header.SharedMemory = c.shm.announce(r)
		}
	}
	fail := func(err error) (sdk.Writer, error) {
		w.dropRing(false)
		cancel(nil)
		return nil, err
	}
	if err := stream.Send(&pb.Write_Request{Kind: &pb.Write_Request_Header{Header: header}}); err != nil {
		return fail(c.wrap(err))
	}
	msg, err := w.recv()
	if err != nil {
		return fail(err)
	}
	opened := msg.GetOpened()
	if opened == nil {
		return fail(fmt.Errorf("plugin %s answered a write header with %T", c.Name, msg.Kind))
	}
	if !opened.SharedMemory {
		// The plugin could not map the ring: bodies go inline.
		w.dropRing(false)
	}
	return w, nil
}

// remoteWriter is the host's end of a Write stream. The plugin answers
// each batch, in order, once it has written it; the engine holds every
// batch until then, since the answer may name rows to dead-letter. Write
// waits for the answer; Send and Await let the next batches cross while
// the plugin is still writing (see Send).
type remoteWriter struct {
	c      *Client
	stream pb.Connector_WriteClient
	ctx    context.Context
	cancel context.CancelCauseFunc
	limits sdk.Limits
	enc    encoder
	commit uint64
	closed bool
	// owed lists, per Send not yet awaited, the rows of each message its
	// batch went out as: one answer comes back per message.
	owed [][]int
}

// recv waits for the plugin's next answer, bounded by the idle timeout.
// Ring releases arriving in between are applied on the way.
func (w *remoteWriter) recv() (*pb.Write_Response, error) {
	d := w.c.idle()
	t := time.AfterFunc(d, func() { w.cancel(errIdle) })
	defer t.Stop()
	for {
		msg, err := w.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("plugin %s closed the write stream early", w.c.Name)
			}
			return nil, w.c.streamErr(w.ctx, err, d)
		}
		if rel := msg.GetReleased(); rel != nil {
			if w.enc.ring != nil {
				w.c.shm.applyReleased(w.enc.ring, rel)
			}
			continue
		}
		return msg, nil
	}
}

// dropRing stops using shared memory for this stream; the ring goes back
// to the connection for its next stream if reusable.
func (w *remoteWriter) dropRing(reusable bool) {
	if r := w.enc.ring; r != nil {
		w.enc.ring = nil
		w.c.shm.returnRing(r, reusable)
	}
}

// sendErr reports a failed Send: gRPC hides the cause behind io.EOF,
// which the stream's final status reveals, after any answers still
// buffered.
func (w *remoteWriter) sendErr(err error) error {
	if errors.Is(err, io.EOF) {
		for {
			_, rerr := w.stream.Recv()
			if rerr == nil {
				continue
			}
			if !errors.Is(rerr, io.EOF) {
				return w.c.streamErr(w.ctx, rerr, w.c.idle())
			}
			break
		}
	}
	return w.c.wrap(err)
}

var errOwed = errors.New("rpc: answers to earlier Sends are still owed; Await them first")

func (w *remoteWriter) Write(ctx context.Context, rec arrow.RecordBatch) (sdk.WriteResult, error) {
	if len(w.owed) > 0 {
		return sdk.WriteResult{}, errOwed
	}
	if err := w.Send(ctx, rec); err != nil {
		return sdk.WriteResult{}, err
	}
	return w.Await(ctx)
}

// Send writes rec without waiting for the plugin to answer, so the next
// batch crosses the process boundary while the plugin writes this one.
// Waiting for each answer before sending the next left the sink idle for
// a round trip per batch: in a CSV to Parquet flow the plugin's Parquet
// writer, the slowest stage, waited a third of the run for its input.
//
// Each Send is answered by one Await, in order. The caller keeps rec until
// then: the answer may reject rows of it. gRPC's flow control bounds what
// is in flight; a caller bounds how many answers it lets pile up.
func (w *remoteWriter) Send(ctx context.Context, rec arrow.RecordBatch) error {
	// The stream's own context is the one OpenWriter got; a caller that
	// gave up on this call stops here and closes the stream with Close.
	if err := ctx.Err(); err != nil {
		return err
	}
	parts := split(rec, w.limits)
	defer releaseSlices(rec, parts)
	rows := make([]int, 0, len(parts))
	for _, p := range parts {
		frames, err := w.enc.encode(p)
		if err != nil {
			return err
		}
		if err := w.stream.SendMsg(&outData{field: 2, frames: frames, rec: p}); err != nil {
			return w.sendErr(err)
		}
		rows = append(rows, int(p.NumRows()))
	}
	w.owed = append(w.owed, rows)
	return nil
}

// Await returns the plugin's answer to the oldest Send not yet awaited,
// with rejected rows numbered within that batch.
func (w *remoteWriter) Await(ctx context.Context) (sdk.WriteResult, error) {
	if len(w.owed) == 0 {
		return sdk.WriteResult{}, errors.New("rpc: Await without a Send")
	}
	if err := ctx.Err(); err != nil {
		return sdk.WriteResult{}, err
	}
	rows := w.owed[0]
	w.owed = w.owed[1:]
	var res sdk.WriteResult
	offset := 0
	for _, n := range rows {
		msg, err := w.recv()
		if err != nil {
			return res, err
		}
		r := msg.GetResult()
		if r == nil {
			return res, fmt.Errorf("plugin %s answered a batch with %T", w.c.Name, msg.Kind)
		}
		for _, rj := range r.Rejected {
			res.Rejected = append(res.Rejected, sdk.RejectedRow{Row: offset + int(rj.Row), Reason: rj.Reason})
		}
		res.BytesWritten += r.BytesWritten
		offset += n
	}
	return res, nil
}

func (w *remoteWriter) Commit(ctx context.Context) (sdk.CommitResult, error) {
	if len(w.owed) > 0 {
		return sdk.CommitResult{}, errOwed
	}
	if err := ctx.Err(); err != nil {
		return sdk.CommitResult{}, err
	}
	w.commit++
	if err := w.stream.Send(&pb.Write_Request{Kind: &pb.Write_Request_Commit{Commit: w.commit}}); err != nil {
		return sdk.CommitResult{}, w.sendErr(err)
	}
	var res sdk.CommitResult
	for first := true; ; first = false {
		msg, err := w.recv()
		if err != nil {
			return sdk.CommitResult{}, err
		}
		got, ok := msg.Kind.(*pb.Write_Response_Committed)
		if !ok || got.Committed.GetId() != w.commit {
			return sdk.CommitResult{}, fmt.Errorf("plugin %s answered commit %d with %v", w.c.Name, w.commit, msg.Kind)
		}
		if first {
			res.BytesWritten = got.Committed.BytesWritten
		}
		for _, r := range got.Committed.Rejected {
			res.Rejected = append(res.Rejected, sdk.CommitRejection{Fields: r.Fields, Reason: r.Reason, Location: r.Location})
		}
		if !got.Committed.More {
			return res, nil
		}
	}
}

// Close ends the stream; the plugin's Close error, if any, arrives as the
// stream's final status.
func (w *remoteWriter) Close(ctx context.Context) error {
	if w.closed {
		return nil
	}
	w.closed = true
	defer w.cancel(nil)
	clean := false
	defer func() { w.dropRing(clean) }()
	if err := w.stream.CloseSend(); err != nil {
		return w.c.wrap(err)
	}
	for {
		msg, err := w.stream.Recv() // releases still in flight, then the status
		if errors.Is(err, io.EOF) {
			clean = true
			return nil
		}
		if err != nil {
			return w.c.streamErr(w.ctx, err, w.c.idle())
		}
		if rel := msg.GetReleased(); rel != nil && w.enc.ring != nil {
			w.c.shm.applyReleased(w.enc.ring, rel)
		}
	}
}

func (c *Client) CheckWrite(ctx context.Context, req sdk.WriteRequest) sdk.Diagnostics {
	opts, err := valuesToPB(req.Options)
	if err != nil {
		return sdk.Diagnostics{{Summary: "Invalid sink options", Detail: err.Error()}}
	}
	schema, err := encodeSchema(req.Schema)
	if err != nil {
		return sdk.Diagnostics{{Summary: "Invalid sink schema", Detail: err.Error()}}
	}
	resp, err := c.rpc.CheckWrite(ctx, &pb.Write_Header{Entity: req.Entity, Mode: string(req.Mode), Keys: req.Keys,
		Options: opts, FlowName: req.FlowName, RunId: req.RunID, Schema: schema, Deletes: req.Deletes,
		RejectOnCommit: req.RejectOnCommit})
	if status.Code(err) == codes.Unimplemented {
		return nil // a plugin built before CheckWrite existed
	}
	if err != nil {
		return sdk.Diagnostics{{Summary: "Sink check failed", Detail: c.wrap(err).Error()}}
	}
	return diagsFromPB(resp.Diagnostics)
}

func (c *Client) Subscribe(ctx context.Context, req sdk.SubscribeRequest, out sdk.EventSender) error {
	opts, err := valuesToPB(req.Options)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Subscribe(ctx, callCodec)
	if err != nil {
		return c.wrap(err)
	}
	if err := stream.Send(&pb.Subscribe_Request{Kind: &pb.Subscribe_Request_Start{Start: &pb.Subscribe_Start{
		Entity: req.Entity, Options: opts, Position: req.Position, Limits: limitsToPB(req.Limits),
		Fields: req.Fields,
	}}}); err != nil {
		return c.wrap(err)
	}
	// Acknowledgements flow back once the plugin has accepted the stream;
	// an unsupported subscription ends before any.
	forwardAcks := func() {
		for {
			select {
			case <-ctx.Done():
				return
			case pos, ok := <-out.Acked():
				if !ok {
					return
				}
				if stream.Send(&pb.Subscribe_Request{Kind: &pb.Subscribe_Request_Ack{Ack: pos}}) != nil {
					return
				}
			}
		}
	}
	started := false
	var dec decoder
	var pending []arrow.RecordBatch
	defer func() {
		for _, r := range pending {
			r.Release()
		}
	}()
	for {
		msg := subscribeResponseIn{Subscribe_Response: new(pb.Subscribe_Response)}
		err := stream.RecvMsg(&msg)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return c.wrap(err)
		}
		if !started {
			started = true
			go forwardAcks()
		}
		switch kind := msg.Kind.(type) {
		case *pb.Subscribe_Response_Data:
			rec, err := dec.decode(msg.batch(kind.Data))
			if err != nil {
				return fmt.Errorf("plugin %s sent a bad event batch: %w", c.Name, err)
			}
			pending = append(pending, rec)
		case *pb.Subscribe_Response_Rejected:
			bad := kind.Rejected
			if err := out.Reject(sdk.BadRecord{Location: bad.Location, Reason: bad.Reason, Raw: bad.Raw}); err != nil {
				return err
			}
		case *pb.Subscribe_Response_Position:
			// A batch split for the wire is delivered back as its parts,
			// the last one carrying the position. A position alone (a
			// keep-alive that moved the replay point) is delivered as such.
			if len(pending) == 0 {
				if err := out.Send(nil, kind.Position); err != nil {
					return err
				}
				continue
			}
			for i, r := range pending {
				var pos []byte
				if i == len(pending)-1 {
					pos = kind.Position
				}
				err := out.Send(r, pos)
				r.Release()
				if err != nil {
					pending = pending[i+1:]
					return err
				}
			}
			pending = pending[:0]
		}
	}
}

// FailureKind says how a plugin failed.
type FailureKind string

const (
	// Crashed: the plugin's process exited mid-call.
	Crashed FailureKind = "crashed"
	// Unresponsive: the connection broke, or the plugin stayed silent past
	// the idle timeout.
	Unresponsive FailureKind = "unresponsive"
)

// PluginFailure is a plugin that crashed or stopped answering, as opposed
// to one that answered with an error. Callers count these with errors.As.
type PluginFailure struct {
	Plugin string
	Kind   FailureKind
	Err    error
}

func (e *PluginFailure) Error() string { return e.Err.Error() }
func (e *PluginFailure) Unwrap() error { return e.Err }
