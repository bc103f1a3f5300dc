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

// encoder turns record batches into ArrowData messages of one IPC stream.
//
// The body buffer is reused from batch to batch: gRPC serializes a message
// before Send returns, so once a data message is sent its bytes are free.
// That saves re-growing a multi-megabyte buffer for every batch.
type encoder struct {
	w      *ipc.Writer
	frames []*pb.ArrowFrame
	schema *arrow.Schema
	body   bytes.Buffer
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
			frame.Header = header
			c.e.frames = append(c.e.frames, frame)
			return nil
		}
	}
	meta.Release()
	start := c.e.body.Len()
	if err := p.SerializeBody(&c.e.body); err != nil {
		return fmt.Errorf("serialize arrow body: %w", err)
	}
	c.e.frames = append(c.e.frames, &pb.ArrowFrame{Header: header, Body: c.e.body.Bytes()[start:]})
	return nil
}

// toRing serializes the payload's body straight into the shared-memory
// ring: one copy, and none on the receiving side.
func (e *encoder) toRing(p ipc.Payload, meta *memory.Buffer) (*pb.ArrowFrame, bool) {
	probe := ipc.NewMessage(meta, memory.NewBufferBytes(nil))
	n := int(probe.BodyLen())
	probe.Release()
	if n < minShmBody {
		return nil, false
	}
	off, ok := e.ring.alloc(n)
	if !ok {
		return nil, false
	}
	w := &sliceWriter{buf: e.ring.data[off : off+n]}
	if err := p.SerializeBody(w); err != nil || w.n != n {
		e.ring.release(off)
		return nil, false
	}
	return &pb.ArrowFrame{InShm: true, ShmOffset: uint64(off), ShmLength: uint64(n)}, true
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

// encode returns the data message for one batch, valid until the next call.
// The first call also emits the schema; every later batch must have the
// same schema.
func (e *encoder) encode(rec arrow.RecordBatch) (*pb.ArrowData, error) {
	if e.w == nil {
		e.schema = rec.Schema()
		e.w = ipc.NewWriterWithPayloadWriter(frameCollector{e}, ipc.WithSchema(e.schema))
	} else if !e.schema.Equal(rec.Schema()) {
		return nil, fmt.Errorf("schema changed within one stream: was %s, now %s", e.schema, rec.Schema())
	}
	e.frames = nil
	e.body.Reset()
	if err := e.w.Write(rec); err != nil {
		return nil, fmt.Errorf("encode arrow batch: %w", err)
	}
	return &pb.ArrowData{Messages: e.frames}, nil
}

// decoder reads the ArrowData messages of one IPC stream back into batches.
// It is the ipc.MessageReader the arrow reader pulls from; each data message
// is fed in whole before the reader is asked for exactly one batch.
type decoder struct {
	pending []*ipc.Message
	rdr     *ipc.Reader
	// shm maps the sender's ring, once it has announced one.
	shm *mapping
}

func (d *decoder) Message() (*ipc.Message, error) {
	if len(d.pending) == 0 {
		return nil, io.EOF
	}
	m := d.pending[0]
	d.pending = d.pending[1:]
	return m, nil
}
func (d *decoder) Retain()  {}
func (d *decoder) Release() {}

// decode returns the batch a data message carries; the caller releases it.
func (d *decoder) decode(data *pb.ArrowData) (arrow.RecordBatch, error) {
	if data == nil || len(data.Messages) == 0 {
		return nil, errors.New("empty arrow data message")
	}
	for _, f := range data.Messages {
		if !f.InShm {
			d.pending = append(d.pending, ipc.NewMessage(memory.NewBufferBytes(f.Header), memory.NewBufferBytes(f.Body)))
			continue
		}
		if d.shm == nil {
			return nil, errors.New("a batch body lies in shared memory that was never announced")
		}
		body, err := d.shm.body(f.ShmOffset, f.ShmLength)
		if err != nil {
			return nil, err
		}
		d.pending = append(d.pending, ipc.NewMessage(memory.NewBufferBytes(f.Header), body))
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
	if d.rdr != nil {
		d.rdr.Release()
		d.rdr = nil
	}
	if d.shm != nil {
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
