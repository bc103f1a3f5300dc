package engine

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DeadLetter is one record a run refused, with why and where.
type DeadLetter struct {
	Flow  string `json:"flow"`
	RunID string `json:"run_id"`
	// Stage names who refused it: "source", a task ("validate (flows/x.hcl:12)")
	// or a sink ("sink file.archive").
	Stage    string         `json:"stage"`
	Reason   string         `json:"reason"`
	Location string         `json:"location,omitempty"`
	Record   map[string]any `json:"record,omitempty"`
	Raw      string         `json:"raw,omitempty"`
	At       time.Time      `json:"at"`
}

// deadLetterFile appends rejected records to one JSON Lines file per run.
// It is opened lazily, so a clean run leaves no file behind.
type deadLetterFile struct {
	mu    sync.Mutex
	path  string
	f     *os.File
	w     *bufio.Writer
	count int
}

func (d *deadLetterFile) add(dl DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		if err := os.MkdirAll(filepath.Dir(d.path), 0o755); err != nil {
			return fmt.Errorf("dead-letter directory: %w", err)
		}
		f, err := os.OpenFile(d.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("dead-letter file: %w", err)
		}
		d.f, d.w = f, bufio.NewWriter(f)
	}
	b, err := json.Marshal(dl)
	if err != nil {
		// A record value JSON cannot carry still gets its reason recorded.
		dl.Record = map[string]any{"unencodable": fmt.Sprint(dl.Record)}
		b, _ = json.Marshal(dl)
	}
	d.w.Write(b)
	d.w.WriteByte('\n')
	d.count++
	return nil
}

// sync makes every dead letter so far durable; runs call it before they
// advance a checkpoint or report their result.
func (d *deadLetterFile) sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	if err := d.w.Flush(); err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	return d.f.Sync()
}

func (d *deadLetterFile) close() error {
	err := d.sync()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f != nil {
		if cerr := d.f.Close(); err == nil {
			err = cerr
		}
		d.f = nil
	}
	return err
}
