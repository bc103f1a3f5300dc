package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/plugins/s3/s3test"
)

// TestCampaignFlowFromS3 runs flows/campaign-contacts-from-s3.hcl through
// the CLI and both plugin processes against a real S3-protocol server.
func TestCampaignFlowFromS3(t *testing.T) {
	srv := startS3(t)
	ctx := context.Background()
	client := srv.Client()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("campaigns")}); err != nil {
		t.Fatal(err)
	}
	dir := workdir(t)
	csv, err := os.ReadFile(filepath.Join(dir, "testdata", "contacts.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("campaigns"),
		Key: aws.String("spring-2026/contacts.csv"), Body: bytes.NewReader(csv)}); err != nil {
		t.Fatal(err)
	}

	env := []string{
		"SLUICE_VAR_s3_endpoint=" + srv.Endpoint,
		"SLUICE_VAR_s3_access_key_id=" + s3test.AccessKey,
		"SLUICE_VAR_s3_secret_access_key=" + s3test.SecretKey,
	}
	r := sluiceEnv(t, dir, env, "run", "flows/campaign-contacts-from-s3.hcl", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	// 251 data rows: one malformed, 22 without an email.
	if sum["records_read"] != 251.0 || sum["records_failed"] != 1.0 || sum["status"] != "completed_with_errors" {
		t.Fatalf("summary %v", sum)
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "out/campaign-contacts/country=*/part-*.parquet"))
	if len(parts) != 6 {
		t.Fatalf("want a Parquet file per country, got %v", parts)
	}
	dead, _ := os.ReadFile(filepath.Join(dir, sum["dead_letter"].(string)))
	if !strings.Contains(string(dead), "s3://campaigns/spring-2026/contacts.csv:121") {
		t.Fatalf("the malformed row's dead letter does not name the object and line:\n%s", dead)
	}
	if strings.Contains(r.stdout+r.stderr+string(dead), s3test.SecretKey) {
		t.Fatal("the secret access key appeared in the output")
	}
}

// startS3 starts a real S3-protocol server (versitygw) for one test and
// stops it when the test ends. Without one the test is skipped, except
// under CI, where it fails.
func startS3(t testing.TB) *s3test.Server {
	t.Helper()
	srv, err := s3test.Start()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("S3 test server: %v", err)
		}
		t.Skipf("no S3 test server: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv
}
