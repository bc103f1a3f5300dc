package redshiftconn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/plugins/s3/s3test"
	"github.com/sluice-dev/sluice/sdk"
)

// The package's versitygw starts on first use (the PostgreSQL cluster
// owns TestMain's m.Run) and stops after the tests.
var s3srv struct {
	once sync.Once
	srv  *s3test.Server
	err  error
}

func s3Server(t *testing.T) *s3test.Server {
	t.Helper()
	s3srv.once.Do(func() { s3srv.srv, s3srv.err = s3test.Start() })
	if s3srv.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no S3 server: %v", s3srv.err)
		}
		t.Skipf("no S3 server: %v", s3srv.err)
	}
	return s3srv.srv
}

func stopS3() {
	if s3srv.srv != nil {
		s3srv.srv.Stop()
	}
}

// listObjects returns every key under prefix with its contents.
func listObjects(t *testing.T, client *s3.Client, bucket, prefix string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list s3://%s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			out[aws.ToString(o.Key)] = b
		}
	}
	return out
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// s3Connector is a Redshift-mode connector whose uploads go to versitygw
// and whose SQL session is the recording fake: Redshift itself cannot run
// here, so what is checked is what Redshift would be sent (the objects,
// the manifest, the COPY naming it), not what it would do with them.
func s3Connector(t *testing.T, srv *s3test.Server, rec *recorder, staging string) *Connector {
	t.Helper()
	c := New()
	c.open = func(ctx context.Context, cfg connConfig) (session, error) { return rec, nil }
	c.newID = func() string { return "0001" }
	if err := c.Configure(context.Background(), sdk.Values{"dsn": "postgres://u:p@example.invalid:5439/dev",
		"staging": staging, "iam_role": "arn:aws:iam::123456789012:role/rs-load",
		"region": s3test.Region, "s3_endpoint": srv.Endpoint,
		"access_key_id": s3test.AccessKey, "secret_access_key": s3test.SecretKey}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.store.(*s3Store); !ok {
		t.Fatalf("Configure built store %T, want the S3 client", c.store)
	}
	return c
}

func TestS3Staging(t *testing.T) {
	srv := s3Server(t)
	client := srv.Client()
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep_staging=%v", keep), func(t *testing.T) {
			bucket := srv.NewBucket(t)
			prefix := "sluice/orders_sync/run_42/0001-1/"
			url := "s3://" + bucket + "/" + prefix
			rec := &recorder{copied: "3", columns: map[string][][]string{}}
			// At the COPY, the staging prefix holds exactly the golden
			// part and the golden manifest (with this bucket's URLs), and
			// the manifest's sizes are the objects'.
			var atCopy map[string][]byte
			rec.onCopy = func(sql string) error {
				atCopy = listObjects(t, client, bucket, "sluice/")
				return nil
			}
			c := s3Connector(t, srv, rec, "s3://"+bucket+"/sluice")
			opts := sdk.Values{"table": "Analytics.Events", "keep_staging": keep}
			w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "Analytics.Events", Mode: sdk.WriteInsert,
				Options: opts, Schema: arrow.NewSchema(goldenFields, nil), FlowName: "orders sync", RunID: "run/42"})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close(context.Background())
			if _, err := w.Write(context.Background(), goldenBatch(t)); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Commit(context.Background()); err != nil {
				t.Fatalf("Commit: %v", err)
			}

			if got, want := keys(atCopy), []string{prefix + "manifest.json", prefix + "part-00000.csv.gz"}; strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("objects at COPY: %v, want %v", got, want)
			}
			golden(t, "part-00000.csv", gunzip(t, atCopy[prefix+"part-00000.csv.gz"]))
			wantManifest, err := os.ReadFile("testdata/manifest.json")
			if err != nil {
				t.Fatal(err)
			}
			wantManifest = bytes.ReplaceAll(wantManifest, []byte("s3://bkt/sluice/0001-1/"), []byte(url))
			if !bytes.Equal(atCopy[prefix+"manifest.json"], wantManifest) {
				t.Fatalf("manifest:\n%s\nwant:\n%s", atCopy[prefix+"manifest.json"], wantManifest)
			}
			var m manifest
			if err := json.Unmarshal(atCopy[prefix+"manifest.json"], &m); err != nil {
				t.Fatal(err)
			}
			for _, e := range m.Entries {
				key := strings.TrimPrefix(e.URL, "s3://"+bucket+"/")
				b, ok := atCopy[key]
				if !ok || !e.Mandatory || e.Meta == nil || e.Meta.ContentLength != int64(len(b)) {
					t.Fatalf("manifest entry %+v: object present %v, %d bytes", e, ok, len(b))
				}
			}

			// The SQL is the golden load's, reading this manifest (and
			// naming the bucket's region).
			wantSQL, err := os.ReadFile("testdata/create_insert.sql")
			if err != nil {
				t.Fatal(err)
			}
			wantSQL = bytes.ReplaceAll(wantSQL, []byte("s3://bkt/sluice/0001-1/"), []byte(url))
			wantSQL = bytes.ReplaceAll(wantSQL, []byte("IAM_ROLE 'arn:aws:iam::123456789012:role/rs-load'\n"),
				[]byte("IAM_ROLE 'arn:aws:iam::123456789012:role/rs-load'\nREGION 'us-east-1'\n"))
			if got := script(rec.stmts); !bytes.Equal(got, wantSQL) {
				t.Fatalf("SQL:\n%s\nwant:\n%s", got, wantSQL)
			}

			after := listObjects(t, client, bucket, "sluice/")
			if keep && len(after) != 2 {
				t.Fatalf("keep_staging: objects after the load: %v", keys(after))
			}
			if !keep && len(after) != 0 {
				t.Fatalf("objects left after the load: %v", keys(after))
			}
		})
	}
}

