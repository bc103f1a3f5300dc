package rpc

import (
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the codec delegated to
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	pb "github.com/sluice-dev/sluice/sdk/protocol/sluicev1"
)

// codec is gRPC's proto codec with a fast path for the messages that carry
// record batches. The bytes on the wire are the same protobuf encoding
// either way, so each side works with a peer that uses the stock codec.
//
// Through the stock codec a batch body is copied six times in user space:
// the IPC writer serializes it into a buffer, proto.Marshal copies that
// into gRPC's, gRPC's transport copies it into its write buffer; on the
// other side the transport copies it into 16 KiB frame buffers, the codec
// joins those into one, and proto.Unmarshal copies that into a fresh
// slice. Here the sender hands gRPC the record's own Arrow buffers (kept
// alive until gRPC has written them) and the receiver copies the frames
// once, straight into the body the batch will use: two copies and a
// multi-megabyte garbage slice per batch fewer on each side. In the
// CSV → Parquet plugin benchmark that was about 0.06 of the 0.24 CPU
// seconds per million rows the boundary added; most of the rest is gRPC's
// transport and the socket, which no codec can skip.
type codec struct{}

var protoCodec = encoding.GetCodecV2("proto")

// Name keeps the content-subtype gRPC sends with the stock codec's, so a
// peer without this codec decodes our messages as ordinary protobuf.
func (codec) Name() string { return "proto" }

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	if d, ok := v.(*outData); ok {
		return d.marshal(), nil
	}
	return protoCodec.Marshal(v)
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(inbound); ok {
		m.received().fast = true
	}
	if m, ok := v.(dataInbound); ok {
		if frames, ok := parseData(data, m.dataField()); ok && len(frames) > 0 {
			m.received().frames = frames
			m.setData()
			return nil
		}
	}
	return protoCodec.Unmarshal(data, v)
}

// callCodec makes the host's data streams use the codec, whatever the
// connection was dialled with.
var callCodec = grpc.ForceCodecV2(codec{})

// inbound is a received stream message the codec marks. Each embeds the
// generated message, so through the stock codec (a server built without
// ServerOptions) it unmarshals as that message and only speed is lost.
type inbound interface {
	received() *inData
}

// dataInbound is an inbound message that may carry a batch, which the
// codec then decodes itself.
type dataInbound interface {
	inbound
	// dataField is the field number of the ArrowData in the oneof.
	dataField() protowire.Number
	// setData makes the message's kind data; the frames are in inData.
	setData()
}

// inData is what the codec adds to a received message.
type inData struct {
	// fast says the codec read the message, so the peer's messages in
	// this stream may be sent through it too.
	fast bool
	// frames holds the batch when the message was data and the codec
	// decoded it; otherwise the generated message holds everything.
	frames []inFrame
}

func (d *inData) received() *inData { return d }

// batch returns the frames of a data message, whichever codec read it.
func (d *inData) batch(data *pb.ArrowData) []inFrame {
	if d.frames != nil {
		return d.frames
	}
	return framesFromPB(data)
}

type (
	readControlIn struct {
		*pb.Read_Control
		inData
	}
	readResponseIn struct {
		*pb.Read_Response
		inData
	}
	writeRequestIn struct {
		*pb.Write_Request
		inData
	}
	subscribeRequestIn struct {
		*pb.Subscribe_Request
		inData
	}
	subscribeResponseIn struct {
		*pb.Subscribe_Response
		inData
	}
)

func (*readResponseIn) dataField() protowire.Number      { return 1 }
func (*writeRequestIn) dataField() protowire.Number      { return 2 }
func (*subscribeResponseIn) dataField() protowire.Number { return 1 }

func (m *readResponseIn) setData()      { m.Kind = &pb.Read_Response_Data{} }
func (m *writeRequestIn) setData()      { m.Kind = &pb.Write_Request_Data{} }
func (m *subscribeResponseIn) setData() { m.Kind = &pb.Subscribe_Response_Data{} }

// inFrame is one received Arrow IPC message: metadata and a body that is
// inline or lies in the sender's shared-memory ring.
type inFrame struct {
	header []byte
	body   *memory.Buffer // nil when empty or in shared memory
	inShm  bool
	shmOff uint64
	shmLen uint64
}

func releaseFrames(frames []inFrame) {
	for _, f := range frames {
		if f.body != nil {
			f.body.Release()
		}
	}
}

