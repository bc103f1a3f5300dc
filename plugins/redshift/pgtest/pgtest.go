package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// MissingMessage is what tests say when the server binaries are missing.
const MissingMessage = "install PostgreSQL server binaries: apt-get install -y postgresql"

// Cluster is one running PostgreSQL cluster.
type Cluster struct {
	// Host and Port are where it listens (TCP, 127.0.0.1).
	Host string
	Port int
	// Dir holds the data directory, the socket directory and the log.
	Dir string

	bin    string
	asUser string // "postgres" when running as root, else ""
}

var (
	shared   *Cluster
	startErr error
	dbSeq    atomic.Int64
)

// Main starts the cluster, runs the tests and stops it; use it as
// os.Exit(pgtest.Main(m)) in TestMain. When the binaries are missing or the
// cluster does not start, the tests still run: NewDatabase reports why.
func Main(m *testing.M) int {
	shared, startErr = Start()
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop: %v\n", err)
		}
	}
	return code
}

// Available reports whether the shared cluster is running.
func Available() bool { return shared != nil }

// Shared returns the cluster Main started, or skips (fails with CI=true)
// the test when there is none.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	if shared == nil {
		unavailable(t, startErr)
	}
	return shared
}

// NewDatabase creates a fresh database on the shared cluster and returns a
// postgres:// DSN for it. The database is dropped when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return Shared(t).NewDatabase(t)
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	msg := MissingMessage
	if err != nil && !errors.Is(err, ErrNoBinaries) {
		msg = fmt.Sprintf("PostgreSQL did not start: %v", err)
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// ErrNoBinaries says initdb, pg_ctl or postgres could not be found.
var ErrNoBinaries = errors.New(MissingMessage)

// FindBinaries returns the directory holding initdb, pg_ctl and postgres.
func FindBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dir := filepath.Dir(real)
			if hasAll(dir) {
				return dir, nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if hasAll(d) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func hasAll(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

// Start initialises and starts a new cluster in a temporary directory.
func Start() (*Cluster, error) {
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Host: "127.0.0.1", bin: bin}
	if os.Geteuid() == 0 {
		c.asUser = "postgres"
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	c.Dir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	if c.asUser != "" {
		u, err := user.Lookup(c.asUser)
		if err != nil {
			return nil, fmt.Errorf("running as root needs the %s system user: %w", c.asUser, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	if err := c.run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := c.run("sh", "-c", "mkdir -p "+shellQuote(sock)); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		c.Port = port
		opts := strings.Join([]string{
			"-c listen_addresses=127.0.0.1", "-p " + strconv.Itoa(port), "-k " + sock,
			"-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
			"-c shared_buffers=256MB", "-c max_wal_size=4GB", "-c max_connections=200",
			"-c timezone=UTC",
		}, " ")
		lastErr = c.run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "postgres.log"), "-o", opts, "-w", "-t", "60", "start")
		if lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w\n%s", lastErr, log)
	}
	return c, nil
}

// Stop stops the cluster and removes its directory.
func (c *Cluster) Stop() error {
	err := c.run("pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-m", "fast", "-w", "stop")
	os.RemoveAll(c.Dir)
	return err
}

// DSN is the URL of database db as the superuser postgres.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s:%d/%s?sslmode=disable", c.Host, c.Port, db)
}

// NewDatabase creates a fresh database and returns its DSN; it is dropped
// when t ends.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Exec(ctx, "postgres", "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	return c.DSN(name)
}

// Exec runs sql in database db.
func (c *Cluster) Exec(ctx context.Context, db, sql string) error {
	conn, err := pgx.Connect(ctx, c.DSN(db))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func (c *Cluster) run(name string, args ...string) error {
	path := name
	if name != "sh" {
		path = filepath.Join(c.bin, name)
	}
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
