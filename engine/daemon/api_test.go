package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/state"
)

func call(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestAPI(t *testing.T) {
	h := newHarness(t, nil, rateFlow("a", time.Minute))
	srv := httptest.NewServer(h.d.Handler("s3cret"))
	defer srv.Close()
	u := srv.URL

	// Without or with a wrong token: 401, and nothing is done.
	for _, tok := range []string{"", "wrong"} {
		if code, _ := call(t, "POST", u+"/api/v1/flows/a/runs", tok); code != 401 {
			t.Fatalf("start without the token (%q): %d", tok, code)
		}
		if code, _ := call(t, "POST", u+"/api/v1/flows/a/deactivate", tok); code != 401 {
			t.Fatalf("deactivate without the token: %d", code)
		}
		if code, _ := call(t, "GET", u+"/api/v1/flows", tok); code != 401 {
			t.Fatalf("list without the token: %d", code)
		}
		if code, _ := call(t, "GET", u+"/metrics", tok); code != 401 {
			t.Fatalf("metrics without the token: %d", code)
		}
	}
	h.noStart(t)
	if f, _ := h.d.Flow("a"); !f.Active {
		t.Fatal("an unauthenticated request deactivated the flow")
	}
	if runs, _ := h.store.Runs(context.Background(), state.RunFilter{}); len(runs) != 0 {
		t.Fatalf("an unauthenticated request started %d runs", len(runs))
	}

	for _, p := range []string{"/healthz", "/readyz", "/openapi.json"} {
		if code, body := call(t, "GET", u+p, ""); code != 200 {
			t.Fatalf("%s: %d %s", p, code, body)
		}
	}
	_, doc := call(t, "GET", u+"/openapi.json", "")
	var oa struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(doc), &oa); err != nil || oa.OpenAPI == "" || oa.Paths["/api/v1/runs/{id}/cancel"] == nil {
		t.Fatalf("openapi.json: %v", err)
	}

	code, body := call(t, "GET", u+"/api/v1/flows", "s3cret")
	var list struct {
		Flows []FlowInfo `json:"flows"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Flows) != 1 || list.Flows[0].Trigger.Rate != "1m0s" {
		t.Fatalf("flows: %d %s", code, body)
	}
	if code, _ := call(t, "GET", u+"/api/v1/flows/nope", "s3cret"); code != 404 {
		t.Fatalf("unknown flow: %d", code)
	}

	code, body = call(t, "POST", u+"/api/v1/flows/a/runs", "s3cret")
	var run state.Run
	if code != 202 || json.Unmarshal([]byte(body), &run) != nil || run.ID == "" || run.Status != state.Running {
		t.Fatalf("start: %d %s", code, body)
	}
	h.waitStart(t)
	if code, _ := call(t, "POST", u+"/api/v1/flows/a/runs", "s3cret"); code != 409 {
		t.Fatalf("second start while running: %d", code)
	}
	if code, body := call(t, "GET", u+"/api/v1/runs/"+run.ID, "s3cret"); code != 200 || !strings.Contains(body, `"records_read": 5`) {
		t.Fatalf("live run: %d %s", code, body)
	}
	if code, body := call(t, "POST", u+"/api/v1/runs/"+run.ID+"/cancel", "s3cret"); code != 202 {
		t.Fatalf("cancel: %d %s", code, body)
	}
	if r := h.waitRun(t, run.ID); r.Status != state.Cancelled {
		t.Fatalf("cancelled run %+v", r)
	}
	if code, _ := call(t, "POST", u+"/api/v1/runs/"+run.ID+"/cancel", "s3cret"); code != 409 {
		t.Fatalf("cancel of a finished run: %d", code)
	}
	if code, _ := call(t, "GET", u+"/api/v1/runs/nope", "s3cret"); code != 404 {
		t.Fatalf("unknown run: %d", code)
	}
	code, body = call(t, "GET", u+"/api/v1/runs?flow=a&limit=10", "s3cret")
	if code != 200 || !strings.Contains(body, run.ID) {
		t.Fatalf("runs: %d %s", code, body)
	}

	if code, body := call(t, "POST", u+"/api/v1/flows/a/deactivate", "s3cret"); code != 200 || !strings.Contains(body, `"active": false`) {
		t.Fatalf("deactivate: %d %s", code, body)
	}
	h.clock.Advance(time.Minute)
	h.noStart(t)
	if code, body := call(t, "POST", u+"/api/v1/flows/a/activate", "s3cret"); code != 200 || !strings.Contains(body, `"active": true`) {
		t.Fatalf("activate: %d %s", code, body)
	}

	// A run that finishes feeds the metrics.
	r2, _ := h.d.RunNow("a")
	h.waitStart(t)
	h.runner.finish <- engine.StatusSucceeded
	h.waitRun(t, r2.ID)
	h.store.Save(context.Background(), "a", []byte("pos"))
	code, body = call(t, "GET", u+"/metrics", "s3cret")
	for _, want := range []string{
		`sluice_runs_total{flow="a",status="succeeded"} 1`,
		`sluice_runs_total{flow="a",status="cancelled"} 1`,
		`sluice_records_total{flow="a",stage="written"} 9`,
		`sluice_bytes_total{flow="a",stage="read"} 100`,
		`sluice_run_duration_seconds_bucket{flow="a",status="succeeded"`,
		`sluice_checkpoint_age_seconds{flow="a"}`,
		`sluice_flows{state="active"} 1`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	if code, _ := call(t, "GET", u+"/api/v1/nothing", "s3cret"); code != 404 {
		t.Fatalf("unknown path: %d", code)
	}
}

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:8080", "", true},
		{"localhost:8080", "", true},
		{"[::1]:8080", "", true},
		{":8080", "", false},
		{"0.0.0.0:8080", "", false},
		{"10.1.2.3:8080", "", false},
		{"0.0.0.0:8080", "tok", true},
	} {
		if err := CheckListen(tc.addr, tc.token); (err == nil) != tc.ok {
			t.Errorf("CheckListen(%q, %q) = %v", tc.addr, tc.token, err)
		}
	}
}
