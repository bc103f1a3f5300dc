package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// River (v0.51) gives a running job back only after its timeout has
// passed, and runs have no timeout that fits. So daemons watch each other:
// every daemon holds its instance lock for as long as its session lives,
// and reap, on every daemon, looks for running jobs whose daemon's lock is
// free. Each such job gets a copy enqueued, once across the cluster (the
// sluice_takeovers row), and is itself cancelled, which River finalizes
// later. The copy carries the same run, so the taker finds the dead
// attempt's records and goes on from there (see Handler).

func instanceLock(id string) string { return "sluice:instance:" + id }

const takeoverTable = `
CREATE TABLE IF NOT EXISTS sluice_takeovers (
	job_id   bigint PRIMARY KEY,
	owner    text NOT NULL,
	taken_by text NOT NULL,
	taken_at timestamptz NOT NULL
);`

func (c *Cluster) reapEvery() time.Duration { return max(c.opts.Lease/4, time.Second) }

func (c *Cluster) reapLoop() {
	t := time.NewTicker(c.reapEvery())
	defer t.Stop()
	for {
		select {
		case <-c.locks.lost:
			return
		case <-c.stopped:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.reapEvery()*4)
		if err := c.reap(ctx); err != nil {
			c.log.Warn("cannot look for the jobs of stopped daemons", "err", err)
		}
		cancel()
	}
}

// deadJob is a running job whose daemon is gone.
type deadJob struct {
	id    int64
	kind  string
	args  []byte
	owner string
	max   int
}

func (c *Cluster) reap(ctx context.Context) error {
	taken := map[int64]bool{}
	rows, err := c.pool.Query(ctx, `SELECT job_id FROM sluice_takeovers WHERE taken_at > now() - interval '1 day'`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		taken[id] = true
	}
	rows.Close()
	var candidates []deadJob
	params := river.NewJobListParams().Queues(queue).States(rivertype.JobStateRunning).First(10000)
	res, err := c.client.JobList(ctx, params)
	if err != nil {
		return err
	}
	for _, j := range res.Jobs {
		by := j.AttemptedBy
		if taken[j.ID] || len(by) == 0 || by[len(by)-1] == c.opts.ID {
			continue
		}
		candidates = append(candidates, deadJob{id: j.ID, kind: j.Kind, args: j.EncodedArgs, owner: by[len(by)-1], max: j.MaxAttempts})
	}
	alive := map[string]bool{}
	for _, j := range candidates {
		up, seen := alive[j.owner]
		if !seen {
			if up, err = c.locks.alive(ctx, instanceLock(j.owner)); err != nil {
				return err
			}
			alive[j.owner] = up
		}
		if up {
			continue
		}
		if err := c.takeOver(ctx, j); err != nil {
			return fmt.Errorf("take over job %d: %w", j.id, err)
		}
	}
	return nil
}

// takeOver enqueues a copy of a dead daemon's job, once across the cluster.
func (c *Cluster) takeOver(ctx context.Context, j deadJob) error {
	var args river.JobArgs
	switch j.kind {
	case runKind:
		var a runArgs
		if err := json.Unmarshal(j.args, &a); err != nil {
			return err
		}
		args = a
	case partKind:
		var a partArgs
		if err := json.Unmarshal(j.args, &a); err != nil {
			return err
		}
		args = a
	default:
		return nil
	}
	taken := false
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO sluice_takeovers (job_id, owner, taken_by, taken_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (job_id) DO NOTHING`, j.id, j.owner, c.opts.ID, time.Now().UTC())
		if err != nil || tag.RowsAffected() == 0 {
			return err // another daemon took it over first
		}
		// Not unique: the dead job still holds the run's unique slot.
		_, err = c.client.InsertTx(ctx, tx, args, &river.InsertOpts{Queue: queue, MaxAttempts: j.max})
		taken = err == nil
		return err
	})
	if err != nil || !taken {
		return err
	}
	c.log.Warn("took over a job of a stopped daemon", "job_id", j.id, "kind", j.kind, "owner", j.owner)
	if _, err := c.client.JobCancel(ctx, j.id); err != nil {
		c.log.Debug("cannot mark the dead job cancelled; River's rescuer finalizes it later", "job_id", j.id, "err", err)
	}
	return nil
}
