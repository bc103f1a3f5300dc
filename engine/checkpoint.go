package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CheckpointStore keeps the position each flow has durably delivered up to.
type CheckpointStore interface {
	Load(ctx context.Context, flow string) ([]byte, error)
	Save(ctx context.Context, flow string, position []byte) error
}

// DirCheckpoints stores one file per flow in a directory. Saves are atomic
// (write to a temporary file, then rename), so a crash leaves the old or
// the new position, never a torn one.
type DirCheckpoints struct{ Dir string }

var _ CheckpointStore = DirCheckpoints{}

func (d DirCheckpoints) path(flow string) string {
	return filepath.Join(d.Dir, flow+".checkpoint")
}

func (d DirCheckpoints) Load(_ context.Context, flow string) ([]byte, error) {
	b, err := os.ReadFile(d.path(flow))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load checkpoint of %s: %w", flow, err)
	}
	return b, nil
}

func (d DirCheckpoints) Save(_ context.Context, flow string, position []byte) error {
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return fmt.Errorf("save checkpoint of %s: %w", flow, err)
	}
	tmp, err := os.CreateTemp(d.Dir, "."+flow+".tmp-*")
	if err != nil {
		return fmt.Errorf("save checkpoint of %s: %w", flow, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(position); err != nil {
		tmp.Close()
		return fmt.Errorf("save checkpoint of %s: %w", flow, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save checkpoint of %s: %w", flow, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save checkpoint of %s: %w", flow, err)
	}
	if err := os.Rename(tmp.Name(), d.path(flow)); err != nil {
		return fmt.Errorf("save checkpoint of %s: %w", flow, err)
	}
	return nil
}
