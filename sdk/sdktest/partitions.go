package sdktest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/sdk"
)

// checkPartitions reads the source case whole and partition by partition:
// the partitions together must give the same rows as the whole read (as a
// multiset: the engine reads partitions in any order, on any process), in
// the described schema, and a partition read again must give the same rows
// even when the request carries a checkpoint and a window, which a
// partition read ignores.
func checkPartitions(t *testing.T, c sdk.Connector, sc *SourceCase) {
	p, ok := c.(sdk.Partitioner)
	if !ok {
		t.Fatal("the spec declares the partitions capability, but the connector does not implement sdk.Partitioner")
	}
	ent := describe(t, c, sc)
	req := sdk.ReadRequest{Entity: sourceEntity(c, sc), Options: sc.Options, Limits: sdk.DefaultLimits}
	full := &Collector{}
	defer full.Release()
	if err := read(t, c, req, full); err != nil {
		t.Fatalf("Read: %v", err)
	}
	want := rowStrings(full.Batches)
	wantBad := badLocations(full.Rejected)

	parts, err := p.Partitions(context.Background(), req)
	if err != nil {
		t.Fatalf("Partitions: %v", err)
	}
	if len(parts) < sc.MinPartitions {
		t.Fatalf("Partitions gave %d partitions, want at least %d", len(parts), sc.MinPartitions)
	}
	keys := map[string]bool{}
	for i, part := range parts {
		switch {
		case part.Key == "":
			t.Fatalf("partition %d has no key", i)
		case keys[part.Key]:
			t.Fatalf("partition key %q appears twice; keys must be unique within one answer", part.Key)
		case len(part.Spec) == 0:
			// An empty ReadRequest.Partition is an unpartitioned read.
			t.Fatalf("partition %q has an empty spec, which would read the whole entity", part.Key)
		case part.Size < 0:
			t.Fatalf("partition %q has a negative size %d", part.Key, part.Size)
		}
		keys[part.Key] = true
	}

	// Read them concurrently, as one daemon running several partition
	// jobs would.
	got := make([][]string, len(parts))
	bad := make([][]string, len(parts))
	errs := make([]error, len(parts))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, part := range parts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			got[i], bad[i], errs[i] = readPartition(c, req, part, ent.Schema)
		}()
	}
	wg.Wait()
	var union, unionBad []string
	for i, part := range parts {
		if errs[i] != nil {
			t.Fatalf("partition %q: %v", part.Key, errs[i])
		}
		union = append(union, got[i]...)
		unionBad = append(unionBad, bad[i]...)
	}
	if diff := diffRows(want, union); diff != "" {
		t.Fatalf("the %d partitions together differ from one unpartitioned read: %s", len(parts), diff)
	}
	if diff := diffRows(wantBad, unionBad); diff != "" {
		t.Fatalf("the %d partitions together reject other records than one unpartitioned read: %s", len(parts), diff)
	}

	// A partition read must ignore Checkpoint and Window: give it the
	// whole read's last checkpoint and a window that ends in 1970, either
	// of which would leave nothing to read if it were applied.
	again := req
	if n := len(full.Checkpoints); n > 0 {
		again.Checkpoint = full.Checkpoints[n-1]
	}
	cursor := ""
	if len(ent.CursorFields) > 0 {
		cursor = ent.CursorFields[0]
	}
	again.Window = &sdk.Window{Cursor: cursor, To: time.Unix(1, 0).UTC()}
	for i, part := range parts {
		rows, _, err := readPartition(c, again, part, ent.Schema)
		if err != nil {
			t.Fatalf("partition %q read a second time (with a checkpoint and a window, which it must ignore): %v", part.Key, err)
		}
		if diff := diffRows(got[i], rows); diff != "" {
			t.Fatalf("partition %q read a second time (with a checkpoint and a window, which it must ignore) differs: %s", part.Key, diff)
		}
	}
}

// readPartition reads one partition and returns its rows as strings and
// where its rejected records came from, checking each batch against the
// described schema.
func readPartition(c sdk.Connector, req sdk.ReadRequest, part sdk.Partition, schema *arrow.Schema) (rows, bad []string, err error) {
	req.Partition = part.Spec
	col := &Collector{}
	defer col.Release()
	if err := c.(sdk.Source).Read(context.Background(), req, col); err != nil {
		return nil, nil, fmt.Errorf("read: %w", err)
	}
	for i, b := range col.Batches {
		if !b.Schema().Equal(schema) {
			return nil, nil, fmt.Errorf("batch %d schema %s differs from the described schema %s", i, b.Schema(), schema)
		}
	}
	return rowStrings(col.Batches), badLocations(col.Rejected), nil
}

func badLocations(bad []sdk.BadRecord) []string {
	out := make([]string, len(bad))
	for i, b := range bad {
		out[i] = b.Location + " " + b.Reason
	}
	return out
}

// rowStrings renders every row as one comparable string.
func rowStrings(batches []arrow.RecordBatch) []string {
	var out []string
	var b strings.Builder
	for _, rec := range batches {
		for r := 0; r < int(rec.NumRows()); r++ {
			b.Reset()
			for c := 0; c < int(rec.NumCols()); c++ {
				if c > 0 {
					b.WriteString(" | ")
				}
				col := rec.Column(c)
				if col.IsNull(r) {
					b.WriteString("<null>")
				} else {
					b.WriteString(col.ValueStr(r))
				}
			}
			out = append(out, b.String())
		}
	}
	return out
}

// diffRows compares two lists of rows as multisets; it returns "" when
// they agree, else what is missing and what is extra.
func diffRows(want, got []string) string {
	count := map[string]int{}
	for _, r := range want {
		count[r]++
	}
	for _, r := range got {
		count[r]--
	}
	var missing, extra []string
	for r, n := range count {
		for ; n > 0; n-- {
			missing = append(missing, r)
		}
		for ; n < 0; n++ {
			extra = append(extra, r)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	slices.Sort(missing)
	slices.Sort(extra)
	first := func(rows []string) string {
		if len(rows) > 3 {
			return strings.Join(rows[:3], "; ") + "; ..."
		}
		return strings.Join(rows, "; ")
	}
	return fmt.Sprintf("%d rows against %d: %d missing [%s], %d extra [%s]",
		len(got), len(want), len(missing), first(missing), len(extra), first(extra))
}
