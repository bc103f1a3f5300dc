package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/plugins/s3/s3test"
)

// daemonProc is one `sluice serve` of a cluster test.
type daemonProc struct {
	name string
	base string
	cmd  *exec.Cmd
	logs *syncBuffer
	once sync.Once
}

// kill ends the daemon with SIGKILL: no drain, no chance to release
// anything; its PostgreSQL sessions end with the process.
func (p *daemonProc) kill() {
	p.once.Do(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	})
}

// logged counts the daemon's JSON log lines whose msg is msg.
func (p *daemonProc) logged(msg string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(p.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == msg {
			n++
		}
	}
	return n
}

// startDaemon starts `sluice serve` on the flows of dir/flowsDir with the
// shared PostgreSQL state.
func startDaemon(t testing.TB, dir, flowsDir, name, stateDSN string, env []string, extra ...string) *daemonProc {
	t.Helper()
	addr := freeAddr(t)
	args := append([]string{"serve", "--flows", flowsDir, "--state", stateDSN, "--addr", addr,
		"--instance", name, "--lease", "5s", "--workers", "2", "--drain-timeout", "10s"}, extra...)
	cmd := exec.Command(filepath.Join(binDir, "sluice"), args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "SLUICE_PLUGIN_PATH=", "SLUICE_DEV_PLUGINS="), env...)
	p := &daemonProc{name: name, base: "http://" + addr, cmd: cmd, logs: &syncBuffer{}}
	cmd.Stderr = p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s said:\n%s", name, p.logs.String())
		}
	})
	waitFor(t, name+" /readyz", 60*time.Second, func() bool {
		code, _ := api(t, "GET", p.base+"/readyz", "")
		return code == 200
	})
	return p
}

// clusterRun is a run as the shared store holds it.
type clusterRun struct {
	id, flow, trigger, status string
	read, written, failed     int64
	scheduled                 *time.Time
	err                       string
}

func clusterRuns(t testing.TB, dsn, flow string) []clusterRun {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id, flow, trigger, status, records_read, records_written, records_failed, scheduled_at, error
		FROM runs WHERE flow = $1 ORDER BY started_at`, flow)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []clusterRun
	for rows.Next() {
		var r clusterRun
		if err := rows.Scan(&r.id, &r.flow, &r.trigger, &r.status, &r.read, &r.written, &r.failed, &r.scheduled, &r.err); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

const tickerFlow = `
flow "ticker" {
  trigger "schedule" {
    rate = "1s"
  }
  source "file" {
    path   = "testdata/contacts.csv"
    schema = { Id = "string" }
  }
  sink "file" {
    path   = "out/ticker"
    format = "csv"
  }
  on_error {
    mode = "continue"
  }
}
`

// TestClusterRunsEachTickOnce starts three daemons on one PostgreSQL: every
// one of them sees every tick of a one-second schedule, and each tick runs
// exactly once in the cluster.
func TestClusterRunsEachTickOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	dsn := testPostgres(t).NewDatabase(t)
	dir := workdir(t)
	os.MkdirAll(filepath.Join(dir, "cluster"), 0o755)
	os.WriteFile(filepath.Join(dir, "cluster", "ticker.hcl"), []byte(tickerFlow), 0o644)
	var daemons []*daemonProc
	for _, name := range []string{"a", "b", "c"} {
		daemons = append(daemons, startDaemon(t, dir, "cluster", name, dsn, nil))
	}
	waitFor(t, "eight finished scheduled runs", 90*time.Second, func() bool {
		n := 0
		for _, r := range clusterRuns(t, dsn, "ticker") {
			if r.status != "running" {
				n++
			}
		}
		return n >= 8
	})
	for _, d := range daemons {
		d.kill()
	}
	ticks := map[time.Time][]string{}
	for _, r := range clusterRuns(t, dsn, "ticker") {
		if r.trigger != "schedule" || r.scheduled == nil {
			t.Fatalf("run %+v: want scheduled runs only", r)
		}
		ticks[r.scheduled.UTC()] = append(ticks[r.scheduled.UTC()], r.id)
		if r.status != "running" && r.status != "abandoned" && (r.status != "completed_with_errors" || r.read != 251 || r.failed != 1) {
			t.Fatalf("run %+v: want 251 records read, 1 failed (the malformed row)", r)
		}
	}
	for tick, ids := range ticks {
		if len(ids) != 1 {
			t.Fatalf("tick %s ran %d times (%v); each tick must run once in the cluster", tick, len(ids), ids)
		}
	}
	ran := 0
	for _, d := range daemons {
		if d.logged("run started") > 0 {
			ran++
		}
	}
	t.Logf("%d ticks, run by %d of 3 daemons", len(ticks), ran)
	if ran < 2 {
		t.Fatalf("one daemon ran every tick; runs must spread over the cluster")
	}
}

// dropsFlow follows new CSV objects under s3://drops/in/ into a PostgreSQL
// table, upserting by id.
func dropsFlow(s3Endpoint, dwDSN string) string {
	return `
connection "s3" "lake" {
  endpoint          = "` + s3Endpoint + `"
  region            = "us-east-1"
  access_key_id     = "` + s3test.AccessKey + `"
  secret_access_key = "` + s3test.SecretKey + `"
}

connection "redshift" "dw" {
  dsn  = "` + dwDSN + `"
  mode = "postgres"
}

flow "drops" {
  trigger "event" {
    poll_interval = "200ms"
    settle        = "1s"
    start         = "earliest"
    batch_window  = "200ms"
  }
  source "s3" {
    connection = connection.s3.lake
    bucket     = "drops"
    prefix     = "in/"
    format     = "csv"
    schema     = { id = "int", name = "string" }
  }
  sink "redshift" {
    connection = connection.redshift.dw
    table      = "public.drops"
    write      = "upsert"
    key        = ["id"]
  }
}
`
}

// putDrop writes object n of rows records with ids n*rows .. n*rows+rows-1.
func putDrop(t *testing.T, client *s3.Client, n, rows int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,name\n")
	for i := range rows {
		fmt.Fprintf(&b, "%d,drop %d row %d\n", n*rows+i, n, i)
	}
	if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("drops"),
		Key: aws.String(fmt.Sprintf("in/drop-%03d.csv", n)), Body: strings.NewReader(b.String())}); err != nil {
		t.Fatal(err)
	}
}

func countRows(t *testing.T, dsn, table string) (total, distinct int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT id) FROM `+table).Scan(&total, &distinct)
	if err != nil && strings.Contains(err.Error(), "does not exist") {
		return 0, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return total, distinct
}

