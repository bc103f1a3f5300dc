package format

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/sluice-dev/sluice/sdk"
)

// cell is one converted value waiting to be appended. A row is converted
// cell by cell first and appended only when every cell succeeded, so that a
// bad value rejects the whole row without leaving the columns ragged.
type cell struct {
	null bool
	bits int64  // int64, float64 bits, bool, micros or days
	str  []byte // KindString; points into the reader's buffer
}

// textColumn is one output column of a CSV or JSONL read, and the Arrow
// buffers of the batch being built for it. The Batcher writes the values
// of row r at index r and only then counts the row, so a row abandoned
// half way leaves nothing behind: the next one overwrites its slots.
// Arrow's builders would append, which cannot be taken back, and cost a
// capacity check and a bitmap update per value besides.
type textColumn struct {
	name string
	Kind Kind
	src  int // index in the file's columns
	typ  arrow.DataType

	valid *memory.Buffer // nil while the batch has no null
	vals  *memory.Buffer // values; offsets for strings
	data  *memory.Buffer // string bytes

	bits []byte  // valid's bitmap
	i64  []int64 // int64, float64 bits, timestamp micros
	i32  []int32 // date days; string offsets
	flag []byte  // bool values' bitmap
	str  []byte  // data's bytes, length the bytes used
	days dayMemo // the last date parsed, for timestamp and date columns
	// dataHint is the string bytes of the last batch, to size the next.
	dataHint int
}

// convert parses text v into c for the column's Kind and returns a reason
// naming the field when it does not fit.
func (col *textColumn) convert(v []byte, c *cell) string {
	c.null = false
	switch col.Kind {
	case KindString:
		c.str = v
		return ""
	case KindInt:
		n, ok := parseInt(v)
		if ok {
			c.bits = n
			return ""
		}
	case KindFloat:
		f, ok := parseFloat(v)
		if ok {
			c.bits = int64(math.Float64bits(f))
			return ""
		}
	case KindBool:
		b, ok := parseBool(v)
		if ok {
			c.bits = 0
			if b {
				c.bits = 1
			}
			return ""
		}
	case KindTimestamp:
		us, ok := parseTimestamp(v, true)
		if ok {
			c.bits = us
			return ""
		}
	case KindDate:
		d, ok := parseDate(v)
		if ok {
			c.bits = int64(d)
			return ""
		}
	}
	return badValue(col, v)
}

func badValue(col *textColumn, v []byte) string {
	const maxShown = 64
	shown := string(v)
	if len(shown) > maxShown {
		shown = shown[:maxShown] + "..."
	}
	return fmt.Sprintf("field %q: cannot parse %q as %s", col.name, shown, col.Kind)
}

// alloc gives the column empty buffers for a batch of up to n rows.
func (col *textColumn) alloc(mem memory.Allocator, n int) {
	col.valid, col.bits = nil, nil
	col.vals = memory.NewResizableBuffer(mem)
	col.sizeValues(n)
	if col.Kind == KindString {
		col.i32[0] = 0
		col.data = memory.NewResizableBuffer(mem)
		col.data.Reserve(max(col.dataHint+col.dataHint/8, n*8, 4096))
		col.str = col.data.Buf()[:0]
	}
}

// grow makes room for n rows, keeping the values stored so far.
func (col *textColumn) grow(n int) {
	if col.valid != nil {
		col.valid.Resize(int(bitutil.BytesForBits(int64(n))))
		col.bits = col.valid.Bytes()
	}
	col.sizeValues(n)
}

// sizeValues sizes the value buffer (offsets, for strings) for n rows,
// keeping its contents, and points the column's typed view at it.
func (col *textColumn) sizeValues(n int) {
	switch col.Kind {
	case KindInt, KindFloat, KindTimestamp:
		col.vals.Resize(arrow.Int64Traits.BytesRequired(n))
		col.i64 = arrow.Int64Traits.CastFromBytes(col.vals.Bytes())
	case KindDate:
		col.vals.Resize(arrow.Int32Traits.BytesRequired(n))
		col.i32 = arrow.Int32Traits.CastFromBytes(col.vals.Bytes())
	case KindBool:
		col.vals.Resize(int(bitutil.BytesForBits(int64(n))))
		col.flag = col.vals.Bytes()
	case KindString:
		col.vals.Resize(arrow.Int32Traits.BytesRequired(n + 1))
		col.i32 = arrow.Int32Traits.CastFromBytes(col.vals.Bytes())
	}
}

