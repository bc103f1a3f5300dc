package transform

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// keepRows returns the rows of rec where keep is true, as a new batch.
// The common column types are copied with direct loops over the buffers:
// per column that measured 1.5-5x faster than compute.FilterArray (11x for
// booleans) on a 16%-selective filter over 1M rows. Other types (lists,
// structs, dictionaries) go through arrow compute.
func keepRows(ctx context.Context, a *arena, rec arrow.RecordBatch, keep []bool) (arrow.RecordBatch, error) {
	kept := countTrue(keep)
	if kept == len(keep) {
		return sameColumns(rec), nil
	}
	sel := selection(a, keep, kept)
	cols := make([]arrow.Array, rec.NumCols())
	release := func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}
	var mask arrow.Array // built only if some column needs arrow compute
	defer func() {
		if mask != nil {
			mask.Release()
		}
	}()
	for c := range cols {
		col := rec.Column(c)
		if out := takeFast(col, sel); out != nil {
			cols[c] = out
			continue
		}
		if mask == nil {
			b := array.NewBooleanBuilder(memory.DefaultAllocator)
			b.AppendValues(keep, nil)
			mask = b.NewArray()
			b.Release()
		}
		out, err := compute.FilterArray(ctx, col, mask, *compute.DefaultFilterOptions())
		if err != nil {
			release()
			return nil, fmt.Errorf("filtering column %q: %w", rec.Schema().Field(c).Name, err)
		}
		cols[c] = out
	}
	out := array.NewRecordBatch(rec.Schema(), cols, int64(len(sel)))
	release() // the record holds its own references
	return out, nil
}

// selection lists the indices of the true entries. The loop writes every
// index and advances by the bool's byte, so it has no branch to mispredict
// on a filter that keeps rows at random.
func selection(a *arena, keep []bool, kept int) []int32 {
	sel := a.newSel(kept + 1) // one spare slot for the unconditional write
	j, i := 0, 0
	if aligned8(keep) {
		// Skip eight rows at a time where none is kept.
		for w, word := range boolsAsWords(keep, len(keep)/8) {
			if word == 0 {
				continue
			}
			for i = w * 8; i < w*8+8; i++ {
				sel[j] = int32(i)
				j += int(boolByte(keep[i]))
			}
		}
		i = len(keep) / 8 * 8
	}
	for ; i < len(keep); i++ {
		sel[j] = int32(i)
		j += int(boolByte(keep[i]))
	}
	return sel[:kept]
}

// sameColumns is a new batch over rec's columns. Apply hands back a batch
// the caller releases independently of the one it passed in.
func sameColumns(rec arrow.RecordBatch) arrow.RecordBatch {
	return array.NewRecordBatch(rec.Schema(), rec.Columns(), rec.NumRows())
}

