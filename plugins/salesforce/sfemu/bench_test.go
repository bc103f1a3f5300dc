package sfemu

import (
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkSeed100k generates 100,000 records of each of the six standard
// objects per iteration.
func BenchmarkSeed100k(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := New(Options{Records: 100000, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(6*100000*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkQueryScan runs a filtered REST query over 100,000 Accounts (a
// full scan per call) and reports rows scanned per second.
func BenchmarkQueryScan(b *testing.B) {
	s, err := New(Options{Records: 100000, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	s.BaseURL = ts.URL
	res, err := ts.Client().PostForm(ts.URL+"/services/oauth2/token", passwordForm())
	if err != nil {
		b.Fatal(err)
	}
	var m map[string]any
	decodeJSON(res.Body, &m)
	res.Body.Close()
	tok := m["access_token"].(string)
	q := url.QueryEscape("SELECT Id, Name, Industry, AnnualRevenue FROM Account WHERE Industry = 'Banking' AND AnnualRevenue > 100000000")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("GET", "/services/data/v60.0/query?q="+q, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
	b.ReportMetric(float64(100000*b.N)/b.Elapsed().Seconds(), "rows-scanned/s")
}

// BenchmarkChangeEvents updates Accounts through the REST handler, each
// update publishing an Avro-encoded change event, and reports events/s.
func BenchmarkChangeEvents(b *testing.B) {
	s, err := New(Options{Records: 1000, Seed: 1, APILimit: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	w := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/services/oauth2/token", strings.NewReader(passwordForm().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	s.ServeHTTP(w, req)
	var m map[string]any
	decodeJSON(w.Body, &m)
	tok := m["access_token"].(string)
	ids := make([]string, 0, 1000)
	for _, r := range s.tables["account"].recs {
		ids = append(ids, r.id(s.objects["account"]))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("PATCH", "/services/data/v60.0/sobjects/Account/"+ids[i%len(ids)],
			strings.NewReader(`{"Phone":"555-`+strconv.Itoa(i)+`","Description":"changed"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 204 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if s.ChangeEventCount(AllChangeEventsTopic) != b.N {
		b.Fatal("events missing")
	}
}
