package rpc_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"

	"github.com/sluice-dev/sluice/sdk"
	pb "github.com/sluice-dev/sluice/sdk/protocol/sluicev1"
	"github.com/sluice-dev/sluice/sdk/rpc"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

// seqBatch is batch i of a sequence: one int64 column counting on from
// where batch i-1 stopped. Every batch has the same size, and a body
// overwritten by its successor would show.
func seqBatch(i int) arrow.RecordBatch {
	const rows = 200_000 // 1.6 MB
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	for j := 0; j < rows; j++ {
		b.Append(int64(i*rows + j))
	}
	col := b.NewArray()
	defer col.Release()
	return array.NewRecordBatch(seqSchema, []arrow.Array{col}, rows)
}

var seqSchema = arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)

// checkSeq checks that rec continues the sequence at *next (batches may
// arrive split) and moves *next past it.
func checkSeq(rec arrow.RecordBatch, next *int64) error {
	col := rec.Column(0).(*array.Int64)
	for j, v := range col.Int64Values() {
		if v != *next+int64(j) {
			return fmt.Errorf("row %d holds %d, want %d: its body was overwritten", *next+int64(j), v, *next+int64(j))
		}
	}
	*next += rec.NumRows()
	return nil
}

// seqSource sends the sequence's first batches.
type seqSource struct {
	sdk.Unimplemented
	batches int
}

