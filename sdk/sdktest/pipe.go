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
	srv := grpc.NewServer(rpc.ServerOptions()...)
	pb.RegisterConnectorServer(srv, rpc.NewServer(c))
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
	client := rpc.NewClient(pb.NewConnectorClient(cc))
	client.Name = c.Spec().Name
	return client
}
