package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-dev/sluice/sdk"
	pb "github.com/sluice-dev/sluice/sdk/protocol/sluicev1"
)

// Server exposes an sdk.Connector as protocol v1's gRPC service.
type Server struct {
	pb.UnimplementedConnectorServer
	impl sdk.Connector
	shm  shmSession
}

var _ pb.ConnectorServer = (*Server)(nil)

// NewServer wraps impl.
func NewServer(impl sdk.Connector) *Server { return &Server{impl: impl} }

// toStatus maps connector errors onto gRPC codes the client maps back.
func toStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sdk.ErrUnsupported):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var bad *sdk.AttributeError
	if errors.As(err, &bad) {
		st, derr := status.New(codes.InvalidArgument, err.Error()).WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: bad.Attribute, Description: bad.Err.Error()}}})
		if derr == nil {
			return st.Err()
		}
	}
	return status.Error(codes.Unknown, err.Error())
}

func (s *Server) GetSpec(context.Context, *pb.GetSpec_Request) (*pb.GetSpec_Response, error) {
	resp, err := specToPB(s.impl.Spec())
	return resp, toStatus(err)
}

func (s *Server) Configure(ctx context.Context, req *pb.Configure_Request) (*pb.Configure_Response, error) {
	diags := s.impl.Configure(ctx, valuesFromPB(req.Config))
	return &pb.Configure_Response{Diagnostics: diagsToPB(diags)}, nil
}

func (s *Server) Check(ctx context.Context, _ *pb.Check_Request) (*pb.Check_Response, error) {
	c, ok := s.impl.(sdk.Checker)
	if !ok {
		return &pb.Check_Response{}, nil
	}
	return &pb.Check_Response{}, toStatus(c.Check(ctx))
}

