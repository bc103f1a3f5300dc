package transform

import (
	"encoding/binary"
	"math"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// The column path evaluates a formula over whole columns with typed Go
// loops. A formula runs here only if every node of it has a kernel (see
// planVec); otherwise the whole formula runs per row. Kernels must give
// exactly what the per-row path gives, nulls and errors included; the
// property test in vec_test.go holds them to that.

type vkind uint8

const (
	vkBool vkind = iota + 1
	vkInt
	vkFloat
	vkStr
	// vkTime holds instants as Unix seconds (i) plus nanoseconds (ns),
	// floor-normalised so (i, ns) order is time order over the whole
	// range Arrow can hold; a single int64 of nanoseconds would overflow
	// outside 1678-2262, and Salesforce writes 4000-12-31.
	vkTime
)

// vec is a column of formula values for one batch, or one broadcast value
// when scalar is set (literals). Slices may alias the input batch's
// buffers, so kernels never write into an operand.
type vec struct {
	kind   vkind
	n      int
	scalar bool
	valid  []bool // nil: every row valid
	err    []bool // nil: no row errored
	b      []bool
	i      []int64
	f      []float64
	s      strVals
	ns     []int32 // vkTime: nanoseconds within the second i
}

// strVals is either an Arrow utf8 column (offsets into data) or computed
// strings.
type strVals struct {
	offs []int32
	data []byte
	vals []string
	// owned is set when offs and data were built by a kernel, starting at
	// offset 0, rather than borrowed from an input column.
	owned bool
}

func (s *strVals) at(i int) string {
	if s.vals != nil {
		return s.vals[i]
	}
	b := s.data[s.offs[i]:s.offs[i+1]]
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// idx maps a row to an element index: scalars broadcast element 0.
func (v *vec) idx(i int) int {
	if v.scalar {
		return 0
	}
	return i
}

func (v *vec) isValid(i int) bool { return v.valid == nil || v.valid[v.idx(i)] }
func (v *vec) isErr(i int) bool   { return v.err != nil && v.err[v.idx(i)] }

// vctx is one batch being evaluated; it caches column conversions so a
// field used twice is read once.
type vctx struct {
	rec  arrow.RecordBatch
	n    int
	cols map[int]*vec
	a    *arena // nil: allocate normally
}

func newVctx(rec arrow.RecordBatch) *vctx {
	return &vctx{rec: rec, n: int(rec.NumRows()), cols: map[int]*vec{}}
}

type vnode interface {
	eval(c *vctx) *vec
	kind() vkind
}

// ---- leaves ----

type colNode struct {
	col int
	k   vkind
}

func (n *colNode) kind() vkind { return n.k }

func (n *colNode) eval(c *vctx) *vec {
	if v, ok := c.cols[n.col]; ok {
		return v
	}
	v := columnVec(c.a, c.rec.Column(n.col), n.k)
	c.cols[n.col] = v
	return v
}

// columnKind is the vector kind of an Arrow type, or 0 if the column path
// cannot read it.
func columnKind(dt arrow.DataType) vkind {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return vkInt
	case arrow.FLOAT32, arrow.FLOAT64:
		return vkFloat
	case arrow.STRING, arrow.LARGE_STRING:
		return vkStr
	case arrow.BOOL:
		return vkBool
	case arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64:
		return vkTime
	}
	return 0
}

func columnVec(al *arena, arr arrow.Array, k vkind) *vec {
	n := arr.Len()
	v := &vec{kind: k, n: n}
	if arr.NullN() > 0 {
		v.valid = al.newBools(n)
		for i := range v.valid {
			v.valid[i] = arr.IsValid(i)
		}
	}
	switch a := arr.(type) {
	case *array.Int64:
		v.i = a.Int64Values()
	case *array.Int32:
		v.i = widen(al, a.Int32Values())
	case *array.Int16:
		v.i = widen(al, a.Int16Values())
	case *array.Int8:
		v.i = widen(al, a.Int8Values())
	case *array.Uint64:
		v.i = widen(al, a.Uint64Values())
	case *array.Uint32:
		v.i = widen(al, a.Uint32Values())
	case *array.Uint16:
		v.i = widen(al, a.Uint16Values())
	case *array.Uint8:
		v.i = widen(al, a.Uint8Values())
	case *array.Float64:
		v.f = a.Float64Values()
	case *array.Float32:
		src := a.Float32Values()
		v.f = al.newFloats(n)
		for i, x := range src {
			v.f[i] = float64(x)
		}
	case *array.Boolean:
		v.b = al.newBools(n)
		for i := range v.b {
			v.b[i] = a.Value(i)
		}
	case *array.String:
		v.s.offs = a.ValueOffsets()
		if bufs := a.Data().Buffers(); len(bufs) > 2 && bufs[2] != nil {
			v.s.data = bufs[2].Bytes()
		}
		if v.s.data == nil {
			v.s.data = []byte{}
		}
	case *array.LargeString:
		v.s.vals = make([]string, n)
		for i := range v.s.vals {
			v.s.vals[i] = a.Value(i)
		}
	case *array.Timestamp:
		perSec := unitsPerSecond(a.DataType().(*arrow.TimestampType).Unit)
		v.i, v.ns = al.newInts(n), make([]int32, n)
		for i, t := range a.TimestampValues() {
			v.i[i], v.ns[i] = splitTime(int64(t), perSec)
		}
	case *array.Date32:
		v.i, v.ns = al.newInts(n), make([]int32, n)
		for i, d := range a.Date32Values() {
			v.i[i] = int64(d) * 86400
		}
	case *array.Date64:
		v.i, v.ns = al.newInts(n), make([]int32, n)
		for i, d := range a.Date64Values() {
			v.i[i], v.ns[i] = splitTime(int64(d), 1000)
		}
	default:
		panic("transform: column kind mismatch") // planVec only admits the types above
	}
	return v
}

func unitsPerSecond(u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return 1
	case arrow.Millisecond:
		return 1e3
	case arrow.Microsecond:
		return 1e6
	}
	return 1e9
}

