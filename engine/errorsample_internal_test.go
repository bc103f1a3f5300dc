package engine

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/sdk"
)

func TestErrorSampleRendersRecordsCompactly(t *testing.T) {
	str := arrow.BinaryTypes.String
	schema := arrow.NewSchema([]arrow.Field{{Name: "Id", Type: arrow.PrimitiveTypes.Int64}, {Name: "Note", Type: str},
		{Name: "Email", Type: str}, {Name: "Phone", Type: str}}, nil)
	long := strings.Repeat("x", 100)
	noKeys := &Prepared{SourceEntity: sdk.Entity{Schema: schema}}
	withKeys := &Prepared{SourceEntity: sdk.Entity{Schema: schema, PrimaryKey: []string{"Id"}},
		Sinks: []*PreparedSink{{Plan: &plan.Sink{Keys: []string{"Email"}}}}}
	rec := map[string]any{"Phone": "+49 30 1234", "Email": "ada@acme.com", "Note": long, "Id": int64(7), sdk.ChangeTypeField: "INSERT"}
	for _, tc := range []struct {
		name string
		p    *Prepared
		rec  map[string]any
		want string
	}{
		// Without keys: the first three fields in schema order, each cut short.
		{"first fields", noKeys, rec, `Id=7, Note=` + strings.Repeat("x", sampleValueLen-1) + "…" + `, Email=ada@acme.com`},
		// With keys the record shows nothing else.
		{"keys", withKeys, rec, "Id=7, Email=ada@acme.com"},
		// Keys the record lacks (renamed by a map, say) fall back to fields;
		// fields the schema never named come last, by name.
		{"no key present", withKeys, map[string]any{"b": "x, y", "a": nil, "c": ""}, `a=null, b="x, y", c=""`},
		{"empty", noKeys, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s errorSample
			s.p = tc.p
			s.add("validate (x.hcl:1)", "bad", "", tc.rec)
			if got := s.list()[0].Record; got != tc.want {
				t.Errorf("record %q, want %q", got, tc.want)
			}
		})
	}
}

func TestErrorSampleStopsWorkingWhenFull(t *testing.T) {
	s := errorSample{p: &Prepared{}}
	rec := map[string]any{"a": 1}
	for range ErrorSampleSize {
		s.add("source file", strings.Repeat("why ", 200), "in.csv:2", rec)
	}
	got := s.list()
	if len(got) != ErrorSampleSize || len([]rune(got[0].Reason)) != sampleReasonLen {
		t.Fatalf("%d entries, reason of %d runes", len(got), len([]rune(got[0].Reason)))
	}
	if n := testing.AllocsPerRun(100, func() { s.add("source file", "late", "in.csv:99", rec) }); n != 0 {
		t.Errorf("adding to a full sample allocates %v times", n)
	}
	if len(s.list()) != ErrorSampleSize {
		t.Error("the sample grew past its size")
	}
}
