package transform

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// propSchema has a column of every kind the column path reads, in more
// than one Arrow width, all nullable.
var propSchema = schemaOf(
	field("a", i64), field("b", arrow.PrimitiveTypes.Int32), field("u", arrow.PrimitiveTypes.Uint8),
	field("x", f64), field("y", arrow.PrimitiveTypes.Float32),
	field("s", str), field("t", arrow.BinaryTypes.LargeString),
	field("p", bln), field("q", bln),
	field("ts", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}), field("d", arrow.FixedWidthTypes.Date32),
)

// randomBatch fills propSchema from small domains, so equalities, zero
// divisors and matches actually happen, with nullFrac nulls per column.
func randomBatch(t testing.TB, rng *rand.Rand, n int, nullFrac float64) arrow.RecordBatch {
	ints := []int{-3, -1, 0, 0, 1, 2, 5, 7, math.MaxInt32}
	floats := []float64{-2.5, -1, 0, 0.5, 1, 1.5, 3, 1e300, math.Inf(1), math.NaN()}
	strs := []string{"", "a", "A", "ab", "abc", "Closed Won", " x ", "é", "ÀB", "a.b@c", "zz"}
	b := array.NewRecordBuilder(memory.DefaultAllocator, propSchema)
	defer b.Release()
	for i := 0; i < n; i++ {
		for c, fd := range propSchema.Fields() {
			if rng.Float64() < nullFrac {
				b.Field(c).AppendNull()
				continue
			}
			var v any
			switch fd.Type.ID() {
			case arrow.INT64, arrow.INT32:
				v = ints[rng.Intn(len(ints))]
			case arrow.UINT8:
				v = rng.Intn(256)
			case arrow.FLOAT64:
				v = floats[rng.Intn(len(floats))]
			case arrow.FLOAT32:
				v = floats[rng.Intn(len(floats)-3)] // keep float32 finite and exact
			case arrow.STRING, arrow.LARGE_STRING:
				v = strs[rng.Intn(len(strs))]
			case arrow.BOOL:
				v = rng.Intn(2) == 0
			case arrow.TIMESTAMP:
				// Around the literals the generator compares with, before
				// 1970 too (negative values), to the millisecond.
				v = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Intn(5)-2) * 12 * time.Hour).
					Add(time.Duration(rng.Intn(3)-1) * time.Millisecond)
				if rng.Intn(5) == 0 {
					v = time.Date(1969, 12, 31, 23, 59, 59, 999e6, time.UTC)
				}
			case arrow.DATE32:
				b.Field(c).(*array.Date32Builder).Append(arrow.Date32FromTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.Intn(3)-1)))
				continue
			}
			appendAny(t, b.Field(c), v)
		}
	}
	return b.NewRecordBatch()
}

// gen writes random formulas from the shapes the column path accepts.
type gen struct{ r *rand.Rand }

func (g gen) pick(xs ...string) string { return xs[g.r.Intn(len(xs))] }

