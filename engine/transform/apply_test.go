package transform

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-dev/sluice/engine/plan"
)

// bothPaths runs fn once on the column path and once forced per row, so
// every behaviour test also checks that the two paths agree.
func bothPaths(t *testing.T, fn func(t *testing.T, opts options)) {
	t.Run("column", func(t *testing.T) { fn(t, options{}) })
	t.Run("row", func(t *testing.T) { fn(t, options{rowPath: true}) })
}

var oppSchema = schemaOf(
	field("Id", str),
	field("Amount", f64),
	field("Stage", str),
	field("Count", i64),
)

func oppBatch(t testing.TB) arrow.RecordBatch {
	return record(t, oppSchema,
		[]any{"a1", 1500.0, "Closed Won", 3},
		[]any{"a2", 500.0, "Closed Won", 1},
		[]any{"a3", nil, "Closed Won", nil},
		[]any{"a4", 2500.0, nil, 7},
		[]any{"a5", 3000.0, "Open", 0},
	)
}

func TestFilter(t *testing.T) {
	cases := []struct {
		name     string
		where    string
		ids      []any
		filtered int
	}{
		{"comparison and equality", `Amount > 1000 && Stage == "Closed Won"`, []any{"a1"}, 4},
		{"or keeps either", `Amount > 2000 || Count == 1`, []any{"a2", "a4", "a5"}, 2},
		{"null test", `Amount == nil || Stage == nil`, []any{"a3", "a4"}, 3},
		{"negation drops nulls", `!(Stage == "Closed Won")`, []any{"a5"}, 4},
		{"membership", `Stage in ["Open", "Closed Lost"]`, []any{"a5"}, 4},
		{"string operator", `Id endsWith "3" || Id startsWith "a1"`, []any{"a1", "a3"}, 3},
		{"per-row function", `upper(Stage) == "OPEN" && substr(Id, 0, 1) == "a"`, []any{"a5"}, 4},
		{"nothing passes", `Count > 100`, nil, 5},
		{"everything passes", `Id != nil`, []any{"a1", "a2", "a3", "a4", "a5"}, 0},
	}
	bothPaths(t, func(t *testing.T, opts options) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				rec := oppBatch(t)
				defer rec.Release()
				p := mustCompile(t, oppSchema, opts, &plan.Filter{Where: f(tc.where), Range: taskRange(5)})
				res, err := apply(t, p, rec, false)
				if err != nil {
					t.Fatal(err)
				}
				if res.Filtered != tc.filtered {
					t.Errorf("Filtered = %d, want %d", res.Filtered, tc.filtered)
				}
				if tc.ids == nil {
					if res.Out != nil {
						t.Errorf("Out = %v, want nil", rows(res.Out))
					}
					return
				}
				defer res.Out.Release()
				if got := column(res.Out, "Id"); !reflect.DeepEqual(got, tc.ids) {
					t.Errorf("ids = %v, want %v", got, tc.ids)
				}
				if !res.Out.Schema().Equal(p.OutputSchema()) {
					t.Errorf("schema %s, want %s", res.Out.Schema(), p.OutputSchema())
				}
			})
		}
	})
}

// column returns one column's values.
func column(rec arrow.RecordBatch, name string) []any {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil
	}
	var out []any
	for _, row := range rows(rec) {
		out = append(out, row[idx[0]])
	}
	return out
}