func (s *seqSource) Spec() sdk.Spec {
	return sdk.Spec{Name: "seq", Version: "1", Capabilities: []sdk.Capability{sdk.CapSource}}
}
func (s *seqSource) Configure(context.Context, sdk.Values) sdk.Diagnostics { return nil }
func (s *seqSource) Read(ctx context.Context, _ sdk.ReadRequest, out sdk.RecordSender) error {
	for i := 0; i < s.batches; i++ {
		rec := seqBatch(i)
		err := out.Send(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// verifyingSender checks every batch as it arrives and again when it
// lets it go. It holds the last dozen, more than a 16 MiB ring has room
// for at 1.6 MB each, so the sender fills the ring and comes round to
// regions still in use (the engine's channels hold batches the same way).
type verifyingSender struct {
	batches int
	next    int64
	held    []heldBatch
	err     error
}

type heldBatch struct {
	rec   arrow.RecordBatch
	first int64
}

func (v *verifyingSender) Send(rec arrow.RecordBatch) error {
	first := v.next
	v.check(rec, &v.next)
	rec.Retain()
	v.held = append(v.held, heldBatch{rec, first})
	if len(v.held) > 12 {
		v.let(v.held[0])
		v.held = v.held[1:]
	}
	v.batches++
	return nil
}

func (v *verifyingSender) check(rec arrow.RecordBatch, next *int64) {
	if err := checkSeq(rec, next); err != nil && v.err == nil {
		v.err = err
	}
}

func (v *verifyingSender) let(h heldBatch) {
	v.check(h.rec, &h.first)
	h.rec.Release()
}

// done lets the batches still held go.
func (v *verifyingSender) done() error {
	for _, h := range v.held {
		v.let(h)
	}
	v.held = nil
	return v.err
}

func (v *verifyingSender) Checkpoint([]byte) error     { return nil }
func (v *verifyingSender) Reject(sdk.BadRecord) error  { return nil }
func (v *verifyingSender) Progress(sdk.Progress) error { return nil }

// Batches of one size fill a ring exactly; every one must still arrive as
// it was sent, through the socket and through shared memory alike.
func TestSameSizeBatchesArriveIntact(t *testing.T) {
	const batches = 60
	for _, shm := range []bool{false, true} {
		t.Run(transportName(shm), func(t *testing.T) {
			client := sdktest.Pipe(t, &seqSource{batches: batches})
			client.SharedMemory = shm
			v := &verifyingSender{}
			if err := client.Read(context.Background(), sdk.ReadRequest{Limits: sdk.Limits{MaxRows: 1 << 20, MaxBytes: 8 << 20}}, v); err != nil {
				t.Fatal(err)
			}
			if err := v.done(); err != nil {
				t.Fatal(err)
			}
			if v.batches != batches {
				t.Fatalf("received %d batches, want %d", v.batches, batches)
			}

			sink := &verifyingSink{}
			client = sdktest.Pipe(t, sink)
			client.SharedMemory = shm
			w, err := client.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "v", Schema: seqSchema})
			if err != nil {
				t.Fatal(err)
			}
			pw := w.(pipelinedWriter)
			owed := 0
			for i := 0; i < batches; i++ {
				rec := seqBatch(i)
				err := pw.Send(context.Background(), rec)
				rec.Release()
				if err != nil {
					t.Fatal(err)
				}
				if owed++; owed == 4 {
					if _, err := pw.Await(context.Background()); err != nil {
						t.Fatal(err)
					}
					owed--
				}
			}
			for ; owed > 0; owed-- {
				if _, err := pw.Await(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := w.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if sink.next != batches*200_000 {
				t.Fatalf("the sink took %d rows, want %d", sink.next, batches*200_000)
			}
		})
	}
}

// pipelinedWriter is how the engine drives a plugin's sink.
type pipelinedWriter interface {
	Send(context.Context, arrow.RecordBatch) error
	Await(context.Context) (sdk.WriteResult, error)
}

// verifyingSink refuses a batch that is not the next of the sequence.
type verifyingSink struct {
	sdk.Unimplemented
	batches atomic.Int64
	next    int64 // only the one write stream touches it
}

func (v *verifyingSink) Spec() sdk.Spec {
	return sdk.Spec{Name: "verify", Version: "1", Capabilities: []sdk.Capability{sdk.CapSink}}
}
func (v *verifyingSink) Configure(context.Context, sdk.Values) sdk.Diagnostics { return nil }
func (v *verifyingSink) OpenWriter(context.Context, sdk.WriteRequest) (sdk.Writer, error) {
	return verifyingWriter{v}, nil
}

type verifyingWriter struct{ v *verifyingSink }

func (w verifyingWriter) Write(_ context.Context, rec arrow.RecordBatch) (sdk.WriteResult, error) {
	n := w.v.batches.Add(1)
	if err := checkSeq(rec, &w.v.next); err != nil {
		return sdk.WriteResult{}, err
	}
	if n%37 == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	return sdk.WriteResult{}, nil
}
func (verifyingWriter) Commit(context.Context) (sdk.CommitResult, error) {
	return sdk.CommitResult{}, nil
}
func (verifyingWriter) Close(context.Context) error { return nil }

// Answers to pipelined batches come back in order, each numbering its
// rejected rows within its own batch, including one split for the wire.
func TestPipelinedWritesAnswerEachBatch(t *testing.T) {
	mem := newMemConn()
	mem.rejectEvery = 1000
	client := sdktest.Pipe(t, mem)
	w, err := client.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "pipe", Schema: sdktest.TenColumnSchema})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	pw := w.(pipelinedWriter)
	// Rows 0-2999, 3000-5999 and 6000-9999; ids are the row numbers.
	sizes := []int{3000, 3000, 4000}
	start := 0
	for _, n := range sizes {
		rec := sdktest.TenColumnBatch(start, n)
		err := pw.Send(context.Background(), rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		start += n
	}
	if _, err := w.Write(context.Background(), sdktest.TenColumnBatch(0, 1)); err == nil {
		t.Fatal("Write while answers are owed succeeded")
	}
	want := [][]int{{0, 1000, 2000}, {0, 1000, 2000}, {0, 1000, 2000, 3000}}
	for i := range sizes {
		res, err := pw.Await(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var rows []int
		for _, rj := range res.Rejected {
			rows = append(rows, rj.Row)
		}
		if fmt.Sprint(rows) != fmt.Sprint(want[i]) {
			t.Fatalf("batch %d: rejected rows %v, want %v", i, rows, want[i])
		}
	}
	if _, err := pw.Await(context.Background()); err == nil {
		t.Fatal("Await without a Send succeeded")
	}
}

// The codec's messages are ordinary protobuf: an engine and a plugin built
// with gRPC's stock codec on either side still exchange batches.
func TestDataCrossesToAndFromTheStockCodec(t *testing.T) {
	t.Run("plugin with the stock codec", func(t *testing.T) {
		// A plugin server built without ServerOptions: it receives and
		// sends through proto, the engine through the codec.
		cc := sdktest.Dial(t, rpc.NewServer(&seqSource{batches: 3}), grpc.MaxRecvMsgSize(rpc.MaxMessageSize))
		client := rpc.NewClient(pb.NewConnectorClient(cc))
		v := &verifyingSender{}
		if err := client.Read(context.Background(), sdk.ReadRequest{}, v); err != nil {
			t.Fatal(err)
		}
		if err := v.done(); err != nil || v.next != 3*200_000 {
			t.Fatalf("received %d rows (%v), want 600000 intact", v.next, err)
		}
		sink := &verifyingSink{}
		client = rpc.NewClient(pb.NewConnectorClient(sdktest.Dial(t, rpc.NewServer(sink), grpc.MaxRecvMsgSize(rpc.MaxMessageSize))))
		w, err := client.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "v", Schema: seqSchema})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			rec := seqBatch(i)
			_, err := w.Write(context.Background(), rec)
			rec.Release()
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if sink.next != 3*200_000 {
			t.Fatalf("the sink took %d rows, want 600000", sink.next)
		}
	})

	t.Run("engine with the stock codec", func(t *testing.T) {
		// The generated client, without the codec, reads what a plugin
		// server with ServerOptions sends.
		cc := sdktest.Dial(t, rpc.NewServer(&seqSource{batches: 3}), rpc.ServerOptions()...)
		stream, err := pb.NewConnectorClient(cc).Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&pb.Read_Control{Kind: &pb.Read_Control_Request{Request: &pb.Read_Request{}}}); err != nil {
			t.Fatal(err)
		}
		var msgs messageList
		for {
			msg, err := stream.Recv()
			if err != nil {
				break
			}
			for _, f := range msg.GetData().GetMessages() {
				msgs = append(msgs, ipc.NewMessage(memory.NewBufferBytes(f.Header), memory.NewBufferBytes(f.Body)))
			}
		}
		r, err := ipc.NewReaderFromMessageReader(&msgs)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Release()
		var next int64
		for r.Next() {
			if err := checkSeq(r.RecordBatch(), &next); err != nil {
				t.Fatal(err)
			}
		}
		if next != 3*200_000 {
			t.Fatalf("decoded %d rows, want 600000 (%v)", next, r.Err())
		}
	})
}

