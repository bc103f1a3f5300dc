package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/pluginhost"
	"github.com/sluice-dev/sluice/sdk"
)

// pidFlow reads the fault plugin, whose entity is named after the process
// serving it, through a connection with the given secret.
func pidFlow(t *testing.T, secret string) *plan.Flow {
	src := source("fault", "pid", nil)
	src.Connection = &plan.Connection{Type: "fault", Name: "main", Values: sdk.Values{"secret": secret}}
	return &plan.Flow{Name: "pid", Source: src, Sinks: []*plan.Sink{fileSink(t.TempDir(), "csv")}}
}

// runOnce prepares and runs f on host, closes it, and returns the pid of
// the plugin process that served it.
func runOnce(t *testing.T, host *pluginhost.Host, f *plan.Flow) (int, *engine.RunResult) {
	t.Helper()
	p := prepare(t, host, f, engine.Options{})
	pid, err := strconv.Atoi(p.SourceEntity.Name)
	if err != nil {
		t.Fatalf("entity %q is not a pid", p.SourceEntity.Name)
	}
	res := p.Run(context.Background(), engine.RunOptions{})
	p.Close()
	return pid, res
}

// alive says whether process pid runs; an exited one that its new parent
// has not reaped yet (a zombie) does not.
func alive(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no /proc: trust kill
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) == 0 || fields[0] != "Z"
}

// waitGone waits for a process to end; a stopped plugin is reaped by its
// host, so kill(pid, 0) fails once it is.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); alive(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d still runs", pid)
		}
	}
}

func TestPoolServesTheNextRunOfTheSameConnectionFromTheSameProcess(t *testing.T) {
	t.Setenv("SLUICE_FAULT_MODE", "log") // one batch of 100 rows
	pool := &pluginhost.Pool{}
	t.Cleanup(pool.Close)
	host := newHost(t, nil)
	host.Pool = pool

	first, res := runOnce(t, host, pidFlow(t, "s1"))
	if res.Err != nil || res.Stats.RecordsWritten != 100 {
		t.Fatalf("first run: %v, %d records written", res.Err, res.Stats.RecordsWritten)
	}
	// The fault source and the file sink.
	if pool.Waiting() != 2 || !alive(first) {
		t.Fatalf("after the first run %d processes wait (source's alive: %v); want the two that ran", pool.Waiting(), alive(first))
	}

	// The daemon gives every run a new host sharing the pool.
	next := newHost(t, nil)
	next.Pool = pool
	second, res := runOnce(t, next, pidFlow(t, "s1"))
	if res.Err != nil || res.Stats.RecordsWritten != 100 {
		t.Fatalf("second run: %v, %d records written", res.Err, res.Stats.RecordsWritten)
	}
	if second != first {
		t.Fatalf("the second run started process %d; want the waiting %d", second, first)
	}

	// Another connection never gets that process.
	other, _ := runOnce(t, next, pidFlow(t, "s2"))
	if other == first {
		t.Fatalf("a run with another connection configuration reused process %d", first)
	}
	if pool.Waiting() != 3 {
		t.Fatalf("%d processes wait; want a source per connection and the sink", pool.Waiting())
	}

	pool.Close()
	waitGone(t, first)
	waitGone(t, other)
}

func TestPoolStopsAPluginThatFailedItsRun(t *testing.T) {
	for _, mode := range []string{"crash", "hang"} {
		t.Run(mode, func(t *testing.T) {
			t.Setenv("SLUICE_FAULT_MODE", mode)
			pool := &pluginhost.Pool{}
			t.Cleanup(pool.Close)
			host := newHost(t, nil)
			host.Pool = pool
			host.IdleTimeout = 500 * time.Millisecond
			pid, res := runOnce(t, host, pidFlow(t, "s1"))
			if res.Status != engine.StatusFailed {
				t.Fatalf("status %s; want failed", res.Status)
			}
			if pool.Waiting() != 0 {
				t.Fatalf("%d processes wait after a run a plugin failed; want none", pool.Waiting())
			}
			waitGone(t, pid)
		})
	}
}

func TestPoolStopsPluginsThatWaitTooLong(t *testing.T) {
	t.Setenv("SLUICE_FAULT_MODE", "")
	pool := &pluginhost.Pool{Idle: 100 * time.Millisecond}
	t.Cleanup(pool.Close)
	host := newHost(t, nil)
	host.Pool = pool
	pid, res := runOnce(t, host, pidFlow(t, "s1"))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	waitGone(t, pid)
	if pool.Waiting() != 0 {
		t.Fatalf("%d processes still wait after their idle time", pool.Waiting())
	}
}

func TestPoolDoesNotReuseAPluginWhoseExecutableChanged(t *testing.T) {
	t.Setenv("SLUICE_FAULT_MODE", "")
	pool := &pluginhost.Pool{}
	t.Cleanup(pool.Close)
	host := newHost(t, nil)
	host.Pool = pool
	first, _ := runOnce(t, host, pidFlow(t, "s1"))

	// A rebuilt plugin (same content here, so the lock still matches) must
	// not be served by the process of the old build.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(faultPlugin(t), later, later); err != nil {
		t.Fatal(err)
	}
	second, res := runOnce(t, host, pidFlow(t, "s1"))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if second == first {
		t.Fatalf("process %d of the old executable served the run", first)
	}
}

// Runs that overlap each take their own process; afterwards the pool keeps
// at most PerKey of them and every other one has stopped.
func TestPoolUnderConcurrentRunsKeepsAtMostPerKey(t *testing.T) {
	t.Setenv("SLUICE_FAULT_MODE", "log")
	pool := &pluginhost.Pool{PerKey: 2}
	t.Cleanup(pool.Close)
	host := newHost(t, nil)
	host.Pool = pool
	const workers, runs = 4, 3
	pids := make(chan int, workers*runs)
	errs := make(chan error, workers*runs)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < runs; r++ {
				p, diags := engine.Prepare(context.Background(), pidFlow(t, "s1"), engine.Options{Host: host})
				if diags.HasErrors() {
					errs <- diags
					return
				}
				pid, _ := strconv.Atoi(p.SourceEntity.Name)
				pids <- pid
				if res := p.Run(context.Background(), engine.RunOptions{}); res.Err != nil || res.Stats.RecordsWritten != 100 {
					errs <- fmt.Errorf("run: %v, %d written", res.Err, res.Stats.RecordsWritten)
				}
				p.Close()
			}
		}()
	}
	wg.Wait()
	close(pids)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for pid := range pids {
		seen[pid] = true
	}
	// A worker's next run finds at least the process it gave back waiting
	// (or another worker's).
	if len(seen) >= workers*runs {
		t.Errorf("%d source processes served %d runs; want some reused", len(seen), workers*runs)
	}
	if w := pool.Waiting(); w > 2*2 {
		t.Fatalf("%d processes wait; want at most PerKey (2) per key, source and sink", w)
	}
	var running int
	for pid := range seen {
		if alive(pid) {
			running++
		}
	}
	if running > 2 {
		t.Fatalf("%d source processes still run; want at most the 2 waiting", running)
	}
}
