package transform

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-dev/sluice/engine/plan"
)

// testFile is the flow file formulas in tests pretend to come from.
const testFile = "flows/test.hcl"

// fml makes a formula that sits on line `line` starting at column `col`
// of testFile, as the dsl package would report it.
func fml(text string, line, col int) plan.Formula {
	start := hcl.Pos{Line: line, Column: col, Byte: 100 + col - 1}
	end := start
	for _, r := range text {
		if r == '\n' {
			end.Line++
			end.Column = 1
		} else {
			end.Column++
		}
	}
	end.Byte += len(text)
	return plan.Formula{Text: text, Range: hcl.Range{Filename: testFile, Start: start, End: end}}
}

// f is a formula on line 10, column 15.
func f(text string) plan.Formula { return fml(text, 10, 15) }

func taskRange(line int) hcl.Range {
	return hcl.Range{Filename: testFile, Start: hcl.Pos{Line: line, Column: 3}, End: hcl.Pos{Line: line, Column: 20}}
}

// record builds a batch; rows hold Go values (nil for null) matching schema.
func record(t testing.TB, schema *arrow.Schema, rows ...[]any) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, row := range rows {
		if len(row) != schema.NumFields() {
			t.Fatalf("row %v has %d values, schema %d", row, len(row), schema.NumFields())
		}
		for c, v := range row {
			appendAny(t, b.Field(c), v)
		}
	}
	return b.NewRecordBatch()
}

func appendAny(t testing.TB, b array.Builder, v any) {
	t.Helper()
	if v == nil {
		b.AppendNull()
		return
	}
	switch bb := b.(type) {
	case *array.Int64Builder:
		bb.Append(int64(v.(int)))
	case *array.Int32Builder:
		bb.Append(int32(v.(int)))
	case *array.Uint8Builder:
		bb.Append(uint8(v.(int)))
	case *array.Float64Builder:
		bb.Append(v.(float64))
	case *array.Float32Builder:
		bb.Append(float32(v.(float64)))
	case *array.StringBuilder:
		bb.Append(v.(string))
	case *array.LargeStringBuilder:
		bb.Append(v.(string))
	case *array.BooleanBuilder:
		bb.Append(v.(bool))
	case *array.TimestampBuilder:
		bb.AppendTime(v.(time.Time))
	default:
		t.Fatalf("appendAny: no case for %T", b)
	}
}

// rows reads a batch back as Go values, the form formulas see.
func rows(rec arrow.RecordBatch) [][]any {
	if rec == nil {
		return nil
	}
	out := make([][]any, rec.NumRows())
	for i := range out {
		row := make([]any, rec.NumCols())
		for c := range row {
			col := rec.Column(c)
			if col.IsNull(i) {
				continue
			}
			row[c] = newRowGetter(col)(i)
		}
		out[i] = row
	}
	return out
}

func mustCompile(t testing.TB, schema *arrow.Schema, opts options, tasks ...plan.Task) *Pipeline {
	t.Helper()
	p, diags := compile(tasks, schema, opts)
	if diags.HasErrors() {
		t.Fatalf("compile: %s", diags.Error())
	}
	return p
}

func apply(t testing.TB, p *Pipeline, rec arrow.RecordBatch, cont bool) (Result, error) {
	t.Helper()
	return p.NewRunner().Apply(context.Background(), rec, cont)
}

func fieldsOf(s *arrow.Schema) string {
	out := ""
	for i, f := range s.Fields() {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s:%s", f.Name, f.Type)
	}
	return out
}

var (
	i64 = arrow.PrimitiveTypes.Int64
	f64 = arrow.PrimitiveTypes.Float64
	str = arrow.BinaryTypes.String
	bln = arrow.FixedWidthTypes.Boolean
)

func field(name string, dt arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: dt, Nullable: true}
}

func schemaOf(fields ...arrow.Field) *arrow.Schema { return arrow.NewSchema(fields, nil) }
