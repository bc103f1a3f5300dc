package sfconn

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-dev/sluice/plugins/salesforce/sfemu"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

// emu is an emulator on a loopback port.
type emu struct {
	*sfemu.Server
	URL string
}

func startEmu(t testing.TB, opts sfemu.Options) *emu {
	t.Helper()
	if opts.Seed == 0 {
		opts.Seed = 7
	}
	s, err := sfemu.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	s.BaseURL = ts.URL
	return &emu{Server: s, URL: ts.URL}
}

// passwordConfig signs in with the password flow and short backoffs.
func (e *emu) passwordConfig() sdk.Values {
	return sdk.Values{
		"login_url": e.URL, "auth": "password", "client_id": sfemu.DefaultConsumerKey,
		"client_secret": sfemu.DefaultConsumerSecret, "username": sfemu.DefaultUsername,
		"password": sfemu.DefaultPassword, "retry_max_backoff": "20ms",
	}
}

// refreshToken obtains a refresh token with the password grant.
func (e *emu) refreshToken(t testing.TB) string {
	t.Helper()
	resp, err := http.PostForm(e.URL+"/services/oauth2/token", url.Values{"grant_type": {"password"},
		"client_id": {sfemu.DefaultConsumerKey}, "client_secret": {sfemu.DefaultConsumerSecret},
		"username": {sfemu.DefaultUsername}, "password": {sfemu.DefaultPassword}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	rt, _ := m["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("no refresh token: %v", m)
	}
	return rt
}

func configured(t testing.TB, v sdk.Values) *Connector {
	t.Helper()
	c := New()
	if err := c.Configure(context.Background(), v).Err(); err != nil {
		t.Fatal(err)
	}
	return c
}

// readAll reads and returns the rows as maps, plus the collector.
func readAll(t testing.TB, c *Connector, req sdk.ReadRequest) ([]map[string]any, *sdktest.Collector) {
	t.Helper()
	if req.Limits.MaxRows == 0 {
		req.Limits = sdk.DefaultLimits
	}
	col := &sdktest.Collector{}
	t.Cleanup(col.Release)
	if err := c.Read(context.Background(), req, col); err != nil {
		t.Fatalf("Read: %v", err)
	}
	return rowsOf(col.Batches), col
}

func rowsOf(batches []arrow.RecordBatch) []map[string]any {
	var out []map[string]any
	for _, b := range batches {
		for i := 0; i < int(b.NumRows()); i++ {
			m := map[string]any{}
			for j, f := range b.Schema().Fields() {
				col := b.Column(j)
				if col.IsNull(i) {
					m[f.Name] = nil
					continue
				}
				m[f.Name] = col.GetOneForMarshal(i)
			}
			out = append(out, m)
		}
	}
	return out
}

// batchOf builds a batch of string columns; "" is null.
func batchOf(names []string, rows ...[]string) arrow.RecordBatch {
	fields := make([]arrow.Field, len(names))
	for i, n := range names {
		fields[i] = arrow.Field{Name: n, Type: arrow.BinaryTypes.String, Nullable: true}
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(fields, nil))
	defer b.Release()
	for _, r := range rows {
		for i, v := range r {
			if v == "" {
				b.Field(i).AppendNull()
			} else {
				b.Field(i).(*array.StringBuilder).Append(v)
			}
		}
	}
	return b.NewRecordBatch()
}

func leads(n, missingEvery int) [][]string {
	var rows [][]string
	for i := 0; i < n; i++ {
		last := fmt.Sprintf("Last%04d", i)
		if missingEvery > 0 && i%missingEvery == 0 {
			last = ""
		}
		rows = append(rows, []string{fmt.Sprintf("First%04d", i), last, fmt.Sprintf("Co %d", i), fmt.Sprintf("lead%d@example.com", i)})
	}
	return rows
}
