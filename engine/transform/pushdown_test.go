package transform

import (
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/sdk"
)

func pushdownSchema() *arrow.Schema {
	return schemaOf(
		field("Name", arrow.BinaryTypes.String),
		field("Amount", arrow.PrimitiveTypes.Float64),
		field("Employees", arrow.PrimitiveTypes.Int64),
		field("Small", arrow.PrimitiveTypes.Int32),
		field("Active", arrow.FixedWidthTypes.Boolean),
		field("Closed", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}),
		field("Due", arrow.FixedWidthTypes.Date32),
		field("Price", &arrow.Decimal128Type{Precision: 10, Scale: 2}),
		field("First Name", arrow.BinaryTypes.String),
	)
}

func TestPushdownTranslatesExactShapes(t *testing.T) {
	day := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	p := func(field, op string, vals ...any) sdk.Predicate {
		return sdk.Predicate{Field: field, Op: op, Values: vals}
	}
	cases := []struct {
		where string
		want  []sdk.Predicate
	}{
		{`Amount > 1000000`, []sdk.Predicate{p("Amount", ">", 1000000.0)}},
		{`Amount >= 1.5`, []sdk.Predicate{p("Amount", ">=", 1.5)}},
		{`Amount > -2`, []sdk.Predicate{p("Amount", ">", -2.0)}},
		{`Employees <= 10`, []sdk.Predicate{p("Employees", "<=", int64(10))}},
		{`Small != 3`, []sdk.Predicate{p("Small", "!=", int64(3))}},
		{`10 < Employees`, []sdk.Predicate{p("Employees", ">", int64(10))}},
		{`10 >= Employees`, []sdk.Predicate{p("Employees", "<=", int64(10))}},
		{`Name == 'Acme'`, []sdk.Predicate{p("Name", "=", "Acme")}},
		{`"Acme" != Name`, []sdk.Predicate{p("Name", "!=", "Acme")}},
		{`$env["First Name"] == "Ada"`, []sdk.Predicate{p("First Name", "=", "Ada")}},
		{`Active == true`, []sdk.Predicate{p("Active", "=", true)}},
		{`Name in ["a", "b's"]`, []sdk.Predicate{p("Name", "in", "a", "b's")}},
		{`Employees in [1, 2, 3]`, []sdk.Predicate{p("Employees", "in", int64(1), int64(2), int64(3))}},
		{`Name == nil`, []sdk.Predicate{p("Name", "is_null")}},
		{`nil != Amount`, []sdk.Predicate{p("Amount", "not_null")}},
		{`Closed >= timestamp("2024-01-02T03:04:05Z")`, []sdk.Predicate{p("Closed", ">=", at)}},
		{`Due < date("2024-01-02")`, []sdk.Predicate{p("Due", "<", day)}},
		{`AnnualRevenue > 1000000 && Industry == 'Banking'`, nil}, // not fields here: does not compile
		{`Amount > 1000000 && Name == 'Banking'`, []sdk.Predicate{p("Amount", ">", 1000000.0), p("Name", "=", "Banking")}},
		{`Amount > 1 and (Name == "x" && Employees < 5)`, []sdk.Predicate{p("Amount", ">", 1.0), p("Name", "=", "x"), p("Employees", "<", int64(5))}},
		// Conjuncts that are not exact are left out, the rest still pushed.
		{`Amount > Employees && Name == "x"`, []sdk.Predicate{p("Name", "=", "x")}},
		{`(Name == "x" || Name == "y") && Amount > 0`, []sdk.Predicate{p("Amount", ">", 0.0)}},
		{`!(Name == "x") && Amount > 0`, []sdk.Predicate{p("Amount", ">", 0.0)}},
		{`Name not in ["x"] && Amount > 0`, []sdk.Predicate{p("Amount", ">", 0.0)}},
		// Never pushed.
		{`Name == "x" || Amount > 0`, nil},
		{`!(Amount > 0)`, nil},
		{`Employees > 1.5`, nil}, // int field, float literal
		{`Price > 10`, nil},      // decimal
		{`Active != false && 1 == 1`, []sdk.Predicate{p("Active", "!=", false)}},
		{`Name == nil == false`, nil},
		{`Name in []`, nil},
		{`Name in ["a", nil]`, nil},
		{`Closed > now()`, nil},
		{`Amount in [1, 2.5]`, []sdk.Predicate{p("Amount", "in", 1.0, 2.5)}},
		// A formula that can fail on a row stops pushdown: a pushed
		// conjunct must not hide the row from the failing one.
		{`int(Name) > 0 && Amount > 1`, nil},
		{`Amount > 1 && Employees / 0 > 1`, nil},
		{`Amount > 1 && lower(Name) == "x"`, nil},
	}
	for _, c := range cases {
		got := Pushdown([]plan.Task{&plan.Filter{Where: f(c.where)}}, pushdownSchema())
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", c.where, got, c.want)
		}
	}
}

