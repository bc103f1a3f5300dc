package fileconn

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/sluice-dev/sluice/sdk"
)

// fakeSender is the smallest RecordSender: it keeps everything.
type fakeSender struct {
	batches     []arrow.RecordBatch
	checkpoints []string
	rejects     []sdk.BadRecord
	progress    []sdk.Progress
	onSend      func(rec arrow.RecordBatch) error
}

func (s *fakeSender) Send(rec arrow.RecordBatch) error {
	rec.Retain()
	s.batches = append(s.batches, rec)
	if s.onSend != nil {
		return s.onSend(rec)
	}
	return nil
}

func (s *fakeSender) Checkpoint(p []byte) error {
	s.checkpoints = append(s.checkpoints, string(p))
	return nil
}

func (s *fakeSender) Reject(b sdk.BadRecord) error {
	s.rejects = append(s.rejects, b)
	return nil
}

func (s *fakeSender) Progress(p sdk.Progress) error {
	s.progress = append(s.progress, p)
	return nil
}

func (s *fakeSender) release() {
	for _, b := range s.batches {
		b.Release()
	}
	s.batches = nil
}

func (s *fakeSender) rows() int {
	n := 0
	for _, b := range s.batches {
		n += int(b.NumRows())
	}
	return n
}

// column concatenates one column across all batches and renders each value
// with ValueStr ("(null)" for null), which keeps assertions readable.
func (s *fakeSender) column(t *testing.T, name string) []string {
	t.Helper()
	var out []string
	for _, b := range s.batches {
		idx := b.Schema().FieldIndices(name)
		if len(idx) == 0 {
			t.Fatalf("no column %q in %s", name, b.Schema())
		}
		col := b.Column(idx[0])
		for i := 0; i < col.Len(); i++ {
			if col.IsNull(i) {
				out = append(out, "(null)")
			} else {
				out = append(out, col.ValueStr(i))
			}
		}
	}
	return out
}

func (s *fakeSender) table(t *testing.T) arrow.Table {
	t.Helper()
	if len(s.batches) == 0 {
		t.Fatal("no batches")
	}
	return array.NewTableFromRecords(s.batches[0].Schema(), s.batches)
}

func readAll(t *testing.T, opts sdk.Values, fields ...string) *fakeSender {
	t.Helper()
	s, err := tryRead(context.Background(), opts, sdk.Limits{}, fields...)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	t.Cleanup(s.release)
	return s
}

func tryRead(ctx context.Context, opts sdk.Values, limits sdk.Limits, fields ...string) (*fakeSender, error) {
	s := &fakeSender{}
	err := New().Read(ctx, sdk.ReadRequest{Entity: opts.String("path", ""), Options: opts, Fields: fields, Limits: limits}, s)
	return s, err
}

func describeSchema(t *testing.T, opts sdk.Values) *arrow.Schema {
	t.Helper()
	ent, err := New().DescribeEntity(context.Background(), sdk.DescribeRequest{Entity: opts.String("path", ""), Options: opts})
	if err != nil {
		t.Fatalf("DescribeEntity: %v", err)
	}
	return ent.Schema
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// listTree returns every file under root as slash paths relative to it.
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func typesOf(sc *arrow.Schema) string {
	var parts []string
	for _, f := range sc.Fields() {
		parts = append(parts, fmt.Sprintf("%s:%s", f.Name, f.Type))
	}
	return strings.Join(parts, " ")
}
