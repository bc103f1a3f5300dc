package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-dev/sluice/engine"
)

// RunStatus is where a run is in its life.
type RunStatus string

const (
	// Running: started and not finished yet.
	Running RunStatus = "running"
	// Abandoned: the daemon stopped (a crash, SIGKILL) while the run was
	// going on; the next start marks it so.
	Abandoned RunStatus = "abandoned"
)

// Terminal statuses are engine.Status values.
const (
	Succeeded           = RunStatus(engine.StatusSucceeded)
	CompletedWithErrors = RunStatus(engine.StatusCompletedWithErrors)
	Failed              = RunStatus(engine.StatusFailed)
	Cancelled           = RunStatus(engine.StatusCancelled)
)

// Failed reports whether the status counts as a failure toward a flow's
// consecutive-failure limit.
func (s RunStatus) Failed() bool { return s == Failed || s == Abandoned }

// Run is one execution of a flow.
type Run struct {
	ID   string `json:"id"`
	Flow string `json:"flow"`
	// Trigger is what started the run: schedule, api, or event.
	Trigger string    `json:"trigger"`
	Status  RunStatus `json:"status"`
	engine.Stats
	// ScheduledAt is the tick the run was started for (zero for
	// on-demand runs).
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	Error       string    `json:"error,omitempty"`
	DeadLetter  string    `json:"dead_letter,omitempty"`
	// ErrorSample is the first few records the run refused, with stage,
	// reason and location; RecordsFailed counts them all.
	ErrorSample []engine.RecordError `json:"error_sample,omitempty"`
	Window      *Window              `json:"incremental_window,omitempty"`
	Checkpoint  []byte               `json:"checkpoint,omitempty"`
	UpdatedAt   time.Time            `json:"updated_at"`
}

// Duration is how long the run took, or has taken so far.
func (r *Run) Duration(now time.Time) time.Duration {
	if r.FinishedAt.IsZero() {
		return now.Sub(r.StartedAt)
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// Window is the range of the incremental cursor a run read: records with
// From < cursor <= To.
type Window struct {
	Cursor string    `json:"cursor"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
}

// Checkpoint is a flow's last durably delivered position.
type Checkpoint struct {
	Flow      string    `json:"flow"`
	Position  []byte    `json:"position"`
	UpdatedAt time.Time `json:"updated_at"`
}

// FlowState is what the store remembers about a flow between runs.
type FlowState struct {
	Flow                string `json:"flow"`
	Active              bool   `json:"active"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	// Reason says why the flow was deactivated.
	Reason string `json:"reason,omitempty"`
	// Watermark is where the next incremental window starts (zero: at the
	// trigger's start_from).
	Watermark time.Time `json:"incremental_watermark,omitzero"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RunFilter selects runs; the newest come first.
type RunFilter struct {
	Flow   string
	Status RunStatus
	// Limit caps the result; 0 means 100.
	Limit int
}

// Store is the daemon's persistent state.
type Store interface {
	// CheckpointStore lets the engine save positions straight into the store.
	engine.CheckpointStore

	// CreateRun records a run that has started (Status Running).
	CreateRun(ctx context.Context, r *Run) error
	// UpdateRun stores a running run's counters.
	UpdateRun(ctx context.Context, id string, s engine.Stats) error
	// FinishRun stores a run's final state. It may be called without a
	// CreateRun before it (when that write failed): the run is then
	// inserted whole.
	FinishRun(ctx context.Context, r *Run) error
	Run(ctx context.Context, id string) (*Run, error)
	Runs(ctx context.Context, f RunFilter) ([]*Run, error)
	// AbandonRunning marks every run still Running as Abandoned and returns them.
	AbandonRunning(ctx context.Context, at time.Time) ([]*Run, error)

	Checkpoint(ctx context.Context, flow string) (*Checkpoint, error)
	Checkpoints(ctx context.Context) ([]*Checkpoint, error)
	ResetCheckpoint(ctx context.Context, flow string) error

	// Flow returns a flow's state; a flow never seen is active with no failures.
	Flow(ctx context.Context, flow string) (*FlowState, error)
	Flows(ctx context.Context) ([]*FlowState, error)
	// SetActive activates or deactivates a flow; activating clears its failures.
	SetActive(ctx context.Context, flow string, active bool, reason string) error
	// RecordOutcome counts a finished run toward the consecutive-failure
	// count (reset by a success) and returns the new count.
	RecordOutcome(ctx context.Context, flow string, failed bool) (int, error)
	// SetWatermark sets where a flow's next incremental window starts.
	SetWatermark(ctx context.Context, flow string, at time.Time) error

	Close() error
}

// ErrNotFound is returned for a run that is not in the store.
var ErrNotFound = errors.New("not found")

// ErrUnavailable wraps every error caused by a store that is locked or
// cannot be reached once retries are exhausted.
var ErrUnavailable = errors.New("state store unavailable")

// Open opens the store a --state value names: a SQLite file path, or a
// postgres:// URL.
func Open(ctx context.Context, dsn string, opts Options) (Store, error) {
	if IsPostgresURL(dsn) {
		return OpenPostgres(ctx, dsn, opts)
	}
	return OpenSQLite(ctx, dsn, opts)
}

// abandonedReason is the error recorded on a run a crashed daemon left
// running.
const abandonedReason = "the daemon stopped while the run was going on"

// encodeSample is how both stores keep a run's error sample: a JSON array,
// or the empty string for none, so rows written before the column existed
// read the same as runs without errors.
func encodeSample(s []engine.RecordError) (string, error) {
	if len(s) == 0 {
		return "", nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode the error sample: %w", err)
	}
	return string(b), nil
}

func decodeSample(run, s string) ([]engine.RecordError, error) {
	if s == "" {
		return nil, nil
	}
	var out []engine.RecordError
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("run %s: error sample: %w", run, err)
	}
	return out, nil
}
