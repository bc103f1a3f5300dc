package transform

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-dev/sluice/engine/plan"
)

// stageRun is one stage applied to one batch.
type stageRun struct {
	ctx  context.Context
	r    *Runner
	rec  arrow.RecordBatch // the stage's input; not ours to release
	res  *Result
	cont bool
}

type baseStage struct {
	name    string
	kind    string
	rng     hcl.Range
	in, out *arrow.Schema
	// change is the input's change-type column, or -1.
	change int
}

func (b *baseStage) infoWith(formulas ...*formula) StageInfo {
	vec := true
	for _, f := range formulas {
		if f != nil && f.vec == nil {
			vec = false
		}
	}
	return StageInfo{Kind: b.kind, Range: b.rng, Output: b.out, Vectorized: vec}
}

// vctx starts column evaluation of the stage's input, borrowing
// temporaries from the Runner's arena (returned when the stage is done).
func (c *stageRun) vctx() *vctx {
	v := newVctx(c.rec)
	v.a = &c.r.arena
	return v
}

// refuse records a failed row: a Rejected entry when continuing, else the
// error that ends Apply.
func (c *stageRun) refuse(b *baseStage, row int, cause error) error {
	rec := rowValues(c.rec, row)
	if !c.cont {
		return &RowError{Task: b.name, Row: row, Record: rec, Err: cause, fields: fieldNames(c.rec.Schema())}
	}
	c.res.Rejected = append(c.res.Rejected, Rejected{Task: b.name, Reason: cause.Error(), Record: rec})
	return nil
}

// refuseErrs handles evaluation errors and clears those rows from keep.
func (c *stageRun) refuseErrs(b *baseStage, errs []rowErr, keep []bool) error {
	for _, e := range errs {
		if err := c.refuse(b, e.row, e.err); err != nil {
			return err
		}
		if keep != nil {
			keep[e.row] = false
		}
	}
	return nil
}

// ---- filter ----

type filterStage struct {
	baseStage
	where *formula
}

func (s *filterStage) info() StageInfo { return s.infoWith(s.where) }

func (s *filterStage) run(c *stageRun) (arrow.RecordBatch, error) {
	out, err := c.r.eval(c.ctx, s.where, wantBool, c.rec, c.vctx())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	out.errs = passDeletes(c.rec, s.change, out.pass, out.errs)
	if err := c.refuseErrs(&s.baseStage, out.errs, out.pass); err != nil {
		return nil, err
	}
	kept := countTrue(out.pass)
	c.res.Filtered += len(out.pass) - kept - len(out.errs)
	return keepRows(c.ctx, &c.r.arena, c.rec, out.pass)
}

// countTrue counts true entries eight at a time: each byte of a word is
// 0 or 1, so multiplying by 0x0101... sums the bytes into the top byte.
func countTrue(b []bool) int {
	n, i := 0, 0
	if aligned8(b) {
		words := boolsAsWords(b, len(b)/8)
		for _, w := range words {
			n += int((w * 0x0101010101010101) >> 56)
		}
		i = len(words) * 8
	}
	for ; i < len(b); i++ {
		if b[i] {
			n++
		}
	}
	return n
}

// ---- validate ----

type validateStage struct {
	baseStage
	check   *formula
	onFail  plan.OnFail
	message string
}

func (s *validateStage) info() StageInfo { return s.infoWith(s.check) }

func (s *validateStage) run(c *stageRun) (arrow.RecordBatch, error) {
	out, err := c.r.eval(c.ctx, s.check, wantBool, c.rec, c.vctx())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	out.errs = passDeletes(c.rec, s.change, out.pass, out.errs)
	// Walk rows in order so that, when the run must stop, it stops at the
	// first bad row whatever made it bad.
	errs := out.errs
	for i, ok := range out.pass {
		if len(errs) > 0 && errs[0].row == i {
			if err := c.refuse(&s.baseStage, i, errs[0].err); err != nil {
				return nil, err
			}
			errs = errs[1:]
			continue
		}
		if ok {
			continue
		}
		switch s.onFail {
		case plan.OnFailDrop:
			c.res.Filtered++
		case plan.OnFailDeadLetter:
			c.res.Rejected = append(c.res.Rejected, Rejected{Task: s.name, Reason: s.message, Record: rowValues(c.rec, i)})
		default:
			return nil, &RowError{Task: s.name, Row: i, Record: rowValues(c.rec, i),
				Err: fmt.Errorf("%w: %s", ErrValidationFailed, s.message), fields: fieldNames(c.rec.Schema())}
		}
	}
	return keepRows(c.ctx, &c.r.arena, c.rec, out.pass)
}

