package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/plugins/s3/s3test"
	"github.com/sluice-dev/sluice/plugins/salesforce/sfemu"
)

// TestCampaignLeadsFromS3 is AppFlow's second use case with the campaign
// file in a bucket: flows/campaign-leads.hcl with its file source swapped
// for an S3 one, run through three plugin processes against versitygw and
// the Salesforce emulator.
func TestCampaignLeadsFromS3(t *testing.T) {
	buildSalesforcePlugin(t)
	store := startS3(t)
	emu, err := sfemu.New(sfemu.Options{Records: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	sf := httptest.NewServer(emu)
	defer sf.Close()
	emu.BaseURL = sf.URL
	before := emu.Count("Lead")

	dir := workdir(t)
	csv, _ := os.ReadFile(filepath.Join(dir, "testdata", "contacts.csv"))
	client := store.Client()
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("campaigns")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("campaigns"),
		Key: aws.String("spring-2026/contacts.csv"), Body: bytes.NewReader(csv)}); err != nil {
		t.Fatal(err)
	}

	flow, _ := os.ReadFile(filepath.Join(dir, "flows", "campaign-leads.hcl"))
	fileSource := `  source "file" {
    path   = var.campaign_file
    format = "csv"`
	s3Source := `  source "s3" {
    connection = connection.s3.campaigns
    bucket     = "campaigns"
    prefix     = "spring-2026/"
    format     = "csv"`
	if !strings.Contains(string(flow), fileSource) {
		t.Fatal("flows/campaign-leads.hcl no longer has the file source this test swaps")
	}
	fromS3 := strings.Replace(string(flow), fileSource, s3Source, 1) + `
connection "s3" "campaigns" {
  endpoint          = env("TEST_S3_ENDPOINT")
  region            = "us-east-1"
  access_key_id     = env("TEST_S3_KEY")
  secret_access_key = env("TEST_S3_SECRET")
}
`
	os.WriteFile(filepath.Join(dir, "leads-from-s3.hcl"), []byte(fromS3), 0o644)
	env := []string{"SLUICE_VAR_sf_login_url=" + sf.URL, "TEST_S3_ENDPOINT=" + store.Endpoint,
		"TEST_S3_KEY=" + s3test.AccessKey, "TEST_S3_SECRET=" + s3test.SecretKey}
	r := sluiceEnv(t, dir, env, "run", "leads-from-s3.hcl", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if sum["records_read"] != 251.0 || sum["records_written"] != 224.0 || sum["records_failed"] != 27.0 {
		t.Fatalf("summary %v", sum)
	}
	if got := emu.Count("Lead") - before; got != 224 {
		t.Fatalf("%d leads created, want 224", got)
	}
	dead, _ := os.ReadFile(filepath.Join(dir, sum["dead_letter"].(string)))
	if !strings.Contains(string(dead), "s3://campaigns/spring-2026/contacts.csv:121") ||
		!strings.Contains(string(dead), "REQUIRED_FIELD_MISSING") {
		t.Fatalf("dead letters lack the object's line or Salesforce's code:\n%s", dead)
	}
}
