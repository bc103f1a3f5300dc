package sfconn

import (
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/sdk"
)

// countingSender counts what a read sends and keeps nothing.
type countingSender struct{ rows int64 }

func (s *countingSender) Send(rec arrow.RecordBatch) error { s.rows += rec.NumRows(); return nil }
func (s *countingSender) Checkpoint([]byte) error          { return nil }
func (s *countingSender) Reject(sdk.BadRecord) error       { return nil }
func (s *countingSender) Progress(sdk.Progress) error      { return nil }
