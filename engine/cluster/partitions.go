package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/sdk"
)

// partitionTables keep a partitioned run's parts: which are done, with
// what counters. The row of the run serializes the parts' endings, so
// exactly one of them (the last) finishes the run.
const partitionTables = `
CREATE TABLE IF NOT EXISTS sluice_partitioned_runs (
	run_id      text PRIMARY KEY,
	flow        text NOT NULL,
	parts       integer NOT NULL,
	started_at  timestamptz NOT NULL,
	finished_at timestamptz
);
CREATE TABLE IF NOT EXISTS sluice_run_parts (
	run_id       text NOT NULL REFERENCES sluice_partitioned_runs (run_id) ON DELETE CASCADE,
	idx          integer NOT NULL,
	key          text NOT NULL,
	status       text NOT NULL DEFAULT 'pending',
	stats        jsonb,
	error        text NOT NULL DEFAULT '',
	dead_letter  text NOT NULL DEFAULT '',
	error_sample jsonb,
	attempts     integer NOT NULL DEFAULT 0,
	finished_at  timestamptz,
	PRIMARY KEY (run_id, idx)
);`

// Part statuses.
const (
	partPending = "pending"
	partDone    = "done"
	partFailed  = "failed"
)

func unmarshalArgs(b []byte, v any) error { return json.Unmarshal(b, v) }

// Split turns job (a whole run) into one job per partition, in one
// transaction: the parts exist in full or not at all.
func (c *Cluster) Split(ctx context.Context, job Job, parts []sdk.Partition) error {
	return pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO sluice_partitioned_runs (run_id, flow, parts, started_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (run_id) DO NOTHING`, job.RunID, job.Flow, len(parts), time.Now().UTC())
		if err != nil {
			return fmt.Errorf("split %s: %w", job.RunID, err)
		}
		if tag.RowsAffected() == 0 {
			return nil // an interrupted attempt split it already
		}
		params := make([]river.InsertManyParams, len(parts))
		for i, p := range parts {
			if _, err := tx.Exec(ctx, `INSERT INTO sluice_run_parts (run_id, idx, key) VALUES ($1, $2, $3)`,
				job.RunID, i, p.Key); err != nil {
				return fmt.Errorf("split %s: %w", job.RunID, err)
			}
			params[i] = river.InsertManyParams{
				Args:       partArgs{RunID: job.RunID, Flow: job.Flow, Trigger: job.Trigger, Tick: job.Tick, Index: i, Key: p.Key, Spec: p.Spec},
				InsertOpts: &river.InsertOpts{Queue: queue, MaxAttempts: partAttempts},
			}
		}
		if _, err := c.client.InsertManyTx(ctx, tx, params); err != nil {
			return fmt.Errorf("split %s: enqueue parts: %w", job.RunID, err)
		}
		return nil
	})
}

// IsSplit reports whether a run was split already (by an earlier attempt).
func (c *Cluster) IsSplit(ctx context.Context, runID string) (bool, error) {
	var n int
	err := c.pool.QueryRow(ctx, `SELECT count(*) FROM sluice_partitioned_runs WHERE run_id = $1`, runID).Scan(&n)
	return n > 0, err
}

// PartStatus is a part's status: pending, done or failed.
func (c *Cluster) PartStatus(ctx context.Context, runID string, idx int) (string, error) {
	var st string
	err := c.pool.QueryRow(ctx, `SELECT status FROM sluice_run_parts WHERE run_id = $1 AND idx = $2`, runID, idx).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("run %s has no part %d", runID, idx)
	}
	return st, err
}

// PartResult is how one part ended.
type PartResult struct {
	Failed      bool
	Err         string
	Stats       engine.Stats
	DeadLetter  string
	ErrorSample []engine.RecordError
}

// Finished is a partitioned run whose last part has ended.
type Finished struct {
	Parts, FailedParts int
	Stats              engine.Stats
	// Errors are the failed parts' errors, "key: error".
	Errors      []string
	DeadLetters []string
	ErrorSample []engine.RecordError
	StartedAt   time.Time
}

// FinishPart records how a part ended. It returns the whole run when
// this was its last part to end, exactly once across the cluster.
func (c *Cluster) FinishPart(ctx context.Context, job Job, res PartResult) (*Finished, error) {
	var fin *Finished
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		fin = nil
		var parts int
		var started time.Time
		var finishedAt *time.Time
		if err := tx.QueryRow(ctx, `SELECT parts, started_at, finished_at FROM sluice_partitioned_runs WHERE run_id = $1 FOR UPDATE`,
			job.RunID).Scan(&parts, &started, &finishedAt); err != nil {
			return fmt.Errorf("finish part: %w", err)
		}
		status := partDone
		if res.Failed {
			status = partFailed
		}
		stats, _ := json.Marshal(res.Stats)
		sample, _ := json.Marshal(res.ErrorSample)
		if _, err := tx.Exec(ctx, `UPDATE sluice_run_parts SET status = $3, stats = $4, error = $5, dead_letter = $6,
			error_sample = $7, attempts = attempts + 1, finished_at = $8 WHERE run_id = $1 AND idx = $2`,
			job.RunID, job.Part.Index, status, stats, res.Err, res.DeadLetter, sample, time.Now().UTC()); err != nil {
			return fmt.Errorf("finish part: %w", err)
		}
		if finishedAt != nil {
			return nil
		}
		rows, err := tx.Query(ctx, `SELECT key, status, stats, error, dead_letter, error_sample FROM sluice_run_parts
			WHERE run_id = $1 ORDER BY idx`, job.RunID)
		if err != nil {
			return fmt.Errorf("finish part: %w", err)
		}
		f := &Finished{Parts: parts, StartedAt: started}
		pending := 0
		for rows.Next() {
			var key, st, perr, dl string
			var statsJSON, sampleJSON []byte
			if err := rows.Scan(&key, &st, &statsJSON, &perr, &dl, &sampleJSON); err != nil {
				rows.Close()
				return err
			}
			switch st {
			case partPending:
				pending++
				continue
			case partFailed:
				f.FailedParts++
				f.Errors = append(f.Errors, key+": "+perr)
			}
			var s engine.Stats
			_ = json.Unmarshal(statsJSON, &s)
			f.Stats.RecordsRead += s.RecordsRead
			f.Stats.RecordsFiltered += s.RecordsFiltered
			f.Stats.RecordsWritten += s.RecordsWritten
			f.Stats.RecordsFailed += s.RecordsFailed
			f.Stats.BytesRead += s.BytesRead
			f.Stats.BytesWritten += s.BytesWritten
			if dl != "" {
				f.DeadLetters = append(f.DeadLetters, dl)
			}
			var sample []engine.RecordError
			_ = json.Unmarshal(sampleJSON, &sample)
			for _, e := range sample {
				if len(f.ErrorSample) < engine.ErrorSampleSize {
					f.ErrorSample = append(f.ErrorSample, e)
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if pending > 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE sluice_partitioned_runs SET finished_at = $2 WHERE run_id = $1`, job.RunID, time.Now().UTC()); err != nil {
			return err
		}
		fin = f
		return nil
	})
	return fin, err
}