// splitTime turns a count of 1/perSec seconds into whole seconds and
// nanoseconds, flooring so the nanoseconds are never negative (as
// time.Time stores them).
func splitTime(v, perSec int64) (int64, int32) {
	sec, rem := v/perSec, v%perSec
	if rem < 0 {
		sec--
		rem += perSec
	}
	return sec, int32(rem * (1e9 / perSec))
}

func scalarTime(t time.Time) *vec {
	return &vec{kind: vkTime, n: 1, scalar: true, i: []int64{t.Unix()}, ns: []int32{int32(t.Nanosecond())}}
}

func widen[T int8 | int16 | int32 | uint8 | uint16 | uint32 | uint64](a *arena, src []T) []int64 {
	out := a.newInts(len(src))
	for i, x := range src {
		out[i] = int64(x)
	}
	return out
}

type constNode struct{ v *vec }

func (n *constNode) kind() vkind     { return n.v.kind }
func (n *constNode) eval(*vctx) *vec { return n.v }

func scalarInt(x int64) *vec     { return &vec{kind: vkInt, n: 1, scalar: true, i: []int64{x}} }
func scalarFloat(x float64) *vec { return &vec{kind: vkFloat, n: 1, scalar: true, f: []float64{x}} }
func scalarBool(x bool) *vec     { return &vec{kind: vkBool, n: 1, scalar: true, b: []bool{x}} }
func scalarStr(x string) *vec {
	return &vec{kind: vkStr, n: 1, scalar: true, s: strVals{vals: []string{x}}}
}

// ---- validity and error bookkeeping ----

// mergeValid is the validity of a result computed from a and b: valid
// where both are. It returns nil when both are all-valid.
func mergeValid(a *arena, n int, vs ...*vec) []bool {
	var out []bool
	for _, v := range vs {
		if v.valid == nil {
			continue
		}
		if v.scalar {
			if v.valid[0] {
				continue
			}
			return make([]bool, n) // a null scalar nulls everything
		}
		if out == nil {
			out = a.newBools(n)
			copy(out, v.valid)
			continue
		}
		for i, ok := range v.valid {
			out[i] = out[i] && ok
		}
	}
	return out
}

