package serve

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCTargetShrinksAsTheLiveHeapGrows(t *testing.T) {
	for live, want := range map[uint64]int{
		0:         PluginGCPercent,
		32 << 20:  PluginGCPercent, // 96 MiB of headroom
		64 << 20:  PluginGCPercent, // 192 MiB: just fits
		96 << 20:  200,
		192 << 20: 100,
		1 << 30:   100, // never below Go's default
	} {
		if got := gcPercentFor(live); got != want {
			t.Errorf("live heap %d MiB: target %d, want %d", live>>20, got, want)
		}
	}
}

// The tuner looks again after every collection, not once.
func TestGCTunerChecksAfterEveryCollection(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	tuneGC()
	if got := debug.SetGCPercent(PluginGCPercent); got != PluginGCPercent {
		t.Fatalf("with a small heap the target is %d, want %d", got, PluginGCPercent)
	}
	before := gcTunings.Load()
	for i := 0; i < 3; i++ {
		runtime.GC()
		// Finalizers run on their own goroutine after the cycle.
		for deadline := time.Now().Add(5 * time.Second); gcTunings.Load() < before+int64(i)+1; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after collection %d the tuner has checked %d times", i+1, gcTunings.Load()-before)
			}
		}
	}
}
