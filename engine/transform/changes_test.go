package transform

import (
	"reflect"
	"testing"

	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/sdk"
)

// A change-event batch: two live records, one deletion (key only) and one
// record that fails the filter.
func changeBatchSchemaAndRows() ([]any, []any, []any, []any) {
	return []any{"c1", "ann@example.com", "CREATE"},
		[]any{"c2", nil, sdk.ChangeDelete},
		[]any{"c3", "bob@example.com", "UPDATE"},
		[]any{"c4", "nobody", "UPDATE"}
}

func TestChangeEventsThroughTasks(t *testing.T) {
	schema := schemaOf(field("Id", str), field("Email", str), field(sdk.ChangeTypeField, str))
	tasks := []plan.Task{
		&plan.Filter{Where: f(`Email contains "@"`), Range: taskRange(3)},
		&plan.Validate{Check: f(`Email endsWith ".com"`), OnFail: plan.OnFailFail, Range: taskRange(4)},
		&plan.Map{Fields: []plan.MapField{
			{Name: "id", Formula: f("Id")},
			{Name: "domain", Formula: f(`split(Email, "@")[1]`)},
		}, Range: taskRange(5)},
	}
	bothPaths(t, func(t *testing.T, opts options) {
		p := mustCompile(t, schema, opts, tasks...)
		if got := fieldsOf(p.OutputSchema()); got != "id:utf8, domain:utf8, _change_type:utf8" {
			t.Fatalf("output fields = %s; the map must carry _change_type", got)
		}
		r1, r2, r3, r4 := changeBatchSchemaAndRows()
		rec := record(t, schema, r1, r2, r3, r4)
		defer rec.Release()
		res, err := apply(t, p, rec, false)
		if err != nil {
			t.Fatalf("a deletion must pass the filter, the validation and the map: %v", err)
		}
		defer res.Out.Release()
		want := [][]any{
			{"c1", "example.com", "CREATE"},
			{"c2", nil, sdk.ChangeDelete},
			{"c3", "example.com", "UPDATE"},
		}
		if got := rows(res.Out); !reflect.DeepEqual(got, want) {
			t.Errorf("rows = %v, want %v", got, want)
		}
		if res.Filtered != 1 {
			t.Errorf("Filtered = %d, want 1 (c4 only)", res.Filtered)
		}
	})
}

func TestChangeTypeNamedByMapIsTheUsers(t *testing.T) {
	schema := schemaOf(field("Id", str), field(sdk.ChangeTypeField, str))
	p := mustCompile(t, schema, options{}, &plan.Map{Fields: []plan.MapField{
		{Name: "id", Formula: f("Id")},
		{Name: sdk.ChangeTypeField, Formula: f(`lower(_change_type)`)},
	}, Range: taskRange(5)})
	if got := fieldsOf(p.OutputSchema()); got != "id:utf8, _change_type:utf8" {
		t.Fatalf("output fields = %s, want the map's own _change_type once", got)
	}
}

func TestNoChangeTypeNoCarry(t *testing.T) {
	schema := schemaOf(field("Id", str), field("Email", str))
	p := mustCompile(t, schema, options{}, &plan.Map{Fields: []plan.MapField{{Name: "id", Formula: f("Id")}}, Range: taskRange(5)})
	if got := fieldsOf(p.OutputSchema()); got != "id:utf8" {
		t.Fatalf("output fields = %s", got)
	}
}
