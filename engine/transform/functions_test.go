package transform

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/engine/plan"
)

func TestFunctionLibrary(t *testing.T) {
	ts := time.Date(2024, 5, 17, 13, 45, 30, 0, time.UTC) // a Friday
	schema := schemaOf(field("s", str), field("n", i64), field("x", f64), field("t", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}))
	row := []any{"  Hello, World  ", -7, 2.345, ts}
	cases := []struct {
		formula string
		want    any
	}{
		{"lower(s)", "  hello, world  "},
		{"upper(s)", "  HELLO, WORLD  "},
		{"trim(s)", "Hello, World"},
		{`trim("xxhixx", "x")`, "hi"},
		{"substr(trim(s), 0, 5)", "Hello"},
		{"substr(trim(s), 7)", "World"},
		{"substr(trim(s), -5, 3)", "Wor"},
		{"substr(trim(s), 50, 3)", ""},
		{`substr("héllo", 1, 3)`, "éll"},
		{`replace(s, "l", "L")`, "  HeLLo, WorLd  "},
		{`regex_match(s, "W.r")`, true},
		{`regex_replace(trim(s), "(\\w+), (\\w+)", "$2 $1")`, "World Hello"},
		{`len(split(trim(s), ", "))`, 2},
		{`split(trim(s), ", ")[1]`, "World"},
		{`concat("n=", n, " x=", x, " ok=", true)`, "n=-7 x=2.345 ok=true"},
		{`coalesce(s, "z")`, "  Hello, World  "},
		{"is_null(n)", false},
		{"len(s)", 16},
		{`len("héllo")`, 5},
		{"sha256(\"abc\")", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"md5(\"abc\")", "900150983cd24fb0d6963f7d28e17f72"},
		{"round(x)", 2.0},
		{"round(x, 2)", 2.35},
		{"round(-2.5)", -3.0},
		{"floor(x)", 2.0},
		{"ceil(x)", 3.0},
		{"abs(n)", 7},
		{"abs(-x)", 2.345},
		{`int("42")`, 42},
		{`int(" 3.9 ")`, 3},
		{"int(x)", 2},
		{"int(true)", 1},
		{`float("1.5")`, 1.5},
		{"float(n)", -7.0},
		{"string(n)", "-7"},
		{"string(x)", "2.345"},
		{"string(t)", "2024-05-17T13:45:30Z"},
		{`bool("true")`, true},
		{"bool(n)", true},
		{`date("2024-05-17T23:59:00Z")`, time.Date(2024, 5, 17, 0, 0, 0, 0, time.UTC)},
		{`timestamp("2024-05-17T10:00:00+02:00")`, time.Date(2024, 5, 17, 8, 0, 0, 0, time.UTC)},
		{`timestamp("2024-05-17T10:00:00.000+0000")`, time.Date(2024, 5, 17, 10, 0, 0, 0, time.UTC)},
		{"timestamp(0)", time.Unix(0, 0).UTC()},
		{`parse_time("17/05/2024", "02/01/2006")`, time.Date(2024, 5, 17, 0, 0, 0, 0, time.UTC)},
		{`parse_time("2024-05-17")`, time.Date(2024, 5, 17, 0, 0, 0, 0, time.UTC)},
		{`format_time(t, "2006-01-02")`, "2024-05-17"},
		{`date_trunc("hour", t)`, time.Date(2024, 5, 17, 13, 0, 0, 0, time.UTC)},
		{`date_trunc("week", t)`, time.Date(2024, 5, 13, 0, 0, 0, 0, time.UTC)},
		{`date_trunc("quarter", t)`, time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)},
		{`date_trunc("year", t)`, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
		{`add_duration(t, "1h30m")`, ts.Add(90 * time.Minute)},
		{`add_duration(t, "2d")`, ts.Add(48 * time.Hour)},
		{`now() > t`, true},
		{`t > date("2024-01-01")`, true},
	}
	for _, tc := range cases {
		t.Run(tc.formula, func(t *testing.T) {
			rec := record(t, schema, row)
			defer rec.Release()
			p := mustCompile(t, schema, options{}, &plan.Map{Fields: []plan.MapField{mf("r", tc.formula)}})
			res, err := apply(t, p, rec, false)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Out.Release()
			if got := column(res.Out, "r")[0]; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestFunctionErrors(t *testing.T) {
	schema := schemaOf(field("s", str))
	cases := []struct{ formula, reason string }{
		{"int(s)", `int("nope")`},
		{"float(s)", `float("nope")`},
		{"bool(s)", `bool("nope")`},
		{"timestamp(s)", `cannot parse "nope"`},
		{`parse_time(s, "2006")`, "parse_time"},
		{`regex_match("a", s + "(")`, "invalid regular expression"},
		{`date_trunc(s, now())`, "unknown unit"},
		{`add_duration(now(), s)`, "add_duration"},
		{"substr(s, 0, -1)", "negative length"},
	}
	for _, tc := range cases {
		t.Run(tc.formula, func(t *testing.T) {
			rec := record(t, schema, []any{"nope"})
			defer rec.Release()
			p := mustCompile(t, schema, options{}, &plan.Map{Fields: []plan.MapField{mf("r", tc.formula)}})
			res, err := apply(t, p, rec, true)
			if err != nil {
				t.Fatal(err)
			}
			if res.Out != nil || len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Reason, tc.reason) {
				t.Fatalf("got %+v, want a rejection mentioning %q", res.Rejected, tc.reason)
			}
		})
	}
}

func TestFunctionMisuseIsADiagnostic(t *testing.T) {
	for formula, want := range map[string]string{
		`lower(1)`:             "Type mismatch in formula",
		`substr("a")`:          "Wrong number of arguments in formula",
		`lower("a", "b")`:      "Wrong number of arguments in formula",
		`round("x")`:           "Wrong number of arguments in formula", // no one-argument overload takes a string
		`date_trunc(1, now())`: "Type mismatch in formula",
		`sha256(1)`:            "Type mismatch in formula",
		`coalesce(1, "a")`:     "Type mismatch in formula",
	} {
		_, diags := Compile([]plan.Task{mapOf(f(formula))}, diagSchema)
		if !diags.HasErrors() || diags[0].Summary != want {
			t.Errorf("%s: %v, want %q", formula, diags, want)
		}
	}
}