// mergeErr marks a row errored if any operand errored on it.
func mergeErr(n int, vs ...*vec) []bool {
	var out []bool
	for _, v := range vs {
		if v.err == nil {
			continue
		}
		if out == nil {
			out = make([]bool, n)
		}
		for i := 0; i < n; i++ {
			if v.err[v.idx(i)] {
				out[i] = true
			}
		}
	}
	return out
}

// resultN is the row count of an operation on operands: scalar only if
// all are.
func resultN(c *vctx, vs ...*vec) (int, bool) {
	for _, v := range vs {
		if !v.scalar {
			return c.n, false
		}
	}
	return 1, true
}

// ---- numeric promotion ----

type toFloatNode struct{ x vnode }

func (n *toFloatNode) kind() vkind { return vkFloat }
func (n *toFloatNode) eval(c *vctx) *vec {
	x := n.x.eval(c)
	out := &vec{kind: vkFloat, n: x.n, scalar: x.scalar, valid: x.valid, err: x.err, f: c.a.newFloats(len(x.i))}
	for i, v := range x.i {
		out.f[i] = float64(v)
	}
	return out
}

// ---- comparison ----

type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

var cmpOps = map[string]cmpOp{"==": opEq, "!=": opNe, "<": opLt, "<=": opLe, ">": opGt, ">=": opGe}

// flip is the operator with its operands swapped: a < b == b > a.
func (o cmpOp) flip() cmpOp {
	switch o {
	case opLt:
		return opGt
	case opLe:
		return opGe
	case opGt:
		return opLt
	case opGe:
		return opLe
	}
	return o
}

type cmpNode struct {
	op   cmpOp
	l, r vnode
}

func (n *cmpNode) kind() vkind { return vkBool }

func (n *cmpNode) eval(c *vctx) *vec {
	l, r := n.l.eval(c), n.r.eval(c)
	op := n.op
	// Kernels take a scalar only on the right.
	if l.scalar && !r.scalar {
		l, r, op = r, l, op.flip()
	}
	size, scalar := resultN(c, l, r)
	out := &vec{kind: vkBool, n: size, scalar: scalar, valid: mergeValid(c.a, size, l, r), err: mergeErr(size, l, r), b: c.a.newBools(size)}
	switch l.kind {
	case vkInt:
		cmpOrdered(op, l.i, r.i, r.scalar, out.b)
	case vkFloat:
		cmpOrdered(op, l.f, r.f, r.scalar, out.b)
	case vkStr:
		cmpStrings(op, l, r, out.b)
	case vkBool:
		cmpBools(op, l, r, out.b)
	case vkTime:
		cmpTimes(op, l, r, out.b)
	}
	return out
}

func cmpTimes(op cmpOp, a, b *vec, out []bool) {
	for i := range out {
		ai, bi := a.idx(i), b.idx(i)
		c := 0
		switch {
		case a.i[ai] < b.i[bi] || (a.i[ai] == b.i[bi] && a.ns[ai] < b.ns[bi]):
			c = -1
		case a.i[ai] > b.i[bi] || a.ns[ai] > b.ns[bi]:
			c = 1
		}
		switch op {
		case opEq:
			out[i] = c == 0
		case opNe:
			out[i] = c != 0
		case opLt:
			out[i] = c < 0
		case opLe:
			out[i] = c <= 0
		case opGt:
			out[i] = c > 0
		case opGe:
			out[i] = c >= 0
		}
	}
}