// messageList hands out IPC messages received whole.
type messageList []*ipc.Message

func (l *messageList) Message() (*ipc.Message, error) {
	if len(*l) == 0 {
		return nil, io.EOF
	}
	m := (*l)[0]
	*l = (*l)[1:]
	return m, nil
}
func (l *messageList) Retain()  {}
func (l *messageList) Release() {}

// failingSink refuses the first batch it is given, after a pause long
// enough for the batches sent behind it to be received and decoded.
type failingSink struct{ sdk.Unimplemented }

func (failingSink) Spec() sdk.Spec {
	return sdk.Spec{Name: "failing", Version: "1", Capabilities: []sdk.Capability{sdk.CapSink}}
}
func (failingSink) Configure(context.Context, sdk.Values) sdk.Diagnostics { return nil }
func (failingSink) OpenWriter(context.Context, sdk.WriteRequest) (sdk.Writer, error) {
	return failingWriter{}, nil
}

type failingWriter struct{}

func (failingWriter) Write(context.Context, arrow.RecordBatch) (sdk.WriteResult, error) {
	time.Sleep(100 * time.Millisecond)
	return sdk.WriteResult{}, fmt.Errorf("the disk is full")
}
func (failingWriter) Commit(context.Context) (sdk.CommitResult, error) {
	return sdk.CommitResult{}, nil
}
func (failingWriter) Close(context.Context) error { return nil }

