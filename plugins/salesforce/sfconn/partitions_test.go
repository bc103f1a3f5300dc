package sfconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/plugins/salesforce/sfemu"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

func TestPartitionsConformance(t *testing.T) {
	e := startEmu(t, sfemu.Options{Records: 400, BulkPageSize: 37})
	sdktest.Run(t, sdktest.Suite{
		New:    func() sdk.Connector { return New() },
		Config: e.passwordConfig(),
		Source: &sdktest.SourceCase{Options: sdk.Values{"object": "Contact", "api": "bulk"}, MinRows: 400, MinPartitions: 11},
	})
}

// readRows reads req (a partition when req.Partition is set) and returns
// the rows as JSON, and the collector.
func readRows(t *testing.T, c *Connector, req sdk.ReadRequest) ([]string, *sdktest.Collector) {
	t.Helper()
	rows, col := readAll(t, c, req)
	out := make([]string, len(rows))
	for i, r := range rows {
		b, _ := json.Marshal(r)
		out[i] = string(b)
	}
	return out, col
}

func TestPartitionsAreTheBulkResultPages(t *testing.T) {
	e := startEmu(t, sfemu.Options{Records: 900, BulkPageSize: 50})
	c := configured(t, e.passwordConfig())
	// Pushdown, where and a checkpoint all shape the job's SOQL.
	base := sdk.ReadRequest{Entity: "Contact", Fields: []string{"Id", "LastName", "Email", "CreatedDate"},
		Options: sdk.Values{"api": "bulk", "where": "LastName != null"},
		Filters: []sdk.Predicate{{Field: "Email", Op: sdk.OpNotNull}}, Limits: sdk.Limits{MaxRows: 7, MaxBytes: 1 << 20}}
	var kept int
	first := &sdktest.Collector{OnSend: func(*sdktest.Collector) error {
		if kept++; kept == 3 {
			return context.Canceled
		}
		return nil
	}}
	defer first.Release()
	_ = c.Read(context.Background(), base, first)
	if len(first.Checkpoints) < 2 {
		t.Fatalf("first run: %d checkpoints", len(first.Checkpoints))
	}
	req := base
	req.Checkpoint = first.Checkpoints[1]
	req.Limits = sdk.DefaultLimits
	full, _ := readRows(t, c, req)
	if len(full) < 600 {
		t.Fatalf("the resumed Bulk read gives %d rows; the fixture should leave more", len(full))
	}

	parts, err := c.Partitions(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	pages := (len(full) + 49) / 50
	if len(parts) != pages {
		t.Fatalf("%d partitions for %d rows in pages of 50, want %d", len(parts), len(full), pages)
	}
	keyRE := regexp.MustCompile(`^750\w{15}/page (\d+)$`)
	var union []string
	var sizes int64
	for i, p := range parts {
		if m := keyRE.FindStringSubmatch(p.Key); m == nil || m[1] != fmt.Sprint(i+1) {
			t.Fatalf("partition %d key %q, want <job id>/page %d", i, p.Key, i+1)
		}
		var spec partSpec
		if err := json.Unmarshal(p.Spec, &spec); err != nil || spec.Job != p.Key[:18] || !strings.Contains(spec.URL, "/jobs/query/"+spec.Job+"/results") {
			t.Fatalf("partition %q spec %s", p.Key, p.Spec)
		}
		if fmt.Sprint(spec.Fields) != "[Id LastName Email CreatedDate SystemModstamp]" {
			t.Fatalf("spec fields %v, want the output fields, then the cursor", spec.Fields)
		}
		sizes += p.Size
		pr := req
		pr.Partition = p.Spec
		rows, col := readRows(t, c, pr)
		if len(col.Checkpoints) != 0 {
			t.Fatalf("partition %q sent checkpoints %q", p.Key, col.Checkpoints)
		}
		if n := len(rows); n > 50 || (i < len(parts)-1 && n < 40) {
			// A page holds 50 records; the first may lose a few to the
			// checkpoint, which the partition drops as Read does.
			t.Fatalf("partition %q read %d rows", p.Key, n)
		}
		again, _ := readRows(t, c, pr)
		if strings.Join(again, "\n") != strings.Join(rows, "\n") {
			t.Fatalf("partition %q read twice differs", p.Key)
		}
		union = append(union, rows...)
	}
	sort.Strings(union)
	sort.Strings(full)
	if strings.Join(union, "\n") != strings.Join(full, "\n") {
		t.Fatalf("the partitions read %d rows, the Bulk read %d; they differ", len(union), len(full))
	}
	if sizes < int64(len(full)) || sizes > int64(len(full))+50 {
		t.Fatalf("the partitions' sizes add up to %d, want about %d rows", sizes, len(full))
	}
}

func TestPartitionsOfSmallReadIsOneRESTQuery(t *testing.T) {
	e := startEmu(t, sfemu.Options{Records: 120, QueryBatchSize: 200})
	c := configured(t, e.passwordConfig())
	req := sdk.ReadRequest{Entity: "Account", Fields: []string{"Id", "Name"}, Options: sdk.Values{"bulk_threshold": int64(121)}}
	parts, err := c.Partitions(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 1 || parts[0].Key != "Account (REST query)" || parts[0].Size != 120 {
		t.Fatalf("partitions %+v, want one REST query of 120 records", parts)
	}
	if jobs := queryJobs(t, c); len(jobs) != 0 {
		t.Fatalf("splitting a small read created Bulk jobs %v", jobs)
	}
	full, _ := readRows(t, c, req)
	req.Partition = parts[0].Spec
	got, _ := readRows(t, c, req)
	if strings.Join(got, "\n") != strings.Join(full, "\n") || len(got) != 120 {
		t.Fatalf("the REST partition read %d rows, the read %d", len(got), len(full))
	}
}

func queryJobs(t *testing.T, c *Connector) []string {
	t.Helper()
	var list struct {
		Records []struct {
			ID string `json:"id"`
		} `json:"records"`
	}
	if err := c.cl.doJSON(context.Background(), request{method: "GET", path: "jobs/query"}, &list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range list.Records {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestPartitionsNeedResultPages(t *testing.T) {
	e := startEmu(t, sfemu.Options{Records: 10})
	cfg := e.passwordConfig()
	cfg["api_version"] = "57.0"
	c := configured(t, cfg)
	_, err := c.Partitions(context.Background(), sdk.ReadRequest{Entity: "Account", Options: sdk.Values{"api": "bulk"}})
	if !errors.Is(err, sdk.ErrUnsupported) || !strings.Contains(err.Error(), "57.0") {
		t.Fatalf("Partitions on API 57.0: %v, want ErrUnsupported naming the version", err)
	}
	if jobs := queryJobs(t, c); len(jobs) != 0 {
		t.Fatalf("a refused split created Bulk jobs %v", jobs)
	}
}

func TestPartitionOfAGoneJob(t *testing.T) {
	clk := sfemu.NewManualClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	e := startEmu(t, sfemu.Options{Records: 300, BulkPageSize: 100, Now: clk.Now, SessionTTL: 30 * 24 * time.Hour})
	c := configured(t, e.passwordConfig())
	req := sdk.ReadRequest{Entity: "Contact", Fields: []string{"Id"}, Options: sdk.Values{"api": "bulk"}, Limits: sdk.DefaultLimits}
	readPage := func(p sdk.Partition) error {
		r := req
		r.Partition = p.Spec
		col := &sdktest.Collector{}
		defer col.Release()
		return c.Read(context.Background(), r, col)
	}
	gone := func(err error, job string) bool {
		return err != nil && strings.Contains(err.Error(), "Bulk query job "+job+" no longer exists") && strings.Contains(err.Error(), "partition the read again")
	}

	t.Run("deleted", func(t *testing.T) {
		parts, err := c.Partitions(context.Background(), req)
		if err != nil || len(parts) != 3 {
			t.Fatalf("%d partitions, %v", len(parts), err)
		}
		job := parts[0].Key[:18]
		if err := readPage(parts[1]); err != nil {
			t.Fatal(err)
		}
		if _, err := c.cl.do(context.Background(), request{method: "DELETE", path: "jobs/query/" + job}); err != nil {
			t.Fatal(err)
		}
		if err := readPage(parts[1]); !gone(err, job) {
			t.Fatalf("reading a page of a deleted job: %v", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		parts, err := c.Partitions(context.Background(), req)
		if err != nil || len(parts) != 3 {
			t.Fatalf("%d partitions, %v", len(parts), err)
		}
		job := parts[0].Key[:18]
		clk.Advance(6 * 24 * time.Hour)
		if err := readPage(parts[2]); err != nil {
			t.Fatalf("six days on: %v", err)
		}
		clk.Advance(24 * time.Hour)
		if err := readPage(parts[2]); !gone(err, job) {
			t.Fatalf("reading a page of a job 7 days after it completed: %v", err)
		}
	})
}

func TestPartitionSpecMismatch(t *testing.T) {
	e := startEmu(t, sfemu.Options{Records: 20})
	c := configured(t, e.passwordConfig())
	req := sdk.ReadRequest{Entity: "Contact", Fields: []string{"Id", "LastName"}, Options: sdk.Values{"api": "bulk"}}
	parts, err := c.Partitions(context.Background(), req)
	if err != nil || len(parts) != 1 {
		t.Fatalf("%v %v", parts, err)
	}
	for _, tc := range []struct {
		name string
		req  sdk.ReadRequest
		want string
	}{
		{"other fields", sdk.ReadRequest{Entity: "Contact", Fields: []string{"Id", "Email"}, Partition: parts[0].Spec},
			"the partition was made for the fields Id, LastName, SystemModstamp, but the read asks for Id, Email"},
		{"other object", sdk.ReadRequest{Entity: "Account", Fields: []string{"Id", "LastName"}, Partition: parts[0].Spec},
			"the partition is of Contact, but the source reads Account"},
		{"not a spec", sdk.ReadRequest{Entity: "Contact", Partition: []byte(`{"cursor":"SystemModstamp"}`)},
			"is not one this connector's Partitions made"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col := &sdktest.Collector{}
			defer col.Release()
			if err := c.Read(context.Background(), tc.req, col); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Read: %v, want %q", err, tc.want)
			}
		})
	}
}