// framesFromPB adopts the frames of a message decoded by the stock codec.
func framesFromPB(data *pb.ArrowData) []inFrame {
	frames := make([]inFrame, len(data.GetMessages()))
	for i, f := range data.GetMessages() {
		frames[i] = inFrame{header: f.Header, inShm: f.InShm, shmOff: f.ShmOffset, shmLen: f.ShmLength}
		if len(f.Body) > 0 {
			frames[i].body = memory.NewBufferBytes(f.Body)
		}
	}
	return frames
}

// bodyAlloc provides receive buffers. Arrow's Go allocator aligns them to
// 64 bytes as the IPC format expects, and leaves them to the garbage
// collector: a connector may keep a string it read from a batch after
// releasing the batch (array.String.Value does not copy), so a buffer is
// never handed out again while anything can still see it.
var bodyAlloc = memory.NewGoAllocator()

// parseData decodes a message whose only field is the ArrowData at field,
// copying each body once out of gRPC's frames. Anything else, including
// an encoding it does not expect, returns false and is left to proto.
func parseData(data mem.BufferSlice, field protowire.Number) ([]inFrame, bool) {
	r := newSliceReader(data)
	num, typ, ok := r.tag()
	if !ok || num != field || typ != protowire.BytesType {
		return nil, false
	}
	n, ok := r.varint()
	if !ok || n != uint64(r.left) {
		return nil, false
	}
	var frames []inFrame
	for r.left > 0 {
		num, typ, ok := r.tag()
		if !ok || num != 1 || typ != protowire.BytesType {
			releaseFrames(frames)
			return nil, false
		}
		n, ok := r.varint()
		if !ok || n > uint64(r.left) {
			releaseFrames(frames)
			return nil, false
		}
		f, ok := r.frame(r.left - int(n))
		if !ok {
			releaseFrames(frames)
			return nil, false
		}
		frames = append(frames, f)
	}
	return frames, true
}

// sliceReader reads protobuf wire format across gRPC's buffers.
type sliceReader struct {
	bufs mem.BufferSlice
	next int
	cur  []byte
	left int
}

func newSliceReader(data mem.BufferSlice) *sliceReader {
	return &sliceReader{bufs: data, left: data.Len()}
}

func (r *sliceReader) fill() bool {
	for len(r.cur) == 0 {
		if r.next == len(r.bufs) {
			return false
		}
		r.cur = r.bufs[r.next].ReadOnlyData()
		r.next++
	}
	return true
}

func (r *sliceReader) varint() (uint64, bool) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if !r.fill() {
			return 0, false
		}
		b := r.cur[0]
		r.cur = r.cur[1:]
		r.left--
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, true
		}
	}
	return 0, false
}

func (r *sliceReader) tag() (protowire.Number, protowire.Type, bool) {
	v, ok := r.varint()
	if !ok || v>>3 == 0 || v>>3 > uint64(protowire.MaxValidNumber) {
		return 0, 0, false
	}
	return protowire.Number(v >> 3), protowire.Type(v & 7), true
}

func (r *sliceReader) read(dst []byte) bool {
	if len(dst) > r.left {
		return false
	}
	for len(dst) > 0 {
		if !r.fill() {
			return false
		}
		n := copy(dst, r.cur)
		dst = dst[n:]
		r.cur = r.cur[n:]
		r.left -= n
	}
	return true
}

// frame decodes one ArrowFrame, which ends when end bytes are left.
func (r *sliceReader) frame(end int) (inFrame, bool) {
	var f inFrame
	fail := func() (inFrame, bool) {
		if f.body != nil {
			f.body.Release()
		}
		return inFrame{}, false
	}
	for r.left > end {
		num, typ, ok := r.tag()
		if !ok {
			return fail()
		}
		switch {
		case (num == 1 || num == 2) && typ == protowire.BytesType:
			n, ok := r.varint()
			if !ok || n > uint64(r.left-end) {
				return fail()
			}
			if num == 1 {
				f.header = make([]byte, n)
				if !r.read(f.header) {
					return fail()
				}
				continue
			}
			if f.body != nil {
				f.body.Release() // a repeated field: the last one counts
				f.body = nil
			}
			if n == 0 {
				continue
			}
			f.body = memory.NewBufferBytes(bodyAlloc.Allocate(int(n)))
			if !r.read(f.body.Bytes()) {
				return fail()
			}
		case num >= 3 && num <= 5 && typ == protowire.VarintType:
			v, ok := r.varint()
			if !ok {
				return fail()
			}
			switch num {
			case 3:
				f.inShm = v != 0
			case 4:
				f.shmOff = v
			case 5:
				f.shmLen = v
			}
		default:
			return fail()
		}
	}
	if r.left != end {
		return fail()
	}
	return f, true
}