// setNull makes row r null. The first null of a batch creates the
// validity bitmap, every earlier row valid.
func (col *textColumn) setNull(mem memory.Allocator, r int) {
	if col.bits == nil {
		col.valid = memory.NewResizableBuffer(mem)
		col.valid.Resize(col.bitmapLen())
		col.bits = col.valid.Bytes()
		bitutil.SetBitsTo(col.bits, 0, int64(r), true)
	}
	bitutil.ClearBit(col.bits, r)
	switch col.Kind {
	case KindInt, KindFloat, KindTimestamp:
		col.i64[r] = 0
	case KindDate:
		col.i32[r] = 0
	case KindBool:
		bitutil.ClearBit(col.flag, r)
	case KindString:
		col.str = col.str[:col.i32[r]]
		col.i32[r+1] = col.i32[r]
	}
}

// bitmapLen is the bytes of a validity bitmap for the rows the column
// has room for.
func (col *textColumn) bitmapLen() int {
	switch col.Kind {
	case KindInt, KindFloat, KindTimestamp:
		return int(bitutil.BytesForBits(int64(len(col.i64))))
	case KindBool:
		return len(col.flag)
	case KindString:
		return int(bitutil.BytesForBits(int64(len(col.i32) - 1)))
	}
	return int(bitutil.BytesForBits(int64(len(col.i32))))
}

func (col *textColumn) setValid(r int) {
	if col.bits != nil {
		bitutil.SetBit(col.bits, r)
	}
}

// setString stores v as row r of a string column.
func (col *textColumn) setString(r int, v []byte) {
	col.str = col.str[:col.i32[r]]
	if len(col.str)+len(v) > cap(col.str) {
		n := len(col.str)
		col.data.Reserve(max(2*cap(col.str), n+len(v)))
		col.str = col.data.Buf()[:n]
	}
	col.str = append(col.str, v...)
	col.i32[r+1] = int32(len(col.str))
	col.setValid(r)
}

// set stores a converted cell as row r.
func (col *textColumn) set(mem memory.Allocator, r int, c *cell) {
	if c.null {
		col.setNull(mem, r)
		return
	}
	switch col.Kind {
	case KindString:
		col.setString(r, c.str)
		return
	case KindInt, KindFloat, KindTimestamp:
		col.i64[r] = c.bits
	case KindBool:
		bitutil.SetBitTo(col.flag, r, c.bits != 0)
	case KindDate:
		col.i32[r] = int32(c.bits)
	}
	col.setValid(r)
}

// array hands the first n rows over as an Arrow array and leaves the
// column without buffers.
func (col *textColumn) array(n int) arrow.Array {
	nulls := 0
	if col.valid != nil {
		col.valid.Resize(int(bitutil.BytesForBits(int64(n))))
		nulls = n - bitutil.CountSetBits(col.valid.Bytes(), 0, n)
	}
	bufs := []*memory.Buffer{col.valid, col.vals}
	switch col.Kind {
	case KindInt, KindFloat, KindTimestamp:
		col.vals.Resize(arrow.Int64Traits.BytesRequired(n))
	case KindDate:
		col.vals.Resize(arrow.Int32Traits.BytesRequired(n))
	case KindBool:
		col.vals.Resize(int(bitutil.BytesForBits(int64(n))))
	case KindString:
		col.vals.Resize(arrow.Int32Traits.BytesRequired(n + 1))
		col.str = col.str[:col.i32[n]]
		col.dataHint = len(col.str)
		col.data.ResizeNoShrink(len(col.str))
		bufs = append(bufs, col.data)
	}
	data := array.NewData(col.typ, n, bufs, nil, nulls, 0)
	arr := array.MakeFromData(data)
	data.Release()
	col.release()
	return arr
}

func (col *textColumn) release() {
	for _, b := range []*memory.Buffer{col.valid, col.vals, col.data} {
		if b != nil {
			b.Release()
		}
	}
	col.valid, col.vals, col.data = nil, nil, nil
	col.bits, col.i64, col.i32, col.flag, col.str = nil, nil, nil, nil, nil
}

