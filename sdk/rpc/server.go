package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluice-dev/sluice/sdk"
	pb "github.com/sluice-dev/sluice/sdk/protocol/sluicev1"
)

// Server exposes an sdk.Connector as protocol v1's gRPC service.
type Server struct {
	pb.UnimplementedConnectorServer
	impl sdk.Connector
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

func (s *Server) Read(req *pb.Read_Request, stream pb.Connector_ReadServer) error {
	src, ok := s.impl.(sdk.Source)
	if !ok {
		return toStatus(sdk.ErrUnsupported)
	}
	out := &streamSender{stream: stream, limits: limitsFromPB(req.Limits)}
	err := src.Read(stream.Context(), sdk.ReadRequest{
		Entity: req.Entity, Fields: req.Fields, Options: valuesFromPB(req.Options),
		Checkpoint: req.Checkpoint, Limits: out.limits,
	}, out)
	return toStatus(err)
}

// streamSender is the RecordSender a plugin's Read writes into.
type streamSender struct {
	stream pb.Connector_ReadServer
	limits sdk.Limits
	enc    encoder
}

var _ sdk.RecordSender = (*streamSender)(nil)

func (s *streamSender) Send(rec arrow.RecordBatch) error {
	parts := split(rec, s.limits)
	defer releaseSlices(rec, parts)
	for _, p := range parts {
		data, err := s.enc.encode(p)
		if err != nil {
			return err
		}
		if err := s.stream.Send(&pb.Read_Response{Kind: &pb.Read_Response_Data{Data: data}}); err != nil {
			return fmt.Errorf("send batch: %w", err)
		}
	}
	return nil
}

func (s *streamSender) Checkpoint(position []byte) error {
	return s.stream.Send(&pb.Read_Response{Kind: &pb.Read_Response_Checkpoint{Checkpoint: position}})
}

func (s *streamSender) Reject(bad sdk.BadRecord) error {
	return s.stream.Send(&pb.Read_Response{Kind: &pb.Read_Response_Rejected{Rejected: &pb.Read_BadRecord{
		Location: bad.Location, Reason: bad.Reason, Raw: bad.Raw}}})
}

func (s *streamSender) Progress(p sdk.Progress) error {
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
		Schema: schema, FlowName: h.FlowName, RunID: h.RunId,
	})
	if err != nil {
		return toStatus(err)
	}
	err = stream.Send(&pb.Write_Response{Kind: &pb.Write_Response_Opened{Opened: true}})
	if err == nil {
		err = serveWrites(ctx, stream, w)
	}
	// Close runs even after a failure: it is what discards uncommitted data.
	if cerr := w.Close(context.WithoutCancel(ctx)); err == nil {
		err = cerr
	}
	return toStatus(err)
}

func serveWrites(ctx context.Context, stream pb.Connector_WriteServer, w sdk.Writer) error {
	var dec decoder
	var batch uint64
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch kind := msg.Kind.(type) {
		case *pb.Write_Request_Data:
			rec, err := dec.decode(kind.Data)
			if err != nil {
				return status.Error(codes.InvalidArgument, err.Error())
			}
			res, err := w.Write(ctx, rec)
			rec.Release()
			if err != nil {
				return err
			}
			out := &pb.Write_Result{Batch: batch, BytesWritten: res.BytesWritten}
			for _, r := range res.Rejected {
				out.Rejected = append(out.Rejected, &pb.Write_Rejected{Row: int64(r.Row), Reason: r.Reason})
			}
			batch++
			if err := stream.Send(&pb.Write_Response{Kind: &pb.Write_Response_Result{Result: out}}); err != nil {
				return err
			}
		case *pb.Write_Request_Commit:
			res, err := w.Commit(ctx)
			if err != nil {
				return err
			}
			committed := &pb.Write_Committed{Id: kind.Commit, BytesWritten: res.BytesWritten}
			if err := stream.Send(&pb.Write_Response{Kind: &pb.Write_Response_Committed{Committed: committed}}); err != nil {
				return err
			}
		default:
			return status.Errorf(codes.InvalidArgument, "unexpected message %T in write stream", msg.Kind)
		}
	}
}

func (s *Server) Subscribe(stream pb.Connector_SubscribeServer) error {
	es, ok := s.impl.(sdk.EventSource)
	if !ok {
		return toStatus(sdk.ErrUnsupported)
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return status.Error(codes.InvalidArgument, "subscribe stream must start with a start message")
	}
	out := &eventStreamSender{stream: stream, limits: limitsFromPB(start.Limits), acks: make(chan []byte, 64)}
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
	}, out))
}

type eventStreamSender struct {
	stream pb.Connector_SubscribeServer
	limits sdk.Limits
	enc    encoder
	acks   chan []byte
}

var _ sdk.EventSender = (*eventStreamSender)(nil)

func (s *eventStreamSender) Send(rec arrow.RecordBatch, position []byte) error {
	parts := split(rec, s.limits)
	defer releaseSlices(rec, parts)
	for _, p := range parts {
		data, err := s.enc.encode(p)
		if err != nil {
			return err
		}
		if err := s.stream.Send(&pb.Subscribe_Response{Kind: &pb.Subscribe_Response_Data{Data: data}}); err != nil {
			return err
		}
	}
	return s.stream.Send(&pb.Subscribe_Response{Kind: &pb.Subscribe_Response_Position{Position: position}})
}

func (s *eventStreamSender) Acked() <-chan []byte { return s.acks }
