package transform

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/expr-lang/expr/file"
)

// rowErr is a row whose formula failed to evaluate.
type rowErr struct {
	row int
	err error
}

// evalOut is one formula's result over a batch.
type evalOut struct {
	pass []bool      // wantBool: true where the formula is true (not false, null or failed)
	arr  arrow.Array // wantValue: the result column, null where null or failed
	errs []rowErr    // failed rows, ascending
}

// ctxCheckEvery is how many rows the per-row loop runs between looks at
// the context: often enough to cancel a large batch promptly, rarely
// enough to cost nothing.
const ctxCheckEvery = 4096

// eval evaluates fm over rec on the column path when it can, else per row.
func (r *Runner) eval(ctx context.Context, fm *formula, w want, rec arrow.RecordBatch, vc *vctx) (evalOut, error) {
	if fm.passthrough >= 0 && w == wantValue {
		// A bare field reference is the column itself, in its own type.
		col := rec.Column(fm.passthrough)
		col.Retain()
		return evalOut{arr: col}, nil
	}
	if fm.vec != nil && !r.p.opts.rowPath {
		return r.evalVec(fm, w, rec, vc)
	}
	return r.evalRows(ctx, fm, w, rec, vc)
}

func (r *Runner) evalVec(fm *formula, w want, rec arrow.RecordBatch, vc *vctx) (evalOut, error) {
	n := int(rec.NumRows())
	v := fm.vec.eval(vc)
	var out evalOut
	if v.err != nil {
		rows := newRowState(r, fm, rec)
		for i := 0; i < n; i++ {
			if v.isErr(i) {
				_, err := rows.eval(i)
				if err == nil {
					// The kernels and the VM disagree; trust neither
					// silently. The property test exists to keep this
					// unreachable.
					err = fmt.Errorf("evaluation failed")
				}
				out.errs = append(out.errs, rowErr{i, err})
			}
		}
	}
	if w == wantBool {
		if v.scalar {
			out.pass = vc.a.newBools(n)
			keep := v.isValid(0) && !v.isErr(0) && v.b[0]
			for i := range out.pass {
				out.pass[i] = keep
			}
			return out, nil
		}
		b := v.b[:n]
		if v.valid == nil && v.err == nil {
			// Kernel outputs are fresh slices (bool columns are converted
			// from their bitmaps), so the result can be handed over as is.
			out.pass = b
			return out, nil
		}
		out.pass = vc.a.newBools(n)
		for i := range out.pass {
			out.pass[i] = b[i] && (v.valid == nil || v.valid[i]) && (v.err == nil || !v.err[i])
		}
		return out, nil
	}
	out.arr = vecToArray(v, n, fm.outType)
	return out, nil
}

// vecToArray materialises a kernel result as an Arrow column of type dt.
// It copies whatever may alias the input batch's buffers, which the caller
// owns and may release; kernel-built string buffers are handed over.
func vecToArray(v *vec, n int, dt arrow.DataType) arrow.Array {
	if v.scalar {
		return broadcast(v, n, dt)
	}
	// valid is the output validity: null where null or failed.
	var valid []bool
	if v.valid != nil || v.err != nil {
		valid = make([]bool, n)
		for i := range valid {
			valid[i] = v.isValid(i) && !v.isErr(i)
		}
	}
	if v.kind == vkStr && v.s.owned {
		return stringArray(v.s.offs[:n+1], v.s.data, valid)
	}
	b := array.NewBuilder(memory.DefaultAllocator, dt)
	defer b.Release()
	switch bb := b.(type) {
	case *array.Int64Builder:
		bb.AppendValues(v.i[:n], valid)
	case *array.Float64Builder:
		bb.AppendValues(v.f[:n], valid)
	case *array.BooleanBuilder:
		bb.AppendValues(v.b[:n], valid)
	case *array.StringBuilder:
		bb.Reserve(n)
		for i := 0; i < n; i++ {
			if valid != nil && !valid[i] {
				bb.AppendNull()
				continue
			}
			bb.Append(v.s.at(i))
		}
	case *array.TimestampBuilder:
		bb.Reserve(n)
		for i := 0; i < n; i++ {
			if valid != nil && !valid[i] {
				bb.AppendNull()
				continue
			}
			// As time.Time.UnixMicro: nanoseconds are never negative.
			bb.UnsafeAppend(arrow.Timestamp(v.i[i]*1e6 + int64(v.ns[i])/1e3))
		}
	default:
		panic(fmt.Sprintf("transform: no column output for %s", dt)) // outputType admits only the cases above
	}
	return b.NewArray()
}

