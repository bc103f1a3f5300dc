package rpc

import (
	"testing"
)

func TestRingHandsOutRegionsInOrderAndReusesReleasedSpace(t *testing.T) {
	r := &ring{data: make([]byte, 1024), unmap: func() error { return nil }}
	a, ok := r.alloc(300) // rounds to 320
	if !ok || a != 0 {
		t.Fatalf("first alloc at %d ok=%v", a, ok)
	}
	b, _ := r.alloc(300)
	c, ok := r.alloc(300)
	if !ok || b != 320 || c != 640 {
		t.Fatalf("allocs at %d, %d (ok=%v)", b, c, ok)
	}
	if _, ok := r.alloc(300); ok {
		t.Fatal("alloc succeeded in a full ring")
	}
	// Releasing a later region frees nothing yet: space is reused in order.
	r.release(b)
	if _, ok := r.alloc(300); ok {
		t.Fatal("reused space behind a region still in use")
	}
	r.release(a)
	d, ok := r.alloc(500)
	if !ok || d != 0 {
		t.Fatalf("after the oldest two regions came back, alloc of 500 at %d ok=%v; want 0", d, ok)
	}
	if _, ok := r.alloc(600); ok {
		t.Fatal("a body larger than half the ring must go inline")
	}
	r.release(c)
	r.release(d)
	if len(r.inflight) != 0 {
		t.Fatalf("%d regions still in flight after all were released", len(r.inflight))
	}
}

func TestRingThatFillsExactlyRefusesMore(t *testing.T) {
	r := &ring{data: make([]byte, 1024), unmap: func() error { return nil }}
	a, _ := r.alloc(256)
	r.alloc(256)
	r.alloc(256)
	r.release(a)
	if off, ok := r.alloc(256); !ok || off != 768 {
		t.Fatalf("alloc at the end: %d ok=%v", off, ok)
	}
	if off, ok := r.alloc(256); !ok || off != 0 {
		t.Fatalf("alloc wrapping to the start: %d ok=%v", off, ok)
	}
	// The head now meets the oldest region in use: nothing is free.
	if off, ok := r.alloc(64); ok {
		t.Fatalf("alloc in a full ring at %d overlaps the region at 256", off)
	}
}