// TestClusterEventFlowHasOneOwnerAndIsTakenOver runs an S3 new-objects
// flow on two daemons: exactly one follows it; when that one is killed,
// the other takes the subscription over from the stored position, and
// every row arrives exactly once.
func TestClusterEventFlowHasOneOwnerAndIsTakenOver(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	buildRedshiftPlugin(t)
	pg := testPostgres(t)
	stateDSN, dwDSN := pg.NewDatabase(t), pg.NewDatabase(t)
	srv := startS3(t)
	client := srv.Client()
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("drops")}); err != nil {
		t.Fatal(err)
	}
	dir := workdir(t)
	os.MkdirAll(filepath.Join(dir, "cluster"), 0o755)
	os.WriteFile(filepath.Join(dir, "cluster", "drops.hcl"), []byte(dropsFlow(srv.Endpoint, dwDSN)), 0o644)
	putDrop(t, client, 0, 100) // DescribeEntity needs an object to infer from

	a := startDaemon(t, dir, "cluster", "a", stateDSN, nil)
	b := startDaemon(t, dir, "cluster", "b", stateDSN, nil)
	const follows = "this daemon now follows the event flow"
	var owner, other *daemonProc
	waitFor(t, "a daemon to follow the flow", 60*time.Second, func() bool {
		switch {
		case a.logged(follows) > 0:
			owner, other = a, b
		case b.logged(follows) > 0:
			owner, other = b, a
		}
		return owner != nil
	})
	for n := 1; n <= 4; n++ {
		putDrop(t, client, n, 100)
	}
	waitFor(t, "500 rows", 60*time.Second, func() bool { n, _ := countRows(t, dwDSN, "public.drops"); return n == 500 })
	if other.logged(follows) != 0 {
		t.Fatalf("both daemons follow the flow")
	}

	owner.kill()
	killed := time.Now()
	for n := 5; n <= 9; n++ {
		putDrop(t, client, n, 100)
	}
	waitFor(t, "the other daemon to take the flow over", 60*time.Second, func() bool { return other.logged(follows) > 0 })
	takeover := time.Since(killed)
	waitFor(t, "1000 rows", 60*time.Second, func() bool { n, _ := countRows(t, dwDSN, "public.drops"); return n >= 1000 })
	total, distinct := countRows(t, dwDSN, "public.drops")
	if total != 1000 || distinct != 1000 {
		t.Fatalf("%d rows, %d distinct ids; want 1000 of each: no row lost or doubled", total, distinct)
	}
	t.Logf("event subscription taken over %.1fs after its owner was killed", takeover.Seconds())
}

