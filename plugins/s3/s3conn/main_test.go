package s3conn

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/plugins/s3/s3test"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

// configured returns a connector configured for endpoint (the server's or
// a proxy's).
func configured(t testing.TB, cfg sdk.Values) *Connector {
	t.Helper()
	c := New()
	if err := c.Configure(context.Background(), cfg).Err(); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return c
}

func put(t testing.TB, srv *s3test.Server, bucket, key string, body []byte) {
	t.Helper()
	_, err := srv.Client().PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// putMany uploads objects in parallel.
func putMany(t testing.TB, srv *s3test.Server, bucket string, objs map[string][]byte) {
	t.Helper()
	client := srv.Client()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for k, v := range objs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(v)})
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
}

func listKeys(t testing.TB, srv *s3test.Server, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(srv.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

func readAll(t testing.TB, c *Connector, opts sdk.Values, checkpoint []byte) (*sdktest.Collector, error) {
	t.Helper()
	col := &sdktest.Collector{}
	err := c.Read(context.Background(), sdk.ReadRequest{Entity: opts.String("bucket", ""), Options: opts, Checkpoint: checkpoint, Limits: sdk.DefaultLimits}, col)
	return col, err
}

// countRows is what the conformance kit sees at a sink's destination: the
// rows of the committed objects under the options' prefix.
func countRows(t *testing.T, srv *s3test.Server, opts sdk.Values) int64 {
	t.Helper()
	bucket := opts.String("bucket", "")
	prefix := renderPrefix(opts.String("prefix", ""), "conformance", "sdktest", time.Now())
	ext := opts.String("format", "csv")
	if len(listKeys(t, srv, bucket, prefix)) == 0 {
		return 0
	}
	c := configured(t, srv.Config())
	col, err := readAll(t, c, sdk.Values{"bucket": bucket, "prefix": prefix, "glob": "**/*." + ext, "format": ext}, nil)
	if err != nil {
		if strings.Contains(err.Error(), "no objects under") {
			return 0
		}
		t.Fatalf("count: %v", err)
	}
	defer col.Release()
	return col.Rows()
}

var csvHeader = "id,name,amount,at\n"

func csvRows(first, n int) string {
	var b strings.Builder
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, "%d,name-%d,%d.5,2026-01-02T03:04:05Z\n", i, i, i)
	}
	return b.String()
}