func (s *Server) ListEntities(ctx context.Context, _ *pb.ListEntities_Request) (*pb.ListEntities_Response, error) {
	l, ok := s.impl.(sdk.EntityLister)
	if !ok {
		return nil, toStatus(sdk.ErrUnsupported)
	}
	ents, err := l.ListEntities(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.ListEntities_Response{}
	for _, e := range ents {
		resp.Entities = append(resp.Entities, &pb.ListEntities_Entity{Name: e.Name, Description: e.Description})
	}
	return resp, nil
}

func (s *Server) DescribeEntity(ctx context.Context, req *pb.DescribeEntity_Request) (*pb.DescribeEntity_Response, error) {
	d, ok := s.impl.(sdk.EntityDescriber)
	if !ok {
		return nil, toStatus(sdk.ErrUnsupported)
	}
	ent, err := d.DescribeEntity(ctx, sdk.DescribeRequest{Entity: req.Entity, Options: valuesFromPB(req.Options)})
	if err != nil {
		return nil, toStatus(err)
	}
	schema, err := encodeSchema(ent.Schema)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.DescribeEntity_Response{Name: ent.Name, Schema: schema, PrimaryKey: ent.PrimaryKey,
		CursorFields: ent.CursorFields, WriteModes: writeModesToStrings(ent.WriteModes)}, nil
}

func (s *Server) Read(stream pb.Connector_ReadServer) error {
	first := readControlIn{Read_Control: new(pb.Read_Control)}
	if err := stream.RecvMsg(&first); err != nil {
		return err
	}
	req := first.GetRequest()
	if req == nil {
		return status.Error(codes.InvalidArgument, "read stream must start with a request")
	}
	src, ok := s.impl.(sdk.Source)
	if !ok {
		return toStatus(sdk.ErrUnsupported)
	}
	out := &streamSender{stream: stream, limits: limitsFromPB(req.Limits), mapped: make(chan struct{}), fast: first.fast, shm: &s.shm}
	if req.SharedMemory {
		// Taken now, announced with the first body that uses it.
		if r, err := s.shm.takeRing(); err == nil {
			out.ring = r
		}
	}
	// The engine's only messages after the request are releases of ring
	// regions (the first, possibly empty, says it has mapped the ring).
	go func() {
		mapped := false
		for {
			msg, err := stream.Recv()
			if err != nil {
				return
			}
			if rel := msg.GetReleased(); rel != nil && out.ring != nil {
				if !mapped {
					mapped = true
					close(out.mapped)
				}
				s.shm.applyReleased(out.ring, rel)
			}
		}
	}()
	err := src.Read(stream.Context(), readRequestFromPB(req), out)
	if out.ring != nil {
		out.closeRing(err == nil && stream.Context().Err() == nil)
	}
	return toStatus(err)
}

func (s *Server) Partitions(ctx context.Context, req *pb.Read_Request) (*pb.Partitions_Response, error) {
	p, ok := s.impl.(sdk.Partitioner)
	if !ok {
		return nil, toStatus(sdk.ErrUnsupported)
	}
	parts, err := p.Partitions(ctx, readRequestFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.Partitions_Response{Partitions: make([]*pb.Partitions_Partition, len(parts))}
	for i, part := range parts {
		resp.Partitions[i] = &pb.Partitions_Partition{Key: part.Key, Spec: part.Spec, Size: part.Size}
	}
	// One unary answer carries every spec; past the limit gRPC would fail
	// with a size error that does not say what to change.
	if n := proto.Size(resp); n > MaxMessageSize {
		return nil, status.Errorf(codes.ResourceExhausted,
			"%d partitions whose specs take %d bytes do not fit in one message (limit %d); make the partitions larger",
			len(parts), n, MaxMessageSize)
	}
	return resp, nil
}

// lockedSend serializes sends on a stream several goroutines answer on.
type lockedSend[T any] struct {
	mu   sync.Mutex
	send func(T) error
}

func (l *lockedSend[T]) Send(m T) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.send(m)
}

// forwardReleases tells the sender which ring regions the receiver no
// longer needs, until done is closed.
func forwardReleases(m *mapping, done <-chan struct{}, send func(*pb.Released) error) {
	for {
		select {
		case <-done:
			return
		case <-m.notify:
			if offs := m.takeReleased(); len(offs) > 0 {
				if send(&pb.Released{Offsets: offs}) != nil {
					return
				}
			}
		}
	}
}

// streamSender is the RecordSender a plugin's Read writes into. A
// connector may call it from several goroutines; sends are serialized.
type streamSender struct {
	mu     sync.Mutex
	stream pb.Connector_ReadServer
	limits sdk.Limits
	enc    encoder
	// fast: the server has the codec (ServerOptions), so batches go out
	// through it without being copied into a message.
	fast      bool
	shm       *shmSession
	ring      *ring
	announced bool
	mapped    chan struct{} // closed once the engine has mapped the ring
}

// closeRing ends the stream's use of the ring: it goes back to the
// connection for the next stream when the stream ended well (reusable),
// else it is retired. The engine removes the name once mapped; retiring
// removes it here too, but only once the engine has mapped the ring (or
// gone), or the engine would fail to find it.
func (s *streamSender) closeRing(reusable bool) {
	mapped := !s.announced
	if s.announced {
		select {
		case <-s.mapped:
			mapped = true
		case <-s.stream.Context().Done():
		case <-time.After(DefaultIdleTimeout):
		}
	}
	s.shm.returnRing(s.ring, reusable && mapped)
}

var _ sdk.RecordSender = (*streamSender)(nil)

func (s *streamSender) Send(rec arrow.RecordBatch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := split(rec, s.limits)
	defer releaseSlices(rec, parts)
	if s.ring != nil && !s.announced {
		s.announced = true
		if err := s.stream.Send(&pb.Read_Response{Kind: &pb.Read_Response_SharedMemory{
			SharedMemory: s.shm.announce(s.ring)}}); err != nil {
			return fmt.Errorf("announce shared memory: %w", err)
		}
		s.enc.ring = s.ring
	}
	for _, p := range parts {
		frames, err := s.enc.encode(p)
		if err != nil {
			return err
		}
		if s.fast {
			err = s.stream.SendMsg(&outData{field: 1, frames: frames, rec: p})
		} else {
			err = s.stream.Send(&pb.Read_Response{Kind: &pb.Read_Response_Data{Data: s.enc.message(frames)}})
		}
		if err != nil {
			return fmt.Errorf("send batch: %w", err)
		}
	}
	return nil
}

func (s *streamSender) Checkpoint(position []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.Send(&pb.Read_Response{Kind: &pb.Read_Response_Checkpoint{Checkpoint: position}})
}

func (s *streamSender) Reject(bad sdk.BadRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.Send(&pb.Read_Response{Kind: &pb.Read_Response_Rejected{Rejected: &pb.Read_BadRecord{
		Location: bad.Location, Reason: bad.Reason, Raw: bad.Raw}}})
}

func (s *streamSender) Progress(p sdk.Progress) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.Send(&pb.Read_Response{Kind: &pb.Read_Response_Progress{Progress: &pb.Read_Progress{
		BytesRead: p.BytesRead, BytesTotal: p.BytesTotal}}})
}

