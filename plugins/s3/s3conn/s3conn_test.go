package s3conn

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/plugins/s3/s3test"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

var prefixSeq atomic.Int64

func uniquePrefix(name string) string {
	return fmt.Sprintf("%s-%d", name, prefixSeq.Add(1))
}

func TestConformance(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	// The source case reads objects this connector wrote.
	c := configured(t, srv.Config())
	writeRecords(t, c, sdk.Values{"bucket": bucket, "prefix": "src"}, 2000)
	for _, f := range []string{"csv", "jsonl", "parquet"} {
		t.Run(f, func(t *testing.T) {
			sdktest.Run(t, sdktest.Suite{
				New:    func() sdk.Connector { return New() },
				Config: srv.Config(),
				Source: &sdktest.SourceCase{Options: sdk.Values{"bucket": bucket, "prefix": "src"}, MinRows: 2000},
				Sink: &sdktest.SinkCase{
					Options: func(t *testing.T) sdk.Values {
						return sdk.Values{"bucket": bucket, "prefix": uniquePrefix("conf-" + f), "format": f}
					},
					Count:     func(t *testing.T, o sdk.Values) int64 { return countRows(t, srv, o) },
					LargeRows: 100_000,
				},
			})
		})
	}
}

// writeRecords writes rows of the kit's ten-column shape and commits.
func writeRecords(t testing.TB, c *Connector, opts sdk.Values, rows int) {
	t.Helper()
	ctx := context.Background()
	w, err := c.OpenWriter(ctx, sdk.WriteRequest{Entity: opts.String("bucket", ""), Options: opts,
		Schema: sdktest.TenColumnSchema, FlowName: "test", RunID: "run1"})
	if err != nil {
		t.Fatalf("OpenWriter: %v", err)
	}
	defer w.Close(ctx)
	for first := 0; first < rows; first += 10_000 {
		rec := sdktest.TenColumnBatch(first, min(10_000, rows-first))
		res, err := w.Write(ctx, rec)
		rec.Release()
		if err != nil || len(res.Rejected) > 0 {
			t.Fatalf("Write: %v %v", err, res.Rejected)
		}
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func TestRoundTripFormats(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	c := configured(t, srv.Config())
	for _, f := range []string{"csv", "jsonl", "parquet"} {
		for _, gz := range []bool{false, true} {
			if gz && f == "parquet" {
				continue
			}
			name := f
			opts := sdk.Values{"bucket": bucket, "prefix": uniquePrefix("rt-" + f), "format": f}
			if gz {
				name += ".gz"
				opts["compression"] = "gzip"
			}
			t.Run(name, func(t *testing.T) {
				writeRecords(t, c, opts, 3000)
				keys := listKeys(t, srv, bucket, opts.String("prefix", ""))
				if len(keys) != 1 || !strings.HasSuffix(keys[0], "."+name) {
					t.Fatalf("objects %v, want one .%s", keys, name)
				}
				ent, err := c.DescribeEntity(context.Background(), sdk.DescribeRequest{Entity: bucket, Options: sdk.Values{"prefix": opts["prefix"]}})
				if err != nil {
					t.Fatal(err)
				}
				if f != "jsonl" && !ent.Schema.Equal(sdktest.TenColumnSchema) {
					// JSONL writes timestamps and dates as strings that
					// inference reads back as such; the others keep types.
					t.Fatalf("schema %s", ent.Schema)
				}
				col, err := readAll(t, c, sdk.Values{"bucket": bucket, "prefix": opts["prefix"]}, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer col.Release()
				if col.Rows() != 3000 || len(col.Rejected) != 0 {
					t.Fatalf("read %d rows, %d rejected", col.Rows(), len(col.Rejected))
				}
				want := sdktest.TenColumnBatch(0, 3000)
				defer want.Release()
				got := col.Batches[0]
				for _, name := range []string{"id", "name", "price", "created"} {
					gi, wi := got.Schema().FieldIndices(name)[0], want.Schema().FieldIndices(name)[0]
					for _, row := range []int{1, 17, 999} {
						if g, w := got.Column(gi).ValueStr(row), want.Column(wi).ValueStr(row); g != w && !(name == "created" && f == "jsonl") {
							t.Errorf("%s row %d: %q, want %q", name, row, g, w)
						}
					}
				}
			})
		}
	}
}

func TestMultipartUpload(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	c := configured(t, srv.Config())
	prefix := uniquePrefix("multipart")
	// About 12 MiB of CSV: two 8 MiB parts, uploaded while writing.
	writeRecords(t, c, sdk.Values{"bucket": bucket, "prefix": prefix}, 140_000)
	keys := listKeys(t, srv, bucket, prefix)
	if len(keys) != 1 {
		t.Fatalf("objects %v", keys)
	}
	head, err := srv.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys[0])})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(head.ContentLength) <= 5<<20 {
		t.Fatalf("object is %d bytes, want over 5 MiB", aws.ToInt64(head.ContentLength))
	}
	if etag := aws.ToString(head.ETag); !strings.Contains(etag, "-") {
		t.Errorf("ETag %s is not a multipart ETag (<md5>-<parts>)", etag)
	} else if parts := strings.Trim(etag[strings.LastIndex(etag, "-")+1:], `"`); parts == "1" {
		t.Errorf("ETag %s: one part, want several", etag)
	}
	col, err := readAll(t, c, sdk.Values{"bucket": bucket, "prefix": prefix}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer col.Release()
	if col.Rows() != 140_000 {
		t.Fatalf("read %d rows", col.Rows())
	}
}

func TestListingOver1000Objects(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	objs := map[string][]byte{}
	const n = 1050
	for i := 0; i < n; i++ {
		objs[fmt.Sprintf("many/part-%05d.csv", i)] = []byte(csvHeader + csvRows(i*2, 2))
	}
	putMany(t, srv, bucket, objs)
	c := configured(t, srv.Config())
	col, err := readAll(t, c, sdk.Values{"bucket": bucket, "prefix": "many/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer col.Release()
	if col.Rows() != 2*n {
		t.Fatalf("read %d rows from %d objects, want %d", col.Rows(), n, 2*n)
	}
	// Delivered in key order.
	var last int64 = -1
	for _, b := range col.Batches {
		ids := b.Column(0)
		for i := 0; i < ids.Len(); i++ {
			var v int64
			fmt.Sscan(ids.ValueStr(i), &v)
			if v <= last {
				t.Fatalf("id %d after %d: not in key order", v, last)
			}
			last = v
		}
	}
	if len(col.Checkpoints) == 0 {
		t.Fatal("no checkpoints")
	}
}

func TestMissingBucket(t *testing.T) {
	srv := s3test.Get(t)
	c := configured(t, srv.Config())
	_, err := readAll(t, c, sdk.Values{"bucket": "no-such-bucket-here"}, nil)
	if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket-here" does not exist`) {
		t.Fatalf("read: %v", err)
	}
	_, err = c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "no-such-bucket-here", Options: sdk.Values{"bucket": "no-such-bucket-here"}})
	if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket-here" does not exist`) {
		t.Fatalf("write: %v", err)
	}
}

