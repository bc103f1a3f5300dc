package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// lockSession holds this daemon's advisory locks on one dedicated
// connection: when the daemon dies, PostgreSQL ends the session and every
// lock goes with it, which is what lets another daemon take over.
type lockSession struct {
	dsn string

	mu   sync.Mutex
	conn *pgx.Conn
	held map[string]int // key → holders in this process
	// lost is closed when the session breaks: every lock is gone.
	lost chan struct{}
}

// openLockSession connects the session. lease sets the server's TCP
// keepalives on it, so PostgreSQL itself ends the session of a daemon cut
// off for about that long (a killed process's session ends at once).
func openLockSession(ctx context.Context, dsn string, lease time.Duration) (*lockSession, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("lock session: %w", err)
	}
	secs := func(d time.Duration) string { return fmt.Sprint(max(int(d/time.Second), 1)) }
	cfg.RuntimeParams["tcp_keepalives_idle"] = secs(lease / 2)
	cfg.RuntimeParams["tcp_keepalives_interval"] = secs(lease / 6)
	cfg.RuntimeParams["tcp_keepalives_count"] = "3"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("lock session: %w", err)
	}
	return &lockSession{dsn: dsn, conn: conn, held: map[string]int{}, lost: make(chan struct{})}, nil
}

// alive reports whether another session holds key, by trying to take it
// (and giving it back at once).
func (l *lockSession) alive(ctx context.Context, key string) (bool, error) {
	release, ok, err := l.tryLock(ctx, key)
	if err != nil {
		return false, err
	}
	if ok {
		release()
		return false, nil
	}
	return true, nil
}

// errSessionLost says the lock session broke; its locks are gone.
var errSessionLost = errors.New("the cluster lock session was lost")

// tryLock takes the lock named key without waiting; ok is false when
// another session holds it.
func (l *lockSession) tryLock(ctx context.Context, key string) (release func(), ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil, false, errSessionLost
	}
	if l.held[key] > 0 {
		// Session locks stack within a session; one holder per key in
		// this process is the rule, so a second is refused like a
		// foreign one.
		return nil, false, nil
	}
	if err := l.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, key).Scan(&ok); err != nil {
		l.breakLocked()
		return nil, false, fmt.Errorf("lock %s: %w", key, err)
	}
	if !ok {
		return nil, false, nil
	}
	l.held[key] = 1
	var once sync.Once
	return func() { once.Do(func() { l.unlock(key) }) }, true, nil
}

func (l *lockSession) unlock(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[key] == 0 || l.conn == nil {
		return
	}
	delete(l.held, key)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key); err != nil {
		l.breakLocked()
	}
}

// ping checks the session; a broken one loses every lock.
func (l *lockSession) ping(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return errSessionLost
	}
	if err := l.conn.Ping(ctx); err != nil {
		l.breakLocked()
		return fmt.Errorf("%w: %w", errSessionLost, err)
	}
	return nil
}

func (l *lockSession) breakLocked() {
	if l.conn == nil {
		return
	}
	_ = l.conn.Close(context.Background())
	l.conn = nil
	l.held = map[string]int{}
	close(l.lost)
}

func (l *lockSession) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.breakLocked()
}