func cmpOrdered[T int64 | float64](op cmpOp, a, b []T, bScalar bool, out []bool) {
	if bScalar {
		y := b[0]
		switch op {
		case opEq:
			for i := range out {
				out[i] = a[i] == y
			}
		case opNe:
			for i := range out {
				out[i] = a[i] != y
			}
		case opLt:
			for i := range out {
				out[i] = a[i] < y
			}
		case opLe:
			for i := range out {
				out[i] = a[i] <= y
			}
		case opGt:
			for i := range out {
				out[i] = a[i] > y
			}
		case opGe:
			for i := range out {
				out[i] = a[i] >= y
			}
		}
		return
	}
	b = b[:len(out)]
	a = a[:len(out)]
	switch op {
	case opEq:
		for i := range out {
			out[i] = a[i] == b[i]
		}
	case opNe:
		for i := range out {
			out[i] = a[i] != b[i]
		}
	case opLt:
		for i := range out {
			out[i] = a[i] < b[i]
		}
	case opLe:
		for i := range out {
			out[i] = a[i] <= b[i]
		}
	case opGt:
		for i := range out {
			out[i] = a[i] > b[i]
		}
	case opGe:
		for i := range out {
			out[i] = a[i] >= b[i]
		}
	}
}

func cmpStrings(op cmpOp, a, b *vec, out []bool) {
	// The hot case, a column against a literal, reads offsets directly and
	// compares bytes: no per-row string headers beyond the stack.
	if b.scalar && a.s.vals == nil && (op == opEq || op == opNe) {
		eqLiteral(a.s.offs[:len(out)+1], a.s.data, b.s.at(0), op == opEq, out)
		return
	}
	for i := range out {
		x, y := a.s.at(a.idx(i)), b.s.at(b.idx(i))
		switch op {
		case opEq:
			out[i] = x == y
		case opNe:
			out[i] = x != y
		case opLt:
			out[i] = x < y
		case opLe:
			out[i] = x <= y
		case opGt:
			out[i] = x > y
		case opGe:
			out[i] = x >= y
		}
	}
}

// eqLiteral sets out[i] to (value i == y) == want for a utf8 column.
// Whether a row matches is close to random, so a branch per row
// mispredicts often; for literals of up to 16 bytes the comparison is done
// without branches, on the length and two 8-byte loads masked to the
// literal's length.
func eqLiteral(offs []int32, data []byte, y string, want bool, out []bool) {
	i := 0
	if len(y) <= 16 {
		var yb [16]byte
		copy(yb[:], y)
		y0, y1 := binary.LittleEndian.Uint64(yb[:8]), binary.LittleEndian.Uint64(yb[8:])
		m0, m1 := byteMask(len(y)), byteMask(len(y)-8)
		ylen := uint64(len(y))
		var flip uint64 // 0 for ==, 1 for !=
		if !want {
			flip = 1
		}
		for ; i < len(out); i++ {
			lo, hi := int(offs[i]), int(offs[i+1])
			if lo+16 > len(data) {
				break // offsets only grow: the rest take the slow loop
			}
			w0 := binary.LittleEndian.Uint64(data[lo:])
			w1 := binary.LittleEndian.Uint64(data[lo+8:])
			diff := (uint64(hi-lo) ^ ylen) | ((w0 ^ y0) & m0) | ((w1 ^ y1) & m1)
			out[i] = (boolByte(diff == 0) ^ flip) == 1
		}
	}
	for ; i < len(out); i++ {
		out[i] = (string(data[offs[i]:offs[i+1]]) == y) == want
	}
}

// byteMask keeps the low n bytes of a word (n clamped to 0..8).
func byteMask(n int) uint64 {
	switch {
	case n <= 0:
		return 0
	case n >= 8:
		return ^uint64(0)
	}
	return 1<<(8*uint(n)) - 1
}

// boolByte is 1 for true; the compiler turns it into a flag move, no branch.
func boolByte(b bool) uint64 {
	var x uint64
	if b {
		x = 1
	}
	return x
}

func cmpBools(op cmpOp, a, b *vec, out []bool) {
	for i := range out {
		x, y := a.b[a.idx(i)], b.b[b.idx(i)]
		if op == opEq {
			out[i] = x == y
		} else {
			out[i] = x != y
		}
	}
}

// ---- arithmetic ----

type arithNode struct {
	op   string // + - * / % ** ^
	l, r vnode
	k    vkind // result kind
}

