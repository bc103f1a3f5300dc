package format

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// referenceCSV is the CSV encoder's row loop written plainly, value by
// value through valueFn, as it was before the typed column views.
func referenceCSV(e *CSVEncoder, rec arrow.RecordBatch, rows []int) []byte {
	var out []byte
	fns := make([]valueFn, rec.NumCols())
	for j, c := range rec.Columns() {
		fns[j] = e.valueFn(c)
	}
	_ = forRows(int(rec.NumRows()), rows, func(i int) error {
		for j, c := range rec.Columns() {
			if j > 0 {
				out = append(out, e.delim)
			}
			if c.IsNull(i) {
				out = append(out, e.null...)
				continue
			}
			out = fns[j](out, i)
		}
		out = append(out, '\n')
		return nil
	})
	return out
}

// TestCSVEncoderMatchesReference encodes random batches, sliced or not,
// with nulls and values that need quoting, and a row subset, and compares
// with the plain loop.
func TestCSVEncoderMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	mem := memory.NewGoAllocator()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "ts", Type: TimestampUTC, Nullable: true},
		{Name: "tsn", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
	strs := []string{"", "plain", "NULL", "with,comma", `with"quote`, "line\nbreak", "cr\r", "a long value without anything special", "tab\there", "é"}
	floats := []float64{0, -1.5, 142.86, 1e-7, 1e21, math.NaN(), math.Inf(-1), 1.0 / 3}
	for iter := 0; iter < 200; iter++ {
		b := array.NewRecordBuilder(mem, schema)
		n := 1 + rng.IntN(100)
		nullRate := []int{0, 2, 10}[rng.IntN(3)]
		isNull := func() bool { return nullRate > 0 && rng.IntN(nullRate) == 0 }
		for range n {
			for j, f := range b.Fields() {
				if isNull() {
					f.AppendNull()
					continue
				}
				switch j {
				case 0:
					f.(*array.Int64Builder).Append(rng.Int64() >> rng.IntN(64))
				case 1:
					f.(*array.Float64Builder).Append(floats[rng.IntN(len(floats))])
				case 2:
					f.(*array.StringBuilder).Append(strs[rng.IntN(len(strs))])
				case 3:
					f.(*array.BooleanBuilder).Append(rng.IntN(2) == 0)
				case 4:
					f.(*array.TimestampBuilder).Append(arrow.Timestamp(rng.Int64N(4e15) - 2e15))
				case 5:
					f.(*array.TimestampBuilder).Append(arrow.Timestamp(rng.Int64N(4e18) - 2e18))
				case 6:
					f.(*array.Date32Builder).Append(arrow.Date32(rng.Int32N(100000) - 50000))
				case 7:
					f.(*array.Int32Builder).Append(rng.Int32())
				}
			}
		}
		rec := b.NewRecordBatch()
		b.Release()
		if rng.IntN(2) == 0 && n > 2 {
			lo := rng.IntN(n / 2)
			hi := lo + 1 + rng.IntN(n-lo-1)
			sliced := rec.NewSlice(int64(lo), int64(hi))
			rec.Release()
			rec = sliced
		}
		var rows []int
		if rng.IntN(3) == 0 {
			rows = []int{}
			for i := range int(rec.NumRows()) {
				if rng.IntN(2) == 0 {
					rows = append(rows, i)
				}
			}
		}
		opts := CSVWriteOptions{NullValue: []string{"", "NULL"}[rng.IntN(2)], Delimiter: []byte{',', '\t', ';'}[rng.IntN(3)]}
		var got bytes.Buffer
		enc := NewCSVEncoder(&got, opts)
		if err := enc.Write(rec, rows); err != nil {
			t.Fatal(err)
		}
		if err := enc.Finish(); err != nil {
			t.Fatal(err)
		}
		want := referenceCSV(NewCSVEncoder(nil, opts), rec, rows)
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("iter %d: got\n%s\nwant\n%s", iter, got.Bytes(), want)
		}
		rec.Release()
	}
}

func TestAppendIntMatchesStrconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cases := []int64{0, 1, 9, 10, 99, 100, 101, 999, 1000, -1, -9, -10, -100, math.MaxInt64, math.MinInt64, math.MinInt64 + 1}
	for range 10000 {
		cases = append(cases, rng.Int64()>>rng.IntN(64), -(rng.Int64() >> rng.IntN(64)))
	}
	for _, v := range cases {
		if got, want := string(appendInt([]byte("x"), v)), "x"+strconv.FormatInt(v, 10); got != want {
			t.Fatalf("appendInt(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestSplitUnitMatchesDivision(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, per := range []int64{1, 1e3, 1e6, 1e9} {
		for range 10000 {
			v := rng.Int64() >> rng.IntN(64)
			if rng.IntN(2) == 0 {
				v = -v
			}
			sec, nsec := splitUnit(v, per)
			if sec*per+nsec/(1e9/per) != v || nsec < 0 || nsec >= 1e9 {
				t.Fatalf("splitUnit(%d, %d) = %d, %d", v, per, sec, nsec)
			}
		}
	}
}