func TestMap(t *testing.T) {
	ts := time.Date(2024, 3, 5, 10, 30, 0, 0, time.UTC)
	schema := schemaOf(field("Id", str), field("Amount", f64), field("Count", arrow.PrimitiveTypes.Int32), field("Email", str), field("At", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}))
	cases := []struct {
		name   string
		task   *plan.Map
		fields string // name:type, in order
		row0   []any
	}{
		{
			name:   "exact fields in order, computed types",
			task:   &plan.Map{Fields: []plan.MapField{mf("email", "lower(Email)"), mf("double", "Count * 2"), mf("ratio", "Amount / 4"), mf("big", "Amount > 100"), mf("day", "date_trunc('day', At)")}},
			fields: "email:utf8, double:int64, ratio:float64, big:bool, day:timestamp[us, tz=UTC]",
			row0:   []any{"ann@x.io", 6, 25.0, false, time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)},
		},
		{
			name:   "a bare reference keeps the source type",
			task:   &plan.Map{Fields: []plan.MapField{mf("n", "Count"), mf("id", "Id"), mf("at", "At")}},
			fields: "n:int32, id:utf8, at:timestamp[ms, tz=UTC]",
			row0:   []any{3, "a1", ts},
		},
		{
			name:   "all with except, replace in place, add at end",
			task:   &plan.Map{All: true, Except: []string{"At", "Count"}, Fields: []plan.MapField{mf("Email", "upper(Email)"), mf("cents", "int(Amount * 100)")}},
			fields: "Id:utf8, Amount:float64, Email:utf8, cents:int64",
			row0:   []any{"a1", 100.0, "ANN@X.IO", 10000},
		},
		{
			name:   "casts and concatenation",
			task:   &plan.Map{Fields: []plan.MapField{mf("label", `concat(Id, "-", string(Count))`), mf("amt", "float(Count)"), mf("s", "string(Amount)")}},
			fields: "label:utf8, amt:float64, s:utf8",
			row0:   []any{"a1-3", 3.0, "100"},
		},
	}
	bothPaths(t, func(t *testing.T, opts options) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				rec := record(t, schema, []any{"a1", 100.0, 3, "Ann@X.io", ts}, []any{"a2", nil, nil, nil, nil})
				defer rec.Release()
				p := mustCompile(t, schema, opts, tc.task)
				if got := fieldsOf(p.OutputSchema()); got != tc.fields {
					t.Fatalf("output schema %s, want %s", got, tc.fields)
				}
				res, err := apply(t, p, rec, false)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Out.Release()
				got := rows(res.Out)
				if !reflect.DeepEqual(got[0], tc.row0) {
					t.Errorf("row 0 = %#v, want %#v", got[0], tc.row0)
				}
			})
		}
	})
}

// TestTasksSeePreviousFields checks that each task reads the schema the
// one before it produced.
func TestTasksSeePreviousFields(t *testing.T) {
	bothPaths(t, func(t *testing.T, opts options) {
		rec := oppBatch(t)
		defer rec.Release()
		p := mustCompile(t, oppSchema, opts,
			&plan.Map{Fields: []plan.MapField{mf("id", "Id"), mf("amount", "coalesce(Amount, 0.0)")}},
			&plan.Filter{Where: f("amount >= 1500")},
			&plan.Map{All: true, Fields: []plan.MapField{mf("k", "amount / 1000")}},
			&plan.Partition{Keys: []string{"id", "k"}},
		)
		res, err := apply(t, p, rec, false)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Out.Release()
		want := [][]any{{"a1", 1500.0, 1.5}, {"a4", 2500.0, 2.5}, {"a5", 3000.0, 3.0}}
		if got := rows(res.Out); !reflect.DeepEqual(got, want) {
			t.Errorf("rows = %v, want %v", got, want)
		}
		if len(p.Stages()) != 4 {
			t.Errorf("%d stages, want 4", len(p.Stages()))
		}
	})

	_, diags := Compile([]plan.Task{
		&plan.Map{Fields: []plan.MapField{mf("id", "Id")}},
		&plan.Filter{Where: f("Amount > 1")},
	}, oppSchema)
	if !diags.HasErrors() || diags[0].Summary != "Unknown field in formula" {
		t.Fatalf("a field dropped by map must be unknown afterwards: %v", diags)
	}
}

