package sfconn

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/plugins/salesforce/sfemu"
	"github.com/sluice-dev/sluice/sdk"
)

// queryLog records the SOQL of query calls and Bulk query jobs.
type queryLog struct {
	mu   sync.Mutex
	soql []string
}

func (l *queryLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.soql
	l.soql = nil
	return out
}

// startLoggedEmu is startEmu with every query's SOQL recorded.
func startLoggedEmu(t *testing.T, opts sfemu.Options) (*emu, *queryLog) {
	t.Helper()
	opts.Seed = 7
	s, err := sfemu.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	log := &queryLog{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query().Get("q"); q != "" {
			log.mu.Lock()
			log.soql = append(log.soql, q)
			log.mu.Unlock()
		}
		if r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/jobs/query") {
			body, _ := io.ReadAll(r.Body)
			var job struct {
				Query string `json:"query"`
			}
			_ = json.Unmarshal(body, &job)
			log.mu.Lock()
			log.soql = append(log.soql, job.Query)
			log.mu.Unlock()
			r.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	s.BaseURL = ts.URL
	return &emu{Server: s, URL: ts.URL}, log
}

func TestFiltersPushedIntoSOQL(t *testing.T) {
	e, log := startLoggedEmu(t, sfemu.Options{Records: 600, QueryBatchSize: 100, BulkPageSize: 90})
	c := configured(t, e.passwordConfig())
	all, _ := readAll(t, c, sdk.ReadRequest{Entity: "Account", Options: sdk.Values{"api": "rest"}})
	log.take()

	filters := []sdk.Predicate{
		{Field: "AnnualRevenue", Op: sdk.OpGt, Values: []any{1000000.0}},
		{Field: "NumberOfEmployees", Op: sdk.OpLe, Values: []any{int64(5000)}},
		{Field: "Rating", Op: sdk.OpIn, Values: []any{"Hot", "Warm"}},
		{Field: "Industry", Op: sdk.OpNotNull},
		// Not pushed: text != (SOQL compares case-insensitively), a field
		// that is not filterable, a field the object lacks.
		{Field: "Name", Op: sdk.OpNe, Values: []any{"nobody"}},
		{Field: "Description", Op: sdk.OpEq, Values: []any{"x"}},
		{Field: "NoSuchField__c", Op: sdk.OpEq, Values: []any{"x"}},
	}
	keep := func(r map[string]any) bool {
		rev, _ := r["AnnualRevenue"].(float64)
		emp, _ := r["NumberOfEmployees"].(int64)
		rating, _ := r["Rating"].(string)
		return r["AnnualRevenue"] != nil && rev > 1000000 &&
			r["NumberOfEmployees"] != nil && emp <= 5000 &&
			(rating == "Hot" || rating == "Warm") && r["Industry"] != nil
	}
	want := map[string]bool{}
	for _, r := range all {
		if keep(r) {
			want[r["Id"].(string)] = true
		}
	}
	if len(want) == 0 || len(want) == len(all) {
		t.Fatalf("%d of %d rows match: the test needs some of each", len(want), len(all))
	}
	for _, api := range []string{"rest", "bulk"} {
		rows, _ := readAll(t, c, sdk.ReadRequest{Entity: "Account", Filters: filters,
			Options: sdk.Values{"api": api, "where": "Name != null"}})
		if got := c.lastAPI.Load().(string); got != api {
			t.Fatalf("read with %s, want %s", got, api)
		}
		if len(rows) != len(want) {
			t.Fatalf("%s: %d rows, want %d", api, len(rows), len(want))
		}
		for _, r := range rows {
			if !want[r["Id"].(string)] {
				t.Fatalf("%s: row %v does not match the filters", api, r)
			}
		}
		soql := log.take()
		if len(soql) == 0 {
			t.Fatalf("%s: no query seen", api)
		}
		q := soql[0]
		if i := strings.Index(q, " WHERE "); i >= 0 {
			q = q[i:]
		}
		for _, part := range []string{"(Name != null)", "AnnualRevenue > 1000000", "NumberOfEmployees <= 5000",
			"Rating IN ('Hot', 'Warm')", "Industry != null"} {
			if !strings.Contains(q, part) {
				t.Errorf("%s: SOQL %q lacks %q", api, q, part)
			}
		}
		for _, part := range []string{"nobody", "Description", "NoSuchField__c"} {
			if strings.Contains(q, part) {
				t.Errorf("%s: SOQL %q pushes %q, which is not exact", api, q, part)
			}
		}
	}
}

func TestSOQLConditions(t *testing.T) {
	obj := &sfObject{Name: "X", Fields: []sfField{
		{Name: "Name", Type: "string", Filterable: true},
		{Name: "Id", Type: "id", Filterable: true},
		{Name: "Amount", Type: "currency", Filterable: true},
		{Name: "Count", Type: "int", Filterable: true},
		{Name: "Active", Type: "boolean", Filterable: true},
		{Name: "Due", Type: "date", Filterable: true},
		{Name: "At", Type: "datetime", Filterable: true},
		{Name: "Tags", Type: "multipicklist", Filterable: true},
		{Name: "Notes", Type: "textarea", Filterable: false},
	}}
	obj.byName = map[string]*sfField{}
	for i := range obj.Fields {
		obj.byName[strings.ToLower(obj.Fields[i].Name)] = &obj.Fields[i]
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	cases := []struct {
		p    sdk.Predicate
		want string // "" means not pushed
	}{
		{sdk.Predicate{Field: "Name", Op: "=", Values: []any{`it's a \ test`}}, `Name = 'it\'s a \\ test'`},
		{sdk.Predicate{Field: "name", Op: "=", Values: []any{"line\nbreak"}}, `Name = 'line\nbreak'`},
		{sdk.Predicate{Field: "Name", Op: "in", Values: []any{"a", "b"}}, `Name IN ('a', 'b')`},
		{sdk.Predicate{Field: "Name", Op: "!=", Values: []any{"a"}}, ""},
		{sdk.Predicate{Field: "Name", Op: "<", Values: []any{"a"}}, ""},
		{sdk.Predicate{Field: "Name", Op: "=", Values: []any{""}}, ""},
		{sdk.Predicate{Field: "Name", Op: "is_null"}, `Name = null`},
		{sdk.Predicate{Field: "Name", Op: "not_null"}, `Name != null`},
		{sdk.Predicate{Field: "Id", Op: "=", Values: []any{"001000000000001AAA"}}, `Id = '001000000000001AAA'`},
		{sdk.Predicate{Field: "Id", Op: "=", Values: []any{"not-an-id"}}, ""},
		{sdk.Predicate{Field: "Count", Op: ">=", Values: []any{int64(-3)}}, `Count >= -3`},
		{sdk.Predicate{Field: "Count", Op: "in", Values: []any{int64(1), int64(2)}}, `Count IN (1, 2)`},
		{sdk.Predicate{Field: "Count", Op: "=", Values: []any{1.5}}, ""},
		{sdk.Predicate{Field: "Amount", Op: ">", Values: []any{1e6}}, `Amount > 1000000`},
		{sdk.Predicate{Field: "Amount", Op: "<", Values: []any{int64(5)}}, `Amount < 5`},
		{sdk.Predicate{Field: "Amount", Op: ">", Values: []any{0.1}}, `Amount >= 0.1`},
		{sdk.Predicate{Field: "Amount", Op: ">=", Values: []any{1.0}}, `Amount >= 0.9999999999999999`},
		{sdk.Predicate{Field: "Amount", Op: "<=", Values: []any{1.0}}, `Amount <= 1.0000000000000002`},
		{sdk.Predicate{Field: "Amount", Op: "=", Values: []any{1.0}}, `(Amount >= 0.9999999999999999 AND Amount <= 1.0000000000000002)`},
		{sdk.Predicate{Field: "Amount", Op: "!=", Values: []any{2.5}}, `Amount != 2.5`},
		{sdk.Predicate{Field: "Amount", Op: "in", Values: []any{1.0}}, ""},
		{sdk.Predicate{Field: "Active", Op: "=", Values: []any{true}}, `Active = true`},
		{sdk.Predicate{Field: "Active", Op: "!=", Values: []any{false}}, `Active != false`},
		{sdk.Predicate{Field: "Due", Op: ">=", Values: []any{time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)}}, `Due >= 2024-05-06`},
		{sdk.Predicate{Field: "Due", Op: "<", Values: []any{at}}, ""},
		{sdk.Predicate{Field: "At", Op: "<", Values: []any{at}}, `At < 2024-05-06T07:08:09Z`},
		{sdk.Predicate{Field: "At", Op: ">", Values: []any{at.Add(time.Millisecond)}}, `At >= 2024-05-06T07:08:09Z`},
		{sdk.Predicate{Field: "At", Op: "<", Values: []any{at.Add(time.Millisecond)}}, `At <= 2024-05-06T07:08:10Z`},
		{sdk.Predicate{Field: "At", Op: "=", Values: []any{at.Add(time.Millisecond)}}, ""},
		{sdk.Predicate{Field: "At", Op: "=", Values: []any{"2024"}}, ""},
		{sdk.Predicate{Field: "Tags", Op: "=", Values: []any{"a"}}, ""},
		{sdk.Predicate{Field: "Notes", Op: "=", Values: []any{"a"}}, ""},
		{sdk.Predicate{Field: "Missing", Op: "=", Values: []any{"a"}}, ""},
		{sdk.Predicate{Field: "Name", Op: "like", Values: []any{"a"}}, ""},
	}
	for _, c := range cases {
		got := soqlFilters(obj, []sdk.Predicate{c.p})
		want := []string(nil)
		if c.want != "" {
			want = []string{c.want}
		}
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("%v: got %q, want %q", c.p, got, want)
		}
	}
}
