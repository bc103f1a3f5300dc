package sdktest

import (
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/sdk"
)

// Collector is a RecordSender that keeps everything a source sends.
type Collector struct {
	mu          sync.Mutex
	Batches     []arrow.RecordBatch
	Checkpoints [][]byte
	Rejected    []sdk.BadRecord
	Reports     []sdk.Progress
	// OnSend, when set, runs after each batch is kept; an error stops the read.
	OnSend func(c *Collector) error
}

var _ sdk.RecordSender = (*Collector)(nil)

func (c *Collector) Send(rec arrow.RecordBatch) error {
	rec.Retain()
	c.mu.Lock()
	c.Batches = append(c.Batches, rec)
	c.mu.Unlock()
	if c.OnSend != nil {
		return c.OnSend(c)
	}
	return nil
}

func (c *Collector) Checkpoint(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Checkpoints = append(c.Checkpoints, append([]byte(nil), p...))
	return nil
}

func (c *Collector) Reject(b sdk.BadRecord) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Rejected = append(c.Rejected, b)
	return nil
}

func (c *Collector) Progress(p sdk.Progress) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Reports = append(c.Reports, p)
	return nil
}

// Rows is the number of rows received.
func (c *Collector) Rows() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, b := range c.Batches {
		n += b.NumRows()
	}
	return n
}

// Release frees the kept batches.
func (c *Collector) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.Batches {
		b.Release()
	}
	c.Batches = nil
}
