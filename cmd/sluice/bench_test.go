package main_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeCSV writes rows of the benchmark's ten-column shape, about 100
// bytes a row, so 10M rows is close to 1 GB.
func writeCSV(tb testing.TB, path string, rows int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("id,qty,price,score,name,email,country,active,flagged,created\n")
	countries := []string{"DE", "FR", "US", "GB", "JP", "BR"}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf []byte
	for i := 0; i < rows; i++ {
		buf = strconv.AppendInt(buf[:0], int64(i), 10)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, int64(i%1000), 10)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, float64(i%10000)/7, 'f', 2, 64)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, float64(i%97)*1.5, 'f', 1, 64)
		buf = append(buf, ",customer-"...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, ",User"...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, "@Example.com,"...)
		buf = append(buf, countries[i%len(countries)]...)
		buf = append(buf, ',')
		buf = strconv.AppendBool(buf, i%2 == 0)
		buf = append(buf, ',')
		buf = strconv.AppendBool(buf, i%3 == 0)
		buf = append(buf, ',')
		buf = base.Add(time.Duration(i)*time.Second).AppendFormat(buf, time.RFC3339)
		buf = append(buf, '\n')
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

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
	writeCSV(b, filepath.Join(small, "in.csv"), 1_000_000)
	writeCSV(b, filepath.Join(large, "in.csv"), 10_000_000)
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
