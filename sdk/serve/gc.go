package serve

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// PluginGCPercent is the garbage collector's target in a plugin process
// while its live heap is small, unless $GOGC sets one. A plugin's heap is
// mostly batches in flight, allocated and dropped at the rate rows pass,
// over little that lives long; at Go's default of 100 it collects every
// few batches. In BenchmarkPluginBoundary the plugin spends ≈ 0.48 CPU-s
// per 1M rows at 300 against ≈ 0.56 at 100; the price is memory: the
// file plugin peaks at ≈ 195 MB instead of ≈ 145 MB in the 1M-row local
// flow (≈ 260 vs 157 MB at 10M rows).
const PluginGCPercent = 300

// PluginGCHeadroom bounds what the higher target may add: the collector's
// headroom over the live heap stays within the larger of this and the
// live heap itself (Go's default), so a plugin that keeps a lot live does
// not hold three times as much again.
const PluginGCHeadroom = 192 << 20

// gcPercentFor is the target for a live heap of live bytes: PluginGCPercent
// while its headroom fits PluginGCHeadroom, less as the heap grows, and
// Go's default of 100 once the live heap alone is larger.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return PluginGCPercent
	}
	pct := int(uint64(PluginGCHeadroom) * 100 / live)
	return max(100, min(PluginGCPercent, pct))
}

// gcTunings counts the tuner's checks, one per collection; tests read it.
var gcTunings atomic.Int64

// tuneGC sets the collector's target from the live heap now and after
// every collection: a finalizer on an object nothing references runs once
// per cycle and sets itself again.
func tuneGC() {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	current := -1
	check := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		if want := gcPercentFor(sample[0].Value.Uint64()); want != current {
			current = want
			debug.SetGCPercent(want)
		}
		gcTunings.Add(1)
	}
	check()
	var rearm func(*gcSentinel)
	rearm = func(s *gcSentinel) {
		check()
		runtime.SetFinalizer(s, rearm)
	}
	runtime.SetFinalizer(&gcSentinel{}, rearm)
}

// gcSentinel is the object whose finalizer marks a collection; it has a
// size because the zero-size allocations all share one address.
type gcSentinel struct{ _ [16]byte }