func TestS3StagingFailedCopyKeepsObjects(t *testing.T) {
	srv := s3Server(t)
	bucket := srv.NewBucket(t)
	rec := &recorder{copied: "0", columns: map[string][][]string{"events": existingColumns}, failCopy: true}
	c := s3Connector(t, srv, rec, "s3://"+bucket+"/sluice/")
	w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "events", Mode: sdk.WriteUpsert, Keys: []string{"id"},
		Schema: arrow.NewSchema(goldenFields, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if _, err := w.Write(context.Background(), goldenBatch(t)); err != nil {
		t.Fatal(err)
	}
	_, err = w.Commit(context.Background())
	if err == nil || !strings.Contains(err.Error(), `part-00000.csv.gz line 2, column "name" (varchar): String length exceeds DDL length [1204]`) {
		t.Fatalf("Commit = %v, want the load errors", err)
	}
	left := listObjects(t, srv.Client(), bucket, "sluice/")
	if got := keys(left); strings.Join(got, " ") != "sluice/0001-1/manifest.json sluice/0001-1/part-00000.csv.gz" {
		t.Fatalf("objects after a failed COPY: %v, want them kept for inspection", got)
	}
}

func TestS3StagingMissingBucket(t *testing.T) {
	srv := s3Server(t)
	rec := &recorder{copied: "3", columns: map[string][][]string{}}
	c := s3Connector(t, srv, rec, "s3://sluice-no-such-bucket/stage/")
	w, err := c.OpenWriter(context.Background(), sdk.WriteRequest{Entity: "events", Schema: arrow.NewSchema(goldenFields, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if _, err := w.Write(context.Background(), goldenBatch(t)); err != nil {
		t.Fatal(err)
	}
	_, err = w.Commit(context.Background())
	if err == nil || !strings.Contains(err.Error(), `"sluice-no-such-bucket"`) {
		t.Fatalf("Commit = %v, want an error naming the bucket", err)
	}
	if strings.Contains(err.Error(), s3test.SecretKey) {
		t.Fatalf("the secret key is in the message: %v", err)
	}
	for _, s := range rec.stmts {
		if s == "BEGIN" {
			t.Fatalf("a transaction began although the upload failed: %v", err)
		}
	}
	t.Log(err)
}
