package s3conn

import (
	"context"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/plugins/s3/s3test"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

// TestDeletesRefused: objects are only added, so a request for
// change-event deletes is refused before anything is uploaded.
func TestDeletesRefused(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	c := configured(t, srv.Config())
	req := sdk.WriteRequest{Entity: bucket, Options: sdk.Values{"bucket": bucket, "prefix": "deletes"},
		Schema: sdktest.TenColumnSchema, RunID: "r", Deletes: true}
	diags := c.CheckWrite(context.Background(), req)
	if len(diags) != 1 || !diags.HasErrors() || strings.Join(diags[0].Path, ".") != "deletes" ||
		!strings.Contains(diags[0].Summary, "cannot delete") {
		t.Fatalf("CheckWrite = %#v", diags)
	}
	if _, err := c.OpenWriter(context.Background(), req); err == nil || !strings.Contains(err.Error(), "deletes: the s3 sink cannot delete records") {
		t.Fatalf("OpenWriter = %v", err)
	}
	if keys := listKeys(t, srv, bucket, ""); len(keys) != 0 {
		t.Fatalf("a refused writer left %v", keys)
	}
	req.Deletes = false
	if diags := c.CheckWrite(context.Background(), req); len(diags) != 0 {
		t.Fatalf("CheckWrite without deletes = %v", diags)
	}
}

// A bad sink attribute is found before the run, placed on the attribute,
// without a call to S3.
func TestCheckWriteFindsBadSinkAttributes(t *testing.T) {
	srv := s3test.Get(t)
	c := configured(t, srv.Config())
	for attr, opts := range map[string]sdk.Values{
		"sse":                 {"bucket": "b", "sse": "rot13"},
		"aggregation":         {"bucket": "b", "aggregation": "daily"},
		"parquet_compression": {"bucket": "b", "format": "parquet", "parquet_compression": "brotli"},
	} {
		diags := c.CheckWrite(context.Background(), sdk.WriteRequest{Entity: "b", Options: opts, Schema: sdktest.TenColumnSchema})
		if len(diags) != 1 || !diags.HasErrors() || strings.Join(diags[0].Path, ".") != attr {
			t.Errorf("%s: CheckWrite = %#v", attr, diags)
		}
	}
}
