package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/state"
)

// TestRunRecordsItsErrorSample: the sample a run reports reaches the
// store, the API and the history page.
func TestRunRecordsItsErrorSample(t *testing.T) {
	h := newHarness(t, nil, rateFlow("a", time.Hour))
	sample := []engine.RecordError{
		{Stage: "source file", Reason: "wrong number of fields", Location: "testdata/contacts.csv:121"},
		{Stage: "validate (flows/a.hcl:9)", Reason: "email <is> not an address", Record: "id=003000000000000042"},
	}
	fake := h.runner.run
	h.d.opts.Runner = func(ctx context.Context, f *plan.Flow, req RunRequest) *engine.RunResult {
		res := fake(ctx, f, req)
		res.ErrorSample, res.Stats.RecordsFailed = sample, 6
		return res
	}
	run, err := h.d.RunNow("a")
	if err != nil {
		t.Fatal(err)
	}
	h.waitStart(t)
	h.runner.finish <- engine.StatusCompletedWithErrors
	got := h.waitRun(t, run.ID)
	if !reflect.DeepEqual(got.ErrorSample, sample) {
		t.Fatalf("stored sample %+v", got.ErrorSample)
	}

	srv := httptest.NewServer(h.d.Handler(""))
	defer srv.Close()
	res, body := get(t, http.DefaultClient, srv.URL+"/api/v1/runs/"+run.ID)
	var api struct {
		ErrorSample []engine.RecordError `json:"error_sample"`
	}
	if res.StatusCode != 200 || json.Unmarshal([]byte(body), &api) != nil || !reflect.DeepEqual(api.ErrorSample, sample) {
		t.Fatalf("API: %d %s", res.StatusCode, body)
	}

	_, page := get(t, http.DefaultClient, srv.URL+"/")
	for _, want := range []string{
		`<tr class="run-sample" data-run="` + run.ID + `">`, "2 of 6 failed record(s) sampled", "testdata/contacts.csv:121",
		"wrong number of fields", "email &lt;is&gt; not an address", "(record id=003000000000000042)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if n := strings.Count(page, `<li class="sample-error">`); n != 2 {
		t.Errorf("%d sample entries on the page, want 2", n)
	}

	// A run without refused records gets no sample row.
	h.d.opts.Runner = h.runner.run
	clean, _ := h.d.RunNow("a")
	h.waitStart(t)
	h.runner.finish <- engine.StatusSucceeded
	if r := h.waitRun(t, clean.ID); r.ErrorSample != nil {
		t.Fatalf("clean run sample %+v", r.ErrorSample)
	}
	_, page = get(t, http.DefaultClient, srv.URL+"/")
	if n := strings.Count(page, `<tr class="run-sample"`); n != 1 {
		t.Errorf("%d sample rows, want 1", n)
	}
	if runs, _ := h.store.Runs(context.Background(), state.RunFilter{Flow: "a"}); len(runs) != 2 {
		t.Fatalf("%d runs", len(runs))
	}
}
