package rpc

import (
	"sync"

	pb "github.com/sluice-dev/sluice/sdk/protocol/sluicev1"
)

// maxIdleRings is how many rings a connection keeps for its next streams.
// A run uses one stream per direction and connector, so one is enough to
// skip making a ring per run; partitioned reads make the rest afresh.
const maxIdleRings = 1

// maxRetired bounds the names waiting to be announced as retired; past it
// the oldest are forgotten and their mappings live until the connection
// ends.
const maxRetired = 64

// shmSession is one end of a connection's shared memory: the rings it
// sends through, kept between streams, and the rings of the other end it
// has mapped. Making a ring costs ≈ 11 ms of page faults for its 16 MiB
// and mapping one a few more; a daemon's warm plugin does neither again.
//
// Both ends keep what the other may still use: the sender a ring, with
// the regions the last stream left held; the receiver its mapping, with
// the releases that came after its stream ended, which it sends when the
// ring's next stream starts. The receiver cannot map a kept ring afresh
// (it removed the name), so it keeps each mapping until the sender
// announces the ring retired or the connection ends.
type shmSession struct {
	mu      sync.Mutex
	idle    []*ring
	retired []string
	mapped  map[string]*mapping
	closed  bool
	// peerKeeps: the other end resyncs, so it keeps its mappings and a
	// ring may serve again. A peer built before that removes the name
	// and could not map the ring a second time.
	peerKeeps bool
}

// takeRing returns a ring for a new stream to send through.
func (s *shmSession) takeRing() (*ring, error) {
	s.mu.Lock()
	if n := len(s.idle); n > 0 && !s.closed {
		r := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		r.markStale()
		return r, nil
	}
	s.mu.Unlock()
	return newRing()
}

// returnRing takes back a ring whose stream has ended. A stream that
// failed may have left the receiver without a mapping it can find again,
// so its ring is retired rather than kept (reusable false).
func (s *shmSession) returnRing(r *ring, reusable bool) {
	s.mu.Lock()
	if reusable && s.peerKeeps && !s.closed && len(s.idle) < maxIdleRings {
		s.idle = append(s.idle, r)
		s.mu.Unlock()
		return
	}
	if !s.closed {
		s.retired = append(s.retired, r.name)
		if len(s.retired) > maxRetired {
			s.retired = s.retired[len(s.retired)-maxRetired:]
		}
	}
	s.mu.Unlock()
	retireRing(r)
}

// applyReleased gives back to r, the ring of a stream, what the receiver
// released.
func (s *shmSession) applyReleased(r *ring, rel *pb.Released) {
	if rel.Resync {
		s.mu.Lock()
		s.peerKeeps = true
		s.mu.Unlock()
		r.resync(rel.Held)
	}
	for _, off := range rel.Offsets {
		r.release(int(off))
	}
}

func retireRing(r *ring) {
	r.close()
	removeRingName(r.name)
}

// announce describes r for the receiver, with the rings retired since the
// last announcement.
func (s *shmSession) announce(r *ring) *pb.SharedMemory {
	s.mu.Lock()
	retired := s.retired
	s.retired = nil
	s.mu.Unlock()
	return &pb.SharedMemory{Name: r.name, Size: uint64(len(r.data)), Retired: retired, Reuse: true}
}

// mapRing returns the mapping of the ring a sender announced, for a new
// stream: the one kept from an earlier stream, or a new one, kept if the
// sender may announce the ring again. It first drops the mappings of the
// rings the sender retired.
func (s *shmSession) mapRing(offer *pb.SharedMemory) (*mapping, error) {
	name := offer.GetName()
	s.mu.Lock()
	var dropped []*mapping
	for _, old := range offer.GetRetired() {
		if m, ok := s.mapped[old]; ok && old != name {
			dropped = append(dropped, m)
			delete(s.mapped, old)
		}
	}
	m, ok := s.mapped[name]
	keep := offer.GetReuse() && !s.closed
	s.mu.Unlock()
	for _, d := range dropped {
		d.close()
	}
	if ok {
		return m, nil
	}
	m, err := openMapping(name, offer.GetSize())
	if err != nil {
		return nil, err
	}
	if !keep {
		return m, nil // the decoder closes it with the stream
	}
	m.kept = true
	s.mu.Lock()
	if s.mapped == nil {
		s.mapped = map[string]*mapping{}
	}
	s.mapped[name] = m
	s.mu.Unlock()
	return m, nil
}

// close ends the session: kept rings are retired and kept mappings closed
// (each unmapped once no batch references it).
func (s *shmSession) close() {
	s.mu.Lock()
	s.closed = true
	idle, mapped := s.idle, s.mapped
	s.idle, s.mapped, s.retired = nil, nil, nil
	s.mu.Unlock()
	for _, r := range idle {
		retireRing(r)
	}
	for _, m := range mapped {
		m.close()
	}
}
