package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sluice-dev/sluice/sdk"
	pb "github.com/sluice-dev/sluice/sdk/protocol/sluicev1"
	"github.com/sluice-dev/sluice/sdk/rpc"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

// TestPartitionsCrossTheWire: the request reaches the plugin whole, the
// answer comes back whole, and a Read carries a partition's spec.
func TestPartitionsCrossTheWire(t *testing.T) {
	pc := &partitionSpy{memConn: newMemConn(), got: make(chan sdk.ReadRequest, 2)}
	client := sdktest.Pipe(t, pc)
	req := sdk.ReadRequest{Entity: "x", Fields: []string{"id"}, Options: sdk.Values{"rows": int64(2500)},
		Checkpoint: []byte(`{"next":5}`), Filters: []sdk.Predicate{{Field: "id", Op: sdk.OpGt, Values: []any{int64(3)}}}}
	parts, err := client.Partitions(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var answer []string
	for _, p := range parts {
		answer = append(answer, fmt.Sprintf("%s %s %d", p.Key, p.Spec, p.Size))
	}
	want := `[rows 0-999 {"From":0,"To":1000} 1000 rows 1000-1999 {"From":1000,"To":2000} 1000 rows 2000-2499 {"From":2000,"To":2500} 500]`
	if fmt.Sprint(answer) != want {
		t.Fatalf("partitions crossed as %v, want %v", answer, want)
	}
	got := <-pc.got
	if got.Entity != "x" || fmt.Sprint(got.Fields) != "[id]" || string(got.Checkpoint) != `{"next":5}` ||
		len(got.Filters) != 1 || got.Options.Int("rows", 0) != 2500 || got.Partition != nil {
		t.Fatalf("Partitions request crossed as %+v", got)
	}

	col := &sdktest.Collector{}
	defer col.Release()
	req.Partition = parts[2].Spec
	if err := client.Read(context.Background(), req, col); err != nil {
		t.Fatal(err)
	}
	if string((<-pc.got).Partition) != string(parts[2].Spec) {
		t.Fatal("Read's request lost its partition")
	}
	if col.Rows() != 500 {
		t.Fatalf("partition read %d rows, want 500", col.Rows())
	}
}

type partitionSpy struct {
	*memConn
	got chan sdk.ReadRequest
}

func (p *partitionSpy) Partitions(ctx context.Context, req sdk.ReadRequest) ([]sdk.Partition, error) {
	p.got <- req
	return p.memConn.Partitions(ctx, req)
}

func (p *partitionSpy) Read(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	p.got <- req
	return p.memConn.Read(ctx, req, out)
}

func TestPartitionsUnsupported(t *testing.T) {
	t.Run("no Partitioner", func(t *testing.T) {
		_, err := sdktest.Pipe(t, sourceOnly{}).Partitions(context.Background(), sdk.ReadRequest{})
		if !errors.Is(err, sdk.ErrUnsupported) {
			t.Fatalf("Partitions: %v, want ErrUnsupported", err)
		}
	})
	t.Run("declined with a reason", func(t *testing.T) {
		_, err := sdktest.Pipe(t, declining{}).Partitions(context.Background(), sdk.ReadRequest{})
		if !errors.Is(err, sdk.ErrUnsupported) || !containsAll(err.Error(), "plugin ro", "api = rest reads do not split") {
			t.Fatalf("Partitions: %v, want ErrUnsupported with the plugin's reason", err)
		}
	})
	t.Run("plugin built before Partitions", func(t *testing.T) {
		_, err := pipeServer(t, beforePartitions{rpc.NewServer(newMemConn())}).Partitions(context.Background(), sdk.ReadRequest{})
		if !errors.Is(err, sdk.ErrUnsupported) || contains(err.Error(), "not implemented") {
			t.Fatalf("Partitions: %v, want plain ErrUnsupported", err)
		}
	})
}

type declining struct{ sourceOnly }

func (declining) Partitions(context.Context, sdk.ReadRequest) ([]sdk.Partition, error) {
	return nil, fmt.Errorf("api = rest reads do not split: %w", sdk.ErrUnsupported)
}

// beforePartitions answers as the generated code of a plugin built before
// the call existed does.
type beforePartitions struct{ *rpc.Server }

func (beforePartitions) Partitions(context.Context, *pb.Read_Request) (*pb.Partitions_Response, error) {
	return pb.UnimplementedConnectorServer{}.Partitions(context.Background(), nil)
}

// pipeServer is sdktest.Pipe for a hand-made protocol server.
func pipeServer(t *testing.T, s pb.ConnectorServer) *rpc.Client {
	t.Helper()
	c := rpc.NewClient(pb.NewConnectorClient(sdktest.Dial(t, s)))
	c.Name = "old"
	return c
}