// The plugin receives the next batch while its connector writes this one.
// When the write fails, the batch read ahead is dropped, the engine gets
// the connector's error, and neither side is left waiting on the other.
func TestSinkFailingWithABatchReadAheadEndsTheStream(t *testing.T) {
	for _, shm := range []bool{false, true} {
		t.Run(fmt.Sprintf("shm=%v", shm), func(t *testing.T) {
			client := sdktest.Pipe(t, failingSink{})
			client.SharedMemory = shm
			// The connection's own goroutines start with its first stream.
			warm, err := client.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "x", Schema: seqSchema})
			if err != nil {
				t.Fatal(err)
			}
			if err := warm.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
			before := runtime.NumGoroutine()
			w, err := client.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "x", Schema: seqSchema})
			if err != nil {
				t.Fatal(err)
			}
			pw := w.(pipelinedWriter)
			for i := 0; i < 3; i++ {
				rec := seqBatch(i)
				err := pw.Send(context.Background(), rec)
				rec.Release()
				if err != nil {
					break // the stream may already have ended with the failure
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = pw.Await(ctx)
			if err == nil || !strings.Contains(err.Error(), "the disk is full") {
				t.Fatalf("Await = %v, want the sink's error", err)
			}
			closed := make(chan error, 1)
			go func() { closed <- w.Close(context.Background()) }()
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("Close hung after the sink failed")
			}
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > before {
				t.Fatalf("%d goroutines more than before the stream, after it ended", n-before)
			}
		})
	}
}

// A connection's later streams use the ring its first stream made, in both
// directions, and their data arrives intact although the last stream's
// final batches were let go only after it ended.
func TestLaterStreamsOfAConnectionUseTheSameRings(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("shared memory is Linux-only")
	}
	const batches, streams = 30, 4
	reader := sdktest.Pipe(t, &seqSource{batches: batches})
	reader.SharedMemory = true
	t.Cleanup(reader.Close)
	var readRing string
	for i := range streams {
		v := &verifyingSender{}
		if err := reader.Read(context.Background(), sdk.ReadRequest{Limits: sdk.Limits{MaxRows: 1 << 20, MaxBytes: 8 << 20}}, v); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if err := v.done(); err != nil { // lets the held batches go after the stream
			t.Fatalf("read %d: %v", i, err)
		}
		if v.batches != batches {
			t.Fatalf("read %d: %d batches, want %d", i, v.batches, batches)
		}
		_, mapped := reader.KeptRings()
		if len(mapped) != 1 || (readRing != "" && mapped[0] != readRing) {
			t.Fatalf("read %d: the engine keeps rings %v mapped; want the first stream's %q alone", i, mapped, readRing)
		}
		readRing = mapped[0]
	}

	sink := &verifyingSink{}
	writer := sdktest.Pipe(t, sink)
	writer.SharedMemory = true
	t.Cleanup(writer.Close)
	var writeRing string
	for i := range streams {
		sink.next = 0
		w, err := writer.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "v", Schema: seqSchema})
		if err != nil {
			t.Fatal(err)
		}
		for j := range batches {
			rec := seqBatch(j)
			_, err := w.Write(context.Background(), rec)
			rec.Release()
			if err != nil {
				t.Fatalf("write %d, batch %d: %v", i, j, err)
			}
		}
		if _, err := w.Commit(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if sink.next != batches*200_000 {
			t.Fatalf("write %d: the sink took %d rows, want %d", i, sink.next, batches*200_000)
		}
		sending, _ := writer.KeptRings()
		if len(sending) != 1 || (writeRing != "" && sending[0] != writeRing) {
			t.Fatalf("write %d: the engine keeps rings %v; want the first stream's %q alone", i, sending, writeRing)
		}
		writeRing = sending[0]
	}
}