func (g gen) boolean(d int) string {
	if d <= 0 {
		return g.pick("p", "q", "true", "false", "p", "q")
	}
	switch g.r.Intn(16) {
	case 0:
		return fmt.Sprintf("(%s %s %s)", g.num(d-1), g.pick("==", "!=", "<", "<=", ">", ">="), g.num(d-1))
	case 1:
		return fmt.Sprintf("(%s %s %s)", g.str(d-1), g.pick("==", "!=", "<", "<=", ">", ">="), g.str(d-1))
	case 2:
		return fmt.Sprintf("(%s %s %s)", g.boolean(d-1), g.pick("==", "!="), g.boolean(d-1))
	case 3, 4:
		return fmt.Sprintf("(%s %s %s)", g.boolean(d-1), g.pick("&&", "||", "and", "or"), g.boolean(d-1))
	case 5:
		return fmt.Sprintf("%s(%s)", g.pick("!", "not "), g.boolean(d-1))
	case 6:
		return fmt.Sprintf("(%s %s nil)", g.any(d-1), g.pick("==", "!="))
	case 7:
		return fmt.Sprintf("(%s %s [-1, 0, 2, 7])", g.integer(d-1), g.pick("in", "not in"))
	case 8:
		return fmt.Sprintf("(%s %s [\"a\", \"ab\", \"Closed Won\"])", g.str(d-1), g.pick("in", "not in"))
	case 9:
		return fmt.Sprintf("(%s in 0..2)", g.integer(d-1))
	case 10:
		return fmt.Sprintf("(%s %s %s)", g.str(d-1), g.pick("contains", "startsWith", "endsWith"), g.str(d-1))
	case 11:
		return fmt.Sprintf("(%s matches %q)", g.str(d-1), g.pick("^a", "b$", "(?i)closed", "^$"))
	case 12:
		return fmt.Sprintf("is_null(%s)", g.any(d-1))
	case 13:
		return fmt.Sprintf("(%s ? %s : %s)", g.boolean(d-1), g.boolean(d-1), g.boolean(d-1))
	case 14:
		if g.r.Intn(2) == 0 {
			return fmt.Sprintf("(%s in [1.5, 0.5])", g.float(d-1))
		}
		return fmt.Sprintf("(%s %s %s)", g.time(d-1), g.pick("==", "!=", "<", "<=", ">", ">="), g.time(d-1))
	default:
		return fmt.Sprintf("coalesce(%s, %s)", g.boolean(d-1), g.boolean(d-1))
	}
}

func (g gen) num(d int) string {
	if g.r.Intn(2) == 0 {
		return g.integer(d)
	}
	return g.float(d)
}

func (g gen) integer(d int) string {
	if d <= 0 {
		return g.pick("a", "b", "u", "0", "2", "-3", "a", "b")
	}
	switch g.r.Intn(8) {
	case 0, 1:
		return fmt.Sprintf("(%s %s %s)", g.integer(d-1), g.pick("+", "-", "*"), g.integer(d-1))
	case 2:
		return fmt.Sprintf("(%s %% %s)", g.integer(d-1), g.integer(d-1))
	case 3:
		return fmt.Sprintf("-%s", g.integer(d-1))
	case 4:
		return fmt.Sprintf("len(%s)", g.str(d-1))
	case 5:
		return fmt.Sprintf("abs(%s)", g.integer(d-1))
	case 6:
		return fmt.Sprintf("coalesce(%s, %s)", g.integer(d-1), g.integer(d-1))
	default:
		return fmt.Sprintf("(%s ? %s : %s)", g.boolean(d-1), g.integer(d-1), g.integer(d-1))
	}
}

func (g gen) float(d int) string {
	if d <= 0 {
		return g.pick("x", "y", "1.5", "0.0", "-2.5", "x", "y")
	}
	switch g.r.Intn(7) {
	case 0, 1:
		return fmt.Sprintf("(%s %s %s)", g.float(d-1), g.pick("+", "-", "*", "/"), g.num(d-1))
	case 2:
		return fmt.Sprintf("(%s %s %s)", g.integer(d-1), g.pick("/", "**"), g.num(d-1))
	case 3:
		// Never "-0.0": expr's constant pool keys -0.0 and 0.0 alike (Go
		// map keys compare ==), so a formula holding both literals reads
		// the wrong zero. A quirk of expr, not of the column path.
		inner := g.float(d - 1)
		if inner == "0.0" {
			inner = "x"
		}
		return fmt.Sprintf("-%s", inner)
	case 4:
		return fmt.Sprintf("abs(%s)", g.float(d-1))
	case 5:
		// Mixed int/float coalesce runs per row by design (see planner).
		return fmt.Sprintf("coalesce(%s, %s)", g.float(d-1), g.float(d-1))
	default:
		return fmt.Sprintf("(%s ? %s : %s)", g.boolean(d-1), g.float(d-1), g.float(d-1))
	}
}