// broadcast repeats a scalar result (a formula of literals only).
func broadcast(v *vec, n int, dt arrow.DataType) arrow.Array {
	b := array.NewBuilder(memory.DefaultAllocator, dt)
	defer b.Release()
	b.Reserve(n)
	for i := 0; i < n; i++ {
		if !v.isValid(0) || v.isErr(0) {
			b.AppendNull()
			continue
		}
		switch bb := b.(type) {
		case *array.Int64Builder:
			bb.Append(v.i[0])
		case *array.Float64Builder:
			bb.Append(v.f[0])
		case *array.StringBuilder:
			bb.Append(v.s.at(0))
		case *array.BooleanBuilder:
			bb.Append(v.b[0])
		case *array.TimestampBuilder:
			bb.Append(arrow.Timestamp(v.i[0]*1e6 + int64(v.ns[0])/1e3))
		default:
			panic(fmt.Sprintf("transform: no column output for %s", dt))
		}
	}
	return b.NewArray()
}

// stringArray wraps kernel-built utf8 buffers (offsets from 0) as an
// Arrow array without copying the bytes.
func stringArray(offs []int32, data []byte, valid []bool) arrow.Array {
	n := len(offs) - 1
	var bitmap *memory.Buffer
	nulls := 0
	if valid != nil {
		bits := make([]byte, bitutil.BytesForBits(int64(n)))
		for i, ok := range valid {
			if ok {
				bitutil.SetBit(bits, i)
			} else {
				nulls++
			}
		}
		bitmap = memory.NewBufferBytes(bits)
	}
	ob := arrow.Int32Traits.CastToBytes(offs)
	d := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{bitmap, memory.NewBufferBytes(ob), memory.NewBufferBytes(data)}, nil, nulls, 0)
	defer d.Release()
	return array.NewStringData(d)
}

// rowState is the per-row evaluator set up for one formula and one batch.
type rowState struct {
	r       *Runner
	fm      *formula
	env     map[string]any
	arrs    []arrow.Array
	getters []rowGetter
	nulls   []bool // column has nulls in this batch
}

func newRowState(r *Runner, fm *formula, rec arrow.RecordBatch) *rowState {
	s := &rowState{
		r:       r,
		fm:      fm,
		env:     r.env(fm),
		arrs:    make([]arrow.Array, len(fm.refs)),
		getters: make([]rowGetter, len(fm.refs)),
		nulls:   make([]bool, len(fm.refs)),
	}
	for k, ref := range fm.refs {
		a := rec.Column(ref.col)
		s.arrs[k] = a
		s.getters[k] = newRowGetter(a)
		s.nulls[k] = a.NullN() > 0
	}
	return s
}

// eval runs the formula on row i. Rows whose fields are all present run
// the plain program; a null switches to the null-safe rewrite.
func (s *rowState) eval(i int) (any, error) {
	null := false
	for k, ref := range s.fm.refs {
		if s.nulls[k] && s.arrs[k].IsNull(i) {
			s.env[ref.name] = nil
			null = true
			continue
		}
		s.env[ref.name] = s.getters[k](i)
	}
	prog := s.fm.plain
	if null || s.fm.alwaysNullsafe {
		prog = s.fm.nullsafe
	}
	v, err := s.r.vm.Run(prog, s.env)
	if err != nil {
		return nil, evalErr(s.fm, err)
	}
	return v, nil
}

