package sfemu

import (
	"strings"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	e := newEnv(t, Options{Records: 2})
	admin := func(body string) {
		t.Helper()
		tok := e.tok
		e.tok = ""
		if r := e.do("POST", "/__emulator/faults", body); r.status != 200 {
			t.Fatalf("faults: %d %s", r.status, r.body)
		}
		e.tok = tok
	}
	t.Run("expire sessions", func(t *testing.T) {
		admin(`{"expireSessions":true}`)
		r := e.do("GET", v+"/limits", "")
		if r.status != 401 || string(r.body) != `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]` {
			t.Fatalf("%d %s", r.status, r.body)
		}
		e.tok = e.login()
		admin(`{"expireSessionsAfter":2}`)
		e.do("GET", v+"/limits", "")
		e.do("GET", v+"/limits", "")
		if r := e.do("GET", v+"/limits", ""); r.status != 401 {
			t.Fatal(r.status)
		}
		e.tok = e.login()
	})
	t.Run("revoke refresh tokens", func(t *testing.T) {
		rt := e.s.IssueRefreshToken()
		admin(`{"revokeRefreshTokens":true}`)
		st, m := e.token(map[string][]string{"grant_type": {"refresh_token"}, "client_id": {DefaultConsumerKey}, "refresh_token": {rt}})
		if st != 400 || m["error_description"] != "expired access/refresh token" {
			t.Fatal(st, m)
		}
	})
	t.Run("request limit for N calls", func(t *testing.T) {
		admin(`{"requestLimitExceeded":2}`)
		for i := 0; i < 2; i++ {
			r := e.do("GET", v+"/limits", "")
			if r.status != 403 || string(r.body) != `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]` || r.header.Get("Sforce-Limit-Info") == "" {
				t.Fatalf("%d %s", r.status, r.body)
			}
		}
		if r := e.do("GET", v+"/limits", ""); r.status != 200 {
			t.Fatal(r.status)
		}
	})
	t.Run("usage over the limit", func(t *testing.T) {
		admin(`{"apiUsage":99,"apiLimit":100}`)
		r := e.do("GET", v+"/limits", "")
		if r.status != 200 || r.header.Get("Sforce-Limit-Info") != "api-usage=100/100" {
			t.Fatalf("%d %q", r.status, r.header.Get("Sforce-Limit-Info"))
		}
		var lim map[string]map[string]int
		r.json(t, &lim)
		if lim["DailyApiRequests"]["Max"] != 100 || lim["DailyApiRequests"]["Remaining"] != 0 {
			t.Fatal(lim["DailyApiRequests"])
		}
		if r := e.do("GET", v+"/limits", ""); r.status != 403 {
			t.Fatal(r.status)
		}
		admin(`{"apiUsage":0,"apiLimit":15000}`)
		if r := e.do("GET", v+"/limits", ""); r.status != 200 || r.header.Get("Sforce-Limit-Info") != "api-usage=1/15000" {
			t.Fatal(r.status, r.header.Get("Sforce-Limit-Info"))
		}
	})
	t.Run("unable to lock row", func(t *testing.T) {
		admin(`{"unableToLockRow":2}`)
		r := e.do("POST", v+"/sobjects/Account", `{"Name":"L"}`)
		if r.status != 400 || !strings.Contains(string(r.body), `"errorCode":"UNABLE_TO_LOCK_ROW"`) {
			t.Fatalf("%d %s", r.status, r.body)
		}
		r = e.do("POST", v+"/composite/sobjects", `{"records":[{"attributes":{"type":"Account"},"Name":"L1"},{"attributes":{"type":"Account"},"Name":"L2"}]}`)
		if !strings.Contains(string(r.body), `{"success":false,"errors":[{"statusCode":"UNABLE_TO_LOCK_ROW"`) || !strings.Contains(string(r.body), `"success":true`) {
			t.Fatalf("%s", r.body)
		}
		if r := e.do("POST", v+"/sobjects/Account", `{"Name":"L"}`); r.status != 201 {
			t.Fatal(r.status)
		}
	})
	t.Run("server unavailable", func(t *testing.T) {
		admin(`{"serverUnavailable":1}`)
		r := e.do("GET", v+"/sobjects", "")
		if r.status != 503 || !strings.Contains(string(r.body), `"errorCode":"SERVER_UNAVAILABLE"`) {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if r := e.do("GET", v+"/sobjects", ""); r.status != 200 {
			t.Fatal(r.status)
		}
	})
	t.Run("latency", func(t *testing.T) {
		admin(`{"latencyMs":150}`)
		start := time.Now()
		e.do("GET", v+"/limits", "")
		if time.Since(start) < 150*time.Millisecond {
			t.Fatal("no latency")
		}
		admin(`{}`)
	})
	t.Run("failed bulk job", func(t *testing.T) {
		admin(`{"failBulkJobs":1}`)
		var info map[string]any
		e.do("POST", v+"/jobs/query", `{"query":"SELECT Id FROM Account"}`).json(t, &info)
		id := info["id"].(string)
		e.do("GET", v+"/jobs/query/"+id, "")
		e.do("GET", v+"/jobs/query/"+id, "").json(t, &info)
		if info["state"] != "Failed" || info["errorMessage"] == nil {
			t.Fatal(info)
		}
	})
	t.Run("options", func(t *testing.T) {
		e2 := newEnv(t, Options{Faults: Faults{RequestLimitExceeded: 1}})
		if r := e2.do("GET", v+"/limits", ""); r.status != 403 {
			t.Fatal(r.status)
		}
	})
}
