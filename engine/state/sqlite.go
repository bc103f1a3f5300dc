package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sluice-dev/sluice/engine"
)

// Options tune how the store waits for a busy or unreachable database.
type Options struct {
	// BusyTimeout is how long one statement waits for another writer's
	// lock (SQLite's busy_timeout, PostgreSQL's lock_timeout), and at most
	// how long connecting to PostgreSQL may take; default 5s.
	BusyTimeout time.Duration
	// Retries is how many more times a write is tried after the busy
	// timeout expires (with PostgreSQL, also any statement or connection
	// that failed because the server could not be reached); default 5.
	Retries int
	// RetryDelay is the pause before the first retry, doubled each time;
	// default 200ms.
	RetryDelay time.Duration
}

func (o *Options) defaults() {
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.Retries < 0 {
		o.Retries = 0
	} else if o.Retries == 0 {
		o.Retries = 5
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 200 * time.Millisecond
	}
}

// SQLite is the embedded store: one database file in WAL mode.
type SQLite struct {
	db   *sql.DB
	path string
	opts Options
}

var _ Store = (*SQLite)(nil)

// timeFormat sorts as text in time order (fixed width, always UTC).
const timeFormat = "2006-01-02T15:04:05.000000000Z"

// OpenSQLite opens (creating if needed) the database file at path and
// brings its schema up to date.
func OpenSQLite(ctx context.Context, path string, opts Options) (*SQLite, error) {
	opts.defaults()
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("state store %s: %w", path, err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	// Write transactions take the write lock when they begin, so two
	// writers wait on busy_timeout instead of failing on upgrade.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("state store %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	s := &SQLite{db: db, path: path, opts: opts}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Path is the database file.
func (s *SQLite) Path() string { return s.path }

func (s *SQLite) Close() error { return s.db.Close() }

// migrations are applied in order, each once; a migration's number is its
// index plus one. Never edit one that has shipped: append a new one.
var migrations = []string{
	// 1: runs, checkpoints, flows.
	`CREATE TABLE runs (
		id               TEXT PRIMARY KEY,
		flow             TEXT NOT NULL,
		trigger          TEXT NOT NULL,
		status           TEXT NOT NULL,
		records_read     INTEGER NOT NULL DEFAULT 0,
		records_filtered INTEGER NOT NULL DEFAULT 0,
		records_written  INTEGER NOT NULL DEFAULT 0,
		records_failed   INTEGER NOT NULL DEFAULT 0,
		bytes_read       INTEGER NOT NULL DEFAULT 0,
		bytes_written    INTEGER NOT NULL DEFAULT 0,
		scheduled_at     TEXT,
		started_at       TEXT NOT NULL,
		finished_at      TEXT,
		error            TEXT NOT NULL DEFAULT '',
		dead_letter      TEXT NOT NULL DEFAULT '',
		checkpoint       BLOB,
		updated_at       TEXT NOT NULL
	);
	CREATE INDEX runs_flow_started ON runs (flow, started_at);
	CREATE INDEX runs_status ON runs (status);
	CREATE TABLE checkpoints (
		flow       TEXT PRIMARY KEY,
		position   BLOB NOT NULL,
		updated_at TEXT NOT NULL
	);
	CREATE TABLE flows (
		flow                 TEXT PRIMARY KEY,
		active               INTEGER NOT NULL DEFAULT 1,
		consecutive_failures INTEGER NOT NULL DEFAULT 0,
		reason               TEXT NOT NULL DEFAULT '',
		updated_at           TEXT NOT NULL
	);`,
	// 2: incremental pulls.
	`ALTER TABLE runs ADD COLUMN window_cursor TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN window_from TEXT;
	ALTER TABLE runs ADD COLUMN window_to TEXT;
	ALTER TABLE flows ADD COLUMN watermark TEXT;`,
	// 3: a sample of each run's refused records, as a JSON array ('' for none).
	`ALTER TABLE runs ADD COLUMN error_sample TEXT NOT NULL DEFAULT '';`,
}

// SchemaVersion is the number of the newest migration.
func SchemaVersion() int { return len(migrations) }

func (s *SQLite) migrate(ctx context.Context) error {
	// An up-to-date database needs no write lock: a daemon can open its
	// store while another process writes.
	var have int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err == nil && have == len(migrations) {
		return nil
	}
	return s.write(ctx, "migrate the schema", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at TEXT NOT NULL)`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
			return err
		}
		if have > len(migrations) {
			return fmt.Errorf("the database is at schema version %d, newer than this sluice knows (%d); upgrade sluice", have, len(migrations))
		}
		for v := have + 1; v <= len(migrations); v++ {
			if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				v, fmtTime(time.Now())); err != nil {
				return err
			}
		}
		return nil
	})
}

// AppliedMigrations lists the versions recorded in schema_migrations.
func (s *SQLite) AppliedMigrations(ctx context.Context) ([]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, s.wrap("read migrations", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// busy reports whether err means another connection holds a lock.
func busy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return strings.Contains(err.Error(), "database is locked")
}

// write runs fn in a transaction, retrying with backoff while the
// database is locked by another writer.
func (s *SQLite) write(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	delay := s.opts.RetryDelay
	var err error
	start := time.Now()
	for attempt := 0; attempt <= s.opts.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return fmt.Errorf("state store %s: %s: %w (%w)", s.path, what, ctx.Err(), err)
			}
			delay *= 2
		}
		err = s.tx(ctx, fn)
		if err == nil || !busy(err) {
			break
		}
	}
	if err != nil && busy(err) {
		return fmt.Errorf("%w: %s: %s: the database is locked by another process (tried %d times over %s): %v",
			ErrUnavailable, s.path, what, s.opts.Retries+1, time.Since(start).Round(time.Millisecond), err)
	}
	if err != nil {
		return fmt.Errorf("state store %s: %s: %w", s.path, what, err)
	}
	return nil
}

func (s *SQLite) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (s *SQLite) wrap(what string, err error) error {
	if busy(err) {
		return fmt.Errorf("%w: %s: %s: the database is locked by another process: %v", ErrUnavailable, s.path, what, err)
	}
	return fmt.Errorf("state store %s: %s: %w", s.path, what, err)
}

func fmtTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtTime(t)
}

func parseTime(v sql.NullString) time.Time {
	if !v.Valid || v.String == "" {
		return time.Time{}
	}
	t, err := time.Parse(timeFormat, v.String)
	if err != nil {
		t, _ = time.Parse(time.RFC3339Nano, v.String)
	}
	return t
}

// CreateRun records a started run.
func (s *SQLite) CreateRun(ctx context.Context, r *Run) error {
	if r.Status == "" {
		r.Status = Running
	}
	r.UpdatedAt = time.Now().UTC()
	return s.write(ctx, "record run "+r.ID, func(tx *sql.Tx) error { return insertRun(ctx, tx, r) })
}

func insertRun(ctx context.Context, tx *sql.Tx, r *Run) error {
	var cursor string
	var from, to any
	if r.Window != nil {
		cursor, from, to = r.Window.Cursor, nullTime(r.Window.From), nullTime(r.Window.To)
	}
	sample, err := encodeSample(r.ErrorSample)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO runs (id, flow, trigger, status,
		records_read, records_filtered, records_written, records_failed, bytes_read, bytes_written,
		scheduled_at, started_at, finished_at, error, dead_letter, checkpoint, updated_at,
		window_cursor, window_from, window_to, error_sample)
		VALUES (?,?,?,?, ?,?,?,?,?,?, ?,?,?,?,?,?,?, ?,?,?, ?)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status,
		records_read = excluded.records_read, records_filtered = excluded.records_filtered,
		records_written = excluded.records_written, records_failed = excluded.records_failed,
		bytes_read = excluded.bytes_read, bytes_written = excluded.bytes_written,
		finished_at = excluded.finished_at, error = excluded.error, dead_letter = excluded.dead_letter,
		checkpoint = excluded.checkpoint, updated_at = excluded.updated_at, error_sample = excluded.error_sample`,
		r.ID, r.Flow, r.Trigger, string(r.Status),
		r.RecordsRead, r.RecordsFiltered, r.RecordsWritten, r.RecordsFailed, r.BytesRead, r.BytesWritten,
		nullTime(r.ScheduledAt), fmtTime(r.StartedAt), nullTime(r.FinishedAt), r.Error, r.DeadLetter, r.Checkpoint,
		fmtTime(r.UpdatedAt), cursor, from, to, sample)
	return err
}

// UpdateRun stores a running run's counters.
func (s *SQLite) UpdateRun(ctx context.Context, id string, st engine.Stats) error {
	return s.write(ctx, "update run "+id, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE runs SET records_read = ?, records_filtered = ?, records_written = ?,
			records_failed = ?, bytes_read = ?, bytes_written = ?, updated_at = ? WHERE id = ? AND status = ?`,
			st.RecordsRead, st.RecordsFiltered, st.RecordsWritten, st.RecordsFailed, st.BytesRead, st.BytesWritten,
			fmtTime(time.Now()), id, string(Running))
		return err
	})
}

// FinishRun stores a run's final state, inserting it if it is missing.
func (s *SQLite) FinishRun(ctx context.Context, r *Run) error {
	r.UpdatedAt = time.Now().UTC()
	return s.write(ctx, "finish run "+r.ID, func(tx *sql.Tx) error { return insertRun(ctx, tx, r) })
}

const runColumns = `id, flow, trigger, status, records_read, records_filtered, records_written, records_failed,
	bytes_read, bytes_written, scheduled_at, started_at, finished_at, error, dead_letter, checkpoint, updated_at,
	window_cursor, window_from, window_to, error_sample`

type scanner interface{ Scan(...any) error }

func scanRun(sc scanner) (*Run, error) {
	var r Run
	var status, cursor, sample string
	var sched, started, finished, updated, from, to sql.NullString
	err := sc.Scan(&r.ID, &r.Flow, &r.Trigger, &status, &r.RecordsRead, &r.RecordsFiltered, &r.RecordsWritten,
		&r.RecordsFailed, &r.BytesRead, &r.BytesWritten, &sched, &started, &finished, &r.Error, &r.DeadLetter,
		&r.Checkpoint, &updated, &cursor, &from, &to, &sample)
	if err != nil {
		return nil, err
	}
	if r.ErrorSample, err = decodeSample(r.ID, sample); err != nil {
		return nil, err
	}
	r.Status = RunStatus(status)
	r.ScheduledAt, r.StartedAt, r.FinishedAt, r.UpdatedAt = parseTime(sched), parseTime(started), parseTime(finished), parseTime(updated)
	if cursor != "" || from.Valid || to.Valid {
		r.Window = &Window{Cursor: cursor, From: parseTime(from), To: parseTime(to)}
	}
	return &r, nil
}

// Run returns one run, or ErrNotFound.
func (s *SQLite) Run(ctx context.Context, id string) (*Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap("read run "+id, err)
	}
	return r, nil
}

// Runs lists runs, newest first.
func (s *SQLite) Runs(ctx context.Context, f RunFilter) ([]*Run, error) {
	q := `SELECT ` + runColumns + ` FROM runs WHERE 1=1`
	var args []any
	if f.Flow != "" {
		q += ` AND flow = ?`
		args = append(args, f.Flow)
	}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, string(f.Status))
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q += ` ORDER BY started_at DESC, id DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.wrap("list runs", err)
	}
	defer rows.Close()
	var out []*Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, s.wrap("list runs", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list runs", err)
	}
	return out, nil
}

// AbandonRunning marks the runs a previous daemon left Running.
func (s *SQLite) AbandonRunning(ctx context.Context, at time.Time) ([]*Run, error) {
	var out []*Run
	err := s.write(ctx, "mark abandoned runs", func(tx *sql.Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE status = ?`, string(Running))
		if err != nil {
			return err
		}
		for rows.Next() {
			r, err := scanRun(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range out {
			r.Status, r.FinishedAt = Abandoned, at.UTC()
			r.Error = abandonedReason
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, finished_at = ?, error = ?, updated_at = ? WHERE id = ?`,
				string(Abandoned), fmtTime(at), r.Error, fmtTime(at), r.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Load implements engine.CheckpointStore.
func (s *SQLite) Load(ctx context.Context, flow string) ([]byte, error) {
	cp, err := s.Checkpoint(ctx, flow)
	if err != nil || cp == nil {
		return nil, err
	}
	return cp.Position, nil
}

// Save implements engine.CheckpointStore.
func (s *SQLite) Save(ctx context.Context, flow string, position []byte) error {
	return s.write(ctx, "save checkpoint of "+flow, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (flow, position, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (flow) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
			flow, append([]byte{}, position...), fmtTime(time.Now()))
		return err
	})
}

// Checkpoint returns a flow's checkpoint, or nil when it has none.
func (s *SQLite) Checkpoint(ctx context.Context, flow string) (*Checkpoint, error) {
	cp := &Checkpoint{Flow: flow}
	var updated sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT position, updated_at FROM checkpoints WHERE flow = ?`, flow).Scan(&cp.Position, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.wrap("load checkpoint of "+flow, err)
	}
	cp.UpdatedAt = parseTime(updated)
	return cp, nil
}

// Checkpoints lists every flow's checkpoint.
func (s *SQLite) Checkpoints(ctx context.Context) ([]*Checkpoint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT flow, position, updated_at FROM checkpoints ORDER BY flow`)
	if err != nil {
		return nil, s.wrap("list checkpoints", err)
	}
	defer rows.Close()
	var out []*Checkpoint
	for rows.Next() {
		cp := &Checkpoint{}
		var updated sql.NullString
		if err := rows.Scan(&cp.Flow, &cp.Position, &updated); err != nil {
			return nil, s.wrap("list checkpoints", err)
		}
		cp.UpdatedAt = parseTime(updated)
		out = append(out, cp)
	}
	return out, rows.Err()
}

// ResetCheckpoint forgets a flow's checkpoint and incremental watermark,
// so its next run starts from the beginning.
func (s *SQLite) ResetCheckpoint(ctx context.Context, flow string) error {
	return s.write(ctx, "reset checkpoint of "+flow, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM checkpoints WHERE flow = ?`, flow); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE flows SET watermark = NULL, updated_at = ? WHERE flow = ?`, fmtTime(time.Now()), flow)
		return err
	})
}

