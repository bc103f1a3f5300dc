package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

// treePeaks records, for pid and each of its children, the highest
// resident memory the process has reached so far (VmHWM), in bytes. A
// process's children are listed per thread, and Go starts plugins from
// whichever thread runs the goroutine, so every thread's list is read.
func treePeaks(pid int, peaks map[int]int64) {
	pids := []int{pid}
	lists, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	for _, list := range lists {
		children, _ := os.ReadFile(list)
		for _, c := range strings.Fields(string(children)) {
			if n, err := strconv.Atoi(c); err == nil {
				pids = append(pids, n)
			}
		}
	}
	for _, p := range pids {
		peaks[p] = max(peaks[p], highWaterMark(p))
	}
}

func highWaterMark(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// runMeasured runs the flow in dir and returns its wall time and the peak
// resident memory of sluice and its plugin processes: the sum of each
// process's own peak, which is at least what they held at any one time.
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
	peaks := map[int]int64{}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				treePeaks(cmd.Process.Pid, peaks)
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	wg.Wait()
	if err != nil {
		b.Fatalf("run: %v\n%s", err, out.String())
	}
	var total int64
	for _, p := range peaks {
		total += p
	}
	// The largest single process's peak, from the kernel, bounds it below
	// in case the last samples came too early.
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		total = max(total, ru.Maxrss<<10)
	}
	return time.Since(start), total
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