func (n *arithNode) kind() vkind { return n.k }

func (n *arithNode) eval(c *vctx) *vec {
	l, r := n.l.eval(c), n.r.eval(c)
	size, scalar := resultN(c, l, r)
	out := &vec{kind: n.k, n: size, scalar: scalar, valid: mergeValid(c.a, size, l, r), err: mergeErr(size, l, r)}
	switch {
	case n.k == vkStr: // string concatenation
		out.s.vals = make([]string, size)
		for i := range out.s.vals {
			if out.valid != nil && !out.valid[i] {
				continue
			}
			out.s.vals[i] = l.s.at(l.idx(i)) + r.s.at(r.idx(i))
		}
	case n.k == vkInt:
		out.i = c.a.newInts(size)
		if n.op == "%" {
			n.modulo(l, r, out)
		} else {
			arithInts(n.op, l, r, out.i)
		}
	default:
		out.f = c.a.newFloats(size)
		arithFloats(n.op, l, r, out.f)
	}
	return out
}

// modulo is the one kernel that can fail: x % 0 panics in Go and is an
// evaluation error per row in expr. Rows where an operand is null never
// divide (the per-row path returns nil before evaluating).
func (n *arithNode) modulo(l, r *vec, out *vec) {
	for i := range out.i {
		y := r.i[r.idx(i)]
		if y == 0 {
			if out.valid == nil || out.valid[i] {
				if out.err == nil {
					out.err = make([]bool, out.n)
				}
				out.err[i] = true
			}
			continue
		}
		out.i[i] = l.i[l.idx(i)] % y
	}
}

func arithInts(op string, l, r *vec, out []int64) {
	if !l.scalar && r.scalar {
		a, y := l.i[:len(out)], r.i[0]
		switch op {
		case "+":
			for i := range out {
				out[i] = a[i] + y
			}
		case "-":
			for i := range out {
				out[i] = a[i] - y
			}
		case "*":
			for i := range out {
				out[i] = a[i] * y
			}
		}
		return
	}
	for i := range out {
		x, y := l.i[l.idx(i)], r.i[r.idx(i)]
		switch op {
		case "+":
			out[i] = x + y
		case "-":
			out[i] = x - y
		case "*":
			out[i] = x * y
		}
	}
}

// arithFloats takes float operands, or int operands for / ** ^ (which are
// float in expr even for ints).
func arithFloats(op string, l, r *vec, out []float64) {
	get := func(v *vec, i int) float64 {
		if v.kind == vkInt {
			return float64(v.i[v.idx(i)])
		}
		return v.f[v.idx(i)]
	}
	if l.kind == vkFloat && r.kind == vkFloat && !l.scalar && r.scalar {
		a, y := l.f[:len(out)], r.f[0]
		switch op {
		case "+":
			for i := range out {
				out[i] = a[i] + y
			}
			return
		case "-":
			for i := range out {
				out[i] = a[i] - y
			}
			return
		case "*":
			for i := range out {
				out[i] = a[i] * y
			}
			return
		case "/":
			for i := range out {
				out[i] = a[i] / y
			}
			return
		}
	}
	for i := range out {
		x, y := get(l, i), get(r, i)
		switch op {
		case "+":
			out[i] = x + y
		case "-":
			out[i] = x - y
		case "*":
			out[i] = x * y
		case "/":
			out[i] = x / y
		case "**", "^":
			out[i] = math.Pow(x, y)
		}
	}
}

// ---- unary ----

type negNode struct{ x vnode }

func (n *negNode) kind() vkind { return n.x.kind() }
func (n *negNode) eval(c *vctx) *vec {
	x := n.x.eval(c)
	out := &vec{kind: x.kind, n: x.n, scalar: x.scalar, valid: x.valid, err: x.err}
	if x.kind == vkInt {
		out.i = c.a.newInts(len(x.i))
		for i, v := range x.i {
			out.i[i] = -v
		}
	} else {
		out.f = c.a.newFloats(len(x.f))
		for i, v := range x.f {
			out.f[i] = -v
		}
	}
	return out
}

