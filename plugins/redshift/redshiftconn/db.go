package redshiftconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// session is one pinned database session: temp tables live in it, and a
// load's statements run in it in order. The wire transport is pgx; the
// Redshift Data API (dataapi.go) has no pinned session, so it also
// implements batcher and a load sends its transaction there whole.
type session interface {
	// Exec runs one statement without parameters (pgx then uses the simple
	// protocol: nothing is prepared, which Redshift prefers).
	Exec(ctx context.Context, sql string) error
	// Query runs one statement and returns every value as text; NULL reads
	// as "".
	Query(ctx context.Context, sql string) ([][]string, error)
	// CopyFrom runs COPY … FROM STDIN with r as the data and returns the
	// rows loaded.
	CopyFrom(ctx context.Context, r io.Reader, sql string) (int64, error)
	// Closed reports whether the connection is gone.
	Closed() bool
	Close(ctx context.Context) error
}

type wireSession struct{ conn *pgx.Conn }

// connect opens a pinned wire session on dsn, in UTC.
func connect(ctx context.Context, dsn string) (*wireSession, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", redactErr(err))
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s:%d: %w", cfg.Host, cfg.Port, redactErr(err))
	}
	s := &wireSession{conn: conn}
	if err := s.Exec(ctx, "SET timezone TO 'UTC'"); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return s, nil
}

// redactErr keeps a DSN's password out of messages: pgx's parse errors
// quote the whole string.
func redactErr(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return fmt.Errorf("cannot parse the DSN (%v)", pe.Unwrap())
	}
	return err
}

func (s *wireSession) Exec(ctx context.Context, sql string) error {
	_, err := s.conn.Exec(ctx, sql)
	return wrapSQL(ctx, err, sql)
}

func (s *wireSession) Query(ctx context.Context, sql string) ([][]string, error) {
	rows, err := s.conn.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return nil, wrapSQL(ctx, err, sql)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		raw := rows.RawValues()
		row := make([]string, len(raw))
		for i, v := range raw {
			row[i] = string(v)
		}
		out = append(out, row)
	}
	return out, wrapSQL(ctx, rows.Err(), sql)
}

func (s *wireSession) CopyFrom(ctx context.Context, r io.Reader, sql string) (int64, error) {
	tag, err := s.conn.PgConn().CopyFrom(ctx, r, sql)
	if err != nil {
		return 0, wrapSQL(ctx, err, sql)
	}
	return tag.RowsAffected(), nil
}

func (s *wireSession) Closed() bool { return s.conn.IsClosed() }

func (s *wireSession) Close(ctx context.Context) error { return s.conn.Close(ctx) }

// wrapSQL names the statement that failed (its first line) and keeps the
// context's error visible to errors.Is.
func wrapSQL(ctx context.Context, err error, sql string) error {
	if err == nil {
		return nil
	}
	first, _, _ := strings.Cut(sql, "\n")
	if len(first) > 120 {
		first = first[:120] + "…"
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%s: %w (%w)", first, cerr, err)
	}
	return fmt.Errorf("%s: %w", first, err)
}

// retryable reports a serialization conflict: PostgreSQL's 40001 and
// deadlock 40P01, and Redshift's "1023" serializable isolation violation,
// which arrives as SQLSTATE XX000.
func retryable(err error) bool {
	var de *dataAPIError
	if errors.As(err, &de) {
		return de.retryable()
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", "40P01":
		return true
	case "42P07":
		// Two loads creating the same missing table at once (parts of one
		// run on several daemons): the loser finds it there on retry.
		return true
	case "23505":
		// PostgreSQL's form of the same race for CREATE TABLE IF NOT EXISTS.
		return pe.ConstraintName == "pg_type_typname_nsp_index"
	case "XX000":
		return strings.HasPrefix(strings.TrimSpace(pe.Message), "1023") ||
			strings.Contains(pe.Message, "Serializable isolation violation")
	}
	return false
}