func TestPushdownOnlyLeadingFilters(t *testing.T) {
	s := pushdownSchema()
	filter := func(w string) plan.Task { return &plan.Filter{Where: f(w)} }
	want := []sdk.Predicate{
		{Field: "Amount", Op: ">", Values: []any{1.0}},
		{Field: "Name", Op: "=", Values: []any{"x"}},
	}
	tasks := []plan.Task{
		filter(`Amount > 1`),
		filter(`Name == "x"`),
		&plan.Validate{Check: f(`Employees > 0`), OnFail: plan.OnFailFail},
		filter(`Employees < 5`),
	}
	if got := Pushdown(tasks, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	tasks = []plan.Task{&plan.Map{All: true}, filter(`Amount > 1`)}
	if got := Pushdown(tasks, s); got != nil {
		t.Fatalf("filter after a map pushed: %v", got)
	}
	// A filter that can fail stops the chain, including filters after it.
	tasks = []plan.Task{filter(`Amount > 1`), filter(`int(Name) > 0`), filter(`Name == "x"`)}
	if got := Pushdown(tasks, s); !reflect.DeepEqual(got, want[:1]) {
		t.Fatalf("got %v, want %v", got, want[:1])
	}
	if got := Pushdown(nil, s); got != nil {
		t.Fatalf("no tasks: %v", got)
	}
	if got := Pushdown([]plan.Task{filter(`Amount > 1`)}, nil); got != nil {
		t.Fatalf("no schema: %v", got)
	}
}

// TestPushdownPredicatesKeepWhatTheFilterKeeps checks, on rows with nulls,
// that every row the filter keeps satisfies the pushed predicates.
func TestPushdownPredicatesKeepWhatTheFilterKeeps(t *testing.T) {
	s := schemaOf(field("N", arrow.PrimitiveTypes.Int64), field("S", arrow.BinaryTypes.String))
	rowsIn := [][]any{{nil, nil}, {1, "a"}, {5, "b"}, {9, nil}, {nil, "a"}}
	for _, w := range []string{
		`N > 1 && S == "a"`, `N != 5`, `S != "a"`, `N in [1, 9]`, `S == nil && N >= 9`, `S != nil`, `5 > N`,
	} {
		tasks := []plan.Task{&plan.Filter{Where: f(w)}}
		preds := Pushdown(tasks, s)
		if len(preds) == 0 {
			t.Fatalf("%s: nothing pushed", w)
		}
		rec := record(t, s, rowsIn...)
		res, err := apply(t, mustCompile(t, s, options{}, tasks...), rec, false)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		if res.Out == nil {
			continue
		}
		for _, r := range rows(res.Out) {
			for _, p := range preds {
				if !holds(p, r[s.FieldIndices(p.Field)[0]]) {
					t.Errorf("%s: row %v kept by the filter fails pushed %v", w, r, p)
				}
			}
		}
		res.Out.Release()
	}
}

func holds(p sdk.Predicate, v any) bool {
	switch p.Op {
	case sdk.OpIsNull:
		return v == nil
	case sdk.OpNotNull:
		return v != nil
	}
	if v == nil {
		return false
	}
	if i, ok := v.(int); ok {
		v = int64(i)
	}
	if p.Op == sdk.OpIn {
		for _, x := range p.Values {
			if x == v {
				return true
			}
		}
		return false
	}
	cmp := 0
	switch a := v.(type) {
	case int64:
		b := p.Values[0].(int64)
		cmp = map[bool]int{true: -1, false: 0}[a < b] + map[bool]int{true: 1, false: 0}[a > b]
	case string:
		b := p.Values[0].(string)
		cmp = map[bool]int{true: -1, false: 0}[a < b] + map[bool]int{true: 1, false: 0}[a > b]
	}
	switch p.Op {
	case sdk.OpEq:
		return cmp == 0
	case sdk.OpNe:
		return cmp != 0
	case sdk.OpLt:
		return cmp < 0
	case sdk.OpLe:
		return cmp <= 0
	case sdk.OpGt:
		return cmp > 0
	case sdk.OpGe:
		return cmp >= 0
	}
	return false
}
