package rpc

import (
	"slices"
	"sync"

	pb "github.com/sluice-dev/sluice/sdk/protocol/sluicev1"
)

// Shared memory is an optimisation, never a requirement: when a ring cannot
// be created, mapped or has no room, a body travels inline in the message.

const (
	// ringSize holds two batches at the 8 MiB cap and about ten of the
	// default 16k ten-column rows: what the engine's bounded channels keep
	// in flight. When it is full, bodies go inline. (32 MiB measured no
	// faster end to end and maps twice the memory.)
	ringSize = 16 << 20
	// minShmBody keeps small bodies inline, where a copy costs less than
	// the bookkeeping.
	minShmBody = 64 << 10
	shmAlign   = 64
)

// ring is the sender's side: a shared-memory file used as a circular
// buffer of batch bodies. Regions are handed out in order and given back
// in any order; the space before the oldest region still in use is reused
// once every region before it is back.
type ring struct {
	name  string
	data  []byte
	unmap func() error

	mu       sync.Mutex
	head     int      // next free byte
	inflight []region // allocation order
	closed   bool
}

type region struct {
	off, end int
	freed    bool
	// stale: handed out for an earlier stream; the receiver's resync
	// says whether it still holds it.
	stale bool
}

// alloc reserves n bytes, or returns false when there is no room now.
// It never blocks: the caller then sends the body inline.
func (r *ring) alloc(n int) (int, bool) {
	n = (n + shmAlign - 1) &^ (shmAlign - 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || n > len(r.data)/2 {
		return 0, false
	}
	if len(r.inflight) == 0 {
		r.head = 0
	}
	off := r.head
	if len(r.inflight) > 0 {
		oldest := r.inflight[0].off
		if off == oldest {
			// The head has come round to the oldest region: every byte is
			// in use. (Batches of one size fill a ring exactly; taking
			// this for an empty stretch handed out live bodies again.)
			return 0, false
		}
		if off > oldest {
			// Free space runs from head to the end, then from 0 to oldest.
			if off+n > len(r.data) {
				if n > oldest {
					return 0, false
				}
				off = 0
			}
		} else if off+n > oldest {
			return 0, false
		}
	} else if off+n > len(r.data) {
		off = 0
	}
	r.inflight = append(r.inflight, region{off: off, end: off + n})
	r.head = off + n
	return off, true
}

// release gives back the region starting at off.
func (r *ring) release(off int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.inflight {
		if r.inflight[i].off == off && !r.inflight[i].freed {
			r.inflight[i].freed = true
			break
		}
	}
	r.compact()
}

// markStale marks every region in use as an earlier stream's, when the
// ring starts serving a new one.
func (r *ring) markStale() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.inflight {
		r.inflight[i].stale = true
	}
}

// resync frees every earlier stream's region the receiver no longer
// holds: releases sent as that stream ended may never have arrived.
func (r *ring) resync(held []uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.inflight {
		reg := &r.inflight[i]
		if reg.stale && !slices.Contains(held, uint64(reg.off)) {
			reg.freed = true
		}
	}
	r.compact()
}

// compact drops the freed regions at the front: the space is free again.
func (r *ring) compact() {
	for len(r.inflight) > 0 && r.inflight[0].freed {
		r.inflight = r.inflight[1:]
	}
}

// close unmaps the sender's view; the receiver's mapping stays valid.
func (r *ring) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		_ = r.unmap()
	}
}

// mapping is the receiver's side: a read-only view of the sender's ring.
// Batch bodies are wrapped without copying; when Arrow releases a body the
// region's offset is queued for the sender. The view is unmapped only when
// the stream has ended and no body is still referenced.
type mapping struct {
	data  []byte
	unmap func() error

	// kept: a shmSession keeps the mapping for the ring's later streams
	// and closes it; a stream's end does not.
	kept bool

	mu       sync.Mutex
	held     map[uint64]struct{} // offsets of the bodies batches still reference
	closed   bool
	released []uint64
	notify   chan struct{}
}

func (m *mapping) holdLocked(off uint64) {
	if m.held == nil {
		m.held = map[uint64]struct{}{}
	}
	m.held[off] = struct{}{}
}

func (m *mapping) drop(off uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.held, off)
	m.released = append(m.released, off)
	select {
	case m.notify <- struct{}{}:
	default:
	}
	m.maybeUnmap()
}

// takeReleased returns the offsets released since the last call.
func (m *mapping) takeReleased() []uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.released
	m.released = nil
	return out
}

// resync is the first release of a stream: the regions still held, which
// covers every release not yet sent.
func (m *mapping) resync() *pb.Released {
	m.mu.Lock()
	defer m.mu.Unlock()
	rel := &pb.Released{Resync: true}
	for off := range m.held {
		rel.Held = append(rel.Held, off)
	}
	m.released = nil
	return rel
}

func (m *mapping) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.maybeUnmap()
}

func (m *mapping) maybeUnmap() {
	if m.closed && len(m.held) == 0 && m.data != nil {
		_ = m.unmap()
		m.data = nil
	}
}