const flowColumns = `flow, active, consecutive_failures, reason, watermark, updated_at`

func scanFlow(sc scanner) (*FlowState, error) {
	var f FlowState
	var active int
	var wm, updated sql.NullString
	if err := sc.Scan(&f.Flow, &active, &f.ConsecutiveFailures, &f.Reason, &wm, &updated); err != nil {
		return nil, err
	}
	f.Active = active != 0
	f.Watermark, f.UpdatedAt = parseTime(wm), parseTime(updated)
	return &f, nil
}

// Flow returns a flow's state; one never recorded is active.
func (s *SQLite) Flow(ctx context.Context, flow string) (*FlowState, error) {
	f, err := scanFlow(s.db.QueryRowContext(ctx, `SELECT `+flowColumns+` FROM flows WHERE flow = ?`, flow))
	if errors.Is(err, sql.ErrNoRows) {
		return &FlowState{Flow: flow, Active: true}, nil
	}
	if err != nil {
		return nil, s.wrap("read flow "+flow, err)
	}
	return f, nil
}

// Flows lists every flow the store has a record of.
func (s *SQLite) Flows(ctx context.Context) ([]*FlowState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+flowColumns+` FROM flows ORDER BY flow`)
	if err != nil {
		return nil, s.wrap("list flows", err)
	}
	defer rows.Close()
	var out []*FlowState
	for rows.Next() {
		f, err := scanFlow(rows)
		if err != nil {
			return nil, s.wrap("list flows", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func ensureFlow(ctx context.Context, tx *sql.Tx, flow string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO flows (flow, updated_at) VALUES (?, ?) ON CONFLICT (flow) DO NOTHING`,
		flow, fmtTime(time.Now()))
	return err
}

// SetActive activates or deactivates a flow.
func (s *SQLite) SetActive(ctx context.Context, flow string, active bool, reason string) error {
	what := "deactivate " + flow
	if active {
		what, reason = "activate "+flow, ""
	}
	return s.write(ctx, what, func(tx *sql.Tx) error {
		if err := ensureFlow(ctx, tx, flow); err != nil {
			return err
		}
		q := `UPDATE flows SET active = 0, reason = ?, updated_at = ? WHERE flow = ?`
		if active {
			q = `UPDATE flows SET active = 1, reason = ?, consecutive_failures = 0, updated_at = ? WHERE flow = ?`
		}
		_, err := tx.ExecContext(ctx, q, reason, fmtTime(time.Now()), flow)
		return err
	})
}

// RecordOutcome updates the consecutive-failure count.
func (s *SQLite) RecordOutcome(ctx context.Context, flow string, failed bool) (int, error) {
	var n int
	err := s.write(ctx, "count failures of "+flow, func(tx *sql.Tx) error {
		if err := ensureFlow(ctx, tx, flow); err != nil {
			return err
		}
		q := `UPDATE flows SET consecutive_failures = 0, updated_at = ? WHERE flow = ? RETURNING consecutive_failures`
		if failed {
			q = `UPDATE flows SET consecutive_failures = consecutive_failures + 1, updated_at = ? WHERE flow = ? RETURNING consecutive_failures`
		}
		return tx.QueryRowContext(ctx, q, fmtTime(time.Now()), flow).Scan(&n)
	})
	return n, err
}

// SetWatermark sets where the next incremental window starts.
func (s *SQLite) SetWatermark(ctx context.Context, flow string, at time.Time) error {
	return s.write(ctx, "set watermark of "+flow, func(tx *sql.Tx) error {
		if err := ensureFlow(ctx, tx, flow); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE flows SET watermark = ?, updated_at = ? WHERE flow = ?`, nullTime(at), fmtTime(time.Now()), flow)
		return err
	})
}
