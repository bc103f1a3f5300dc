package serve

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/rpc"
)

// Serve runs c as a plugin until the engine disconnects. Run by hand, it
// prints what the executable is and exits.
func Serve(c sdk.Connector) {
	if os.Getenv(rpc.Handshake.MagicCookieKey) != rpc.Handshake.MagicCookieValue {
		spec := c.Spec()
		fmt.Fprintf(os.Stderr, "%s %s is a sluice connector plugin; sluice starts it when a flow needs it.\n", spec.Name, spec.Version)
		os.Exit(1)
	}
	slog.SetDefault(slog.New(NewLogHandler(os.Stderr, slog.LevelDebug)))
	if os.Getenv("GOGC") == "" {
		tuneGC()
	}
	defer startProfile()()
	exitWithEngine(time.Second)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  rpc.Handshake,
		VersionedPlugins: rpc.VersionedPlugins(c),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, rpc.ServerOptions()...)...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: c.Spec().Name, Output: os.Stderr, JSONFormat: true, Level: hclog.Debug,
		}),
	})
}

// exitWithEngine ends the plugin once the process that started it is
// gone, checking every interval. go-plugin does not notice: its server
// waits for a Shutdown call that a killed engine never makes, and a daemon
// keeps plugins running between runs, so a plugin would otherwise outlive
// a crashed daemon for good. An orphan is adopted by another process,
// which changes its parent pid (not on Windows, which does not reparent).
func exitWithEngine(interval time.Duration) {
	if runtime.GOOS == "windows" {
		return
	}
	engine := os.Getppid()
	go func() {
		for range time.Tick(interval) {
			if os.Getppid() != engine {
				slog.Error("the sluice process that started this plugin is gone; exiting", "engine_pid", engine)
				os.Exit(2)
			}
		}
	}()
}

// startProfile writes a CPU profile of the plugin process to
// $SLUICE_PLUGIN_CPUPROFILE, with "%p" replaced by the process id, until
// Serve returns: the engine's own -cpuprofile cannot see the half of a
// flow that runs in plugin processes. The host ends a plugin with a
// Shutdown call before it kills it, so Serve returns and the profile is
// complete.
func startProfile() (stop func()) {
	path := os.Getenv("SLUICE_PLUGIN_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	path = strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))
	f, err := os.Create(path)
	if err != nil {
		slog.Warn("cannot write CPU profile", "path", path, "error", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		slog.Warn("cannot start CPU profile", "path", path, "error", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		if mp, err := os.Create(path + ".mem"); err == nil {
			pprof.Lookup("allocs").WriteTo(mp, 0)
			mp.Close()
		}
	}
}

// NewLogHandler returns a slog handler writing the JSON lines go-plugin's
// host understands (@level, @message, @timestamp, then attributes).
func NewLogHandler(w *os.File, level slog.Level) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				// go-plugin's host parses exactly this layout; any other
				// and the line is passed on as unparsed text.
				a.Key = "@timestamp"
				a.Value = slog.StringValue(a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.LevelKey:
				a.Key = "@level"
				a.Value = slog.StringValue(strings.ToLower(a.Value.String()))
			case slog.MessageKey:
				a.Key = "@message"
			}
			return a
		},
	})
}
