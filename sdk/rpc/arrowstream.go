package rpc

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/util"

	"github.com/sluice-dev/sluice/sdk"
	pb "github.com/sluice-dev/sluice/sdk/protocol/sluicev1"
)

// MaxMessageSize is the gRPC message limit both sides set. Batches are
// capped far below it (sdk.DefaultLimits); the headroom only guards against
// a single row wider than the byte cap.
const MaxMessageSize = 256 << 20

// encoder turns record batches into the data messages of one IPC stream.
//
// The frames it returns point into the batch's own Arrow buffers: the
// codec hands those to gRPC as they are. A peer reached through the stock
// proto codec gets them copied into one reused body buffer instead (see
// message).
type encoder struct {
	w      *ipc.Writer
	frames []outFrame
	schema *arrow.Schema
	body   []byte
	// ring, when set, receives large bodies instead of the message.
	ring *ring
}

type frameCollector struct{ e *encoder }

func (frameCollector) Start() error { return nil }
func (frameCollector) Close() error { return nil }

func (c frameCollector) WritePayload(p ipc.Payload) error {
	meta := p.Meta()
	header := bytes.Clone(meta.Bytes())
	if c.e.ring != nil {
		if frame, ok := c.e.toRing(p, meta); ok {
			meta.Release()
			frame.header = header
			c.e.frames = append(c.e.frames, frame)
			return nil
		}
	}
	meta.Release()
	// The body's pieces are kept, not copied: the batch's buffers outlive
	// the message, and the writer's own temporary buffers (a sliced
	// array's rebased offsets, say) come from the Go allocator, so they
	// stay valid for as long as they are referenced.
	var pieces pieceCollector
	if err := p.SerializeBody(&pieces); err != nil {
		return fmt.Errorf("serialize arrow body: %w", err)
	}
	c.e.frames = append(c.e.frames, outFrame{header: header, body: pieces.pieces, bodyLen: pieces.n})
	return nil
}

// pieceCollector records the slices an IPC body is written as.
type pieceCollector struct {
	pieces [][]byte
	n      int
}

func (c *pieceCollector) Write(p []byte) (int, error) {
	c.pieces = append(c.pieces, p)
	c.n += len(p)
	return len(p), nil
}

// toRing serializes the payload's body straight into the shared-memory
// ring: one copy, and none on the receiving side.
func (e *encoder) toRing(p ipc.Payload, meta *memory.Buffer) (outFrame, bool) {
	probe := ipc.NewMessage(meta, memory.NewBufferBytes(nil))
	n := int(probe.BodyLen())
	probe.Release()
	if n < minShmBody {
		return outFrame{}, false
	}
	off, ok := e.ring.alloc(n)
	if !ok {
		return outFrame{}, false
	}
	w := &sliceWriter{buf: e.ring.data[off : off+n]}
	if err := p.SerializeBody(w); err != nil || w.n != n {
		e.ring.release(off)
		return outFrame{}, false
	}
	return outFrame{inShm: true, shmOff: uint64(off), shmLen: uint64(n)}, true
}

// sliceWriter fills a fixed slice and refuses to overflow it.
type sliceWriter struct {
	buf []byte
	n   int
}

func (w *sliceWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > len(w.buf) {
		return 0, errors.New("body larger than its header said")
	}
	w.n += copy(w.buf[w.n:], p)
	return len(p), nil
}

// encodeAllocator makes the IPC writer's temporary buffers garbage
// collected, which is what lets a frame keep pointing at them.
var encodeAllocator = memory.NewGoAllocator()

// encode returns the frames of one batch, valid while rec is and until
// the next call. The first call also emits the schema; every later batch
// must have the same schema.
func (e *encoder) encode(rec arrow.RecordBatch) ([]outFrame, error) {
	if e.w == nil {
		e.schema = rec.Schema()
		e.w = ipc.NewWriterWithPayloadWriter(frameCollector{e}, ipc.WithSchema(e.schema), ipc.WithAllocator(encodeAllocator))
	} else if !e.schema.Equal(rec.Schema()) {
		return nil, fmt.Errorf("schema changed within one stream: was %s, now %s", e.schema, rec.Schema())
	}
	e.frames = e.frames[:0]
	if err := e.w.Write(rec); err != nil {
		return nil, fmt.Errorf("encode arrow batch: %w", err)
	}
	return e.frames, nil
}

// message copies frames into an ArrowData for the stock proto codec. The
// bodies share one buffer, reused from batch to batch: gRPC serializes a
// message before Send returns, so once it is sent its bytes are free.
func (e *encoder) message(frames []outFrame) *pb.ArrowData {
	size := 0
	for _, f := range frames {
		size += f.bodyLen
	}
	if cap(e.body) < size {
		e.body = make([]byte, 0, size)
	}
	body := e.body[:0]
	out := &pb.ArrowData{Messages: make([]*pb.ArrowFrame, len(frames))}
	for i, f := range frames {
		start := len(body)
		for _, p := range f.body {
			body = append(body, p...)
		}
		out.Messages[i] = &pb.ArrowFrame{Header: f.header, Body: body[start:len(body):len(body)],
			InShm: f.inShm, ShmOffset: f.shmOff, ShmLength: f.shmLen}
	}
	return out
}

