package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/sdk/sdktest"
)

const benchFlowHCL = `flow "bench" {
  source "file" {
    path = "in.csv"
  }
  filter {
    where = "qty > 100 && country != 'JP'"
  }
  map {
    all    = true
    except = ["flagged"]
    total  = "price * qty"
    email  = "lower(email)"
  }
  mask "email" {
    keep_last = 4
  }
  sink "file" {
    path   = "out"
    format = "parquet"
  }
}
`

// treeRSS is the resident memory of pid and its children, in bytes.
func treeRSS(pid int) int64 {
	total := rssOf(pid)
	children, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
	for _, c := range strings.Fields(string(children)) {
		if n, err := strconv.Atoi(c); err == nil {
			total += rssOf(n)
		}
	}
	return total
}

func rssOf(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// runMeasured runs the flow in dir and returns its wall time and the peak
// resident memory of sluice and its plugin processes together.
func runMeasured(b *testing.B, dir string) (time.Duration, int64) {
	os.RemoveAll(filepath.Join(dir, "out"))
	cmd := exec.Command(filepath.Join(binDir, "sluice"), "--dev-plugins", "run", "flow.hcl")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var peak int64
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				peak = max(peak, treeRSS(cmd.Process.Pid))
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	wg.Wait()
	if err != nil {
		b.Fatalf("run: %v\n%s", err, out.String())
	}
	return time.Since(start), peak
}

// BenchmarkLocalFlow10M runs a CSV -> filter + map + mask -> Parquet flow
// through the CLI on 1M and on 10M rows (about 1 GB of CSV), and reports
// rows/s and the peak memory of sluice plus its plugins for each, and the
// ratio of the two peaks. Target: 10x the rows within 1.5x the memory.
func BenchmarkLocalFlow10M(b *testing.B) {
	small, large := b.TempDir(), b.TempDir()
	for dir, rows := range map[string]int{small: 1_000_000, large: 10_000_000} {
		if err := sdktest.WriteBenchCSV(filepath.Join(dir, "in.csv"), rows); err != nil {
			b.Fatal(err)
		}
	}
	for _, d := range []string{small, large} {
		os.WriteFile(filepath.Join(d, "flow.hcl"), []byte(benchFlowHCL), 0o644)
	}
	var tSmall, tLarge time.Duration
	var peakSmall, peakLarge int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, p := runMeasured(b, small)
		tSmall += d
		peakSmall = max(peakSmall, p)
		d, p = runMeasured(b, large)
		tLarge += d
		peakLarge = max(peakLarge, p)
	}
	b.ReportMetric(float64(b.N)*10e6/tLarge.Seconds(), "rows/s_10M")
	b.ReportMetric(float64(b.N)*1e6/tSmall.Seconds(), "rows/s_1M")
	b.ReportMetric(float64(peakLarge)/(1<<20), "peakMB_10M")
	b.ReportMetric(float64(peakSmall)/(1<<20), "peakMB_1M")
	b.ReportMetric(float64(peakLarge)/float64(peakSmall), "peak_10M/1M")
}
