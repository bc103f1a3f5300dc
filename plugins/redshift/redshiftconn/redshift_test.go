package redshiftconn

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

// TestRealRedshift runs against a real cluster when REDSHIFT_TEST_DSN is
// set (postgres://user:password@cluster:5439/dev?sslmode=require). It
// checks the connection, creates a scratch table with the loader's own
// DDL, reads it back through the source and drops it. With
// REDSHIFT_TEST_STAGING (s3://bucket/prefix/) and REDSHIFT_TEST_IAM_ROLE
// (a role the cluster may assume to read it) it also loads rows through S3
// staging and COPY, with the default AWS credential chain for the uploads.
func TestRealRedshift(t *testing.T) {
	dsn := os.Getenv("REDSHIFT_TEST_DSN")
	if dsn == "" {
		t.Skip("set REDSHIFT_TEST_DSN=postgres://user:password@host:5439/db?sslmode=require to run against a real Redshift cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := New()
	if err := c.Configure(ctx, sdk.Values{"dsn": dsn}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	s, err := connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	table := fmt.Sprintf("sluice_test_%d", time.Now().UnixNano())
	q := &loadSQL{d: redshiftDialect, table: tableName{Name: table}, create: []column{
		{Name: "id", Type: colType{Kind: kInt8}}, {Name: "name", Type: colType{Kind: kVarchar, Length: maxVarchar}},
		{Name: "at", Type: colType{Kind: kTimestamptz}}}}
	for _, stmt := range []string{q.createTable(),
		"INSERT INTO " + q.table.String() + " VALUES (1, 'a', '2026-01-01 00:00:00+00'), (2, 'b', '2026-01-02 00:00:00+00')",
		q.addColumn(column{Name: "extra", Type: colType{Kind: kBool}})} {
		if err := s.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	defer s.Exec(context.Background(), "DROP TABLE "+q.table.String())
	col := &sdktest.Collector{}
	defer col.Release()
	if err := c.Read(ctx, sdk.ReadRequest{Entity: table, Options: sdk.Values{"cursor": "at"}, Limits: sdk.DefaultLimits}, col); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if col.Rows() != 2 || len(col.Checkpoints) == 0 {
		t.Fatalf("read %d rows, %d checkpoints", col.Rows(), len(col.Checkpoints))
	}

	staging, role := os.Getenv("REDSHIFT_TEST_STAGING"), os.Getenv("REDSHIFT_TEST_IAM_ROLE")
	if staging == "" || role == "" {
		t.Log("set REDSHIFT_TEST_STAGING and REDSHIFT_TEST_IAM_ROLE to load through S3 staging as well")
		return
	}
	lc := New()
	if err := lc.Configure(ctx, sdk.Values{"dsn": dsn, "staging": staging, "iam_role": role,
		"region": os.Getenv("REDSHIFT_TEST_REGION")}).Err(); err != nil {
		t.Fatal(err)
	}
	fields := []arrow.Field{i64("id"), str("name")}
	load(t, lc, sdk.WriteRequest{Entity: table, Mode: sdk.WriteUpsert, Keys: []string{"id"}},
		batch(t, fields, []any{int64(2), int64(3)}, []any{"B", "C"}))
	rows, err := s.Query(ctx, "SELECT CAST(id AS VARCHAR), name FROM "+q.table.String()+" ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rows) != "[[1 a] [2 B] [3 C]]" {
		t.Fatalf("rows after the load: %v", rows)
	}
}
