//go:build !linux

package rpc

import (
	"errors"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

var errShmUnsupported = errors.New("shared memory is not supported on this platform")

func newRing() (*ring, error)                                 { return nil, errShmUnsupported }
func openMapping(string, uint64) (*mapping, error)            { return nil, errShmUnsupported }
func removeRingName(string)                                   {}
func (m *mapping) body(off, n uint64) (*memory.Buffer, error) { return nil, errShmUnsupported }

func shmAvailable() bool { return false }
