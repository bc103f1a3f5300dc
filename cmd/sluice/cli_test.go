package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binDir holds sluice and its plugins, built once for the whole package.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for pkg, out := range map[string]string{
		"github.com/sluice-dev/sluice/cmd/sluice":   "sluice",
		"github.com/sluice-dev/sluice/plugins/file": "sluice-plugin-file",
		"github.com/sluice-dev/sluice/plugins/s3":   "sluice-plugin-s3",
	} {
		if b, err := exec.Command("go", "build", "-o", filepath.Join(dir, out), pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, b)
			os.Exit(1)
		}
	}
	code := m.Run()
	stopTestPostgres()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is two directories up from this package.
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// workdir is a scratch directory holding copies of flows/ and testdata/,
// with the built plugins locked, as `make demo` leaves things.
func workdir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"flows", "testdata"} {
		if out, err := exec.Command("cp", "-r", filepath.Join(repoRoot(t), sub), dir).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v %s", sub, err, out)
		}
	}
	if r := sluice(t, dir, "plugins", "lock"); r.code != 0 {
		t.Fatalf("plugins lock: %s", r.stderr)
	}
	return dir
}

type result struct {
	code           int
	stdout, stderr string
}

func sluice(t testing.TB, dir string, args ...string) result {
	t.Helper()
	return sluiceEnv(t, dir, nil, args...)
}

// sluiceEnv runs sluice with extra environment variables.
func sluiceEnv(t testing.TB, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "sluice"), args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "SLUICE_PLUGIN_PATH=", "SLUICE_DEV_PLUGINS="), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

func TestDemoFlowRunsEndToEnd(t *testing.T) {
	dir := workdir(t)
	r := sluice(t, dir, "run", "flows/contacts-to-parquet.hcl", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("--json output is not one JSON object: %v\n%s", err, r.stdout)
	}
	for _, k := range []string{"flow", "run_id", "status", "records_read", "records_filtered", "records_written",
		"records_failed", "bytes_read", "bytes_written", "started_at", "finished_at"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	// 251 data rows: one is malformed, 73 are filtered, 5 fail validation.
	if sum["records_read"] != 251.0 || sum["records_filtered"] != 73.0 || sum["records_written"] != 172.0 ||
		sum["records_failed"] != 6.0 || sum["status"] != "completed_with_errors" {
		t.Fatalf("summary %v", sum)
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "out/contacts/country=*/part-*.parquet"))
	if len(parts) != 6 {
		t.Fatalf("want one parquet file per country (6), got %v", parts)
	}
	dead, _ := os.ReadFile(filepath.Join(dir, sum["dead_letter"].(string)))
	if !strings.Contains(string(dead), "testdata/contacts.csv:121") || !strings.Contains(string(dead), "email is not an address") {
		t.Fatalf("dead letters lack the malformed row's location or the validation message:\n%s", dead)
	}
}

