package format

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluice-dev/sluice/sdk"
)

// recorder keeps what a read sends.
type recorder struct {
	recs    []arrow.RecordBatch
	rejects []sdk.BadRecord
}

func (r *recorder) Send(rec arrow.RecordBatch) error {
	rec.Retain()
	r.recs = append(r.recs, rec)
	return nil
}
func (r *recorder) Checkpoint([]byte) error      { return nil }
func (r *recorder) Reject(b sdk.BadRecord) error { r.rejects = append(r.rejects, b); return nil }
func (r *recorder) Progress(sdk.Progress) error  { return nil }

// readWith reads data into batches; general turns the direct path off so
// that every row goes through fields and cells.
func readWith(t *testing.T, data string, opts *ReadOptions, ts TextSchema, proj []int, limits sdk.Limits, general bool) *recorder {
	t.Helper()
	in, err := NewInput(strings.NewReader(data), "t.csv", "none")
	if err != nil {
		t.Fatal(err)
	}
	b := NewBatcher(nil, ts, proj, limits)
	defer b.Release()
	if general {
		b.byFile = nil
	}
	out := &recorder{}
	if err := ReadCSV(context.Background(), in, opts, Target{Out: out, Batcher: b}); err != nil {
		t.Fatal(err)
	}
	for _, rec := range out.recs {
		for i, col := range rec.Columns() {
			if v, ok := col.(interface{ ValidateFull() error }); ok {
				if err := v.ValidateFull(); err != nil {
					t.Fatalf("column %d: %v", i, err)
				}
			}
			d := col.Data()
			if d.Len() != int(rec.NumRows()) || (d.Buffers()[0] == nil && col.NullN() != 0) {
				t.Fatalf("column %d: length %d of %d rows, %d nulls", i, d.Len(), rec.NumRows(), col.NullN())
			}
			if w, ok := col.DataType().(arrow.FixedWidthDataType); ok && d.Buffers()[1].Len()*8 < w.BitWidth()*d.Len() {
				t.Fatalf("column %d: %d value bytes for %d rows", i, d.Buffers()[1].Len(), d.Len())
			}
		}
	}
	return out
}