// decoder reads the data messages of one IPC stream back into batches.
// It is the ipc.MessageReader the arrow reader pulls from; each data message
// is fed in whole before the reader is asked for exactly one batch.
type decoder struct {
	pending []*ipc.Message
	// last is the message the reader was given last. The reader does not
	// release messages: like arrow's own message reader, the decoder owns
	// each until the next is taken. Without that no body was ever released,
	// and a shared-memory ring filled with its first batches for good.
	last *ipc.Message
	rdr  *ipc.Reader
	// shm maps the sender's ring, once it has announced one.
	shm *mapping
}

func (d *decoder) Message() (*ipc.Message, error) {
	if d.last != nil {
		d.last.Release()
		d.last = nil
	}
	if len(d.pending) == 0 {
		return nil, io.EOF
	}
	m := d.pending[0]
	d.pending = d.pending[1:]
	d.last = m
	return m, nil
}
func (d *decoder) Retain()  {}
func (d *decoder) Release() {}

// decode returns the batch a data message carries; the caller releases
// it. The frames' bodies pass to the batch (or are released).
func (d *decoder) decode(frames []inFrame) (arrow.RecordBatch, error) {
	if len(frames) == 0 {
		return nil, errors.New("empty arrow data message")
	}
	for i, f := range frames {
		body := f.body
		if f.inShm {
			if d.shm == nil {
				releaseFrames(frames[i:])
				return nil, errors.New("a batch body lies in shared memory that was never announced")
			}
			var err error
			if body, err = d.shm.body(f.shmOff, f.shmLen); err != nil {
				releaseFrames(frames[i:])
				return nil, err
			}
		} else if body == nil {
			body = memory.NewBufferBytes(nil)
		}
		d.pending = append(d.pending, ipc.NewMessage(memory.NewBufferBytes(f.header), body))
		body.Release() // the message holds it now
	}
	if d.rdr == nil {
		rdr, err := ipc.NewReaderFromMessageReader(d)
		if err != nil {
			return nil, fmt.Errorf("decode arrow schema: %w", err)
		}
		d.rdr = rdr
	}
	if !d.rdr.Next() {
		if err := d.rdr.Err(); err != nil {
			return nil, fmt.Errorf("decode arrow batch: %w", err)
		}
		return nil, errors.New("decode arrow batch: data message held no record batch")
	}
	rec := d.rdr.RecordBatch()
	rec.Retain()
	if len(d.pending) != 0 {
		rec.Release()
		return nil, fmt.Errorf("decode arrow batch: %d unexpected IPC messages after the batch", len(d.pending))
	}
	return rec, nil
}

// close releases the last message the reader holds, and with it the
// last shared-memory body that no batch references any more.
func (d *decoder) close() {
	for _, m := range d.pending {
		m.Release()
	}
	d.pending = nil
	if d.last != nil {
		d.last.Release()
		d.last = nil
	}
	if d.rdr != nil {
		d.rdr.Release()
		d.rdr = nil
	}
	if d.shm != nil && !d.shm.kept {
		d.shm.close()
	}
}

// split slices rec into batches within limits, without copying. The byte
// estimate is per row on average, which is what a cap on wire size needs.
func split(rec arrow.RecordBatch, limits sdk.Limits) []arrow.RecordBatch {
	rows := int(rec.NumRows())
	maxRows := limits.MaxRows
	if maxRows <= 0 {
		maxRows = sdk.DefaultLimits.MaxRows
	}
	maxBytes := limits.MaxBytes
	if maxBytes <= 0 {
		maxBytes = sdk.DefaultLimits.MaxBytes
	}
	if rows > 0 {
		if size := util.TotalRecordSize(rec); size > int64(maxBytes) {
			byBytes := int(int64(maxBytes) * int64(rows) / size)
			if byBytes < 1 {
				byBytes = 1
			}
			maxRows = min(maxRows, byBytes)
		}
	}
	if rows <= maxRows {
		return []arrow.RecordBatch{rec}
	}
	out := make([]arrow.RecordBatch, 0, (rows+maxRows-1)/maxRows)
	for start := 0; start < rows; start += maxRows {
		out = append(out, rec.NewSlice(int64(start), int64(min(start+maxRows, rows))))
	}
	return out
}

// releaseSlices releases the slices split made, but not the original.
func releaseSlices(orig arrow.RecordBatch, parts []arrow.RecordBatch) {
	for _, p := range parts {
		if p != orig {
			p.Release()
		}
	}
}

// encodeSchema serializes a schema as an IPC stream holding only it.
func encodeSchema(s *arrow.Schema) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s))
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	return buf.Bytes(), nil
}

func decodeSchema(b []byte) (*arrow.Schema, error) {
	if len(b) == 0 {
		return nil, nil
	}
	r, err := ipc.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decode schema: %w", err)
	}
	defer r.Release()
	return r.Schema(), nil
}
