package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/state"
)

// seedRuns records finished runs of flow, one a minute from t0, writing
// written[i] records each.
func seedRuns(t *testing.T, s state.Store, flow string, written ...int64) {
	t.Helper()
	for i, n := range written {
		at := t0.Add(time.Duration(i) * time.Minute)
		r := &state.Run{ID: fmt.Sprintf("%s-run-%d", flow, i), Flow: flow, Trigger: "schedule", Status: state.Succeeded,
			Stats:     engine.Stats{RecordsRead: n + 3, RecordsWritten: n, RecordsFiltered: 2, RecordsFailed: 1, BytesWritten: n * 100},
			StartedAt: at, FinishedAt: at.Add(1500 * time.Millisecond), DeadLetter: "out/rejected/" + flow + ".jsonl"}
		if i == len(written)-1 {
			r.Status, r.Error = state.Failed, "source broke <badly>"
		}
		if err := s.FinishRun(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func get(t *testing.T, c *http.Client, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] != "" {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func noRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func TestHistoryPageAuth(t *testing.T) {
	h := newHarness(t, nil, rateFlow("a", time.Minute))
	srv := httptest.NewServer(h.d.Handler("s3cret"))
	defer srv.Close()
	c := noRedirect()

	for _, tc := range []struct{ url, hdr, val string }{
		{"/", "", ""},
		{"/?token=wrong", "", ""},
		{"/", "Authorization", "Bearer wrong"},
		{"/", "Cookie", pageCookie + "=" + pageSecret("wrong")},
		{"/", "Cookie", pageCookie + "=s3cret"},
	} {
		res, body := get(t, c, srv.URL+tc.url, tc.hdr, tc.val)
		if res.StatusCode != 401 || strings.Contains(body, "Flows") || res.Header.Get("Set-Cookie") != "" {
			t.Fatalf("%s %s=%s: %d %s", tc.url, tc.hdr, tc.val, res.StatusCode, body)
		}
	}

	// The token in the address: a cookie, and a redirect that drops it.
	res, _ := get(t, c, srv.URL+"/?token=s3cret&flow=a")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/?flow=a" {
		t.Fatalf("login: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	cookies := res.Cookies()
	if len(cookies) != 1 || cookies[0].Name != pageCookie || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode ||
		strings.Contains(cookies[0].Value, "s3cret") {
		t.Fatalf("cookie %+v", cookies)
	}
	cookie := pageCookie + "=" + cookies[0].Value
	if res, body := get(t, c, srv.URL+"/?flow=a", "Cookie", cookie); res.StatusCode != 200 || !strings.Contains(body, "run history") {
		t.Fatalf("with the cookie: %d %s", res.StatusCode, body)
	}
	if res, _ := get(t, c, srv.URL+"/", "Authorization", "Bearer s3cret"); res.StatusCode != 200 {
		t.Fatalf("with the bearer header: %d", res.StatusCode)
	}
	// The cookie is for the page only: the API still wants the header.
	if res, _ := get(t, c, srv.URL+"/api/v1/flows", "Cookie", cookie); res.StatusCode != 401 {
		t.Fatalf("API with the page cookie: %d", res.StatusCode)
	}
	if res, _ := get(t, c, srv.URL+"/nothing", "Authorization", "Bearer s3cret"); res.StatusCode != 404 {
		t.Fatalf("unknown page: %d", res.StatusCode)
	}

	// Without a token (loopback only) the page is open.
	open := httptest.NewServer(h.d.Handler(""))
	defer open.Close()
	if res, _ := get(t, c, open.URL+"/"); res.StatusCode != 200 || res.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("open page: %d %v", res.StatusCode, res.Header)
	}
}

func TestHistoryPageContent(t *testing.T) {
	a := rateFlow("alpha", time.Minute)
	a.Description = "contacts to the lake"
	b := rateFlow("beta", time.Hour)
	h := newHarness(t, nil, a, b)
	seedRuns(t, h.store, "alpha", 10, 40, 25)
	seedRuns(t, h.store, "beta", 1234567, 7)
	bad := hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid rate", Detail: "not a duration",
		Subject: &hcl.Range{Filename: b.File, Start: hcl.Pos{Line: 3, Column: 5}, End: hcl.Pos{Line: 3, Column: 9}}}}
	h.loader.set(bad, a)
	h.d.Reload(context.Background())
	h.d.SetActive(context.Background(), "beta", false)

	srv := httptest.NewServer(h.d.Handler(""))
	defer srv.Close()
	res, body := get(t, http.DefaultClient, srv.URL+"/")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %v", res.StatusCode, res.Header)
	}
	for _, want := range []string{
		`data-flow="alpha"`, `data-flow="beta"`, "contacts to the lake", "schedule · every 1m0s", "schedule · every 1h0m0s",
		"Invalid rate", "/flows/beta.hcl:3:5", "deactivated through the API",
		`<svg class="chart" data-flow="alpha" data-points="3"`, `<svg class="chart" data-flow="beta" data-points="2"`,
		"1,234,567", "out/rejected/alpha.jsonl", "source broke &lt;badly&gt;", "1.5s", "failed",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(body, "<badly>") {
		t.Error("an error message was not escaped")
	}
	if n := strings.Count(body, `<circle class="pt`); n != 5 {
		t.Errorf("%d chart points, want 5", n)
	}
	if n := strings.Count(body, `<tr class="run"`); n != 5 {
		t.Errorf("%d run rows, want 5", n)
	}
	if regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(body) {
		t.Error("the page loads an external asset")
	}
	// The filter shows one flow's runs.
	_, body = get(t, http.DefaultClient, srv.URL+"/?flow=beta&limit=1")
	if n := strings.Count(body, `<tr class="run"`); n != 1 || !strings.Contains(body, `data-run="beta-run-1"`) {
		t.Errorf("filtered: %d rows", n)
	}
	if res, _ := get(t, http.DefaultClient, srv.URL+"/?limit=0"); res.StatusCode != 400 {
		t.Errorf("limit=0: %d", res.StatusCode)
	}
}

func TestChartGeometry(t *testing.T) {
	runs := []*state.Run{
		{ID: "c", StartedAt: t0.Add(2 * time.Minute), Stats: engine.Stats{RecordsWritten: 50}},
		{ID: "a", StartedAt: t0, Stats: engine.Stats{RecordsWritten: 100}},
		{ID: "b", StartedAt: t0.Add(time.Minute), Stats: engine.Stats{RecordsWritten: 0}},
	}
	c := newChart(runs)
	if len(c.Points) != 3 || c.Points[0].Run != "a" || c.Points[2].Run != "c" {
		t.Fatalf("points %+v", c.Points)
	}
	p := c.Points
	if p[0].X != float64(c.Left) || p[2].X != float64(c.Right) || p[1].X != float64(c.Left+c.Right)/2 {
		t.Errorf("x %v %v %v", p[0].X, p[1].X, p[2].X)
	}
	if p[0].Y != float64(c.Top) || p[1].Y != float64(c.Bottom) || p[2].Y != float64(c.Top+c.Bottom)/2 {
		t.Errorf("y %v %v %v", p[0].Y, p[1].Y, p[2].Y)
	}
	if c.Line != "56,12 344,132 632,72" {
		t.Errorf("line %q", c.Line)
	}
	if one := newChart(runs[:1]); len(one.Points) != 1 || one.Points[0].X != float64(c.Left+c.Right)/2 {
		t.Errorf("one run %+v", one.Points)
	}
	if none := newChart(nil); len(none.Points) != 0 {
		t.Error("points without runs")
	}
}
