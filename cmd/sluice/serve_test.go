package main_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/dsl"
	"github.com/sluice-dev/sluice/sdk"
)

const servedFlow = `flow "served" {
  trigger "schedule" {
    rate         = "1s"
    max_failures = 3
  }
  source "file" { path = "testdata/contacts.csv" }
  filter { where = "Country == 'DE'" }
  sink "file" { path = "out/served" }
  on_error {
    mode        = "continue"
    dead_letter = "out/rejected"
  }
}
`

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func api(t testing.TB, method, url, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

type historyRun struct {
	ID             string `json:"id"`
	Status         string `json:"status"`
	Trigger        string `json:"trigger"`
	RecordsWritten int64  `json:"records_written"`
	Error          string `json:"error"`
}

func history(t *testing.T, dir string) []historyRun {
	t.Helper()
	r := sluice(t, dir, "history", "served", "--state", "state.db", "--json", "-n", "1000")
	if r.code != 0 {
		t.Fatalf("history: exit %d %s", r.code, r.stderr)
	}
	var runs []historyRun
	if err := json.Unmarshal([]byte(r.stdout), &runs); err != nil {
		t.Fatalf("history --json: %v\n%s", err, r.stdout)
	}
	return runs
}

func finished(runs []historyRun) int {
	n := 0
	for _, r := range runs {
		if r.Status != "running" {
			n++
		}
	}
	return n
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestServe(t *testing.T) {
	dir := workdir(t)
	flows := filepath.Join(dir, "served")
	os.MkdirAll(flows, 0o755)
	flowFile := filepath.Join(flows, "served.hcl")
	os.WriteFile(flowFile, []byte(servedFlow), 0o644)

	// Off loopback without a token: refused before anything starts.
	if r := sluice(t, dir, "serve", "--flows", "served", "--addr", "0.0.0.0:0"); r.code != 2 || !strings.Contains(r.stderr, "without an API token") {
		t.Fatalf("non-loopback without a token: exit %d %s", r.code, r.stderr)
	}

	addr := freeAddr(t)
	base := "http://" + addr
	const token = "t0ken"
	cmd := exec.Command(filepath.Join(binDir, "sluice"), "serve", "--flows", "served", "--state", "state.db",
		"--addr", addr, "--token", token, "--drain-timeout", "20s")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SLUICE_PLUGIN_PATH=", "SLUICE_DEV_PLUGINS=")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("serve stderr:\n%s", stderr.String())
		}
	}()
	waitFor(t, "/healthz", 30*time.Second, func() bool {
		code, _ := api(t, "GET", base+"/healthz", "")
		return code == 200
	})

	// The schedule runs the flow every second.
	waitFor(t, "two scheduled runs in sluice history", 60*time.Second, func() bool { return finished(history(t, dir)) >= 2 })
	for _, r := range history(t, dir) {
		if r.Status != "running" && (r.Status != "completed_with_errors" || r.RecordsWritten == 0 || r.Trigger != "schedule") {
			t.Fatalf("scheduled run %+v", r)
		}
	}

	// Without the token, or with a wrong one: 401 and no run.
	before := len(history(t, dir))
	for _, tok := range []string{"", "wrong"} {
		if code, _ := api(t, "POST", base+"/api/v1/flows/served/runs", tok); code != 401 {
			t.Fatalf("start with token %q: %d", tok, code)
		}
	}
	if code, _ := api(t, "POST", base+"/api/v1/flows/served/deactivate", ""); code != 401 {
		t.Fatalf("deactivate without a token: %d", code)
	}

	// With it: a run starts (a scheduled one may be going on: then 409, try again).
	var started struct {
		ID string `json:"id"`
	}
	waitFor(t, "an on-demand run to start", 30*time.Second, func() bool {
		code, body := api(t, "POST", base+"/api/v1/flows/served/runs", token)
		if code == 202 {
			json.Unmarshal(body, &started)
			return true
		}
		if code != 409 {
			t.Fatalf("start: %d %s", code, body)
		}
		return false
	})
	var run historyRun
	waitFor(t, "the on-demand run to finish", 30*time.Second, func() bool {
		code, body := api(t, "GET", base+"/api/v1/runs/"+started.ID, token)
		json.Unmarshal(body, &run)
		return code == 200 && run.Status != "running"
	})
	if run.Trigger != "api" || run.Status != "completed_with_errors" {
		t.Fatalf("on-demand run %+v", run)
	}
	if len(history(t, dir)) <= before {
		t.Fatal("history lacks the on-demand run")
	}
	if code, body := api(t, "GET", base+"/metrics", token); code != 200 || !strings.Contains(string(body), `sluice_runs_total{flow="served",status="completed_with_errors"}`) {
		t.Fatalf("metrics: %d %s", code, body)
	}

	// Break the file: the API shows why, and the last good version keeps running.
	broken := strings.Replace(servedFlow, `rate         = "1s"`, `rate         = "every second"`, 1)
	os.WriteFile(flowFile, []byte(broken), 0o644)
	var flow struct {
		Name        string `json:"name"`
		Diagnostics []struct {
			Summary string `json:"summary"`
			Range   struct {
				Filename  string `json:"filename"`
				StartLine int    `json:"start_line"`
			} `json:"range"`
		} `json:"diagnostics"`
	}
	waitFor(t, "the diagnostics of the broken file", 30*time.Second, func() bool {
		code, body := api(t, "GET", base+"/api/v1/flows/served", token)
		if code != 200 {
			t.Fatalf("flow: %d %s", code, body)
		}
		json.Unmarshal(body, &flow)
		return len(flow.Diagnostics) > 0
	})
	d := flow.Diagnostics[0]
	if d.Summary != "Invalid rate" || d.Range.StartLine != 3 || !strings.HasSuffix(d.Range.Filename, "served.hcl") {
		t.Fatalf("diagnostic %+v", d)
	}
	n := finished(history(t, dir))
	waitFor(t, "runs of the last good version", 30*time.Second, func() bool { return finished(history(t, dir)) >= n+2 })
	if !strings.Contains(stderr.String(), `"msg":"flow diagnostic"`) || !strings.Contains(stderr.String(), "Invalid rate") {
		t.Fatalf("the diagnostic was not logged:\n%s", stderr.String())
	}

	// SIGTERM: drain and exit cleanly.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exited with %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
	for _, r := range history(t, dir) {
		if r.Status == "running" || r.Status == "abandoned" {
			t.Fatalf("run left %s after a clean shutdown: %+v", r.Status, r)
		}
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", stderr.String())
	}

	// The CLI reads the state the daemon left.
	if r := sluice(t, dir, "history", "--state", "state.db"); r.code != 0 || !strings.Contains(r.stdout, "COMPLETED_WITH_ERRORS") && !strings.Contains(r.stdout, "completed_with_errors") {
		t.Fatalf("history: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := sluice(t, dir, "state", "show", "served", "--state", "state.db"); r.code != 0 || !strings.Contains(r.stdout, "consecutive failures  0") {
		t.Fatalf("state show: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := sluice(t, dir, "state", "set", "served", "--state", "state.db", "--checkpoint", "row-17"); r.code != 0 {
		t.Fatalf("state set: %s", r.stderr)
	}
	if r := sluice(t, dir, "state", "show", "served", "--state", "state.db"); !strings.Contains(r.stdout, `"row-17"`) {
		t.Fatalf("state show after set: %s", r.stdout)
	}
	if r := sluice(t, dir, "state", "reset", "served", "--state", "state.db"); r.code != 0 {
		t.Fatalf("state reset: %s", r.stderr)
	}
	if r := sluice(t, dir, "state", "show", "served", "--state", "state.db"); !strings.Contains(r.stdout, "checkpoint            none") {
		t.Fatalf("state show after reset: %s", r.stdout)
	}
	if r := sluice(t, dir, "history", "--state", "missing.db"); r.code != 2 || !strings.Contains(r.stderr, "no state database") {
		t.Fatalf("history of a missing database: %d %s", r.code, r.stderr)
	}
}

// TestScheduleTriggerDecodes checks what dsl makes of a schedule trigger.
func TestScheduleTriggerDecodes(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f.hcl")
	os.WriteFile(name, []byte(`flow "f" {
  trigger "schedule" {
    cron         = "0 6 * * MON-FRI"
    timezone     = "Europe/Berlin"
    start        = "2026-02-01T00:00:00"
    end          = "2026-12-31T00:00:00Z"
    max_failures = 4
    incremental {
      cursor     = "SystemModstamp"
      start_from = "2026-01-01T00:00:00Z"
    }
  }
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}
`), 0o644)
	spec := sdk.Spec{Name: "file", Capabilities: []sdk.Capability{sdk.CapSource, sdk.CapSink},
		Source: sdk.ConfigSchema{Attributes: []sdk.Attribute{{Name: "path", Type: sdk.TypeString, Required: true, Entity: true}}},
		Sink:   sdk.ConfigSchema{Attributes: []sdk.Attribute{{Name: "path", Type: sdk.TypeString, Required: true, Entity: true}}}}
	cfg, diags, _ := dsl.Load(name, dsl.LoadOptions{Specs: func(string) (sdk.Spec, error) { return spec, nil }})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	tr := cfg.Flows[0].Trigger
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if tr.Kind != "schedule" || tr.Cron != "0 6 * * MON-FRI" || tr.Timezone != "Europe/Berlin" || tr.MaxFailures != 4 ||
		!tr.Start.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, berlin)) || !tr.End.Equal(time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)) ||
		tr.Incremental == nil || tr.Incremental.Cursor != "SystemModstamp" || tr.Incremental.StartFrom.Year() != 2026 {
		t.Fatalf("trigger %+v", tr)
	}
	if tr.AttrRange("cron").Start.Line != 3 {
		t.Fatalf("cron range %v", tr.AttrRange("cron"))
	}

}

