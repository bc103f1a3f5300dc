package s3test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/sdk"
)

// Version is the versitygw release the tests run against.
const Version = "v1.8.0"

const module = "github.com/versity/versitygw/cmd/versitygw"

// Static root credentials of every server this package starts.
const (
	AccessKey = "sluice-test-access"
	SecretKey = "sluice-test-secret-0123456789"
	Region    = "us-east-1"
)

// Server is one running versitygw.
type Server struct {
	// Endpoint is the base URL, http://127.0.0.1:<port>.
	Endpoint string
	// Dir is the posix backend's root: each directory is a bucket.
	Dir string

	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

var (
	shared   *Server
	startErr error
)

// Main starts the package's server, runs the tests and stops it; call it
// as os.Exit(s3test.Main(m)) from TestMain.
func Main(m *testing.M) int {
	srv, err := Start()
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "s3test: %v\n", err)
			return 1
		}
		startErr = err
	} else {
		shared = srv
		defer srv.Stop()
	}
	return m.Run()
}

// Get returns the package's server, or skips t when there is none.
func Get(t testing.TB) *Server {
	t.Helper()
	if shared == nil {
		if startErr == nil {
			startErr = errors.New("s3test.Main was not called from TestMain")
		}
		t.Skipf("no S3 server: %v", startErr)
	}
	return shared
}

var buildMu sync.Mutex

// Binary returns the path of the versitygw executable, building it first
// if the cache does not hold it.
func Binary() (string, error) {
	if p := os.Getenv("SLUICE_VERSITYGW"); p != "" {
		return p, nil
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "sluice", "versitygw-"+Version)
	bin := filepath.Join(dir, "versitygw")
	if info, err := os.Stat(bin); err == nil && info.Mode().IsRegular() {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// go install pkg@version builds in module mode outside any module, so
	// this repository's go.mod is neither read nor touched. Another test
	// process may build at the same time: each builds into its own
	// directory and renames, so the last one wins with a whole binary.
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", module+"@"+Version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building versitygw %s failed: %v\n%s", Version, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "versitygw"), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// Start builds (if needed) and starts a server on a fresh directory. Stop
// ends it and removes the directory.
func Start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sluice-s3test-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s := &Server{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), Dir: dir, done: make(chan struct{}), log: &bytes.Buffer{}}
		s.cmd = exec.Command(bin, "--port", "127.0.0.1:"+strconv.Itoa(port),
			"--access", AccessKey, "--secret", SecretKey, "--region", Region, "--quiet",
			"posix", dir)
		s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID=", "ROOT_SECRET_ACCESS_KEY=")
		s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := s.cmd.Start(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("start versitygw: %w", err)
		}
		go func() { s.cmd.Wait(); close(s.done) }()
		if err := s.wait(15 * time.Second); err != nil {
			lastErr = err
			s.kill()
			continue
		}
		return s, nil
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// wait polls until the server answers HTTP (any status: an anonymous
// request is refused, which proves it is up).
func (s *Server) wait(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("versitygw exited at start: %s", s.log.String())
		default:
		}
		resp, err := client.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("versitygw did not answer on %s within %s: %s", s.Endpoint, limit, s.log.String())
}

func (s *Server) kill() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
}

// Stop ends the server and removes its data.
func (s *Server) Stop() {
	s.kill()
	os.RemoveAll(s.Dir)
}

// CPUTime is the CPU the server process has used so far (user and
// system), read from /proc: benchmarks charge each copy its share of the
// server's work, which on a small machine competes with the client's.
// It is zero where /proc is not available.
func (s *Server) CPUTime() time.Duration {
	if s.cmd.Process == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The command name, field 2, may hold spaces; the fields after it
	// start past its closing parenthesis. utime and stime are fields 14
	// and 15, in clock ticks (USER_HZ, 100 on Linux).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// Config is a connection block for this server, for s3conn's Configure.
func (s *Server) Config() sdk.Values { return ConfigFor(s.Endpoint) }

// ConfigFor is a connection block with the test credentials for endpoint
// (the server's, or a Proxy's).
func ConfigFor(endpoint string) sdk.Values {
	return sdk.Values{"endpoint": endpoint, "region": Region, "access_key_id": AccessKey,
		"secret_access_key": SecretKey, "max_attempts": int64(4), "retry_max_backoff": "200ms"}
}

// Client is a plain aws-sdk-go-v2 client for the server, for tests that
// arrange or inspect objects directly.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		// Bulk arrangement in tests should not give up on a busy server.
		RetryMaxAttempts:           5,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// NewBucket creates an empty bucket with a name unique to this server and
// returns its name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	bucketMu.Lock()
	bucketSeq++
	name := fmt.Sprintf("sluice-%04d-%06d", bucketSeq, time.Now().UnixNano()%1e6)
	bucketMu.Unlock()
	if _, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

var (
	bucketMu  sync.Mutex
	bucketSeq int
)

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
