package rpc

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/sluice-dev/sluice/sdk"
	pb "github.com/sluice-dev/sluice/sdk/protocol/sluicev1"
)

// ProtocolVersion is the plugin protocol's major version. go-plugin
// negotiates it during the handshake; a plugin built for another major
// version is refused with a message naming both.
const ProtocolVersion = 1

// PluginKey is the name the connector is dispensed under.
const PluginKey = "connector"

// Handshake guards against running a plugin executable by hand: it exits
// with a message unless the engine set the cookie.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "SLUICE_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "f3c1c8de4b7a4e0f9d2a6b5e8c7a1d30",
}

// Plugin is go-plugin's view of a connector.
type Plugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is set on the plugin side only.
	Impl sdk.Connector
}

var _ plugin.GRPCPlugin = (*Plugin)(nil)

func (p *Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterConnectorServer(s, NewServer(p.Impl))
	return nil
}

func (p *Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return NewClient(pb.NewConnectorClient(cc)), nil
}

// VersionedPlugins is the plugin set for each protocol version this build
// speaks.
func VersionedPlugins(impl sdk.Connector) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginKey: &Plugin{Impl: impl}},
	}
}

// ServerOptions raises gRPC's 4 MiB receive default on the plugin side,
// which would refuse an ordinary multi-megabyte batch from the engine, and
// installs the codec that moves batches without copying them into
// messages.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(codec{}),
		grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.InitialWindowSize(windowSize), grpc.InitialConnWindowSize(windowSize),
		grpc.ReadBufferSize(bufferSize), grpc.WriteBufferSize(bufferSize),
	}
}

// Batches are megabytes; gRPC's flow-control window starts at 64 KiB and
// its I/O buffers at 32 KiB, sized for small RPCs. A window of a few
// batches keeps a stream from stalling on window updates between processes
// on one machine; a larger one only lets a fast sender park more data in
// the receiver's memory (32 MiB windows doubled a long flow's peak memory
// and moved it no faster).
const (
	windowSize = 4 << 20
	bufferSize = 1 << 20
)

// DialOptions sets the host side's limits to match.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
		grpc.WithInitialWindowSize(windowSize), grpc.WithInitialConnWindowSize(windowSize),
		grpc.WithReadBufferSize(bufferSize), grpc.WithWriteBufferSize(bufferSize),
	}
}
