//go:build linux

package rpc

import (
	"slices"
	"testing"

	pb "github.com/sluice-dev/sluice/sdk/protocol/sluicev1"
)

// A ring kept for the next stream frees what the receiver let go of after
// the last stream ended, even though those releases never reached the
// sender, and keeps what it still holds.
func TestResyncFreesWhatReleasesLostAtAStreamsEndDidNotSay(t *testing.T) {
	if !shmAvailable() {
		t.Skip("no writable /dev/shm on this machine")
	}
	var sender, receiver shmSession
	r, err := sender.takeRing()
	if err != nil {
		t.Fatal(err)
	}
	defer retireRing(r)
	m, err := receiver.mapRing(sender.announce(r))
	if err != nil {
		t.Fatal(err)
	}
	defer receiver.close()
	sender.applyReleased(r, m.resync())

	// Stream 1 sends three bodies.
	var offs []uint64
	for range 3 {
		off, ok := r.alloc(1 << 20)
		if !ok {
			t.Fatal("no room in an empty ring")
		}
		body, err := m.body(uint64(off), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		defer body.Release()
		offs = append(offs, uint64(off))
	}
	// The receiver lets the first go while the stream runs...
	m.drop(offs[0])
	sender.applyReleased(r, &pb.Released{Offsets: m.takeReleased()})
	// ...and the second once it has ended: that release is lost.
	m.drop(offs[1])
	_ = m.takeReleased()
	sender.returnRing(r, true)
	if len(sender.idle) != 1 {
		t.Fatalf("the sender keeps %d rings after a good stream; want 1", len(sender.idle))
	}

	// Stream 2 takes the same ring; the receiver still holds the third.
	again, err := sender.takeRing()
	if err != nil || again != r {
		t.Fatalf("the next stream got another ring (%v)", err)
	}
	m2, err := receiver.mapRing(sender.announce(again))
	if err != nil || m2 != m {
		t.Fatalf("the receiver mapped the kept ring anew (%v); it must use the mapping it kept", err)
	}
	rel := m.resync()
	if !slices.Equal(rel.Held, []uint64{offs[2]}) {
		t.Fatalf("resync says %v are held; want only %d", rel.Held, offs[2])
	}
	sender.applyReleased(r, rel)
	if got := inflightOffsets(r); !slices.Equal(got, []uint64{offs[2]}) {
		t.Fatalf("after resync the ring holds %v; want only the region still referenced, %d", got, offs[2])
	}
	m.drop(offs[2])
	sender.applyReleased(r, &pb.Released{Offsets: m.takeReleased()})
	if got := inflightOffsets(r); len(got) != 0 {
		t.Fatalf("the ring still holds %v after every body was let go", got)
	}
}

// A receiver that never resyncs (a plugin built before rings were kept)
// removes each ring's name, so its sender must not use a ring twice.
func TestRingsAreNotKeptForAReceiverThatDoesNotResync(t *testing.T) {
	if !shmAvailable() {
		t.Skip("no writable /dev/shm on this machine")
	}
	var sender shmSession
	defer sender.close()
	r, err := sender.takeRing()
	if err != nil {
		t.Fatal(err)
	}
	sender.applyReleased(r, &pb.Released{}) // the old "mapped" signal
	sender.returnRing(r, true)
	next, err := sender.takeRing()
	if err != nil {
		t.Fatal(err)
	}
	defer retireRing(next)
	if next == r {
		t.Fatal("a ring went to a second stream of a receiver that removes names")
	}
	if retired := sender.announce(next).Retired; !slices.Contains(retired, r.name) {
		t.Fatalf("the first ring is not announced as retired: %v", retired)
	}
}

func inflightOffsets(r *ring) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []uint64
	for _, reg := range r.inflight {
		if !reg.freed {
			out = append(out, uint64(reg.off))
		}
	}
	return out
}

// A sender built before rings were kept makes a ring per stream and never
// retires one: its receiver must not keep the mappings, or they would pile
// up for as long as the connection lasts.
func TestMappingsOfASenderThatDoesNotReuseAreNotKept(t *testing.T) {
	if !shmAvailable() {
		t.Skip("no writable /dev/shm on this machine")
	}
	var receiver shmSession
	defer receiver.close()
	r, err := newRing()
	if err != nil {
		t.Fatal(err)
	}
	defer retireRing(r)
	m, err := receiver.mapRing(&pb.SharedMemory{Name: r.name, Size: uint64(len(r.data))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	if m.kept || len(receiver.mapped) != 0 {
		t.Fatal("the mapping of a ring that will not be announced again is kept")
	}
}
