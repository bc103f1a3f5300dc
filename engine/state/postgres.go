package state

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-dev/sluice/engine"
)

// Postgres is the store several daemons (or a daemon and the CLI on
// another machine) can share: one PostgreSQL database, reached through a
// connection pool.
//
// It holds the same tables as [SQLite], created by the same numbered
// migrations (adapted to PostgreSQL's types: timestamptz, bytea, bigint,
// boolean). Migrations run in one transaction under a transaction-level
// advisory lock, so daemons that start together apply each migration
// once and the others wait, then find the schema current.
//
// Times are stored with PostgreSQL's microsecond precision. Statements
// wait at most Options.BusyTimeout for a lock another session holds
// (lock_timeout); a statement that fails because a lock was not granted,
// a serialization failure or deadlock, or a connection that cannot be
// made or is lost, is tried again Options.Retries times with backoff,
// then fails with an error wrapping [ErrUnavailable] that names
// host:port and database — never the password.
type Postgres struct {
	pool *pgxpool.Pool
	// where names the server for error messages: host:port/database.
	where    string
	opts     Options
	password string
}

var _ Store = (*Postgres)(nil)

// migrationLockKey is the advisory lock key migrations take: "sluice" in
// ASCII, so it does not collide with another application's keys by chance.
const migrationLockKey int64 = 0x736c75696365

// pgMigrations are the PostgreSQL versions of migrations, number for
// number. Never edit one that has shipped: append a new one to both lists.
var pgMigrations = []string{
	// 1: runs, checkpoints, flows.
	`CREATE TABLE runs (
		id               TEXT PRIMARY KEY,
		flow             TEXT NOT NULL,
		trigger          TEXT NOT NULL,
		status           TEXT NOT NULL,
		records_read     BIGINT NOT NULL DEFAULT 0,
		records_filtered BIGINT NOT NULL DEFAULT 0,
		records_written  BIGINT NOT NULL DEFAULT 0,
		records_failed   BIGINT NOT NULL DEFAULT 0,
		bytes_read       BIGINT NOT NULL DEFAULT 0,
		bytes_written    BIGINT NOT NULL DEFAULT 0,
		scheduled_at     TIMESTAMPTZ,
		started_at       TIMESTAMPTZ NOT NULL,
		finished_at      TIMESTAMPTZ,
		error            TEXT NOT NULL DEFAULT '',
		dead_letter      TEXT NOT NULL DEFAULT '',
		checkpoint       BYTEA,
		updated_at       TIMESTAMPTZ NOT NULL
	);
	CREATE INDEX runs_flow_started ON runs (flow, started_at);
	CREATE INDEX runs_status ON runs (status);
	CREATE TABLE checkpoints (
		flow       TEXT PRIMARY KEY,
		position   BYTEA NOT NULL,
		updated_at TIMESTAMPTZ NOT NULL
	);
	CREATE TABLE flows (
		flow                 TEXT PRIMARY KEY,
		active               BOOLEAN NOT NULL DEFAULT TRUE,
		consecutive_failures INTEGER NOT NULL DEFAULT 0,
		reason               TEXT NOT NULL DEFAULT '',
		updated_at           TIMESTAMPTZ NOT NULL
	);`,
	// 2: incremental pulls.
	`ALTER TABLE runs ADD COLUMN window_cursor TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN window_from TIMESTAMPTZ;
	ALTER TABLE runs ADD COLUMN window_to TIMESTAMPTZ;
	ALTER TABLE flows ADD COLUMN watermark TIMESTAMPTZ;`,
	// 3: a sample of each run's refused records, as a JSON array ('' for none).
	`ALTER TABLE runs ADD COLUMN error_sample TEXT NOT NULL DEFAULT '';`,
}

