package rpc

import (
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// countingFree is the allocator of received bodies: it counts the ones
// let go.
type countingFree struct{ freed *atomic.Int64 }

func (countingFree) Allocate(int) []byte           { panic("not an allocator") }
func (countingFree) Reallocate(int, []byte) []byte { panic("not an allocator") }
func (c countingFree) Free([]byte)                 { c.freed.Add(1) }

// A body goes back (to a shared-memory ring, say) once its batch is
// released and the reader has moved past it; before, the decoder never
// let go of the messages it handed to Arrow's reader, so no body was ever
// freed.
func TestDecoderLetsBodiesGo(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)
	batch := func(v int64) arrow.RecordBatch {
		b := array.NewInt64Builder(memory.DefaultAllocator)
		defer b.Release()
		b.AppendValues([]int64{v, v + 1, v + 2}, nil)
		col := b.NewArray()
		defer col.Release()
		return array.NewRecordBatch(schema, []arrow.Array{col}, 3)
	}
	var enc encoder
	var dec decoder
	var freed atomic.Int64
	receive := func(rec arrow.RecordBatch) arrow.RecordBatch {
		frames, err := enc.encode(rec)
		if err != nil {
			t.Fatal(err)
		}
		in := make([]inFrame, len(frames))
		for i, f := range frames {
			in[i] = inFrame{header: f.header}
			if f.bodyLen > 0 {
				body := make([]byte, 0, f.bodyLen)
				for _, p := range f.body {
					body = append(body, p...)
				}
				in[i].body = memory.NewBufferWithAllocator(body, countingFree{&freed})
			}
		}
		got, err := dec.decode(in)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for i := int64(0); i < 3; i++ {
		rec := batch(10 * i)
		got := receive(rec)
		rec.Release()
		if v := got.Column(0).(*array.Int64).Value(0); v != 10*i {
			t.Fatalf("batch %d starts with %d", i, v)
		}
		got.Release()
		// The batch just released is still the reader's current one; the
		// bodies before it must all be back.
		if n := freed.Load(); n != i {
			t.Fatalf("after %d batches, %d bodies were freed; want %d", i+1, n, i)
		}
	}
	dec.close()
	if n := freed.Load(); n != 3 {
		t.Fatalf("after close, %d of 3 bodies were freed", n)
	}
}