func TestHumanSummaryAndPlanAndPreview(t *testing.T) {
	dir := workdir(t)
	r := sluice(t, dir, "run", "flows/contacts-to-parquet.hcl")
	if r.code != 0 || !strings.Contains(r.stdout, "COMPLETED_WITH_ERRORS") || !strings.Contains(r.stdout, "written 172") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("a run off a terminal must stay quiet on stderr, got %q", r.stderr)
	}
	r = sluice(t, dir, "plan", "flows/contacts-to-parquet.hcl")
	if r.code != 0 || !strings.Contains(r.stdout, "big_client  bool") || !strings.Contains(r.stdout, `partition_by = ["country"]`) {
		t.Fatalf("plan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = sluice(t, dir, "preview", "flows/contacts-to-parquet.hcl", "-n", "3")
	if r.code != 0 || !strings.Contains(r.stdout, "3 record(s) shown") {
		t.Fatalf("preview: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestPreviewWritesNothing(t *testing.T) {
	dir := workdir(t)
	if r := sluice(t, dir, "preview", "flows/contacts-to-parquet.hcl"); r.code != 0 {
		t.Fatalf("preview: %s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("preview created out/: %v", err)
	}
}

func TestInvalidFlowExitsTwoWithFileAndLine(t *testing.T) {
	dir := workdir(t)
	bad := filepath.Join(dir, "bad.hcl")
	os.WriteFile(bad, []byte(`flow "x" {
  source "file" { path = "testdata/contacts.csv" }
  filter { where = "Emial != nil" }
  sink "file" { path = "out" }
}
`), 0o644)
	r := sluice(t, dir, "validate", "bad.hcl")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "bad.hcl line 3") || !strings.Contains(r.stderr, "Email") {
		t.Fatalf("diagnostic lacks file, line or suggestion:\n%s", r.stderr)
	}
	r = sluice(t, dir, "validate", "--json", "bad.hcl")
	var out struct {
		Valid       bool `json:"valid"`
		Diagnostics []struct {
			Range struct {
				StartLine int `json:"start_line"`
			} `json:"range"`
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Valid || len(out.Diagnostics) == 0 || out.Diagnostics[0].Range.StartLine != 3 {
		t.Fatalf("validate --json: %v %s", err, r.stdout)
	}
	if r := sluice(t, dir, "run", "bad.hcl"); r.code != 2 {
		t.Fatalf("run of an invalid flow: exit %d, want 2", r.code)
	}
	if r := sluice(t, dir, "run", "--no-such-flag", "x.hcl"); r.code != 2 {
		t.Fatalf("bad flag: exit %d, want 2", r.code)
	}
	if r := sluice(t, dir, "validate", "flows/contacts-to-parquet.hcl"); r.code != 0 {
		t.Fatalf("valid flow: exit %d %s", r.code, r.stderr)
	}
}

func TestFailedRunExitsOne(t *testing.T) {
	dir := workdir(t)
	os.WriteFile(filepath.Join(dir, "strict.hcl"), []byte(`flow "strict" {
  source "file" { path = "testdata/contacts.csv" }
  sink "file" { path = "out/strict" }
}
`), 0o644)
	r := sluice(t, dir, "run", "strict.hcl")
	if r.code != 1 || !strings.Contains(r.stdout, "FAILED") || !strings.Contains(r.stdout, "testdata/contacts.csv:121") {
		t.Fatalf("exit %d, want 1 naming the bad line\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestUnlockedPluginIsRefused(t *testing.T) {
	dir := workdir(t)
	os.Remove(filepath.Join(dir, "sluice.lock.hcl"))
	r := sluice(t, dir, "validate", "flows/contacts-to-parquet.hcl")
	if r.code != 2 || !strings.Contains(r.stderr, "Cannot start the file connector") ||
		!strings.Contains(r.stderr, "does not match the lock file") || !strings.Contains(r.stderr, "sluice plugins lock") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if r := sluice(t, dir, "--dev-plugins", "validate", "flows/contacts-to-parquet.hcl"); r.code != 0 {
		t.Fatalf("--dev-plugins: exit %d %s", r.code, r.stderr)
	}
}

func TestConnectorsAndDescribe(t *testing.T) {
	dir := workdir(t)
	r := sluice(t, dir, "connectors")
	if r.code != 0 || !regexpLine(r.stdout, "file", "0.1.0", "source,sink", "yes") {
		t.Fatalf("connectors:\n%s%s", r.stdout, r.stderr)
	}
	r = sluice(t, dir, "describe", "file", "-o", "path=testdata/contacts.csv")
	if r.code != 0 || !strings.Contains(r.stdout, "AnnualRevenue") || !strings.Contains(r.stdout, "float64") {
		t.Fatalf("describe:\n%s%s", r.stdout, r.stderr)
	}
	if r := sluice(t, dir, "version"); r.code != 0 || !strings.Contains(r.stdout, "plugin protocol v1") {
		t.Fatalf("version: %s", r.stdout)
	}
}

func regexpLine(out string, fields ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		ok := true
		for _, f := range fields {
			ok = ok && strings.Contains(l, f)
		}
		if ok {
			return true
		}
	}
	return false
}

func TestInterruptCancelsTheRun(t *testing.T) {
	dir := workdir(t)
	// Enough rows that the run is still going when the signal arrives.
	f, err := os.Create(filepath.Join(dir, "big.csv"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("id,name,amount\n")
	for i := 0; i < 5_000_000; i++ {
		fmt.Fprintf(w, "%d,name-%d,%d.5\n", i, i, i%1000)
	}
	w.Flush()
	f.Close()
	os.WriteFile(filepath.Join(dir, "big.hcl"), []byte(`flow "big" {
  source "file" { path = "big.csv" }
  sink "file" { path = "out/big" }
}
`), 0o644)
	cmd := exec.Command(filepath.Join(binDir, "sluice"), "run", "big.hcl", "--json")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the sink has started its first (temporary) part file.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if tmp, _ := filepath.Glob(filepath.Join(dir, "out/big/.part-*")); len(tmp) > 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want 1; output %s", err, out.String())
	}
	var sum map[string]any
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil || sum["status"] != "cancelled" {
		t.Fatalf("summary %s (%v), want status cancelled", out.String(), err)
	}
	final, _ := filepath.Glob(filepath.Join(dir, "out/big/part-*"))
	if len(final) != 0 {
		t.Fatalf("a cancelled run published %v", final)
	}
}

func TestFlowCanNamePluginExecutable(t *testing.T) {
	dir := workdir(t)
	own := filepath.Join(dir, "plugins", "my-file-build")
	os.MkdirAll(filepath.Dir(own), 0o755)
	if out, err := exec.Command("cp", filepath.Join(binDir, "sluice-plugin-file"), own).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "own.hcl"), []byte(`flow "own" {
  source "file" {
    plugin = "plugins/my-file-build"
    path   = "testdata/contacts.csv"
  }
  filter { where = "Country == 'DE'" }
  sink "file" {
    plugin = "plugins/my-file-build"
    path   = "out/own"
  }
  on_error { mode = "continue" }
}
`), 0o644)
	// Same bytes as the locked plugin, so the lock accepts it by checksum.
	r := sluice(t, dir, "run", "own.hcl")
	if r.code != 0 || !strings.Contains(r.stdout, "COMPLETED_WITH_ERRORS") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = sluice(t, dir, "validate", filepath.Join(dir, "own.hcl"))
	if r.code != 0 {
		t.Fatalf("validate: %s", r.stderr)
	}
	os.WriteFile(own, []byte("#!/bin/sh\necho not a plugin\n"), 0o755)
	r = sluice(t, dir, "run", "own.hcl")
	if r.code != 2 || !strings.Contains(r.stderr, "plugins/my-file-build") || !strings.Contains(r.stderr, "does not match the lock file") {
		t.Fatalf("a changed explicit plugin must be refused: exit %d\n%s", r.code, r.stderr)
	}
}
