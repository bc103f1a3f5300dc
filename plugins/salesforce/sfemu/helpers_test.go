package sfemu

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

type env struct {
	t   *testing.T
	s   *Server
	ts  *httptest.Server
	clk *ManualClock
	tok string
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	clk := NewManualClock(t0)
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	s.BaseURL = ts.URL
	e := &env{t: t, s: s, ts: ts, clk: clk}
	e.tok = e.login()
	return e
}

func (e *env) token(form url.Values) (int, map[string]any) {
	e.t.Helper()
	resp, err := http.PostForm(e.ts.URL+"/services/oauth2/token", form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("token body %q: %v", b, err)
	}
	return resp.StatusCode, m
}

func passwordForm() url.Values {
	return url.Values{"grant_type": {"password"}, "client_id": {DefaultConsumerKey}, "client_secret": {DefaultConsumerSecret},
		"username": {DefaultUsername}, "password": {DefaultPassword}}
}

func (e *env) login() string {
	e.t.Helper()
	st, m := e.token(passwordForm())
	if st != 200 {
		e.t.Fatalf("login: %d %v", st, m)
	}
	return m["access_token"].(string)
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

// do sends a request with the env's token; path is relative to the base URL.
func (e *env) do(method, path string, body string, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.ts.URL+path, rd)
	if e.tok != "" {
		req.Header.Set("Authorization", "Bearer "+e.tok)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func (e *env) query(path, soql string) resp {
	return e.do("GET", path+"?q="+url.QueryEscape(soql), "")
}

const v = "/services/data/v60.0"

func newHTTPTest(h http.Handler) *httptest.Server { return httptest.NewServer(h) }

func decodeJSON(r io.Reader, v any) { _ = json.NewDecoder(r).Decode(v) }