// TestDirectCSVPathMatchesGeneral checks that rows parsed straight into
// the columns come out exactly as through fields and cells, on random
// input with nulls, quotes, bad values, wrong field counts, projections
// and batch caps.
func TestDirectCSVPathMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []Kind{KindString, KindInt, KindFloat, KindBool, KindTimestamp, KindDate}
	values := map[Kind][]string{
		KindString:    {"a", "hello world", "", "x y", "é", `"q,uoted"`, `"a""b"`, "NULL", "0", "long text value here"},
		KindInt:       {"0", "-12", "+7", "123456789012345678", "1234567890123456789", "x", "1.5", "", "NULL", `"42"`},
		KindFloat:     {"0.5", "-1.25", "1e3", "nan", "3", "", "abc", "123456.789012345678", "NULL", `"2.5"`},
		KindBool:      {"true", "false", "T", "0", "1", "yes", "", "NULL", `"true"`},
		KindTimestamp: {"2024-05-01T12:30:00Z", "2024-05-01 12:30:00.123456", "2024-05-01", "2024-05-01T12:30:00+02:00", "2024-13-01T00:00:00Z", "", "NULL", "10000-01-01T00:00:00Z"},
		KindDate:      {"2024-05-01", "1969-12-31", "2024-02-30", "", "NULL", `"2024-01-01"`},
	}
	for iter := 0; iter < 300; iter++ {
		ncols := 1 + rng.IntN(6)
		ts := TextSchema{Names: make([]string, ncols), Kinds: make([]Kind, ncols)}
		for i := range ts.Names {
			ts.Names[i] = fmt.Sprintf("c%d", i)
			ts.Kinds[i] = kinds[rng.IntN(len(kinds))]
		}
		var proj []int
		switch rng.IntN(3) {
		case 0:
			for i := range ncols {
				proj = append(proj, i)
			}
		case 1:
			proj = rng.Perm(ncols)[:1+rng.IntN(ncols)]
		case 2:
			proj = []int{rng.IntN(ncols), rng.IntN(ncols)}
		}
		opts, err := ParseReadOptions(sdk.Values{"header": false})
		if err != nil {
			t.Fatal(err)
		}
		if rng.IntN(3) == 0 {
			opts, err = ParseReadOptions(sdk.Values{"header": false, "null_values": []string{"NULL", ""}})
			if err != nil {
				t.Fatal(err)
			}
		}
		var sb strings.Builder
		nrows := rng.IntN(200)
		for r := 0; r < nrows; r++ {
			n := ncols
			if rng.IntN(20) == 0 {
				n += rng.IntN(3) - 1
			}
			for j := 0; j < n; j++ {
				if j > 0 {
					sb.WriteByte(',')
				}
				k := ts.Kinds[min(j, ncols-1)]
				if rng.IntN(10) == 0 {
					k = kinds[rng.IntN(len(kinds))]
				}
				vs := values[k]
				sb.WriteString(vs[rng.IntN(len(vs))])
			}
			if rng.IntN(10) == 0 {
				sb.WriteByte('\r')
			}
			sb.WriteByte('\n')
			if rng.IntN(30) == 0 {
				sb.WriteByte('\n')
			}
		}
		limits := sdk.Limits{MaxRows: 1 + rng.IntN(50), MaxBytes: 64 + rng.IntN(4096)}
		if rng.IntN(4) == 0 {
			limits = sdk.Limits{}
		}
		data := sb.String()
		direct := readWith(t, data, opts, ts, proj, limits, false)
		general := readWith(t, data, opts, ts, proj, limits, true)
		if len(direct.recs) != len(general.recs) {
			t.Fatalf("iter %d: %d batches direct, %d general\n%s", iter, len(direct.recs), len(general.recs), data)
		}
		for i := range direct.recs {
			if !array.RecordApproxEqual(direct.recs[i], general.recs[i], array.WithNaNsEqual(true), array.WithAbsTolerance(0)) {
				t.Fatalf("iter %d batch %d differs:\ndirect  %v\ngeneral %v\n%s", iter, i, direct.recs[i], general.recs[i], data)
			}
		}
		if fmt.Sprint(direct.rejects) != fmt.Sprint(general.rejects) {
			t.Fatalf("iter %d: rejects differ:\ndirect  %v\ngeneral %v", iter, direct.rejects, general.rejects)
		}
	}
}

// TestBatcherGrowsPastItsFirstBuffers covers batches longer than the
// buffers first sized for them, and nulls after the buffers grew.
func TestBatcherGrowsPastItsFirstBuffers(t *testing.T) {
	const rows = 70000
	var sb bytes.Buffer
	for i := 0; i < rows; i++ {
		if i%1000 == 999 {
			fmt.Fprintf(&sb, ",,,\n")
			continue
		}
		fmt.Fprintf(&sb, "%d,s%d,%t,2024-01-01\n", i, i, i%2 == 0)
	}
	ts := TextSchema{Names: []string{"a", "b", "c", "d"}, Kinds: []Kind{KindInt, KindString, KindBool, KindDate}}
	opts, err := ParseReadOptions(sdk.Values{"header": false})
	if err != nil {
		t.Fatal(err)
	}
	for _, general := range []bool{false, true} {
		out := readWith(t, sb.String(), opts, ts, []int{0, 1, 2, 3}, sdk.Limits{MaxRows: 1 << 20, MaxBytes: 1 << 30}, general)
		if len(out.recs) != 1 || out.recs[0].NumRows() != rows {
			t.Fatalf("general=%v: %d batches", general, len(out.recs))
		}
		rec := out.recs[0]
		ints, strs := rec.Column(0).(*array.Int64), rec.Column(1).(*array.String)
		for i := 0; i < rows; i++ {
			null := i%1000 == 999
			for j, col := range rec.Columns() {
				if col.IsNull(i) != null {
					t.Fatalf("general=%v: row %d column %d null=%v", general, i, j, col.IsNull(i))
				}
			}
			if !null && (ints.Value(i) != int64(i) || strs.Value(i) != fmt.Sprintf("s%d", i)) {
				t.Fatalf("general=%v: row %d = %d, %q", general, i, ints.Value(i), strs.Value(i))
			}
		}
	}
}