// IsPostgresURL reports whether a --state value names a PostgreSQL database.
func IsPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Redact returns dsn with the password of a URL replaced by "xxxxx", for
// logs and messages. A SQLite path is returned as it is.
func Redact(dsn string) string {
	if !IsPostgresURL(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparseable URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// OpenPostgres connects to the database a postgres:// URL names, waiting
// for it with retries, and brings its schema up to date.
func OpenPostgres(ctx context.Context, dsn string, opts Options) (*Postgres, error) {
	opts.defaults()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors redact the password; say which URL anyway.
		return nil, fmt.Errorf("state store %s: invalid PostgreSQL URL: %v", Redact(dsn), scrub(err.Error(), dsn))
	}
	cc := cfg.ConnConfig
	where := net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))) + "/" + cc.Database
	if strings.HasPrefix(cc.Host, "/") {
		where = cc.Host + " (unix socket, port " + strconv.Itoa(int(cc.Port)) + ")/" + cc.Database
	}
	if cc.ConnectTimeout == 0 || cc.ConnectTimeout > opts.BusyTimeout {
		cc.ConnectTimeout = opts.BusyTimeout
	}
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	// A lock held by another session fails the statement after this long,
	// and write retries it: the PostgreSQL twin of SQLite's busy_timeout.
	cc.RuntimeParams["lock_timeout"] = strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "sluice"
	}
	if cfg.MaxConns > 8 {
		cfg.MaxConns = 8
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("state store PostgreSQL at %s: %v", where, scrub(err.Error(), cc.Password))
	}
	s := &Postgres{pool: pool, where: where, opts: opts, password: cc.Password}
	if err := s.do(ctx, "connect", func(ctx context.Context) error { return pool.Ping(ctx) }); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// scrub removes a secret from a message, in case a driver quoted it.
func scrub(msg, secret string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "xxxxx")
}

// Where is the server and database: host:port/database.
func (s *Postgres) Where() string { return s.where }

// Close closes the pool.
func (s *Postgres) Close() error {
	s.pool.Close()
	return nil
}

func (s *Postgres) migrate(ctx context.Context) error {
	var have int
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err == nil && have == len(pgMigrations) {
		return nil
	}
	return s.write(ctx, "migrate the schema", func(tx pgx.Tx) error {
		// Held until the transaction ends: a second daemon starting now
		// waits here, then sees the migrations applied.
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = 0`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at TIMESTAMPTZ NOT NULL)`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
			return err
		}
		if have > len(pgMigrations) {
			return fmt.Errorf("the database is at schema version %d, newer than this sluice knows (%d); upgrade sluice", have, len(pgMigrations))
		}
		for v := have + 1; v <= len(pgMigrations); v++ {
			if _, err := tx.Exec(ctx, pgMigrations[v-1]); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, v, time.Now().UTC()); err != nil {
				return err
			}
		}
		return nil
	})
}

// AppliedMigrations lists the versions recorded in schema_migrations.
func (s *Postgres) AppliedMigrations(ctx context.Context) ([]int, error) {
	var out []int
	err := s.do(ctx, "read migrations", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[int])
		return err
	})
	return out, err
}

// transient reports whether err may go away when tried again: a lock not
// granted, a serialization failure or deadlock, a server starting or
// shutting down, or a connection that could not be made or was lost.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "55P03", // lock_not_available
			"40001", // serialization_failure
			"40P01", // deadlock_detected
			"53300", // too_many_connections
			"57P01", // admin_shutdown
			"57P02", // crash_shutdown
			"57P03": // cannot_connect_now
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection exceptions
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "unexpected EOF")
}

func lockErr(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "55P03" || pe.Code == "40P01" || pe.Code == "40001")
}

// do runs fn, trying again with backoff while the error is transient.
func (s *Postgres) do(ctx context.Context, what string, fn func(context.Context) error) error {
	delay := s.opts.RetryDelay
	var err error
	start := time.Now()
	attempts := 0
	for attempt := 0; attempt <= s.opts.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return fmt.Errorf("state store PostgreSQL at %s: %s: %w (%v)", s.where, what, ctx.Err(), s.scrub(err))
			}
			delay *= 2
		}
		attempts++
		err = fn(ctx)
		if !transient(err) {
			break
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return err
	case transient(err) && lockErr(err):
		return fmt.Errorf("%w: PostgreSQL at %s: %s: the database is locked by another process (tried %d times over %s): %v",
			ErrUnavailable, s.where, what, attempts, time.Since(start).Round(time.Millisecond), s.scrub(err))
	case transient(err):
		return fmt.Errorf("%w: cannot reach PostgreSQL at %s: %s (tried %d times over %s): %v",
			ErrUnavailable, s.where, what, attempts, time.Since(start).Round(time.Millisecond), s.scrub(err))
	}
	return fmt.Errorf("state store PostgreSQL at %s: %s: %v", s.where, what, s.scrub(err))
}