// startServe starts `sluice serve` in dir with args (after "serve" and
// --addr), stopped when the test ends, and waits until it is ready. It
// returns the API's base URL and the daemon's stderr.
func startServe(t *testing.T, dir string, args ...string) (string, *syncBuffer) {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(filepath.Join(binDir, "sluice"), append([]string{"serve", "--addr", addr}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SLUICE_PLUGIN_PATH=", "SLUICE_DEV_PLUGINS=")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("serve stderr:\n%s", stderr.String())
		}
	})
	base := "http://" + addr
	waitFor(t, "/readyz", 30*time.Second, func() bool {
		code, _ := api(t, "GET", base+"/readyz", "")
		return code == 200
	})
	return base, stderr
}

// The daemon runs a flow again on the plugin process its last run used;
// with --plugin-keep-warm 0 every run starts its own.
func TestServeKeepsPluginProcessesBetweenRuns(t *testing.T) {
	for _, warm := range []bool{true, false} {
		name := map[bool]string{true: "warm", false: "cold"}[warm]
		t.Run(name, func(t *testing.T) {
			dir := workdir(t)
			flows := filepath.Join(dir, "served")
			os.MkdirAll(flows, 0o755)
			os.WriteFile(filepath.Join(flows, "served.hcl"), []byte(servedFlow), 0o644)
			args := []string{"--flows", "served", "--state", "state.db", "--log-level", "debug"}
			if !warm {
				args = append(args, "--plugin-keep-warm", "0")
			}
			_, stderr := startServe(t, dir, args...)
			waitFor(t, "three finished runs", 60*time.Second, func() bool { return finished(history(t, dir)) >= 3 })
			var ok int
			for _, r := range history(t, dir) {
				if r.Status == "completed_with_errors" && r.RecordsWritten > 0 {
					ok++
				}
			}
			if ok < 3 {
				t.Fatalf("%d runs wrote records; want every finished run to", ok)
			}
			// go-plugin logs each start at debug level. Loading the flow
			// starts one process, for the connector's spec and then to check
			// the flow; kept warm, it serves every run.
			starts := strings.Count(stderr.String(), "plugin started")
			t.Logf("%d runs, %d plugin processes started", ok, starts)
			if warm && starts > 2 {
				t.Fatalf("%d plugin processes started for %d runs; want the first one kept", starts, ok)
			}
			if !warm && starts < ok+1 {
				t.Fatalf("%d plugin processes started for %d runs without keep-warm; want one per run", starts, ok)
			}
		})
	}
}