type notNode struct{ x vnode }

func (n *notNode) kind() vkind { return vkBool }
func (n *notNode) eval(c *vctx) *vec {
	x := n.x.eval(c)
	out := &vec{kind: vkBool, n: x.n, scalar: x.scalar, valid: x.valid, err: x.err, b: c.a.newBools(len(x.b))}
	for i, v := range x.b {
		out.b[i] = !v
	}
	return out
}

// ---- three-valued logic ----

// logicNode is Kleene && / ||. The deciding value (false for &&, true for
// ||) on the left wins even over an error on the right, because the per-row
// VM short-circuits and never evaluates the right side there.
type logicNode struct {
	or   bool
	l, r vnode
}

func (n *logicNode) kind() vkind { return vkBool }

func (n *logicNode) eval(c *vctx) *vec {
	l, r := n.l.eval(c), n.r.eval(c)
	size, scalar := resultN(c, l, r)
	out := &vec{kind: vkBool, n: size, scalar: scalar, b: c.a.newBools(size)}
	decide := n.or
	// Fast path: no nulls, no errors, both columns.
	if l.valid == nil && r.valid == nil && l.err == nil && r.err == nil && !l.scalar && !r.scalar {
		boolWords(out.b, l.b[:size], r.b[:size], n.or)
		return out
	}
	for i := 0; i < size; i++ {
		li, ri := l.idx(i), r.idx(i)
		lErr := l.err != nil && l.err[li]
		lValid := l.valid == nil || l.valid[li]
		if lErr {
			out.setErr(i)
			continue
		}
		if lValid && l.b[li] == decide {
			out.b[i] = decide
			continue
		}
		if r.err != nil && r.err[ri] {
			out.setErr(i)
			continue
		}
		rValid := r.valid == nil || r.valid[ri]
		if rValid && r.b[ri] == decide {
			out.b[i] = decide
			continue
		}
		if !lValid || !rValid {
			out.setNull(i)
			continue
		}
		out.b[i] = !decide
	}
	return out
}

// boolWords sets out to a&&b (or a||b) eight rows at a time: a Go bool
// is one byte holding 0 or 1, so a word-wide AND/OR of the bytes is the
// byte-wise logical operation, without a branch per row.
func boolWords(out, a, b []bool, or bool) {
	n := len(out)
	w := 0
	if aligned8(out) && aligned8(a) && aligned8(b) {
		w = n / 8
		ow, aw, bw := boolsAsWords(out, w), boolsAsWords(a, w), boolsAsWords(b, w)
		if or {
			for i := range ow {
				ow[i] = aw[i] | bw[i]
			}
		} else {
			for i := range ow {
				ow[i] = aw[i] & bw[i]
			}
		}
	}
	for i := w * 8; i < n; i++ {
		if or {
			out[i] = a[i] || b[i]
		} else {
			out[i] = a[i] && b[i]
		}
	}
}

func aligned8(b []bool) bool {
	return len(b) == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%8 == 0
}

func boolsAsWords(b []bool, words int) []uint64 {
	if words == 0 {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), words)
}

func (v *vec) setErr(i int) {
	if v.err == nil {
		v.err = make([]bool, v.n)
	}
	v.err[i] = true
}

func (v *vec) setNull(i int) {
	if v.valid == nil {
		v.valid = make([]bool, v.n)
		for j := range v.valid {
			v.valid[j] = true
		}
	}
	v.valid[i] = false
}

// ---- null tests ----

// nullTestNode is `x == nil` (isNull) or `x != nil`; its result is never
// null.
type nullTestNode struct {
	x      vnode
	isNull bool
}

func (n *nullTestNode) kind() vkind { return vkBool }
func (n *nullTestNode) eval(c *vctx) *vec {
	x := n.x.eval(c)
	out := &vec{kind: vkBool, n: x.n, scalar: x.scalar, err: x.err, b: c.a.newBools(x.n)}
	for i := range out.b {
		out.b[i] = (x.valid != nil && !x.valid[i]) == n.isNull
	}
	return out
}

