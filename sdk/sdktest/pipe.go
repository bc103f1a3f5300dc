package sdktest

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluice-dev/sluice/sdk"
	pb "github.com/sluice-dev/sluice/sdk/protocol/sluicev1"
	"github.com/sluice-dev/sluice/sdk/rpc"
)

// Pipe serves c over gRPC on a unix socket, the transport go-plugin uses,
// and returns a client for it. Everything is torn down when t ends.
func Pipe(t testing.TB, c sdk.Connector) *rpc.Client {
	t.Helper()
	client := rpc.NewClient(pb.NewConnectorClient(Dial(t, rpc.NewServer(c), rpc.ServerOptions()...)))
	client.Name = c.Spec().Name
	return client
}

// Dial serves s, a protocol server (rpc.NewServer's or one made by hand),
// on a unix socket with the server options opts, and returns a connection
// to it dialled as the engine dials plugins. Everything is torn down when
// t ends. Pipe is the usual way in; Dial is for tests of the wire itself.
func Dial(t testing.TB, s pb.ConnectorServer, opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	dir, err := os.MkdirTemp("", "sluice-sdktest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "plugin.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	pb.RegisterConnectorServer(srv, s)
	go srv.Serve(lis)
	cc, err := grpc.NewClient("unix://"+sock, append(rpc.DialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cc.Close()
		srv.Stop()
	})
	return cc
}
