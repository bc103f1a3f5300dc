package engine_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

// partSource splits its read into three parts of 100 rows.
type partSource struct {
	memSource
	reqs []sdk.ReadRequest
}

func (p *partSource) Spec() sdk.Spec {
	return sdk.Spec{Name: "memsrc", Version: "1", Capabilities: []sdk.Capability{sdk.CapSource, sdk.CapPartitions}}
}

func (p *partSource) Partitions(_ context.Context, req sdk.ReadRequest) ([]sdk.Partition, error) {
	p.reqs = append(p.reqs, req)
	var out []sdk.Partition
	for i := range 3 {
		out = append(out, sdk.Partition{Key: fmt.Sprintf("part %d", i), Spec: []byte(strconv.Itoa(i)), Size: 100})
	}
	return out, nil
}

func (p *partSource) Read(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	p.reqs = append(p.reqs, req)
	i, _ := strconv.Atoi(string(req.Partition))
	for b := range 2 {
		rec := sdktest.TenColumnBatch(i*100+b*50, 50)
		err := out.Send(rec)
		rec.Release()
		if err != nil {
			return err
		}
		if err := out.Checkpoint([]byte(fmt.Sprint(b))); err != nil {
			return err
		}
	}
	return nil
}

func TestPartitionedRuns(t *testing.T) {
	src := &partSource{}
	sink := &memSink{name: "a"}
	h := memHost(&src.memSource, sink)
	h.RegisterInProcess("memsrc", func() sdk.Connector { return src })
	store := engine.DirCheckpoints{Dir: t.TempDir()}
	p := prepare(t, h, memFlow("a"), engine.Options{Checkpoints: store})
	parts, err := p.Partitions(context.Background())
	if err != nil || len(parts) != 3 {
		t.Fatalf("partitions %v, %v", parts, err)
	}
	var read int64
	for _, part := range parts {
		before := sink.commits.Load()
		res := p.Run(context.Background(), engine.RunOptions{Partition: part.Spec})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		read += res.Stats.RecordsRead
		// The part's source checkpoints are ignored: one commit, at its end.
		if n := sink.commits.Load() - before; n != 1 {
			t.Fatalf("part %s committed %d times, want once at its end", part.Key, n)
		}
		if string(src.reqs[len(src.reqs)-1].Partition) != string(part.Spec) {
			t.Fatalf("the source read %q, want part %q", src.reqs[len(src.reqs)-1].Partition, part.Spec)
		}
	}
	if read != 300 || sink.written.Load() != 300 {
		t.Fatalf("read %d, written %d; want every part's 100 rows once", read, sink.written.Load())
	}
	if pos, _ := store.Load(context.Background(), "mem"); pos != nil {
		t.Fatalf("a part saved the checkpoint %q; parts must not move the flow's position", pos)
	}
}

func TestPartitionsOfASourceThatCannotSplit(t *testing.T) {
	p := prepare(t, memHost(&memSource{batches: 1}, &memSink{name: "a"}), memFlow("a"), engine.Options{})
	parts, err := p.Partitions(context.Background())
	if err != nil || parts != nil {
		t.Fatalf("partitions %v, %v; want none", parts, err)
	}
}