// ---- membership ----

type inNode struct {
	x    vnode
	ints map[int64]struct{}
	flts map[float64]struct{}
	strs map[string]struct{}
	// lo, hi bound an integer range `x in lo..hi` when ints is nil.
	lo, hi int64
	rng    bool
}

func (n *inNode) kind() vkind { return vkBool }
func (n *inNode) eval(c *vctx) *vec {
	x := n.x.eval(c)
	out := &vec{kind: vkBool, n: x.n, scalar: x.scalar, valid: x.valid, err: x.err, b: c.a.newBools(x.n)}
	switch {
	case n.rng:
		for i := range out.b {
			out.b[i] = x.i[i] >= n.lo && x.i[i] <= n.hi
		}
	case n.ints != nil:
		for i := range out.b {
			_, out.b[i] = n.ints[x.i[i]]
		}
	case n.flts != nil:
		for i := range out.b {
			_, out.b[i] = n.flts[x.f[i]]
		}
	default:
		for i := range out.b {
			_, out.b[i] = n.strs[x.s.at(i)]
		}
	}
	return out
}

// ---- conditional ----

// condNode is `c ? a : b`; a null condition takes the else branch. Both
// branches are computed, but an error only counts on the branch taken.
type condNode struct {
	c, a, b vnode
	k       vkind
}

func (n *condNode) kind() vkind { return n.k }
func (n *condNode) eval(c *vctx) *vec {
	cv, av, bv := n.c.eval(c), n.a.eval(c), n.b.eval(c)
	size, scalar := resultN(c, cv, av, bv)
	out := &vec{kind: n.k, n: size, scalar: scalar}
	out.alloc(c, size)
	for i := 0; i < size; i++ {
		if cv.isErr(i) {
			out.setErr(i)
			continue
		}
		src := bv
		if cv.isValid(i) && cv.b[cv.idx(i)] {
			src = av
		}
		if src.isErr(i) {
			out.setErr(i)
			continue
		}
		if !src.isValid(i) {
			out.setNull(i)
			continue
		}
		out.copyValue(i, src, src.idx(i))
	}
	return out
}

// alloc gives out value storage for size rows of its kind, from the
// arena where the kind has one.
func (out *vec) alloc(c *vctx, size int) {
	switch out.kind {
	case vkBool:
		out.b = c.a.newBools(size)
	case vkInt:
		out.i = c.a.newInts(size)
	case vkFloat:
		out.f = c.a.newFloats(size)
	case vkStr:
		out.s.vals = make([]string, size)
	case vkTime:
		out.i, out.ns = c.a.newInts(size), make([]int32, size)
	}
}

// copyValue sets row i of out to row j of src, which has out's kind.
func (out *vec) copyValue(i int, src *vec, j int) {
	switch out.kind {
	case vkBool:
		out.b[i] = src.b[j]
	case vkInt:
		out.i[i] = src.i[j]
	case vkFloat:
		out.f[i] = src.f[j]
	case vkStr:
		out.s.vals[i] = src.s.at(j)
	case vkTime:
		out.i[i], out.ns[i] = src.i[j], src.ns[j]
	}
}

// ---- coalesce ----

type coalesceNode struct {
	args []vnode
	k    vkind
}

func (n *coalesceNode) kind() vkind { return n.k }
func (n *coalesceNode) eval(c *vctx) *vec {
	vs := make([]*vec, len(n.args))
	for i, a := range n.args {
		vs[i] = a.eval(c)
	}
	size, scalar := resultN(c, vs...)
	// A function call evaluates every argument, so an error in any of them
	// fails the row even if an earlier one was not null.
	out := &vec{kind: n.k, n: size, scalar: scalar, err: mergeErr(size, vs...)}
	out.alloc(c, size)
	for i := 0; i < size; i++ {
		found := false
		for _, v := range vs {
			if !v.isValid(i) {
				continue
			}
			out.copyValue(i, v, v.idx(i))
			found = true
			break
		}
		if !found {
			out.setNull(i)
		}
	}
	return out
}