// bulkFlow loads every CSV object under s3://bulk/in/ into PostgreSQL,
// upserting by id; each object is a part of its own.
// putBulkObjects makes bucket "bulk" with objects CSV objects of rows
// rows each under in/, ids counting on across them.
func putBulkObjects(tb testing.TB, client *s3.Client, objects, rows int) {
	tb.Helper()
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bulk")}); err != nil {
		tb.Fatal(err)
	}
	for n := range objects {
		var b strings.Builder
		b.WriteString("id,name\n")
		for i := range rows {
			fmt.Fprintf(&b, "%d,object %d row %d\n", n*rows+i, n, i)
		}
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bulk"),
			Key: aws.String(fmt.Sprintf("in/obj-%03d.csv", n)), Body: strings.NewReader(b.String())}); err != nil {
			tb.Fatal(err)
		}
	}
}

// bulkFlowDir is a work directory whose flows folder, "cluster", holds
// bulkFlow.
func bulkFlowDir(tb testing.TB, s3Endpoint, dwDSN string) string {
	tb.Helper()
	dir := workdir(tb)
	os.MkdirAll(filepath.Join(dir, "cluster"), 0o755)
	os.WriteFile(filepath.Join(dir, "cluster", "bulk.hcl"), []byte(bulkFlow(s3Endpoint, dwDSN)), 0o644)
	return dir
}

func bulkFlow(s3Endpoint, dwDSN string) string {
	return `
connection "s3" "lake" {
  endpoint          = "` + s3Endpoint + `"
  region            = "us-east-1"
  access_key_id     = "` + s3test.AccessKey + `"
  secret_access_key = "` + s3test.SecretKey + `"
}

connection "redshift" "dw" {
  dsn  = "` + dwDSN + `"
  mode = "postgres"
}

flow "bulk" {
  source "s3" {
    connection     = connection.s3.lake
    bucket         = "bulk"
    prefix         = "in/"
    format         = "csv"
    schema         = { id = "int", name = "string" }
    partition_size = 1
  }
  sink "redshift" {
    connection = connection.redshift.dw
    table      = "public.bulk"
    write      = "upsert"
    key        = ["id"]
  }
}
`
}