// ---- map ----

type mapCol struct {
	field arrow.Field
	carry int // input column carried unchanged, or -1
	fm    *formula
}

type mapStage struct {
	baseStage
	cols []mapCol
}

func (s *mapStage) info() StageInfo {
	fms := make([]*formula, 0, len(s.cols))
	for _, c := range s.cols {
		if c.fm != nil && c.fm.passthrough < 0 {
			fms = append(fms, c.fm)
		}
	}
	return s.infoWith(fms...)
}

func (s *mapStage) run(c *stageRun) (arrow.RecordBatch, error) {
	n := int(c.rec.NumRows())
	cols := make([]arrow.Array, len(s.cols))
	defer func() {
		for _, a := range cols {
			if a != nil {
				a.Release()
			}
		}
	}()
	vc := c.vctx() // shared: a field read by several formulas is converted once
	var failed map[int]error
	for i, col := range s.cols {
		switch {
		case col.carry >= 0:
			cols[i] = c.rec.Column(col.carry)
			cols[i].Retain()
		case col.fm.passthrough >= 0:
			cols[i] = c.rec.Column(col.fm.passthrough)
			cols[i].Retain()
		default:
			out, err := c.r.eval(c.ctx, col.fm, wantValue, c.rec, vc)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
			cols[i] = out.arr
			for _, e := range out.errs {
				if failed == nil {
					failed = map[int]error{}
				}
				if _, seen := failed[e.row]; !seen {
					failed[e.row] = fmt.Errorf("field %q: %w", col.field.Name, e.err)
				}
			}
		}
	}
	rec := array.NewRecordBatch(s.out, cols, int64(n))
	defer rec.Release()
	if del := deleteRows(c.rec, s.change); del != nil {
		for row := range failed {
			if del[row] {
				delete(failed, row) // its nulls stay null
			}
		}
	}
	return dropFailed(c, &s.baseStage, rec, failed)
}

// dropFailed refuses the failed rows (in row order) and removes them.
func dropFailed(c *stageRun, b *baseStage, rec arrow.RecordBatch, failed map[int]error) (arrow.RecordBatch, error) {
	if len(failed) == 0 {
		return sameColumns(rec), nil
	}
	keep := make([]bool, rec.NumRows())
	for i := range keep {
		err, bad := failed[i]
		if !bad {
			keep[i] = true
			continue
		}
		if err := c.refuse(b, i, err); err != nil {
			return nil, err
		}
	}
	return keepRows(c.ctx, &c.r.arena, rec, keep)
}

// ---- mask ----

type maskStage struct {
	baseStage
	col       int
	char      string
	keepFirst int
	keepLast  int
	hash      string
	formula   *formula
}

func (s *maskStage) info() StageInfo { return s.infoWith(s.formula) }

func (s *maskStage) run(c *stageRun) (arrow.RecordBatch, error) {
	if s.formula != nil {
		out, err := c.r.eval(c.ctx, s.formula, wantValue, c.rec, c.vctx())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		rec := replaceColumn(c.rec, s.out, s.col, out.arr)
		out.arr.Release()
		defer rec.Release()
		var failed map[int]error
		for _, e := range out.errs {
			if failed == nil {
				failed = map[int]error{}
			}
			failed[e.row] = e.err
		}
		return dropFailed(c, &s.baseStage, rec, failed)
	}
	var arr arrow.Array
	if s.hash == "" && len(s.char) == 1 {
		arr = s.maskBytes(c.rec.Column(s.col))
	} else {
		arr = mapStrings(c.rec.Column(s.col), s.maskValue)
	}
	defer arr.Release()
	return replaceColumn(c.rec, s.out, s.col, arr), nil
}

// maskBytes is maskValue for a one-byte mask character, writing straight
// into the new column's buffers: masking sits on the hot path of most
// flows that handle personal data, and a string per value cost ~130 ns.
// ASCII values are masked bytewise; others take the rune-aware path.
func (s *maskStage) maskBytes(arr arrow.Array) arrow.Array {
	src := arr.(stringValues)
	b := array.NewBuilder(memory.DefaultAllocator, arr.DataType())
	defer b.Release()
	var bb *array.BinaryBuilder
	switch x := b.(type) {
	case *array.StringBuilder:
		bb = x.BinaryBuilder
	case *array.LargeStringBuilder:
		bb = x.BinaryBuilder
	default:
		return mapStrings(arr, s.maskValue)
	}
	bb.Reserve(arr.Len())
	bb.ReserveData(dataLen(arr))
	char := s.char[0]
	var scratch []byte
	for i := 0; i < arr.Len(); i++ {
		if arr.IsNull(i) {
			bb.AppendNull()
			continue
		}
		v := src.Value(i)
		if !isASCII(v) {
			bb.AppendString(s.maskValue(v))
			continue
		}
		n := len(v)
		if s.keepFirst+s.keepLast >= n {
			bb.AppendString(v)
			continue
		}
		scratch = append(scratch[:0], v[:s.keepFirst]...)
		for j := s.keepFirst; j < n-s.keepLast; j++ {
			scratch = append(scratch, char)
		}
		scratch = append(scratch, v[n-s.keepLast:]...)
		bb.Append(scratch)
	}
	return b.NewArray()
}

func isASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// dataLen is the byte length of a string column's values.
func dataLen(arr arrow.Array) int {
	switch a := arr.(type) {
	case *array.String:
		return len(a.ValueBytes())
	case *array.LargeString:
		return len(a.ValueBytes())
	}
	return 0
}

// maskValue hides s. keep_first/keep_last leave that many runes visible;
// when they cover the whole value it is returned unchanged, which is the
// usual contract of "show the last 4 digits".
func (s *maskStage) maskValue(v string) string {
	switch s.hash {
	case "sha256":
		h := sha256.Sum256([]byte(v))
		return hex.EncodeToString(h[:])
	case "md5":
		h := md5.Sum([]byte(v))
		return hex.EncodeToString(h[:])
	}
	n := utf8.RuneCountInString(v)
	if s.keepFirst+s.keepLast >= n {
		if s.keepFirst == 0 && s.keepLast == 0 {
			return "" // n == 0
		}
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	i := 0
	for _, r := range v {
		if i < s.keepFirst || i >= n-s.keepLast {
			b.WriteRune(r)
		} else {
			b.WriteString(s.char)
		}
		i++
	}
	return b.String()
}

// ---- truncate ----

type truncateStage struct {
	baseStage
	col    int
	length int
}

func (s *truncateStage) info() StageInfo { return s.infoWith() }

func (s *truncateStage) run(c *stageRun) (arrow.RecordBatch, error) {
	col := c.rec.Column(s.col)
	if maxLen(col) <= s.length {
		// Bytes bound runes from above, so nothing is long enough to cut.
		return sameColumns(c.rec), nil
	}
	arr := mapStrings(col, func(v string) string {
		if len(v) <= s.length {
			return v
		}
		i := 0
		for b := range v {
			if i == s.length {
				return v[:b]
			}
			i++
		}
		return v
	})
	defer arr.Release()
	return replaceColumn(c.rec, s.out, s.col, arr), nil
}

// maxLen is the longest value in bytes.
func maxLen(arr arrow.Array) int {
	m := 0
	switch a := arr.(type) {
	case *array.String:
		for i := 0; i < a.Len(); i++ {
			if l := a.ValueLen(i); l > m {
				m = l
			}
		}
	case *array.LargeString:
		for i := 0; i < a.Len(); i++ {
			if l := a.ValueLen(i); l > m {
				m = l
			}
		}
	default:
		return int(^uint(0) >> 1)
	}
	return m
}

// ---- partition ----

// partitionStage is a no-op here: partition keys are for file and object
// sinks, which read them from the plan. Compiling it still checks that the
// keys exist at this point.
type partitionStage struct{ baseStage }

func (s *partitionStage) info() StageInfo { return s.infoWith() }
func (s *partitionStage) run(c *stageRun) (arrow.RecordBatch, error) {
	return sameColumns(c.rec), nil
}

// ---- helpers ----

// stringValues is what the string array types share.
type stringValues interface {
	arrow.Array
	Value(i int) string
}

// mapStrings applies f to every non-null value of a string column,
// keeping the column's string type.
func mapStrings(arr arrow.Array, f func(string) string) arrow.Array {
	src := arr.(stringValues)
	b := array.NewBuilder(memory.DefaultAllocator, arr.DataType())
	defer b.Release()
	app := b.(interface{ Append(string) })
	b.Reserve(arr.Len())
	for i := 0; i < arr.Len(); i++ {
		if arr.IsNull(i) {
			b.AppendNull()
			continue
		}
		app.Append(f(src.Value(i)))
	}
	return b.NewArray()
}

// replaceColumn is rec with column i replaced by arr, in schema out.
func replaceColumn(rec arrow.RecordBatch, out *arrow.Schema, i int, arr arrow.Array) arrow.RecordBatch {
	cols := append([]arrow.Array(nil), rec.Columns()...)
	cols[i] = arr
	return array.NewRecordBatch(out, cols, rec.NumRows())
}