// takeFast copies the selected rows of arr, or returns nil if arr's type
// has no fast path here.
func takeFast(arr arrow.Array, sel []int32) arrow.Array {
	data := arr.Data()
	// Data.Dictionary() returns a typed nil inside an interface, so ask
	// the type instead.
	if arr.DataType().ID() == arrow.DICTIONARY || len(data.Children()) > 0 {
		return nil
	}
	off := data.Offset()
	bufs := data.Buffers()
	n := len(sel)
	validity, nulls := takeValidity(arr, sel)

	var out []*memory.Buffer
	switch arr.DataType().ID() {
	case arrow.BOOL:
		dst, _ := gatherBits(bufs[1].Bytes(), off, sel)
		out = []*memory.Buffer{validity, memory.NewBufferBytes(dst)}
	case arrow.STRING, arrow.BINARY:
		out = takeVarBinary[int32](bufs, off, sel, validity)
	case arrow.LARGE_STRING, arrow.LARGE_BINARY:
		out = takeVarBinary[int64](bufs, off, sel, validity)
	default:
		fw, ok := arr.DataType().(arrow.FixedWidthDataType)
		if !ok || fw.BitWidth()%8 != 0 || len(bufs) != 2 {
			return nil
		}
		width := fw.BitWidth() / 8
		var src []byte
		if bufs[1] != nil {
			src = bufs[1].Bytes()
		}
		dst := takeFixed(src, width, off, sel)
		out = []*memory.Buffer{validity, memory.NewBufferBytes(dst)}
	}
	d := array.NewData(arr.DataType(), n, out, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

func takeValidity(arr arrow.Array, sel []int32) (*memory.Buffer, int) {
	if arr.NullN() == 0 {
		return nil, 0
	}
	bits, set := gatherBits(arr.Data().Buffers()[0].Bytes(), arr.Data().Offset(), sel)
	return memory.NewBufferBytes(bits), len(sel) - set
}

// gatherBits copies the selected bits of a bitmap into a new one and
// counts the set ones. Bits are assembled a byte at a time without a
// branch on their value, which is as random as the data.
func gatherBits(src []byte, off int, sel []int32) ([]byte, int) {
	dst := make([]byte, bitutil.BytesForBits(int64(len(sel))))
	var cur byte
	set := 0
	for j, i := range sel {
		k := off + int(i)
		bit := (src[k>>3] >> (k & 7)) & 1
		set += int(bit)
		cur |= bit << (j & 7)
		if j&7 == 7 {
			dst[j>>3] = cur
			cur = 0
		}
	}
	if len(sel)&7 != 0 {
		dst[len(sel)>>3] = cur
	}
	return dst, set
}

// takeFixed gathers width-byte values; the common widths copy whole words.
func takeFixed(src []byte, width, off int, sel []int32) []byte {
	dst := make([]byte, len(sel)*width)
	if len(sel) == 0 {
		return dst
	}
	switch width {
	case 8:
		gather(castSlice[uint64](src), castSlice[uint64](dst), off, sel)
	case 4:
		gather(castSlice[uint32](src), castSlice[uint32](dst), off, sel)
	case 2:
		gather(castSlice[uint16](src), castSlice[uint16](dst), off, sel)
	case 1:
		gather(src, dst, off, sel)
	default:
		for j, i := range sel {
			copy(dst[j*width:(j+1)*width], src[(off+int(i))*width:])
		}
	}
	return dst
}

func gather[T any](src, dst []T, off int, sel []int32) {
	src = src[off:]
	dst = dst[:len(sel)]
	for j, i := range sel {
		dst[j] = src[i]
	}
}

func castSlice[T uint16 | uint32 | uint64](b []byte) []T {
	if len(b) == 0 {
		return nil
	}
	var zero T
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/int(unsafe.Sizeof(zero)))
}

func takeVarBinary[O int32 | int64](bufs []*memory.Buffer, off int, sel []int32, validity *memory.Buffer) []*memory.Buffer {
	var zero O
	offsBytes := bufs[1].Bytes()
	offs := unsafe.Slice((*O)(unsafe.Pointer(unsafe.SliceData(offsBytes))), len(offsBytes)/int(unsafe.Sizeof(zero)))[off:]
	var data []byte
	if len(bufs) > 2 && bufs[2] != nil {
		data = bufs[2].Bytes()
	}
	newOffs := make([]O, len(sel)+1)
	var total O
	for j, i := range sel {
		total += offs[i+1] - offs[i]
		newOffs[j+1] = total
	}
	// newData has 16 spare bytes so short values can be moved as one
	// 16-byte block: most fields (ids, codes, stages) are that short, and a
	// fixed-size move compiles to two vector instructions where copy()
	// calls memmove. The spare bytes are sliced off at the end.
	const block = 16
	newData := make([]byte, int(total)+block)
	// Copy runs of adjacent selected rows in one go: a filter that keeps
	// most rows then costs a few large copies instead of one per row.
	for j := 0; j < len(sel); {
		start := sel[j]
		k := j + 1
		for k < len(sel) && sel[k] == sel[k-1]+1 {
			k++
		}
		lo, hi, d := int(offs[start]), int(offs[sel[k-1]+1]), int(newOffs[j])
		if hi-lo <= block && lo+block <= len(data) {
			*(*[block]byte)(newData[d : d+block]) = *(*[block]byte)(data[lo : lo+block])
		} else {
			copy(newData[d:], data[lo:hi])
		}
		j = k
	}
	newData = newData[:total]
	ob := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(newOffs))), len(newOffs)*int(unsafe.Sizeof(zero)))
	return []*memory.Buffer{validity, memory.NewBufferBytes(ob), memory.NewBufferBytes(newData)}
}