// TestClusterPartitionedRunSurvivesAKill splits one run into 24 parts over
// two daemons, kills one of them in the middle, and checks that the run
// still finishes once, with every row counted and loaded exactly once.
func TestClusterPartitionedRunSurvivesAKill(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	buildRedshiftPlugin(t)
	pg := testPostgres(t)
	stateDSN, dwDSN := pg.NewDatabase(t), pg.NewDatabase(t)
	srv := startS3(t)
	const objects, rows = 24, 50000
	putBulkObjects(t, srv.Client(), objects, rows)
	dir := bulkFlowDir(t, srv.Endpoint, dwDSN)
	ctx := context.Background()
	a := startDaemon(t, dir, "cluster", "a", stateDSN, nil)
	b := startDaemon(t, dir, "cluster", "b", stateDSN, nil)

	code, body := api(t, "POST", a.base+"/api/v1/flows/bulk/runs", "")
	if code != 202 {
		t.Fatalf("start: %d %s", code, body)
	}
	var started struct {
		ID string `json:"id"`
	}
	json.Unmarshal(body, &started)
	partsDone := func() (done, total int) {
		conn, err := pgx.Connect(ctx, stateDSN)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		_ = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status <> 'pending'), count(*) FROM sluice_run_parts WHERE run_id = $1`,
			started.ID).Scan(&done, &total)
		return done, total
	}
	waitFor(t, "b to work a part", 120*time.Second, func() bool { return b.logged("part started") > 0 })
	done, total := partsDone()
	if total != objects {
		t.Fatalf("the run was split into %d parts, want %d (one per object)", total, objects)
	}
	b.kill()
	killed := time.Now()
	t.Logf("killed b with %d of %d parts done", done, total)

	var run clusterRun
	deadline := time.Now().Add(180 * time.Second)
	for run.status == "" || run.status == "running" {
		if time.Now().After(deadline) {
			dumpJobs(t, stateDSN)
			t.Fatalf("the run did not finish: %+v", run)
		}
		time.Sleep(200 * time.Millisecond)
		for _, r := range clusterRuns(t, stateDSN, "bulk") {
			if r.id == started.ID {
				run = r
			}
		}
	}
	t.Logf("run finished %.1fs after the kill, its parts on b taken over by a", time.Since(killed).Seconds())
	if run.status != "succeeded" || run.read != objects*rows || run.written != objects*rows || run.failed != 0 {
		t.Fatalf("run %+v: want succeeded with %d records read and written", run, objects*rows)
	}
	if n, d := countRows(t, dwDSN, "public.bulk"); n != objects*rows || d != objects*rows {
		t.Fatalf("%d rows, %d distinct; want %d of each", n, d, objects*rows)
	}
	if runs := clusterRuns(t, stateDSN, "bulk"); len(runs) != 1 {
		t.Fatalf("%d run records, want the one: %+v", len(runs), runs)
	}
}

// dumpJobs logs the cluster's jobs, for a test that waited in vain.
func dumpJobs(t *testing.T, dsn string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Log(err)
		return
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id, kind, state, attempt, max_attempts, attempted_by, attempted_at, scheduled_at, errors::text FROM river_job ORDER BY id`)
	if err != nil {
		t.Log(err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var kind, st string
		var attempt, maxAttempts int
		var by []string
		var at, sched *time.Time
		var errs *string
		if err := rows.Scan(&id, &kind, &st, &attempt, &maxAttempts, &by, &at, &sched, &errs); err != nil {
			t.Log(err)
			return
		}
		e := ""
		if errs != nil {
			e = *errs
		}
		t.Logf("job %d %s %s attempt %d/%d by %v at %v sched %v %.300s", id, kind, st, attempt, maxAttempts, by, at, sched, e)
	}
}

// BenchmarkClusterPartitionedLoad runs one partitioned S3 → PostgreSQL run
// (24 objects of 50,000 rows, a part each) on one daemon and then on two
// daemons of the same machine, and reports both durations and their
// ratio. On two cores the point is that the work spreads and stays
// correct, not that it goes faster. Run with -benchtime 1x.
func BenchmarkClusterPartitionedLoad(b *testing.B) {
	const objects, rows = 24, 50000
	buildRedshiftPlugin(b)
	run := func(b *testing.B, daemons int) time.Duration {
		pg := testPostgres(b)
		stateDSN, dwDSN := pg.NewDatabase(b), pg.NewDatabase(b)
		srv, err := s3test.Start()
		if err != nil {
			b.Skipf("no S3 test server: %v", err)
		}
		defer srv.Stop()
		putBulkObjects(b, srv.Client(), objects, rows)
		dir := bulkFlowDir(b, srv.Endpoint, dwDSN)
		var procs []*daemonProc
		for i := range daemons {
			procs = append(procs, startDaemon(b, dir, "cluster", fmt.Sprintf("d%d", i), stateDSN, nil))
		}
		start := time.Now()
		code, body := api(b, "POST", procs[0].base+"/api/v1/flows/bulk/runs", "")
		if code != 202 {
			b.Fatalf("start: %d %s", code, body)
		}
		var run clusterRun
		for run.status == "" || run.status == "running" {
			if time.Since(start) > 10*time.Minute {
				b.Fatal("the run did not finish")
			}
			time.Sleep(50 * time.Millisecond)
			for _, r := range clusterRuns(b, stateDSN, "bulk") {
				run = r
			}
		}
		took := time.Since(start)
		if run.status != "succeeded" || run.written != objects*rows {
			b.Fatalf("run %+v", run)
		}
		return took
	}
	one := run(b, 1)
	two := run(b, 2)
	b.ReportMetric(one.Seconds(), "s_one_daemon")
	b.ReportMetric(two.Seconds(), "s_two_daemons")
	b.ReportMetric(one.Seconds()/two.Seconds(), "speedup")
}
