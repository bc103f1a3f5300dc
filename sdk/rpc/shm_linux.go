//go:build linux

package rpc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

const shmDir = "/dev/shm"

// newRing creates a ring file in /dev/shm (a tmpfs, so its pages are
// memory) readable only by this user. Its pages are populated up front:
// faulting them in one by one on the first pass cost more than the copy.
func newRing() (*ring, error) {
	sweepStaleRings.Do(sweepRings)
	f, err := os.CreateTemp(shmDir, fmt.Sprintf("sluice-ring-%d-", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("create shared memory: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(ringSize); err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("size shared memory: %w", err)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, ringSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("map shared memory: %w", err)
	}
	return &ring{name: f.Name(), data: data, unmap: func() error { return syscall.Munmap(data) }}, nil
}

// openMapping maps a sender's ring read-only and removes its name: from
// then on the pages live exactly as long as the two mappings, so a crash
// of either side leaves nothing behind in /dev/shm.
func openMapping(name string, size uint64) (*mapping, error) {
	if !isRingName(name) {
		return nil, fmt.Errorf("refusing to map %q: not a sluice ring", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open shared memory: %w", err)
	}
	defer f.Close()
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("map shared memory: %w", err)
	}
	os.Remove(name)
	return &mapping{data: data, unmap: func() error { return syscall.Munmap(data) }, notify: make(chan struct{}, 1)}, nil
}

func isRingName(name string) bool {
	const prefix = shmDir + "/sluice-ring-"
	return len(name) > len(prefix) && name[:len(prefix)] == prefix
}

// removeRingName removes the ring's name if the receiver has not.
func removeRingName(name string) { os.Remove(name) }

// sweepStaleRings runs sweepRings once per process.
var sweepStaleRings sync.Once

// sweepRings removes the rings of processes that no longer exist. A name
// normally goes when the receiver maps it or the stream ends, but if
// sender and receiver die together (a killed process group, the OOM
// killer) the file would keep its 16 MiB of memory until reboot. Names
// carry the creator's pid; a pid reused since only delays the sweep.
func sweepRings() {
	names, _ := filepath.Glob(filepath.Join(shmDir, "sluice-ring-*"))
	for _, name := range names {
		pid, ok := ringCreator(name)
		if !ok || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.Remove(name)
		}
	}
}

// ringCreator is the pid in a ring's name, "sluice-ring-<pid>-<random>".
func ringCreator(name string) (int, bool) {
	rest, ok := strings.CutPrefix(filepath.Base(name), "sluice-ring-")
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	return pid, err == nil && pid > 0
}

// body wraps the region [off, off+n) as an Arrow buffer whose release
// hands the region back.
func (m *mapping) body(off, n uint64) (*memory.Buffer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// A mapping closed under a stream (its connection ended) has no data.
	if off+n > uint64(len(m.data)) || off+n < off {
		return nil, fmt.Errorf("shared-memory body [%d, %d) lies outside the %d-byte ring", off, off+n, len(m.data))
	}
	m.holdLocked(off)
	return memory.NewBufferWithAllocator(m.data[off:off+n:off+n], ringFree{m: m, off: off}), nil
}

// ringFree is the allocator of a shared-memory body: Arrow calls Free
// when the last reference to the body goes.
type ringFree struct {
	m   *mapping
	off uint64
}

func (f ringFree) Allocate(int) []byte           { panic("rpc: shared-memory bodies are read-only") }
func (f ringFree) Reallocate(int, []byte) []byte { panic("rpc: shared-memory bodies are read-only") }
func (f ringFree) Free([]byte)                   { f.m.drop(f.off) }

var shmProbe struct {
	once sync.Once
	ok   bool
}

// shmAvailable reports whether this process can create rings, so it only
// offers what it can deliver.
func shmAvailable() bool {
	shmProbe.once.Do(func() {
		shmProbe.ok = syscall.Access(shmDir, 2 /* W_OK */) == nil
	})
	return shmProbe.ok
}