func (g gen) str(d int) string {
	if d <= 0 {
		return g.pick("s", "t", `"a"`, `""`, `"Closed Won"`, "s", "t")
	}
	switch g.r.Intn(6) {
	case 0:
		return fmt.Sprintf("%s(%s)", g.pick("lower", "upper", "trim"), g.str(d-1))
	case 1:
		return fmt.Sprintf("(%s + %s)", g.str(d-1), g.str(d-1))
	case 2:
		return fmt.Sprintf("coalesce(%s, %s)", g.str(d-1), g.str(d-1))
	case 3:
		return fmt.Sprintf("(%s ? %s : %s)", g.boolean(d-1), g.str(d-1), g.str(d-1))
	default:
		return g.str(0)
	}
}

func (g gen) time(d int) string {
	if d <= 0 || g.r.Intn(2) == 0 {
		return g.pick("ts", "d", `date("2024-01-01")`, `timestamp("2024-01-01T12:00:00Z")`, `parse_time("1969-12-31 23:59:59.999", "2006-01-02 15:04:05.000")`)
	}
	switch g.r.Intn(2) {
	case 0:
		return fmt.Sprintf("coalesce(%s, %s)", g.time(d-1), g.time(d-1))
	default:
		return fmt.Sprintf("(%s ? %s : %s)", g.boolean(d-1), g.time(d-1), g.time(d-1))
	}
}

func (g gen) any(d int) string {
	switch g.r.Intn(4) {
	case 0:
		return g.boolean(d)
	case 1:
		return g.integer(d)
	case 2:
		return g.float(d)
	}
	return g.str(d)
}

// TestColumnPathMatchesRowPath is the contract between the two paths:
// for every formula shape the column path accepts, over random batches
// with nulls, both give the same values, the same nulls and the same
// failed rows.
func TestColumnPathMatchesRowPath(t *testing.T) {
	rng := rand.New(rand.NewSource(20240601))
	g := gen{rng}
	iterations := 4000
	if testing.Short() {
		iterations = 500
	}
	var rec arrow.RecordBatch
	defer func() {
		if rec != nil {
			rec.Release()
		}
	}()
	s := newScope(propSchema)
	r := (&Pipeline{nformulas: 1}).NewRunner()
	checked, vectorized := 0, 0
	var notVec []string
	for it := 0; it < iterations; it++ {
		if it%40 == 0 {
			if rec != nil {
				rec.Release()
			}
			rec = randomBatch(t, rng, 1+rng.Intn(200), []float64{0, 0.2, 0.5}[rng.Intn(3)])
			if n := rec.NumRows(); n > 2 && rng.Intn(3) == 0 {
				// Slices have non-zero array offsets, which every kernel
				// must honour.
				sliced := rec.NewSlice(1, n-1)
				rec.Release()
				rec = sliced
			}
		}
		var text string
		switch rng.Intn(5) {
		case 4:
			text = g.time(1 + rng.Intn(3))
		case 0:
			text = g.boolean(1 + rng.Intn(4))
		case 1:
			text = g.integer(1 + rng.Intn(4))
		case 2:
			text = g.float(1 + rng.Intn(4))
		default:
			text = g.str(1 + rng.Intn(4))
		}
		fm, diags := compileFormula(f(text), s, wantValue, "test")
		if diags.HasErrors() {
			continue // the generator can write ill-typed formulas; the checker is not under test here
		}
		if fm.passthrough >= 0 {
			continue // a bare field is the column itself on both paths
		}
		checked++
		if fm.vec == nil {
			if len(notVec) < 15 {
				notVec = append(notVec, text)
			}
			continue
		}
		vectorized++
		fm.slot = 0
		col, err := r.evalVec(fm, wantValue, rec, newVctx(rec))
		if err != nil {
			t.Fatalf("%s: column path: %v", text, err)
		}
		row, err := r.evalRows(context.Background(), fm, wantValue, rec, nil)
		if err != nil {
			t.Fatalf("%s: row path: %v", text, err)
		}
		if msg := diffEval(col, row); msg != "" {
			t.Fatalf("formula %s\n%s", text, msg)
		}
		col.arr.Release()
		row.arr.Release()
	}
	t.Logf("%d formulas checked, %d on the column path", checked, vectorized)
	for _, text := range notVec {
		t.Logf("per row: %s", text)
	}
	if vectorized < checked*9/10 {
		t.Errorf("only %d of %d generated formulas vectorised; the generator should only write column-path shapes", vectorized, checked)
	}
}