func (s *Server) Write(stream pb.Connector_WriteServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if h == nil {
		return status.Error(codes.InvalidArgument, "write stream must start with a header")
	}
	sink, ok := s.impl.(sdk.Sink)
	if !ok {
		return toStatus(sdk.ErrUnsupported)
	}
	schema, err := decodeSchema(h.Schema)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	w, err := sink.OpenWriter(ctx, sdk.WriteRequest{
		Entity: h.Entity, Mode: sdk.WriteMode(h.Mode), Keys: h.Keys, Options: valuesFromPB(h.Options),
		Schema: schema, FlowName: h.FlowName, RunID: h.RunId, Deletes: h.Deletes, RejectOnCommit: h.RejectOnCommit,
	})
	if err != nil {
		return toStatus(err)
	}
	send := &lockedSend[*pb.Write_Response]{send: stream.Send}
	// The decoder passes to serveWrites' receiver, which closes it.
	dec := new(decoder)
	if offer := h.SharedMemory; offer != nil {
		if m, err := s.shm.mapRing(offer); err == nil {
			dec.shm = m
			// Before Opened, so the engine knows what is free before it
			// writes into the ring again. A broken stream fails Opened.
			_ = send.Send(&pb.Write_Response{Kind: &pb.Write_Response_Released{Released: m.resync()}})
			done := make(chan struct{})
			defer close(done)
			go forwardReleases(m, done, func(r *pb.Released) error {
				return send.Send(&pb.Write_Response{Kind: &pb.Write_Response_Released{Released: r}})
			})
		}
	}
	err = send.Send(&pb.Write_Response{Kind: &pb.Write_Response_Opened{Opened: &pb.Write_Opened{SharedMemory: dec.shm != nil}}})
	if err == nil {
		err = serveWrites(ctx, stream, send, dec, w)
	} else {
		dec.close()
	}
	// Close runs even after a failure: it is what discards uncommitted data.
	if cerr := w.Close(context.WithoutCancel(ctx)); err == nil {
		err = cerr
	}
	return toStatus(err)
}

// writeInbound is one message of a write stream, its batch already
// decoded, or the error that ended the stream (io.EOF when the engine
// closed it).
type writeInbound struct {
	rec    arrow.RecordBatch
	commit *pb.Write_Request_Commit
	err    error
}

// receiveWrites reads the write stream one message ahead of the writer:
// the next batch is received and decoded while the connector writes this
// one, which keeps the socket and the decoding off the sink's critical
// path. The channel is unbuffered, so nothing sits in it unowned: when
// done closes, the receiver releases what it holds. It owns dec and closes
// it on the way out, which is only when the stream ends; that cannot be
// waited for, since the stream ends when the handler returns.
func receiveWrites(stream pb.Connector_WriteServer, dec *decoder, done <-chan struct{}) <-chan writeInbound {
	out := make(chan writeInbound)
	go func() {
		defer dec.close()
		defer close(out)
		for {
			var in writeInbound
			msg := writeRequestIn{Write_Request: new(pb.Write_Request)}
			if err := stream.RecvMsg(&msg); err != nil {
				in.err = err
			} else {
				switch kind := msg.Kind.(type) {
				case *pb.Write_Request_Data:
					rec, err := dec.decode(msg.batch(kind.Data))
					if err != nil {
						in.err = status.Error(codes.InvalidArgument, err.Error())
					}
					in.rec = rec
				case *pb.Write_Request_Commit:
					in.commit = kind
				default:
					in.err = status.Errorf(codes.InvalidArgument, "unexpected message %T in write stream", msg.Kind)
				}
			}
			select {
			case out <- in:
			case <-done:
				if in.rec != nil {
					in.rec.Release()
				}
				return
			}
			if in.err != nil {
				return
			}
		}
	}()
	return out
}

func serveWrites(ctx context.Context, stream pb.Connector_WriteServer, send *lockedSend[*pb.Write_Response], dec *decoder, w sdk.Writer) error {
	done := make(chan struct{})
	defer close(done)
	inbound := receiveWrites(stream, dec, done)
	var batch uint64
	for in := range inbound {
		if errors.Is(in.err, io.EOF) {
			return nil
		}
		if in.err != nil {
			return in.err
		}
		if in.commit != nil {
			res, err := w.Commit(ctx)
			if err != nil {
				return err
			}
			for _, committed := range committedMessages(in.commit.Commit, res) {
				if err := send.Send(&pb.Write_Response{Kind: &pb.Write_Response_Committed{Committed: committed}}); err != nil {
					return err
				}
			}
			continue
		}
		res, err := w.Write(ctx, in.rec)
		in.rec.Release()
		if err != nil {
			return err
		}
		out := &pb.Write_Result{Batch: batch, BytesWritten: res.BytesWritten}
		for _, r := range res.Rejected {
			out.Rejected = append(out.Rejected, &pb.Write_Rejected{Row: int64(r.Row), Reason: r.Reason})
		}
		batch++
		// The ring space the batch held goes back with its answer, in the
		// same write to the socket, rather than woken up for separately.
		if dec.shm != nil {
			if offs := dec.shm.takeReleased(); len(offs) > 0 {
				if err := send.Send(&pb.Write_Response{Kind: &pb.Write_Response_Released{Released: &pb.Released{Offsets: offs}}}); err != nil {
					return err
				}
			}
		}
		if err := send.Send(&pb.Write_Response{Kind: &pb.Write_Response_Result{Result: out}}); err != nil {
			return err
		}
	}
	return nil
}

