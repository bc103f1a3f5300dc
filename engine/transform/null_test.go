package transform

import (
	"reflect"
	"testing"

	"github.com/sluice-dev/sluice/engine/plan"
)

// TestNullSemantics pins down the rules in doc.go, on both paths. Every
// field in the row below is null except where a case says otherwise.
func TestNullSemantics(t *testing.T) {
	schema := schemaOf(field("x", i64), field("y", f64), field("s", str), field("p", bln), field("q", bln), field("one", i64), field("t", bln), field("fl", bln))
	// x, y, s, p, q are null; one = 1, t = true, fl = false.
	row := []any{nil, nil, nil, nil, nil, 1, true, false}
	cases := []struct {
		formula string
		want    any
	}{
		// Testing for null.
		{"x == nil", true},
		{"nil == x", true},
		{"x != nil", false},
		{"one == nil", false},
		{"is_null(s)", true},
		{"is_null(one)", false},
		{"coalesce(x, 7)", 7},
		{"coalesce(x, one, 7)", 1},
		{`coalesce(s, "none")`, "none"},
		{"x ?? 5", 5},
		// Comparisons with null are null, including == and != on values.
		{"x > 1", nil},
		{"x == 1", nil},
		{"x != 1", nil},
		{"x == x", nil},
		{`s == "a"`, nil},
		{`s < "a"`, nil},
		// Arithmetic and string operators propagate null.
		{"x + 1", nil},
		{"-x", nil},
		{"y * 2.5", nil},
		{"one / x", nil},
		{"x % 2", nil},
		{`s + "a"`, nil},
		{`s contains "a"`, nil},
		{`s startsWith "a"`, nil},
		{`s matches "a"`, nil},
		{"x in [1, 2]", nil},
		{"x not in [1, 2]", nil},
		// Kleene logic.
		{"p && fl", false},
		{"fl && p", false},
		{"p && t", nil},
		{"t && p", nil},
		{"p || t", true},
		{"t || p", true},
		{"p || fl", nil},
		{"!p", nil},
		{"not p", nil},
		{"p && q", nil},
		// A null condition takes the else branch.
		{"p ? 1 : 2", 2},
		{"x > 0 ? 1 : 2", 2},
		// Functions propagate null, except the null-handling ones.
		{"lower(s)", nil},
		{"len(s)", nil},
		{"abs(x)", nil},
		{"int(s)", nil},
		{"round(y, 2)", nil},
		{"sha256(s)", nil},
		{`concat("a", s, "b")`, "ab"},
		{`concat(s)`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.formula, func(t *testing.T) {
			for _, rowPath := range []bool{false, true} {
				rec := record(t, schema, row)
				p := mustCompile(t, schema, options{rowPath: rowPath}, &plan.Map{Fields: []plan.MapField{mf("r", tc.formula)}})
				res, err := apply(t, p, rec, false)
				rec.Release()
				if err != nil {
					t.Fatalf("rowPath=%v: %v", rowPath, err)
				}
				got := column(res.Out, "r")[0]
				res.Out.Release()
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("rowPath=%v: got %#v, want %#v", rowPath, got, tc.want)
				}
			}
		})
	}
}

// TestNullInFilterAndValidate: a null where drops the row; a null check
// fails it.
func TestNullInFilterAndValidate(t *testing.T) {
	schema := schemaOf(field("x", i64))
	bothPaths(t, func(t *testing.T, opts options) {
		rec := record(t, schema, []any{5}, []any{nil}, []any{-1})
		defer rec.Release()

		p := mustCompile(t, schema, opts, &plan.Filter{Where: f("!(x < 0)")})
		res, err := apply(t, p, rec, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := column(res.Out, "x"); !reflect.DeepEqual(got, []any{5}) || res.Filtered != 2 {
			t.Errorf("filter kept %v, filtered %d", got, res.Filtered)
		}
		res.Out.Release()

		p = mustCompile(t, schema, opts, &plan.Validate{Check: f("x >= 0"), OnFail: plan.OnFailDeadLetter})
		res, err = apply(t, p, rec, false)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Out.Release()
		if len(res.Rejected) != 2 || res.Rejected[0].Record["x"] != nil {
			t.Errorf("rejected %+v", res.Rejected)
		}

		p = mustCompile(t, schema, opts, &plan.Validate{Check: f("x == nil || x >= 0"), OnFail: plan.OnFailDeadLetter})
		res2, err := apply(t, p, rec, false)
		if err != nil {
			t.Fatal(err)
		}
		defer res2.Out.Release()
		if len(res2.Rejected) != 1 || res2.Out.NumRows() != 2 {
			t.Errorf("explicit null test: rejected %+v", res2.Rejected)
		}
	})
}

// TestShortCircuitGuardsNulls: the right side of && is not evaluated when
// the left side is false, so a guard protects a call that would fail.
func TestShortCircuitGuardsNulls(t *testing.T) {
	schema := schemaOf(field("s", str))
	rec := record(t, schema, []any{"12"}, []any{nil}, []any{"x"})
	defer rec.Release()
	p := mustCompile(t, schema, options{}, &plan.Filter{Where: f(`s != nil && s != "x" && int(s) > 10`)})
	res, err := apply(t, p, rec, false)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Out.Release()
	if got := column(res.Out, "s"); !reflect.DeepEqual(got, []any{"12"}) {
		t.Errorf("got %v", got)
	}
}