func (s *Postgres) scrub(err error) string {
	if err == nil {
		return ""
	}
	return scrub(err.Error(), s.password)
}

// write runs fn in a transaction, retrying it whole on a transient error.
func (s *Postgres) write(ctx context.Context, what string, fn func(pgx.Tx) error) error {
	return s.do(ctx, what, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, fn)
	})
}

func pgTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func fromPG(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// CreateRun records a started run.
func (s *Postgres) CreateRun(ctx context.Context, r *Run) error {
	if r.Status == "" {
		r.Status = Running
	}
	r.UpdatedAt = time.Now().UTC()
	return s.write(ctx, "record run "+r.ID, func(tx pgx.Tx) error { return pgInsertRun(ctx, tx, r) })
}

func pgInsertRun(ctx context.Context, tx pgx.Tx, r *Run) error {
	var cursor string
	var from, to any
	if r.Window != nil {
		cursor, from, to = r.Window.Cursor, pgTime(r.Window.From), pgTime(r.Window.To)
	}
	sample, err := encodeSample(r.ErrorSample)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO runs (id, flow, trigger, status,
		records_read, records_filtered, records_written, records_failed, bytes_read, bytes_written,
		scheduled_at, started_at, finished_at, error, dead_letter, checkpoint, updated_at,
		window_cursor, window_from, window_to, error_sample)
		VALUES ($1,$2,$3,$4, $5,$6,$7,$8,$9,$10, $11,$12,$13,$14,$15,$16,$17, $18,$19,$20, $21)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status,
		records_read = excluded.records_read, records_filtered = excluded.records_filtered,
		records_written = excluded.records_written, records_failed = excluded.records_failed,
		bytes_read = excluded.bytes_read, bytes_written = excluded.bytes_written,
		finished_at = excluded.finished_at, error = excluded.error, dead_letter = excluded.dead_letter,
		checkpoint = excluded.checkpoint, updated_at = excluded.updated_at, error_sample = excluded.error_sample`,
		r.ID, r.Flow, r.Trigger, string(r.Status),
		r.RecordsRead, r.RecordsFiltered, r.RecordsWritten, r.RecordsFailed, r.BytesRead, r.BytesWritten,
		pgTime(r.ScheduledAt), r.StartedAt.UTC(), pgTime(r.FinishedAt), r.Error, r.DeadLetter, r.Checkpoint,
		r.UpdatedAt.UTC(), cursor, from, to, sample)
	return err
}

// UpdateRun stores a running run's counters.
func (s *Postgres) UpdateRun(ctx context.Context, id string, st engine.Stats) error {
	return s.write(ctx, "update run "+id, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE runs SET records_read = $1, records_filtered = $2, records_written = $3,
			records_failed = $4, bytes_read = $5, bytes_written = $6, updated_at = $7 WHERE id = $8 AND status = $9`,
			st.RecordsRead, st.RecordsFiltered, st.RecordsWritten, st.RecordsFailed, st.BytesRead, st.BytesWritten,
			time.Now().UTC(), id, string(Running))
		return err
	})
}

// FinishRun stores a run's final state, inserting it if it is missing.
func (s *Postgres) FinishRun(ctx context.Context, r *Run) error {
	r.UpdatedAt = time.Now().UTC()
	return s.write(ctx, "finish run "+r.ID, func(tx pgx.Tx) error { return pgInsertRun(ctx, tx, r) })
}

func pgScanRun(sc pgx.Row) (*Run, error) {
	var r Run
	var status, cursor, sample string
	var sched, finished, from, to *time.Time
	var started, updated time.Time
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
	r.ScheduledAt, r.StartedAt, r.FinishedAt, r.UpdatedAt = fromPG(sched), started.UTC(), fromPG(finished), updated.UTC()
	if cursor != "" || from != nil || to != nil {
		r.Window = &Window{Cursor: cursor, From: fromPG(from), To: fromPG(to)}
	}
	return &r, nil
}

