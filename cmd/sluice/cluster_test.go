package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
func startDaemon(t *testing.T, dir, flowsDir, name, stateDSN string, env []string, extra ...string) *daemonProc {
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

func clusterRuns(t *testing.T, dsn, flow string) []clusterRun {
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
