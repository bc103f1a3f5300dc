package serve

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

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