// Run returns one run, or ErrNotFound.
func (s *Postgres) Run(ctx context.Context, id string) (*Run, error) {
	var r *Run
	err := s.do(ctx, "read run "+id, func(ctx context.Context) (err error) {
		r, err = pgScanRun(s.pool.QueryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	return r, err
}

func (s *Postgres) queryRuns(ctx context.Context, q pgx.Tx, sql string, args ...any) ([]*Run, error) {
	var rows pgx.Rows
	var err error
	if q != nil {
		rows, err = q.Query(ctx, sql, args...)
	} else {
		rows, err = s.pool.Query(ctx, sql, args...)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Run
	for rows.Next() {
		r, err := pgScanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Runs lists runs, newest first.
func (s *Postgres) Runs(ctx context.Context, f RunFilter) ([]*Run, error) {
	q := `SELECT ` + runColumns + ` FROM runs WHERE TRUE`
	var args []any
	if f.Flow != "" {
		args = append(args, f.Flow)
		q += fmt.Sprintf(` AND flow = $%d`, len(args))
	}
	if f.Status != "" {
		args = append(args, string(f.Status))
		q += fmt.Sprintf(` AND status = $%d`, len(args))
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	args = append(args, f.Limit)
	q += fmt.Sprintf(` ORDER BY started_at DESC, id DESC LIMIT $%d`, len(args))
	var out []*Run
	err := s.do(ctx, "list runs", func(ctx context.Context) (err error) {
		out, err = s.queryRuns(ctx, nil, q, args...)
		return err
	})
	return out, err
}

// AbandonRunning marks the runs a previous daemon left Running.
func (s *Postgres) AbandonRunning(ctx context.Context, at time.Time) ([]*Run, error) {
	var out []*Run
	err := s.write(ctx, "mark abandoned runs", func(tx pgx.Tx) error {
		var err error
		out, err = s.queryRuns(ctx, tx, `SELECT `+runColumns+` FROM runs WHERE status = $1 FOR UPDATE`, string(Running))
		if err != nil {
			return err
		}
		for _, r := range out {
			r.Status, r.FinishedAt = Abandoned, at.UTC()
			r.Error = abandonedReason
			if _, err := tx.Exec(ctx, `UPDATE runs SET status = $1, finished_at = $2, error = $3, updated_at = $4 WHERE id = $5`,
				string(Abandoned), at.UTC(), r.Error, at.UTC(), r.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Load implements engine.CheckpointStore.
func (s *Postgres) Load(ctx context.Context, flow string) ([]byte, error) {
	cp, err := s.Checkpoint(ctx, flow)
	if err != nil || cp == nil {
		return nil, err
	}
	return cp.Position, nil
}

// Save implements engine.CheckpointStore.
func (s *Postgres) Save(ctx context.Context, flow string, position []byte) error {
	return s.write(ctx, "save checkpoint of "+flow, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO checkpoints (flow, position, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (flow) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
			flow, append([]byte{}, position...), time.Now().UTC())
		return err
	})
}

// Checkpoint returns a flow's checkpoint, or nil when it has none.
func (s *Postgres) Checkpoint(ctx context.Context, flow string) (*Checkpoint, error) {
	cp := &Checkpoint{Flow: flow}
	err := s.do(ctx, "load checkpoint of "+flow, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT position, updated_at FROM checkpoints WHERE flow = $1`, flow).Scan(&cp.Position, &cp.UpdatedAt)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cp.UpdatedAt = cp.UpdatedAt.UTC()
	return cp, nil
}

// Checkpoints lists every flow's checkpoint.
func (s *Postgres) Checkpoints(ctx context.Context) ([]*Checkpoint, error) {
	var out []*Checkpoint
	err := s.do(ctx, "list checkpoints", func(ctx context.Context) error {
		out = nil
		rows, err := s.pool.Query(ctx, `SELECT flow, position, updated_at FROM checkpoints ORDER BY flow`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			cp := &Checkpoint{}
			if err := rows.Scan(&cp.Flow, &cp.Position, &cp.UpdatedAt); err != nil {
				return err
			}
			cp.UpdatedAt = cp.UpdatedAt.UTC()
			out = append(out, cp)
		}
		return rows.Err()
	})
	return out, err
}

// ResetCheckpoint forgets a flow's checkpoint and incremental watermark.
func (s *Postgres) ResetCheckpoint(ctx context.Context, flow string) error {
	return s.write(ctx, "reset checkpoint of "+flow, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM checkpoints WHERE flow = $1`, flow); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE flows SET watermark = NULL, updated_at = $1 WHERE flow = $2`, time.Now().UTC(), flow)
		return err
	})
}

func pgScanFlow(sc pgx.Row) (*FlowState, error) {
	var f FlowState
	var wm *time.Time
	if err := sc.Scan(&f.Flow, &f.Active, &f.ConsecutiveFailures, &f.Reason, &wm, &f.UpdatedAt); err != nil {
		return nil, err
	}
	f.Watermark, f.UpdatedAt = fromPG(wm), f.UpdatedAt.UTC()
	return &f, nil
}

// Flow returns a flow's state; one never recorded is active.
func (s *Postgres) Flow(ctx context.Context, flow string) (*FlowState, error) {
	var f *FlowState
	err := s.do(ctx, "read flow "+flow, func(ctx context.Context) (err error) {
		f, err = pgScanFlow(s.pool.QueryRow(ctx, `SELECT `+flowColumns+` FROM flows WHERE flow = $1`, flow))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return &FlowState{Flow: flow, Active: true}, nil
	}
	return f, err
}

// Flows lists every flow the store has a record of.
func (s *Postgres) Flows(ctx context.Context) ([]*FlowState, error) {
	var out []*FlowState
	err := s.do(ctx, "list flows", func(ctx context.Context) error {
		out = nil
		rows, err := s.pool.Query(ctx, `SELECT `+flowColumns+` FROM flows ORDER BY flow`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			f, err := pgScanFlow(rows)
			if err != nil {
				return err
			}
			out = append(out, f)
		}
		return rows.Err()
	})
	return out, err
}

func pgEnsureFlow(ctx context.Context, tx pgx.Tx, flow string) error {
	_, err := tx.Exec(ctx, `INSERT INTO flows (flow, updated_at) VALUES ($1, $2) ON CONFLICT (flow) DO NOTHING`,
		flow, time.Now().UTC())
	return err
}

// SetActive activates or deactivates a flow.
func (s *Postgres) SetActive(ctx context.Context, flow string, active bool, reason string) error {
	what := "deactivate " + flow
	if active {
		what, reason = "activate "+flow, ""
	}
	return s.write(ctx, what, func(tx pgx.Tx) error {
		if err := pgEnsureFlow(ctx, tx, flow); err != nil {
			return err
		}
		q := `UPDATE flows SET active = FALSE, reason = $1, updated_at = $2 WHERE flow = $3`
		if active {
			q = `UPDATE flows SET active = TRUE, reason = $1, consecutive_failures = 0, updated_at = $2 WHERE flow = $3`
		}
		_, err := tx.Exec(ctx, q, reason, time.Now().UTC(), flow)
		return err
	})
}

// RecordOutcome updates the consecutive-failure count.
func (s *Postgres) RecordOutcome(ctx context.Context, flow string, failed bool) (int, error) {
	var n int
	err := s.write(ctx, "count failures of "+flow, func(tx pgx.Tx) error {
		if err := pgEnsureFlow(ctx, tx, flow); err != nil {
			return err
		}
		q := `UPDATE flows SET consecutive_failures = 0, updated_at = $1 WHERE flow = $2 RETURNING consecutive_failures`
		if failed {
			q = `UPDATE flows SET consecutive_failures = consecutive_failures + 1, updated_at = $1 WHERE flow = $2 RETURNING consecutive_failures`
		}
		return tx.QueryRow(ctx, q, time.Now().UTC(), flow).Scan(&n)
	})
	return n, err
}

// SetWatermark sets where the next incremental window starts.
func (s *Postgres) SetWatermark(ctx context.Context, flow string, at time.Time) error {
	return s.write(ctx, "set watermark of "+flow, func(tx pgx.Tx) error {
		if err := pgEnsureFlow(ctx, tx, flow); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE flows SET watermark = $1, updated_at = $2 WHERE flow = $3`, pgTime(at), time.Now().UTC(), flow)
		return err
	})
}