// Batcher accumulates the converted rows of a CSV or JSONL read into Arrow
// buffers and cuts a batch whenever the row or byte cap is reached. One
// Batcher serves any number of inputs of its schema, one at a time; it is
// not safe for concurrent use.
type Batcher struct {
	text   TextSchema
	schema *arrow.Schema
	mem    memory.Allocator
	cols   []textColumn
	cells  []cell
	limits sdk.Limits
	fixed  int // Arrow bytes per row excluding string data
	// byFile maps a file column to its output column, -1 when not
	// projected; nil when a column is projected twice, which the direct
	// CSV path does not handle.
	byFile []int
	ends   []int // storeLine's field ends, kept for the next line

	rows  int
	bytes int
	room  int // rows the buffers hold
}

// NewBatcher returns a batcher for inputs of schema ts producing the
// columns at indices project (see [Projection]), in that order, in batches
// capped by limits (zero caps take sdk.DefaultLimits).
func NewBatcher(mem memory.Allocator, ts TextSchema, project []int, limits sdk.Limits) *Batcher {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	b := &Batcher{text: ts, mem: mem, limits: NormLimits(limits)}
	fields := make([]arrow.Field, len(project))
	b.byFile = make([]int, len(ts.Names))
	for i := range b.byFile {
		b.byFile[i] = -1
	}
	for i, src := range project {
		k := ts.Kinds[src]
		col := textColumn{name: ts.Names[src], Kind: k, src: src, typ: k.ArrowType()}
		b.cols = append(b.cols, col)
		b.fixed += k.width()
		fields[i] = arrow.Field{Name: col.name, Type: col.typ, Nullable: true}
		if b.byFile != nil && b.byFile[src] >= 0 {
			b.byFile = nil
		} else if b.byFile != nil {
			b.byFile[src] = i
		}
	}
	b.schema = arrow.NewSchema(fields, nil)
	b.cells = make([]cell, len(b.cols))
	b.alloc()
	return b
}

// alloc gives the columns buffers for a full batch up front, so that rows
// are stored without reallocating and copying on the way up.
func (b *Batcher) alloc() {
	n := b.limits.MaxRows
	if b.fixed > 0 && b.limits.MaxBytes/b.fixed < n {
		n = b.limits.MaxBytes / b.fixed
	}
	n = max(min(n, 1<<16), 1)
	for i := range b.cols {
		b.cols[i].alloc(b.mem, n)
	}
	b.room = n
}

// makeRoom ensures the buffers hold one more row.
func (b *Batcher) makeRoom() {
	if b.rows < b.room {
		return
	}
	b.room *= 2
	for i := range b.cols {
		b.cols[i].grow(b.room)
	}
}

// commit appends the converted cells as one row and reports whether the
// batch is full.
func (b *Batcher) commit() bool {
	b.makeRoom()
	size := b.fixed
	r := b.rows
	for i := range b.cols {
		c := &b.cells[i]
		b.cols[i].set(b.mem, r, c)
		if !c.null {
			size += len(c.str)
		}
	}
	return b.counted(size)
}

// counted counts the row just stored, of size Arrow bytes, and reports
// whether the batch is full.
func (b *Batcher) counted(size int) bool {
	b.rows++
	b.bytes += size
	return b.rows >= b.limits.MaxRows || b.bytes >= b.limits.MaxBytes
}

// clearCells resets cells for formats where absent fields are null (JSONL).
func (b *Batcher) clearCells() {
	for i := range b.cells {
		b.cells[i] = cell{null: true}
	}
}

// Schema is the schema of the batches it sends.
func (b *Batcher) Schema() *arrow.Schema { return b.schema }

// Flush sends the rows collected so far, if any, as one batch.
func (b *Batcher) Flush(out sdk.RecordSender) error {
	if b.rows == 0 {
		return nil
	}
	arrs := make([]arrow.Array, len(b.cols))
	for i := range b.cols {
		arrs[i] = b.cols[i].array(b.rows)
	}
	rec := array.NewRecordBatch(b.schema, arrs, int64(b.rows))
	for _, a := range arrs {
		a.Release()
	}
	b.rows, b.bytes = 0, 0
	b.alloc()
	err := out.Send(rec)
	rec.Release()
	return err
}

// Release frees the buffers.
func (b *Batcher) Release() {
	for i := range b.cols {
		b.cols[i].release()
	}
}

// NormLimits fills zero caps with sdk.DefaultLimits.
func NormLimits(l sdk.Limits) sdk.Limits {
	if l.MaxRows <= 0 {
		l.MaxRows = sdk.DefaultLimits.MaxRows
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = sdk.DefaultLimits.MaxBytes
	}
	return l
}