func TestWrongCredentials(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	const secret = "wrong-secret-do-not-print-7f3a"
	cfg := srv.Config()
	cfg["secret_access_key"] = secret
	c := configured(t, cfg)
	for name, err := range map[string]error{
		"check": c.Check(context.Background()),
		"read": func() error {
			_, err := readAll(t, c, sdk.Values{"bucket": bucket}, nil)
			return err
		}(),
	} {
		if err == nil {
			t.Fatalf("%s: no error with a wrong secret", name)
		}
		msg := err.Error()
		if !strings.Contains(msg, "static keys") || !strings.Contains(msg, s3test.AccessKey) {
			t.Errorf("%s: %q does not name the credential source", name, msg)
		}
		if strings.Contains(msg, secret) {
			t.Errorf("%s: the message holds the secret: %q", name, msg)
		}
	}
}

func TestMalformedCSVRowIsRejectedWithKeyAndLine(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	put(t, srv, bucket, "in/contacts.csv", []byte(csvHeader+"1,a,1.5,2026-01-02T03:04:05Z\n2,\"broken,2.5,2026-01-02T03:04:05Z\n3,c,not-a-number,2026-01-02T03:04:05Z\n4,d,4.5,2026-01-02T03:04:05Z\n"))
	c := configured(t, srv.Config())
	col, err := readAll(t, c, sdk.Values{"bucket": bucket, "prefix": "in/", "schema": map[string]string{"amount": "float"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer col.Release()
	if col.Rows() != 2 {
		t.Fatalf("read %d rows, want 2", col.Rows())
	}
	if len(col.Rejected) != 2 {
		t.Fatalf("rejected %+v", col.Rejected)
	}
	want := "s3://" + bucket + "/in/contacts.csv:3"
	if col.Rejected[0].Location != want {
		t.Errorf("location %q, want %q", col.Rejected[0].Location, want)
	}
	if !strings.Contains(col.Rejected[1].Location, "in/contacts.csv:4") || !strings.Contains(col.Rejected[1].Reason, "amount") {
		t.Errorf("second reject %+v", col.Rejected[1])
	}
}

func TestSlowDownIsRetried(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	put(t, srv, bucket, "in/a.csv", []byte(csvHeader+csvRows(0, 10)))
	proxy := s3test.NewProxy(t, srv.Endpoint)
	cfg := s3test.ConfigFor(proxy.URL)
	cfg["max_attempts"] = int64(6)
	c := configured(t, cfg)
	proxy.SlowDown(3)
	col, err := readAll(t, c, sdk.Values{"bucket": bucket, "prefix": "in/"}, nil)
	if err != nil {
		t.Fatalf("read through 3 SlowDowns: %v", err)
	}
	defer col.Release()
	if col.Rows() != 10 {
		t.Fatalf("read %d rows", col.Rows())
	}
	if _, slow, _, _ := proxy.Stats(); slow != 3 {
		t.Fatalf("%d requests answered SlowDown, want 3", slow)
	}
	// Writes too.
	proxy.SlowDown(3)
	writeRecords(t, c, sdk.Values{"bucket": bucket, "prefix": "out"}, 100)
	if n := len(listKeys(t, srv, bucket, "out")); n != 1 {
		t.Fatalf("%d objects after a throttled write", n)
	}
	// More throttling than attempts: the error says so.
	cfg["max_attempts"] = int64(2)
	c2 := configured(t, cfg)
	proxy.SlowDown(10)
	_, err = readAll(t, c2, sdk.Values{"bucket": bucket, "prefix": "in/"}, nil)
	if err == nil || !strings.Contains(err.Error(), "SlowDown") {
		t.Fatalf("persistent throttling: %v", err)
	}
	proxy.SlowDown(0)
}

func TestConnectionDroppedMidUpload(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	proxy := s3test.NewProxy(t, srv.Endpoint)
	c := configured(t, s3test.ConfigFor(proxy.URL))
	proxy.DropPartsAfter(1)
	ctx := context.Background()
	prefix := uniquePrefix("dropped")
	w, err := c.OpenWriter(ctx, sdk.WriteRequest{Entity: bucket, Options: sdk.Values{"bucket": bucket, "prefix": prefix},
		Schema: sdktest.TenColumnSchema, RunID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for first := 0; first < 300_000 && werr == nil; first += 20_000 {
		rec := sdktest.TenColumnBatch(first, 20_000)
		_, werr = w.Write(ctx, rec)
		rec.Release()
	}
	if werr == nil {
		_, werr = w.Commit(ctx)
	}
	if werr == nil {
		t.Fatal("the write went through although the connection dropped")
	}
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if keys := listKeys(t, srv, bucket, prefix); len(keys) != 0 {
		t.Fatalf("objects visible after a dropped upload: %v", keys)
	}
	ups, err := srv.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left open", len(ups.Uploads))
	}
	if _, _, dropped, aborts := proxy.Stats(); dropped == 0 || aborts == 0 {
		t.Fatalf("dropped %d parts, %d aborts", dropped, aborts)
	}
	t.Logf("write error: %v", werr)
}

func TestIncrementalResumesAfterCheckpoint(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	put(t, srv, bucket, "inc/a.csv", []byte(csvHeader+csvRows(0, 5)))
	put(t, srv, bucket, "inc/b.csv", []byte(csvHeader+csvRows(5, 5)))
	c := configured(t, srv.Config())
	opts := sdk.Values{"bucket": bucket, "prefix": "inc/"}
	col, err := readAll(t, c, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	col.Release()
	if len(col.Checkpoints) == 0 {
		t.Fatal("no checkpoint")
	}
	cp := col.Checkpoints[len(col.Checkpoints)-1]
	var pos position
	if err := json.Unmarshal(cp, &pos); err != nil || pos.Key != "inc/b.csv" || pos.LastModified.IsZero() {
		t.Fatalf("checkpoint %s", cp)
	}
	// Nothing new: nothing read.
	col, err = readAll(t, c, opts, cp)
	if err != nil {
		t.Fatal(err)
	}
	if col.Rows() != 0 {
		t.Fatalf("re-read %d rows with nothing new", col.Rows())
	}
	col.Release()
	// Last-modified times have one-second resolution.
	time.Sleep(1100 * time.Millisecond)
	put(t, srv, bucket, "inc/0-new-but-sorts-first.csv", []byte(csvHeader+csvRows(100, 3)))
	put(t, srv, bucket, "inc/c.csv", []byte(csvHeader+csvRows(200, 4)))
	col, err = readAll(t, c, opts, cp)
	if err != nil {
		t.Fatal(err)
	}
	defer col.Release()
	if col.Rows() != 7 {
		t.Fatalf("read %d rows after the checkpoint, want the 7 new ones", col.Rows())
	}
}

func TestEntitiesAndDescribe(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	put(t, srv, bucket, "campaigns/2026/contacts.csv", []byte(csvHeader+csvRows(0, 3)))
	put(t, srv, bucket, "other/x.csv", []byte(csvHeader+csvRows(0, 3)))
	cfg := srv.Config()
	cfg["bucket"] = bucket
	c := configured(t, cfg)
	ents, err := c.ListEntities(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	want := []string{"s3://" + bucket + "/campaigns/", "s3://" + bucket + "/other/"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("entities %v, want %v", names, want)
	}
	// Without a bucket on the connection: the buckets.
	ents, err = configured(t, srv.Config()).ListEntities(context.Background())
	if err != nil || len(ents) == 0 {
		t.Fatalf("buckets %v %v", ents, err)
	}
	ent, err := c.DescribeEntity(context.Background(), sdk.DescribeRequest{Options: sdk.Values{"prefix": "campaigns/"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(ent.Schema.Fields()); !strings.Contains(got, "amount: type=float64") || !strings.Contains(got, "at: type=timestamp") {
		t.Fatalf("schema %s", ent.Schema)
	}
}

func TestSinkOptions(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	c := configured(t, srv.Config())
	ctx := context.Background()
	opts := sdk.Values{"bucket": bucket, "prefix": "exp/{flow}/{yyyy}/{mm}/{dd}/{hh}/{run_id}", "partition_by": []string{"country"},
		"aggregation": "per_partition", "manifest": true, "sse": "AES256", "storage_class": "STANDARD", "format": "jsonl"}
	w, err := c.OpenWriter(ctx, sdk.WriteRequest{Entity: bucket, Options: opts, Schema: sdktest.TenColumnSchema, FlowName: "flow1", RunID: "run7"})
	if err != nil {
		t.Fatal(err)
	}
	rec := sdktest.TenColumnBatch(0, 600)
	defer rec.Release()
	if _, err := w.Write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	w.Close(ctx)
	now := time.Now().UTC()
	prefix := fmt.Sprintf("exp/flow1/%04d/%02d/%02d/%02d/run7/", now.Year(), now.Month(), now.Day(), now.Hour())
	keys := listKeys(t, srv, bucket, "exp/")
	// Six countries and the null partition, one object each, and the manifest.
	if len(keys) != 8 {
		t.Fatalf("keys %v", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			t.Fatalf("key %s does not start with %s", k, prefix)
		}
	}
	out, err := srv.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(prefix + "manifest.json")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	var m struct {
		Entries []struct {
			URL       string `json:"url"`
			Mandatory bool   `json:"mandatory"`
			Meta      struct {
				ContentLength int64 `json:"content_length"`
			} `json:"meta"`
		} `json:"entries"`
	}
	if err := json.NewDecoder(out.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if len(m.Entries) != 7 || !m.Entries[0].Mandatory || m.Entries[0].Meta.ContentLength == 0 ||
		!strings.HasPrefix(m.Entries[0].URL, "s3://"+bucket+"/"+prefix+"country=") {
		t.Fatalf("manifest %+v", m)
	}
	for _, bad := range []sdk.Values{
		{"bucket": bucket, "sse": "rot13"},
		{"bucket": bucket, "kms_key_id": "k"},
		{"bucket": bucket, "aggregation": "daily"},
		{"bucket": bucket, "storage_class": "COLD"},
	} {
		if _, err := c.OpenWriter(ctx, sdk.WriteRequest{Entity: bucket, Options: bad}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	var diags sdk.Diagnostics = New().Configure(ctx, sdk.Values{"access_key_id": "x"})
	if !diags.HasErrors() {
		t.Errorf("half static keys accepted")
	}
}

// TestUnsignedPayload checks that unsigned_payload is opt-in: by default
// every body sent over plain http is signed with its SHA-256, as the SDK
// does; with it, object and part bodies go as UNSIGNED-PAYLOAD, which the
// server accepts, and read back whole.
func TestUnsignedPayload(t *testing.T) {
	srv := s3test.Get(t)
	bucket := srv.NewBucket(t)
	for _, unsigned := range []bool{false, true} {
		proxy := s3test.NewProxy(t, srv.Endpoint)
		cfg := s3test.ConfigFor(proxy.URL)
		if unsigned {
			cfg["unsigned_payload"] = true
		}
		c := configured(t, cfg)
		prefix := uniquePrefix("unsigned")
		// A multipart object (about 12 MiB) and, in its own writer, a
		// small one put at Commit.
		writeRecords(t, c, sdk.Values{"bucket": bucket, "prefix": prefix + "/big"}, 140_000)
		writeRecords(t, c, sdk.Values{"bucket": bucket, "prefix": prefix + "/small"}, 100)
		unsignedPuts, signedPuts := proxy.Puts()
		if unsigned && (unsignedPuts < 3 || signedPuts != 0) {
			t.Errorf("unsigned_payload: %d unsigned PUTs, %d signed; want every body unsigned", unsignedPuts, signedPuts)
		}
		if !unsigned && (signedPuts < 3 || unsignedPuts != 0) {
			t.Errorf("default: %d unsigned PUTs, %d signed; want every body signed over http", unsignedPuts, signedPuts)
		}
		col, err := readAll(t, c, sdk.Values{"bucket": bucket, "prefix": prefix}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if col.Rows() != 140_100 {
			t.Errorf("unsigned=%v: read %d rows, want 140100", unsigned, col.Rows())
		}
		col.Release()
	}
}
