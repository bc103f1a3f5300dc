package sfemu

import (
	"net/http/httptest"
	"net/url"
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