// evalError is a formula failing on one row. expr's own error text
// carries a multi-line source snippet, which is noise in a dead-letter
// reason; this keeps the message and points at the flow file instead.
type evalError struct {
	msg   string
	at    string
	cause error
}

func (e *evalError) Error() string { return fmt.Sprintf("%s (at %s)", e.msg, e.at) }
func (e *evalError) Unwrap() error { return e.cause }

func evalErr(fm *formula, err error) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return err
	}
	pos := formulaPos(fm.src, fe.From)
	at := fmt.Sprintf("line %d, column %d", pos.Line, pos.Column)
	if fm.src.Range.Filename != "" {
		at = fmt.Sprintf("%s:%d,%d", fm.src.Range.Filename, pos.Line, pos.Column)
	}
	return &evalError{msg: fe.Message, at: at, cause: fe.Unwrap()}
}

func (r *Runner) evalRows(ctx context.Context, fm *formula, w want, rec arrow.RecordBatch, vc *vctx) (evalOut, error) {
	n := int(rec.NumRows())
	rows := newRowState(r, fm, rec)
	var out evalOut
	if w == wantBool {
		var guard *vec
		if fm.guard != nil && vc != nil && !r.p.opts.rowPath {
			guard = fm.guard.eval(vc)
		}
		out.pass = make([]bool, n)
		for i := 0; i < n; i++ {
			if i%ctxCheckEvery == 0 && ctx.Err() != nil {
				return evalOut{}, fmt.Errorf("evaluating %s: %w", fm.what, ctx.Err())
			}
			if guard != nil && !guard.isErr(i) && guard.isValid(i) && !guard.b[guard.idx(i)] {
				continue // the left of && is false: so is the formula
			}
			v, err := rows.eval(i)
			if err != nil {
				out.errs = append(out.errs, rowErr{i, err})
				continue
			}
			out.pass[i] = v == true
		}
		return out, nil
	}
	b := array.NewBuilder(memory.DefaultAllocator, fm.outType)
	defer b.Release()
	b.Reserve(n)
	for i := 0; i < n; i++ {
		if i%ctxCheckEvery == 0 && ctx.Err() != nil {
			return evalOut{}, fmt.Errorf("evaluating %s: %w", fm.what, ctx.Err())
		}
		v, err := rows.eval(i)
		if err == nil {
			err = appendValue(b, v)
		}
		if err != nil {
			out.errs = append(out.errs, rowErr{i, err})
			b.AppendNull()
		}
	}
	out.arr = b.NewArray()
	return out, nil
}

// appendValue appends a VM result to the builder of the formula's result
// type. Values can arrive in a wider form than the checker's type (an int
// where float64 was inferred, via coalesce), so numbers are coerced.
func appendValue(b array.Builder, v any) error {
	if v == nil {
		b.AppendNull()
		return nil
	}
	switch bb := b.(type) {
	case *array.Int64Builder:
		switch x := v.(type) {
		case int:
			bb.Append(int64(x))
			return nil
		case float64:
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				bb.Append(int64(x))
				return nil
			}
		}
	case *array.Float64Builder:
		switch x := v.(type) {
		case float64:
			bb.Append(x)
			return nil
		case int:
			bb.Append(float64(x))
			return nil
		}
	case *array.StringBuilder:
		if x, ok := v.(string); ok {
			bb.Append(x)
			return nil
		}
	case *array.BooleanBuilder:
		if x, ok := v.(bool); ok {
			bb.Append(x)
			return nil
		}
	case *array.TimestampBuilder:
		if x, ok := v.(time.Time); ok {
			bb.Append(arrow.Timestamp(x.UnixMicro()))
			return nil
		}
	}
	return fmt.Errorf("formula produced %T, expected %s", v, b.Type())
}
