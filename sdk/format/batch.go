package format

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/sluice-dev/sluice/sdk"
)

// cell is one converted value waiting to be appended. A row is converted
// cell by cell first and appended only when every cell succeeded, so that a
// bad value rejects the whole row without leaving the builders ragged.
type cell struct {
	null bool
	bits int64  // int64, float64 bits, bool, micros or days
	str  []byte // KindString; points into the reader's buffer
}

// textColumn is one output column of a CSV or JSONL read.
type textColumn struct {
	name string
	Kind Kind
	src  int // index in the file's columns

	ib *array.Int64Builder
	fb *array.Float64Builder
	bb *array.BooleanBuilder
	tb *array.TimestampBuilder
	db *array.Date32Builder
	sb *array.StringBuilder
	b  array.Builder
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

func (col *textColumn) append(c *cell) {
	if c.null {
		col.b.AppendNull()
		return
	}
	switch col.Kind {
	case KindString:
		col.sb.BinaryBuilder.Append(c.str)
	case KindInt:
		col.ib.Append(c.bits)
	case KindFloat:
		col.fb.Append(math.Float64frombits(uint64(c.bits)))
	case KindBool:
		col.bb.Append(c.bits != 0)
	case KindTimestamp:
		col.tb.Append(arrow.Timestamp(c.bits))
	case KindDate:
		col.db.Append(arrow.Date32(c.bits))
	}
}

// Batcher accumulates the converted rows of a CSV or JSONL read into Arrow
// builders and cuts a batch whenever the row or byte cap is reached. One
// Batcher serves any number of inputs of its schema, one at a time; it is
// not safe for concurrent use.
type Batcher struct {
	text   TextSchema
	schema *arrow.Schema
	cols   []textColumn
	cells  []cell
	limits sdk.Limits
	fixed  int // Arrow bytes per row excluding string data

	rows  int
	bytes int
}

// NewBatcher returns a batcher for inputs of schema ts producing the
// columns at indices project (see [Projection]), in that order, in batches
// capped by limits (zero caps take sdk.DefaultLimits).
func NewBatcher(mem memory.Allocator, ts TextSchema, project []int, limits sdk.Limits) *Batcher {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	b := &Batcher{text: ts, limits: NormLimits(limits)}
	fields := make([]arrow.Field, len(project))
	for i, src := range project {
		k := ts.Kinds[src]
		col := textColumn{name: ts.Names[src], Kind: k, src: src}
		col.b = array.NewBuilder(mem, k.ArrowType())
		switch bl := col.b.(type) {
		case *array.Int64Builder:
			col.ib = bl
		case *array.Float64Builder:
			col.fb = bl
		case *array.BooleanBuilder:
			col.bb = bl
		case *array.TimestampBuilder:
			col.tb = bl
		case *array.Date32Builder:
			col.db = bl
		case *array.StringBuilder:
			col.sb = bl
		}
		b.cols = append(b.cols, col)
		b.fixed += k.width()
		fields[i] = arrow.Field{Name: col.name, Type: k.ArrowType(), Nullable: true}
	}
	b.schema = arrow.NewSchema(fields, nil)
	b.cells = make([]cell, len(b.cols))
	b.reserve()
	return b
}

// reserve sizes the builders for a full batch up front so appends do not
// reallocate and copy their buffers on the way up.
func (b *Batcher) reserve() {
	n := b.limits.MaxRows
	if b.fixed > 0 && b.limits.MaxBytes/b.fixed < n {
		n = b.limits.MaxBytes / b.fixed
	}
	n = min(n, 1<<16)
	for i := range b.cols {
		b.cols[i].b.Reserve(n)
	}
}

// commit appends the converted cells as one row and reports whether the
// batch is full.
func (b *Batcher) commit() bool {
	size := b.fixed
	for i := range b.cols {
		c := &b.cells[i]
		b.cols[i].append(c)
		if !c.null {
			size += len(c.str)
		}
	}
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
		arrs[i] = b.cols[i].b.NewArray()
	}
	rec := array.NewRecordBatch(b.schema, arrs, int64(b.rows))
	for _, a := range arrs {
		a.Release()
	}
	b.rows, b.bytes = 0, 0
	b.reserve()
	err := out.Send(rec)
	rec.Release()
	return err
}

// Release frees the builders.
func (b *Batcher) Release() {
	for i := range b.cols {
		b.cols[i].b.Release()
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