// outData is a data message the codec encodes itself: field is the
// ArrowData's number in the message's oneof.
type outData struct {
	field  protowire.Number
	frames []outFrame
	// rec holds the memory the frames' bodies point into.
	rec arrow.RecordBatch
}

// outFrame is one Arrow IPC message to send. Its body is the list of the
// record's buffers and their padding, as the IPC writer laid them out.
type outFrame struct {
	header  []byte
	body    [][]byte
	bodyLen int
	inShm   bool
	shmOff  uint64
	shmLen  uint64
}

func (f *outFrame) size() int {
	n := 0
	if len(f.header) > 0 {
		n += 1 + protowire.SizeBytes(len(f.header))
	}
	if f.bodyLen > 0 {
		n += 1 + protowire.SizeBytes(f.bodyLen)
	}
	if f.inShm {
		n += 2
	}
	if f.shmOff != 0 {
		n += 1 + protowire.SizeVarint(f.shmOff)
	}
	if f.shmLen != 0 {
		n += 1 + protowire.SizeVarint(f.shmLen)
	}
	return n
}

// Pieces smaller than this are copied next to the field tags rather than
// handed to gRPC as buffers of their own.
const minZeroCopy = 4 << 10

// marshal lays the message out as the protobuf encoding of the generated
// message would, field by field in number order, with the bodies' large
// buffers referenced rather than copied. The record stays retained until
// gRPC has written (or dropped) every one of them.
func (d *outData) marshal() mem.BufferSlice {
	dataLen := 0
	for i := range d.frames {
		n := d.frames[i].size()
		dataLen += 1 + protowire.SizeVarint(uint64(n)) + n
	}
	var out mem.BufferSlice
	small := make([]byte, 0, 256)
	small = protowire.AppendTag(small, d.field, protowire.BytesType)
	small = protowire.AppendVarint(small, uint64(dataLen))
	var pin *pinned
	for i := range d.frames {
		f := &d.frames[i]
		small = protowire.AppendTag(small, 1, protowire.BytesType)
		small = protowire.AppendVarint(small, uint64(f.size()))
		if len(f.header) > 0 {
			small = protowire.AppendTag(small, 1, protowire.BytesType)
			small = protowire.AppendBytes(small, f.header)
		}
		if f.bodyLen > 0 {
			small = protowire.AppendTag(small, 2, protowire.BytesType)
			small = protowire.AppendVarint(small, uint64(f.bodyLen))
			for _, p := range f.body {
				if len(p) < minZeroCopy {
					small = append(small, p...)
					continue
				}
				if len(small) > 0 {
					out = append(out, mem.SliceBuffer(small))
					small = make([]byte, 0, 256)
				}
				if pin == nil {
					pin = &pinned{rec: d.rec}
					pin.refs.Store(1) // dropped below, once every piece holds one
					d.rec.Retain()
				}
				pin.refs.Add(1)
				p := p[:len(p):len(p)]
				out = append(out, mem.NewBuffer(&p, pin))
			}
		}
		if f.inShm {
			small = protowire.AppendTag(small, 3, protowire.VarintType)
			small = protowire.AppendVarint(small, 1)
		}
		if f.shmOff != 0 {
			small = protowire.AppendTag(small, 4, protowire.VarintType)
			small = protowire.AppendVarint(small, f.shmOff)
		}
		if f.shmLen != 0 {
			small = protowire.AppendTag(small, 5, protowire.VarintType)
			small = protowire.AppendVarint(small, f.shmLen)
		}
	}
	if len(small) > 0 {
		out = append(out, mem.SliceBuffer(small))
	}
	if pin != nil {
		pin.Put(nil)
	}
	return out
}

// pinned is the gRPC buffer pool of the pieces of one message: it gets
// them back only once written, and then lets the record go.
type pinned struct {
	refs atomic.Int32
	rec  arrow.RecordBatch
}

func (p *pinned) Get(int) *[]byte { panic("rpc: pinned Arrow buffers are not a pool to allocate from") }

func (p *pinned) Put(*[]byte) {
	if p.refs.Add(-1) == 0 {
		p.rec.Release()
	}
}