func diffEval(col, row evalOut) string {
	var b strings.Builder
	colErr, rowErr := map[int]bool{}, map[int]bool{}
	for _, e := range col.errs {
		colErr[e.row] = true
	}
	for _, e := range row.errs {
		rowErr[e.row] = true
	}
	for i := 0; i < row.arr.Len(); i++ {
		if colErr[i] != rowErr[i] {
			fmt.Fprintf(&b, "row %d: column path failed=%v, row path failed=%v\n", i, colErr[i], rowErr[i])
			continue
		}
		if rowErr[i] {
			continue
		}
		cv, rv := valueAt(col.arr, i), valueAt(row.arr, i)
		if !sameValue(cv, rv) {
			fmt.Fprintf(&b, "row %d: column path %#v, row path %#v\n", i, cv, rv)
		}
		if b.Len() > 2000 {
			break
		}
	}
	return b.String()
}

func valueAt(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	return newRowGetter(a)(i)
}

func sameValue(a, b any) bool {
	fa, ok1 := a.(float64)
	fb, ok2 := b.(float64)
	if ok1 && ok2 {
		return fa == fb || (math.IsNaN(fa) && math.IsNaN(fb))
	}
	return a == b
}

// TestGuardMatchesRowPath checks the && guard: a per-row formula whose
// left conjuncts run as a column kernel must give the same results and
// the same failed rows as the VM alone.
func TestGuardMatchesRowPath(t *testing.T) {
	rng := rand.New(rand.NewSource(99))
	g := gen{rng}
	perRow := []string{`regex_match(s, "^a")`, `int(t) > 0`, `substr(s, 0, 1) == "a"`, `len(split(t, ".")) > 1`, `float(s) < 2.5`, `format_time(ts, "2006") == "2024"`}
	s := newScope(propSchema)
	guarded := (&Pipeline{nformulas: 1}).NewRunner()
	plain := (&Pipeline{nformulas: 1, opts: options{rowPath: true}}).NewRunner()
	used := 0
	for it := 0; it < 600; it++ {
		rec := randomBatch(t, rng, 1+rng.Intn(100), 0.25)
		text := fmt.Sprintf("%s && %s", g.boolean(1+rng.Intn(3)), perRow[rng.Intn(len(perRow))])
		if rng.Intn(2) == 0 {
			text = fmt.Sprintf("%s && %s", text, g.boolean(1))
		}
		fm, diags := compileFormula(f(text), s, wantBool, "test")
		if diags.HasErrors() {
			rec.Release()
			continue
		}
		if fm.guard == nil {
			t.Fatalf("%s: no guard", text)
		}
		used++
		a, err := guarded.evalRows(context.Background(), fm, wantBool, rec, newVctx(rec))
		if err != nil {
			t.Fatal(err)
		}
		b, err := plain.evalRows(context.Background(), fm, wantBool, rec, newVctx(rec))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.pass, b.pass) || len(a.errs) != len(b.errs) {
			t.Fatalf("%s:\nguarded %v %v\nplain   %v %v", text, a.pass, a.errs, b.pass, b.errs)
		}
		for i := range a.errs {
			if a.errs[i].row != b.errs[i].row || a.errs[i].err.Error() != b.errs[i].err.Error() {
				t.Fatalf("%s: errors differ: %v vs %v", text, a.errs[i], b.errs[i])
			}
		}
		rec.Release()
	}
	if used < 300 {
		t.Errorf("only %d formulas compiled", used)
	}
}
