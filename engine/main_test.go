package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-dev/sluice/engine/pluginhost"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/rpc"
	"github.com/sluice-dev/sluice/sdk/sdktest"
	"github.com/sluice-dev/sluice/sdk/serve"
)

// The test binary doubles as a misbehaving plugin: started by a plugin
// host (which sets the handshake cookie), it serves faultConn, misbehaving
// as $SLUICE_FAULT_MODE says, instead of running tests.
func TestMain(m *testing.M) {
	if os.Getenv(rpc.Handshake.MagicCookieKey) == rpc.Handshake.MagicCookieValue {
		serve.Serve(&faultConn{mode: os.Getenv("SLUICE_FAULT_MODE")})
		return
	}
	if mode := os.Getenv(oneShotEnv); mode != "" {
		os.Exit(runOneShot(mode))
	}
	if dir := os.Getenv(orphanHostEnv); dir != "" {
		os.Exit(hostUntilKilled(dir))
	}
	dir, err := os.MkdirTemp("", "sluice-engine-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// pluginDir holds real plugin executables built for this test run.
var pluginDir string

// buildFilePlugin builds the shipped file connector once per test binary.
func buildFilePlugin(t testing.TB) string {
	t.Helper()
	exe := filepath.Join(pluginDir, "sluice-plugin-file")
	if _, err := os.Stat(exe); err == nil {
		return exe
	}
	cmd := exec.Command("go", "build", "-o", exe, "github.com/sluice-dev/sluice/plugins/file")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build file plugin: %v\n%s", err, out)
	}
	return exe
}

// faultPlugin links the test binary as sluice-plugin-fault.
func faultPlugin(t testing.TB) string {
	t.Helper()
	exe := filepath.Join(pluginDir, "sluice-plugin-fault")
	if _, err := os.Lstat(exe); err == nil {
		return exe
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, exe); err != nil {
		t.Fatal(err)
	}
	return exe
}

// logBuffer collects the host's log output.
type logBuffer struct{ strings.Builder }

// newHost returns a host that finds the test plugins, with a lock file
// trusting them.
func newHost(t testing.TB, logs *logBuffer) *pluginhost.Host {
	t.Helper()
	buildFilePlugin(t)
	faultPlugin(t)
	logger := hclog.NewNullLogger()
	if logs != nil {
		logger = hclog.New(&hclog.LoggerOptions{Name: "sluice", Output: logs, Level: hclog.Debug})
	}
	h := &pluginhost.Host{Logger: logger, SearchPath: []string{pluginDir}}
	lock, err := h.LockInstalled(context.Background(), filepath.Join(t.TempDir(), "sluice.lock.hcl"))
	if err != nil {
		t.Fatalf("lock test plugins: %v", err)
	}
	h.Close()
	h = &pluginhost.Host{Logger: logger, SearchPath: []string{pluginDir}, Lock: lock}
	t.Cleanup(h.Close)
	return h
}

// faultConn is a source that misbehaves on purpose.
type faultConn struct {
	sdk.Unimplemented
	mode string
}

func (f *faultConn) Spec() sdk.Spec {
	return sdk.Spec{Name: "fault", Version: "0.0.1", Capabilities: []sdk.Capability{sdk.CapSource}}
}
func (f *faultConn) Configure(context.Context, sdk.Values) sdk.Diagnostics { return nil }

// DescribeEntity names the entity "fault", or, asked for "pid", after the
// plugin's process id, so tests can tell which process served them.
func (f *faultConn) DescribeEntity(_ context.Context, req sdk.DescribeRequest) (sdk.Entity, error) {
	name := "fault"
	if req.Entity == "pid" {
		name = strconv.Itoa(os.Getpid())
	}
	return sdk.Entity{Name: name, Schema: sdktest.TenColumnSchema}, nil
}

func (f *faultConn) Read(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	send := func(i int) error {
		rec := sdktest.TenColumnBatch(i*100, 100)
		defer rec.Release()
		return out.Send(rec)
	}
	switch f.mode {
	case "crash":
		for i := 0; i < 3; i++ {
			if err := send(i); err != nil {
				return err
			}
		}
		time.Sleep(100 * time.Millisecond)
		os.Exit(3)
	case "hang":
		if err := send(0); err != nil {
			return err
		}
		select {} // stops answering, but stays alive
	case "slow":
		for i := 0; i < 10_000; i++ {
			if err := send(i); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	case "log":
		slog.Info("hello from the fault plugin", "batch_rows", 100)
		return send(0)
	}
	return nil
}

var _ sdk.Source = (*faultConn)(nil)