// commitChunkBytes caps the rejected rows one Committed message carries.
// A commit may refuse up to a destination's error limit of rows, each as
// wide as a record, which together can pass MaxMessageSize.
var commitChunkBytes = 16 << 20

// committedMessages answers commit id: one message, or several carrying
// the rejected rows in chunks, all but the last marked more.
func committedMessages(id uint64, res sdk.CommitResult) []*pb.Write_Committed {
	cur := &pb.Write_Committed{Id: id, BytesWritten: res.BytesWritten}
	out := []*pb.Write_Committed{cur}
	size := 0
	for _, r := range res.Rejected {
		m := &pb.Write_CommitRejection{Fields: r.Fields, Reason: r.Reason, Location: r.Location}
		n := proto.Size(m)
		if size > 0 && size+n > commitChunkBytes {
			cur.More = true
			cur = &pb.Write_Committed{Id: id}
			out = append(out, cur)
			size = 0
		}
		cur.Rejected = append(cur.Rejected, m)
		size += n
	}
	return out
}

func (s *Server) CheckWrite(ctx context.Context, h *pb.Write_Header) (*pb.Configure_Response, error) {
	wc, ok := s.impl.(sdk.WriteChecker)
	if !ok {
		return &pb.Configure_Response{}, nil // nothing to check is not a failure
	}
	schema, err := decodeSchema(h.Schema)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	diags := wc.CheckWrite(ctx, sdk.WriteRequest{
		Entity: h.Entity, Mode: sdk.WriteMode(h.Mode), Keys: h.Keys, Options: valuesFromPB(h.Options),
		Schema: schema, FlowName: h.FlowName, RunID: h.RunId, Deletes: h.Deletes, RejectOnCommit: h.RejectOnCommit,
	})
	return &pb.Configure_Response{Diagnostics: diagsToPB(diags)}, nil
}

func (s *Server) Subscribe(stream pb.Connector_SubscribeServer) error {
	es, ok := s.impl.(sdk.EventSource)
	if !ok {
		return toStatus(sdk.ErrUnsupported)
	}
	first := subscribeRequestIn{Subscribe_Request: new(pb.Subscribe_Request)}
	if err := stream.RecvMsg(&first); err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return status.Error(codes.InvalidArgument, "subscribe stream must start with a start message")
	}
	out := &eventStreamSender{stream: stream, limits: limitsFromPB(start.Limits), acks: make(chan []byte, 64), fast: first.fast}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		defer close(out.acks)
		for {
			msg, err := stream.Recv()
			if err != nil {
				cancel()
				return
			}
			if ack := msg.GetAck(); ack != nil {
				select {
				case out.acks <- ack:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return toStatus(es.Subscribe(ctx, sdk.SubscribeRequest{
		Entity: start.Entity, Options: valuesFromPB(start.Options), Position: start.Position, Limits: out.limits,
		Fields: start.Fields,
	}, out))
}

type eventStreamSender struct {
	stream pb.Connector_SubscribeServer
	limits sdk.Limits
	enc    encoder
	fast   bool // as streamSender.fast
	acks   chan []byte
}

var _ sdk.EventSender = (*eventStreamSender)(nil)

func (s *eventStreamSender) Send(rec arrow.RecordBatch, position []byte) error {
	if rec == nil {
		return s.stream.Send(&pb.Subscribe_Response{Kind: &pb.Subscribe_Response_Position{Position: position}})
	}
	parts := split(rec, s.limits)
	defer releaseSlices(rec, parts)
	for _, p := range parts {
		frames, err := s.enc.encode(p)
		if err != nil {
			return err
		}
		if s.fast {
			err = s.stream.SendMsg(&outData{field: 1, frames: frames, rec: p})
		} else {
			err = s.stream.Send(&pb.Subscribe_Response{Kind: &pb.Subscribe_Response_Data{Data: s.enc.message(frames)}})
		}
		if err != nil {
			return err
		}
	}
	return s.stream.Send(&pb.Subscribe_Response{Kind: &pb.Subscribe_Response_Position{Position: position}})
}

func (s *eventStreamSender) Reject(bad sdk.BadRecord) error {
	return s.stream.Send(&pb.Subscribe_Response{Kind: &pb.Subscribe_Response_Rejected{Rejected: &pb.Read_BadRecord{
		Location: bad.Location, Reason: bad.Reason, Raw: bad.Raw,
	}}})
}

func (s *eventStreamSender) Acked() <-chan []byte { return s.acks }
