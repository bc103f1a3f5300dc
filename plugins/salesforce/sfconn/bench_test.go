package sfconn

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/sluice-dev/sluice/plugins/salesforce/sfemu"
	"github.com/sluice-dev/sluice/sdk"
)

// benchRecords is SF_BENCH_RECORDS (default 100,000; set 1000000 for 1M).
func benchRecords(b *testing.B) int {
	n := 100_000
	if s := os.Getenv("SF_BENCH_RECORDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("SF_BENCH_RECORDS=%q", s)
		}
		n = v
	}
	return n
}

func benchEmu(b *testing.B, n int) (*emu, *Connector) {
	b.Helper()
	e := startEmu(b, sfemu.Options{Records: 0, CustomObjects: []sfemu.ObjectDef{{Name: "Bench__c", Generate: &n, Fields: []sfemu.Field{
		{Name: "Email__c", Type: "email"}, {Name: "Amount__c", Type: "currency", Precision: 18, Scale: 2},
		{Name: "Qty__c", Type: "int"}, {Name: "Active__c", Type: "boolean"}, {Name: "Day__c", Type: "date"},
		{Name: "Note__c", Type: "textarea"},
	}}}})
	return e, configured(b, e.passwordConfig())
}

func readCount(b *testing.B, c *Connector, api string) int64 {
	b.Helper()
	col := &countingSender{}
	err := c.Read(context.Background(), sdk.ReadRequest{Entity: "Bench__c", Options: sdk.Values{"api": api, "cursor": ""}, Limits: sdk.DefaultLimits}, col)
	if err != nil {
		b.Fatal(err)
	}
	return col.rows
}

// BenchmarkBulkQuery reads SF_BENCH_RECORDS records through a Bulk query
// job into Arrow batches and reports rows/s.
func BenchmarkBulkQuery(b *testing.B) {
	n := benchRecords(b)
	_, c := benchEmu(b, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if got := readCount(b, c, "bulk"); got != int64(n) {
			b.Fatalf("read %d rows, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkRESTvsBulk times both APIs on a few sizes to place the crossover.
func BenchmarkRESTvsBulk(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 50_000, 100_000} {
		_, c := benchEmu(b, n)
		for _, api := range []string{"rest", "bulk"} {
			b.Run(fmt.Sprintf("%s-%d", api, n), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if got := readCount(b, c, api); got != int64(n) {
						b.Fatalf("read %d rows, want %d", got, n)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