func TestMask(t *testing.T) {
	cases := []struct {
		name string
		task plan.Mask
		in   []any
		want []any
	}{
		{"all", plan.Mask{}, []any{"secret", "", nil}, []any{"******", "", nil}},
		{"char", plan.Mask{Char: "#"}, []any{"abc"}, []any{"###"}},
		{"keep last runes", plan.Mask{KeepLast: 4}, []any{"4111111111111111", "añéí5", "abc"}, []any{"************1111", "*ñéí5", "abc"}},
		{"keep first and last", plan.Mask{KeepFirst: 1, KeepLast: 1, Char: "x"}, []any{"ann@x.io", "ab"}, []any{"axxxxxxo", "ab"}},
		{"sha256", plan.Mask{Hash: "sha256"}, []any{"abc"}, []any{"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}},
		{"md5", plan.Mask{Hash: "MD5"}, []any{"abc", nil}, []any{"900150983cd24fb0d6963f7d28e17f72", nil}},
		{"formula", plan.Mask{Formula: ptr(f(`substr(v, 0, 2) + "…"`))}, []any{"hello", nil}, []any{"he…", nil}},
	}
	schema := schemaOf(field("v", str), field("n", i64))
	bothPaths(t, func(t *testing.T, opts options) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var rs [][]any
				for _, v := range tc.in {
					rs = append(rs, []any{v, 1})
				}
				rec := record(t, schema, rs...)
				defer rec.Release()
				task := tc.task
				task.Field = "v"
				p := mustCompile(t, schema, opts, &task)
				res, err := apply(t, p, rec, false)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Out.Release()
				if got := column(res.Out, "v"); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("got %q, want %q", got, tc.want)
				}
			})
		}
	})
}

func ptr[T any](v T) *T { return &v }

func mf(name, formula string) plan.MapField {
	return plan.MapField{Name: name, Formula: f(formula)}
}

func TestMaskFormulaChangesType(t *testing.T) {
	schema := schemaOf(field("v", str))
	rec := record(t, schema, []any{"hello"})
	defer rec.Release()
	p := mustCompile(t, schema, options{}, &plan.Mask{Field: "v", Formula: ptr(f("len(v)"))})
	if got := fieldsOf(p.OutputSchema()); got != "v:int64" {
		t.Fatalf("schema %s", got)
	}
	res, err := apply(t, p, rec, false)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Out.Release()
	if got := column(res.Out, "v"); !reflect.DeepEqual(got, []any{5}) {
		t.Errorf("got %v", got)
	}
}

