package engine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/sdk"
)

// refusingSink refuses two rows of every commit, as a warehouse's load
// does when a value gets past validation.
type refusingSink struct {
	sdk.Unimplemented
	reqs []sdk.WriteRequest
}

func (s *refusingSink) Spec() sdk.Spec {
	return sdk.Spec{Name: "refusing", Version: "1", Capabilities: []sdk.Capability{sdk.CapSink}}
}
func (s *refusingSink) Configure(context.Context, sdk.Values) sdk.Diagnostics { return nil }
func (s *refusingSink) OpenWriter(_ context.Context, req sdk.WriteRequest) (sdk.Writer, error) {
	s.reqs = append(s.reqs, req)
	return &refusingWriter{allowed: req.RejectOnCommit}, nil
}

type refusingWriter struct {
	allowed bool
	commits int
}

func (w *refusingWriter) Write(context.Context, arrow.RecordBatch) (sdk.WriteResult, error) {
	return sdk.WriteResult{}, nil
}
func (w *refusingWriter) Commit(context.Context) (sdk.CommitResult, error) {
	w.commits++
	if !w.allowed {
		return sdk.CommitResult{}, fmt.Errorf("load refused 2 rows")
	}
	var rej []sdk.CommitRejection
	for i := range 2 {
		rej = append(rej, sdk.CommitRejection{Fields: map[string]string{"id": fmt.Sprintf("c%d-%d", w.commits, i)},
			Reason: "value out of range", Location: fmt.Sprintf("part-%05d.csv.gz:%d", w.commits, i+2)})
	}
	return sdk.CommitResult{Rejected: rej}, nil
}
func (w *refusingWriter) Close(context.Context) error { return nil }

func TestCommitRejectionsBecomeDeadLetters(t *testing.T) {
	dir := t.TempDir()
	store := engine.DirCheckpoints{Dir: t.TempDir()}
	src := &memSource{batches: 3}
	sink := &refusingSink{}
	h := memHost(src)
	h.RegisterInProcess("refusing", func() sdk.Connector { return sink })
	f := memFlow("refusing")
	f.OnError = plan.ErrorPolicy{Mode: plan.Continue, DeadLetter: dir}
	res := prepare(t, h, f, engine.Options{Checkpoints: store}).Run(context.Background(), engine.RunOptions{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if !sink.reqs[0].RejectOnCommit {
		t.Fatal("a continuing run must tell the sink it takes rows refused at commit")
	}
	// Three checkpoints and the final commit: four commits, two rows each.
	if s := res.Stats; s.RecordsRead != 300 || s.RecordsWritten != 292 || s.RecordsFailed != 8 || res.Status != engine.StatusCompletedWithErrors {
		t.Fatalf("status %s, counters %+v: refused rows move from written to failed", res.Status, s)
	}
	if res.Sinks[0].Rejected != 8 || res.Sinks[0].Written != 292 {
		t.Fatalf("sink counters %+v", res.Sinks[0])
	}
	file, err := os.Open(res.DeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var got []engine.DeadLetter
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		var dl engine.DeadLetter
		if err := json.Unmarshal(sc.Bytes(), &dl); err != nil {
			t.Fatal(err)
		}
		got = append(got, dl)
	}
	if len(got) != 8 || got[0].Stage != "sink refusing" || got[0].Reason != "value out of range" ||
		got[0].Location != "part-00001.csv.gz:2" || got[0].Record["id"] != "c1-0" {
		t.Fatalf("dead letters %+v", got)
	}
}

func TestCommitRejectionsFailAFailFastRun(t *testing.T) {
	sink := &refusingSink{}
	h := memHost(&memSource{batches: 2})
	h.RegisterInProcess("refusing", func() sdk.Connector { return sink })
	res := prepare(t, h, memFlow("refusing"), engine.Options{}).Run(context.Background(), engine.RunOptions{})
	if sink.reqs[0].RejectOnCommit {
		t.Fatal("a fail-fast run must not accept rows refused at commit")
	}
	if res.Status != engine.StatusFailed || !strings.Contains(res.Err.Error(), "load refused 2 rows") {
		t.Fatalf("status %s err %v", res.Status, res.Err)
	}
}