func TestTruncate(t *testing.T) {
	for _, dt := range []arrow.DataType{str, arrow.BinaryTypes.LargeString} {
		t.Run(dt.String(), func(t *testing.T) {
			schema := schemaOf(field("v", dt))
			rec := record(t, schema, []any{"abcdef"}, []any{"äöüß"}, []any{"ab"}, []any{nil}, []any{""})
			defer rec.Release()
			p := mustCompile(t, schema, options{}, &plan.Truncate{Field: "v", Length: 3})
			res, err := apply(t, p, rec, false)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Out.Release()
			want := []any{"abc", "äöü", "ab", nil, ""}
			if got := column(res.Out, "v"); !reflect.DeepEqual(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
			if !arrow.TypeEqual(res.Out.Schema().Field(0).Type, dt) {
				t.Errorf("type changed to %s", res.Out.Schema().Field(0).Type)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	check := `Amount != nil && Amount >= 1000`
	bothPaths(t, func(t *testing.T, opts options) {
		t.Run("drop", func(t *testing.T) {
			rec := oppBatch(t)
			defer rec.Release()
			p := mustCompile(t, oppSchema, opts, &plan.Validate{Check: f(check), OnFail: plan.OnFailDrop, Range: taskRange(12)})
			res, err := apply(t, p, rec, false)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Out.Release()
			if res.Filtered != 2 || len(res.Rejected) != 0 || res.Out.NumRows() != 3 {
				t.Errorf("filtered %d rejected %d rows %d", res.Filtered, len(res.Rejected), res.Out.NumRows())
			}
		})
		t.Run("dead letter", func(t *testing.T) {
			rec := oppBatch(t)
			defer rec.Release()
			p := mustCompile(t, oppSchema, opts, &plan.Validate{Check: f(check), OnFail: plan.OnFailDeadLetter, Message: "amount too small", Range: taskRange(12)})
			res, err := apply(t, p, rec, false)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Out.Release()
			if res.Filtered != 0 || len(res.Rejected) != 2 {
				t.Fatalf("filtered %d rejected %+v", res.Filtered, res.Rejected)
			}
			r := res.Rejected[0]
			want := Rejected{Task: "validate (flows/test.hcl:12)", Reason: "amount too small",
				Record: map[string]any{"Id": "a2", "Amount": 500.0, "Stage": "Closed Won", "Count": 1}}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("rejected[0] = %+v\nwant %+v", r, want)
			}
			if res.Rejected[1].Record["Amount"] != nil {
				t.Errorf("null amount must be rejected as null: %+v", res.Rejected[1])
			}
		})
		t.Run("fail", func(t *testing.T) {
			rec := oppBatch(t)
			defer rec.Release()
			p := mustCompile(t, oppSchema, opts, &plan.Validate{Check: f(check), OnFail: plan.OnFailFail, Message: "amount too small", Range: taskRange(12)})
			// continueOnError does not soften on_fail = "fail".
			res, err := apply(t, p, rec, true)
			if err == nil {
				res.Out.Release()
				t.Fatal("no error")
			}
			var re *RowError
			if !errors.As(err, &re) || !errors.Is(err, ErrValidationFailed) {
				t.Fatalf("error %T %v", err, err)
			}
			for _, want := range []string{"validate (flows/test.hcl:12)", "row 1", "amount too small", `Id: "a2"`, "Amount: 500", "Count: 1"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	})
}

func TestRuntimeErrors(t *testing.T) {
	schema := schemaOf(field("Code", str), field("N", i64))
	newRec := func() arrow.RecordBatch {
		return record(t, schema, []any{"12", 4}, []any{"abc", 0}, []any{nil, 3})
	}
	cases := []struct {
		name string
		task plan.Task
	}{
		{"map", &plan.Map{Fields: []plan.MapField{mf("code", "int(Code)")}, Range: taskRange(7)}},
		{"filter", &plan.Filter{Where: f("int(Code) > 0"), Range: taskRange(7)}},
		{"validate", &plan.Validate{Check: f("int(Code) > 0"), OnFail: plan.OnFailDrop, Range: taskRange(7)}},
		{"mask formula", &plan.Mask{Field: "Code", Formula: ptr(f("string(int(Code) * 2)")), Range: taskRange(7)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, schema, options{}, tc.task)
			rec := newRec()
			defer rec.Release()
			res, err := apply(t, p, rec, true)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if res.Out != nil {
					res.Out.Release()
				}
			}()
			if len(res.Rejected) != 1 {
				t.Fatalf("rejected %+v", res.Rejected)
			}
			r := res.Rejected[0]
			name := tc.task.Kind() + " (flows/test.hcl:7)"
			if r.Task != name || !strings.Contains(r.Reason, `"abc"`) || r.Record["Code"] != "abc" {
				t.Errorf("rejected %+v", r)
			}

			_, err = apply(t, p, rec, false)
			if err == nil {
				t.Fatal("no error without continueOnError")
			}
			for _, want := range []string{name, "row 1", `Code: "abc"`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

// TestModuloByZero covers the one error the column path raises itself.
func TestModuloByZero(t *testing.T) {
	schema := schemaOf(field("A", i64), field("B", i64))
	bothPaths(t, func(t *testing.T, opts options) {
		rec := record(t, schema, []any{7, 2}, []any{1, 0}, []any{nil, 0}, []any{5, 0})
		defer rec.Release()
		p := mustCompile(t, schema, opts, &plan.Filter{Where: f("B == 0 || A % B == 1")})
		res, err := apply(t, p, rec, true)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Out.Release()
		// Short-circuit: B == 0 decides before A % B runs.
		if len(res.Rejected) != 0 || res.Out.NumRows() != 4 {
			t.Fatalf("rows %d rejected %+v", res.Out.NumRows(), res.Rejected)
		}
		p = mustCompile(t, schema, opts, &plan.Map{Fields: []plan.MapField{mf("m", "A % B")}})
		res2, err := apply(t, p, rec, true)
		if err != nil {
			t.Fatal(err)
		}
		defer res2.Out.Release()
		if len(res2.Rejected) != 2 || !strings.Contains(res2.Rejected[0].Reason, "divide by zero") {
			t.Fatalf("rejected %+v", res2.Rejected)
		}
		if got := column(res2.Out, "m"); !reflect.DeepEqual(got, []any{1, nil}) {
			t.Errorf("m = %v", got)
		}
	})
}

// TestApplyLeavesInputAlone checks Apply neither keeps nor drops a
// reference to the caller's batch: with a checked allocator, releasing
// Out and the input frees everything.
func TestApplyLeavesInputAlone(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := array.NewRecordBuilder(mem, oppSchema)
	for i := 0; i < 10; i++ {
		b.Field(0).(*array.StringBuilder).Append("id")
		b.Field(1).(*array.Float64Builder).Append(float64(i * 500))
		b.Field(2).(*array.StringBuilder).Append("Open")
		b.Field(3).(*array.Int64Builder).Append(int64(i))
	}
	rec := b.NewRecordBatch()
	b.Release()
	for _, tasks := range [][]plan.Task{
		{&plan.Partition{Keys: []string{"Id"}}},
		{&plan.Filter{Where: f("Amount > 1000")}},
		{&plan.Filter{Where: f("Amount > 100000")}},
		{&plan.Map{All: true, Fields: []plan.MapField{mf("x", "Count + 1")}}, &plan.Truncate{Field: "Stage", Length: 2}},
	} {
		p := mustCompile(t, oppSchema, options{}, tasks...)
		res, err := p.NewRunner().Apply(context.Background(), rec, false)
		if err != nil {
			t.Fatal(err)
		}
		if rec.NumRows() != 10 || rec.Column(0).Len() != 10 {
			t.Fatal("input batch changed")
		}
		if res.Out != nil {
			res.Out.Release()
		}
	}
	rec.Release()
}

func TestApplyRejectsWrongSchema(t *testing.T) {
	p := mustCompile(t, oppSchema, options{}, &plan.Filter{Where: f("Amount > 1")})
	other := schemaOf(field("Id", str))
	rec := record(t, other, []any{"x"})
	defer rec.Release()
	if _, err := apply(t, p, rec, false); err == nil {
		t.Fatal("no error for a batch of another schema")
	}
}

func TestApplyHonoursContext(t *testing.T) {
	p := mustCompile(t, oppSchema, options{}, &plan.Filter{Where: f("Amount > 1")})
	rec := oppBatch(t)
	defer rec.Release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.NewRunner().Apply(ctx, rec, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestStagesReportPath(t *testing.T) {
	p := mustCompile(t, oppSchema, options{},
		&plan.Filter{Where: f(`Amount > 1000 && lower(Stage) == "open"`), Range: taskRange(3)},
		&plan.Filter{Where: f(`regex_match(Id, "^a")`), Range: taskRange(4)},
		&plan.Map{All: true, Fields: []plan.MapField{mf("id", "Id"), mf("x", "Count * 2")}},
		&plan.Map{All: true, Fields: []plan.MapField{mf("y", "int(Stage)")}},
		&plan.Truncate{Field: "Stage", Length: 3},
	)
	var got []string
	for _, s := range p.Stages() {
		v := "row"
		if s.Vectorized {
			v = "column"
		}
		got = append(got, s.Kind+":"+v)
	}
	want := []string{"filter:column", "filter:row", "map:column", "map:row", "truncate:column"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stages %v, want %v", got, want)
	}
	if r := p.Stages()[0].Range; r.Start.Line != 3 || r.Filename != testFile {
		t.Errorf("range %v", r)
	}
}

// TestSlicedInput runs the tasks on a batch slice, whose arrays have a
// non-zero offset, and compares with the same rows built afresh.
func TestSlicedInput(t *testing.T) {
	schema := schemaOf(field("s", str), field("n", i64), field("b", bln), field("ls", arrow.BinaryTypes.LargeString))
	full := record(t, schema,
		[]any{"skip", 0, true, "skip"},
		[]any{"alpha", 1, true, "AAAA"},
		[]any{nil, 2, false, nil},
		[]any{"gamma", nil, nil, "CCCC"},
		[]any{"delta", 4, true, "DDDD"},
		[]any{"skip", 0, false, "skip"},
	)
	defer full.Release()
	sliced := full.NewSlice(1, 5)
	defer sliced.Release()
	fresh := record(t, schema, rows(sliced)...)
	defer fresh.Release()
	tasks := []plan.Task{
		&plan.Filter{Where: f(`s == nil || (s != "gamma" && (b || n >= 2))`)},
		&plan.Mask{Field: "s", KeepFirst: 1},
		&plan.Truncate{Field: "ls", Length: 2},
		&plan.Map{All: true, Fields: []plan.MapField{mf("m", "n * 10"), mf("u", "upper(s)")}},
	}
	bothPaths(t, func(t *testing.T, opts options) {
		p := mustCompile(t, schema, opts, tasks...)
		a, err := apply(t, p, sliced, false)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Out.Release()
		b, err := apply(t, p, fresh, false)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Out.Release()
		if !reflect.DeepEqual(rows(a.Out), rows(b.Out)) {
			t.Errorf("sliced %v\nfresh  %v", rows(a.Out), rows(b.Out))
		}
		want := [][]any{{"a****", 1, true, "AA", 10, "A****"}, {nil, 2, false, nil, 20, nil}, {"d****", 4, true, "DD", 40, "D****"}}
		if !reflect.DeepEqual(rows(a.Out), want) {
			t.Errorf("got %v\nwant %v", rows(a.Out), want)
		}
	})
}

// TestConcurrentRunners shares one Pipeline between goroutines, each with
// its own Runner; run with -race.
func TestConcurrentRunners(t *testing.T) {
	p := mustCompile(t, oppSchema, options{},
		&plan.Filter{Where: f(`Amount > 1000 || Stage == nil`)},
		&plan.Map{All: true, Fields: []plan.MapField{mf("k", "int(Amount) % 7"), mf("up", "upper(Stage)")}},
	)
	rec := oppBatch(t)
	defer rec.Release()
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			r := p.NewRunner()
			for i := 0; i < 50; i++ {
				res, err := r.Apply(context.Background(), rec, true)
				if err != nil {
					done <- err
					return
				}
				if res.Out.NumRows() != 3 {
					done <- errors.New("wrong row count")
					return
				}
				res.Out.Release()
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestEnvIndexing reaches a field whose name is not an identifier.
func TestEnvIndexing(t *testing.T) {
	schema := schemaOf(field("First Name", str))
	rec := record(t, schema, []any{"Ann"}, []any{nil})
	defer rec.Release()
	p := mustCompile(t, schema, options{}, &plan.Map{Fields: []plan.MapField{mf("greeting", `"Hi " + $env["First Name"]`)}})
	res, err := apply(t, p, rec, false)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Out.Release()
	if got := column(res.Out, "greeting"); !reflect.DeepEqual(got, []any{"Hi Ann", nil}) {
		t.Errorf("got %v", got)
	}
}

// TestMapRenamesAnyType carries a column formulas cannot read.
func TestMapRenamesAnyType(t *testing.T) {
	schema := schemaOf(field("Tags", arrow.ListOf(str)), field("n", i64))
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	lb := b.Field(0).(*array.ListBuilder)
	for i := 0; i < 3; i++ {
		lb.Append(true)
		lb.ValueBuilder().(*array.StringBuilder).Append(string(rune('x' + i)))
		b.Field(1).(*array.Int64Builder).Append(int64(i))
	}
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()
	p := mustCompile(t, schema, options{}, &plan.Map{Fields: []plan.MapField{mf("labels", "Tags"), mf("n2", "n + 1")}}, &plan.Filter{Where: f("n2 > 1")})
	res, err := apply(t, p, rec, false)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Out.Release()
	if got := fieldsOf(res.Out.Schema()); got != "labels:list<item: utf8, nullable>, n2:int64" {
		t.Errorf("schema %s", got)
	}
	// The list column goes through arrow compute's filter.
	if got := res.Out.Column(0).String(); got != `[["y"] ["z"]]` {
		t.Errorf("labels %s", got)
	}
}

func TestMaskOnASlicedBatch(t *testing.T) {
	schema := schemaOf(field("v", str))
	rec := record(t, schema, []any{"first-row"}, []any{"4111111111111111"}, []any{nil}, []any{"añéí5"})
	defer rec.Release()
	slice := rec.NewSlice(1, 4)
	defer slice.Release()
	p := mustCompile(t, schema, options{}, &plan.Mask{Field: "v", KeepLast: 4})
	res, err := apply(t, p, slice, false)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Out.Release()
	if got, want := column(res.Out, "v"), []any{"************1111", nil, "*ñéí5"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
