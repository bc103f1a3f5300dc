package sdktest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/sdk"
)

// Suite describes the connector under test.
type Suite struct {
	// New returns a fresh, unconfigured connector.
	New func() sdk.Connector
	// Config is the connection configuration passed to Configure.
	Config sdk.Values
	// Source, when set, names a readable entity.
	Source *SourceCase
	// Sink, when set, describes how to open writes.
	Sink *SinkCase
}

// SourceCase is one readable entity.
type SourceCase struct {
	Entity  string
	Options sdk.Values
	// MinRows is how many rows the entity holds at least; 2 or more lets
	// the kit check batch caps and cancellation.
	MinRows int64
	// MinPartitions is how many partitions Partitions must give at least,
	// for a connector that declares sdk.CapPartitions; set it (and the
	// options that make the read split) so the check proves a real split.
	MinPartitions int
}

// SinkCase is one writable entity.
type SinkCase struct {
	Entity string
	// Options returns fresh options for each check (a new directory, a new
	// table), so checks do not see each other's data.
	Options func(t *testing.T) sdk.Values
	Mode    sdk.WriteMode
	Keys    []string
	// Count, when set, returns how many rows are durably visible at the
	// destination the options point to; the kit uses it to check that
	// Commit publishes and Close without Commit does not.
	Count func(t *testing.T, options sdk.Values) int64
	// LargeRows is the row count of the large-batch check (default 300,000,
	// about 26 MB, several times gRPC's default message limit).
	LargeRows int
	// CommitRejects, when set, checks a sink whose destination refuses
	// some rows only while committing (sdk.CommitResult.Rejected).
	CommitRejects *CommitRejectCase
}

// CommitRejectCase is a write whose rows the sink accepts in Write and its
// destination partly refuses on Commit.
type CommitRejectCase struct {
	// Options returns fresh options for the write; nil uses the sink
	// case's. Count, when set, is asked about these options.
	Options func(t *testing.T) sdk.Values
	// Batch returns the rows to write, shaped like TenColumnSchema.
	Batch func() arrow.RecordBatch
	// Refused is how many of them the destination refuses.
	Refused int
}

// Run runs the conformance checks, each directly and over the protocol.
func Run(t *testing.T, s Suite) {
	t.Helper()
	transports := []struct {
		name string
		open func(t *testing.T) sdk.Connector
	}{
		{"direct", func(t *testing.T) sdk.Connector { return s.New() }},
		{"rpc", func(t *testing.T) sdk.Connector { return Pipe(t, s.New()) }},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			open := func(t *testing.T) sdk.Connector {
				c := tr.open(t)
				if err := c.Configure(context.Background(), s.Config).Err(); err != nil {
					t.Fatalf("Configure: %v", err)
				}
				return c
			}
			// A daemon configures a kept plugin process again before each
			// run; the connector must work as if new.
			reconfigured := func(t *testing.T) sdk.Connector {
				c := open(t)
				if err := c.Configure(context.Background(), s.Config).Err(); err != nil {
					t.Fatalf("Configure, a second time: %v", err)
				}
				return c
			}
			t.Run("spec", func(t *testing.T) { checkSpec(t, tr.open(t), s) })
			if s.Source != nil {
				t.Run("source/describe-and-read", func(t *testing.T) { checkRead(t, open(t), s.Source) })
				t.Run("source/read-after-reconfigure", func(t *testing.T) { checkRead(t, reconfigured(t), s.Source) })
				t.Run("source/batch-caps", func(t *testing.T) { checkCaps(t, open(t), s.Source) })
				t.Run("source/projection", func(t *testing.T) { checkProjection(t, open(t), s.Source) })
				t.Run("source/cancellation", func(t *testing.T) { checkReadCancel(t, open(t), s.Source) })
				if s.New().Spec().Has(sdk.CapPartitions) {
					t.Run("source/partitions", func(t *testing.T) { checkPartitions(t, open(t), s.Source) })
				}
			}
			if s.Sink != nil {
				t.Run("sink/write-commit", func(t *testing.T) { checkWrite(t, open(t), s.Sink) })
				t.Run("sink/write-after-reconfigure", func(t *testing.T) { checkWrite(t, reconfigured(t), s.Sink) })
				t.Run("sink/close-without-commit", func(t *testing.T) { checkAbort(t, open(t), s.Sink) })
				t.Run("sink/large-batch", func(t *testing.T) { checkLarge(t, open(t), s.Sink) })
				t.Run("sink/cancellation", func(t *testing.T) { checkWriteCancel(t, open(t), s.Sink) })
				if s.Sink.CommitRejects != nil {
					t.Run("sink/commit-rejects", func(t *testing.T) { checkCommitRejects(t, open(t), s.Sink, true) })
					t.Run("sink/commit-rejects-not-allowed", func(t *testing.T) { checkCommitRejects(t, open(t), s.Sink, false) })
				}
			}
		})
	}
}

func checkSpec(t *testing.T, c sdk.Connector, s Suite) {
	spec := c.Spec()
	if spec.Name == "" || spec.Version == "" {
		t.Fatalf("spec must have a name and a version, got %q %q", spec.Name, spec.Version)
	}
	if s.Source != nil && !spec.Has(sdk.CapSource) {
		t.Errorf("the suite reads from %s, but its spec does not list the source capability", spec.Name)
	}
	if s.Sink != nil && !spec.Has(sdk.CapSink) {
		t.Errorf("the suite writes to %s, but its spec does not list the sink capability", spec.Name)
	}
	if _, ok := c.(sdk.Partitioner); spec.Has(sdk.CapPartitions) && !ok {
		t.Errorf("%s declares the partitions capability but does not implement sdk.Partitioner", spec.Name)
	}
	for _, block := range []sdk.ConfigSchema{spec.Connection, spec.Source, spec.Sink} {
		seen, entities := map[string]bool{}, 0
		for _, a := range block.Attributes {
			if seen[a.Name] {
				t.Errorf("attribute %q declared twice", a.Name)
			}
			seen[a.Name] = true
			if a.Entity {
				entities++
			}
			switch a.Type {
			case sdk.TypeString, sdk.TypeInt, sdk.TypeFloat, sdk.TypeBool, sdk.TypeStringList, sdk.TypeStringMap:
			default:
				t.Errorf("attribute %q has unknown type %q", a.Name, a.Type)
			}
		}
		if entities > 1 {
			t.Errorf("a block may mark at most one attribute as the entity, found %d", entities)
		}
	}
}

func describe(t *testing.T, c sdk.Connector, sc *SourceCase) sdk.Entity {
	t.Helper()
	d, ok := c.(sdk.EntityDescriber)
	if !ok {
		t.Fatal("a source must implement sdk.EntityDescriber")
	}
	ent, err := d.DescribeEntity(context.Background(), sdk.DescribeRequest{Entity: sourceEntity(c, sc), Options: sc.Options})
	if err != nil {
		t.Fatalf("DescribeEntity: %v", err)
	}
	if ent.Schema == nil || ent.Schema.NumFields() == 0 {
		t.Fatal("DescribeEntity returned no fields")
	}
	return ent
}

func read(t *testing.T, c sdk.Connector, req sdk.ReadRequest, col *Collector) error {
	t.Helper()
	src, ok := c.(sdk.Source)
	if !ok {
		t.Fatal("connector does not implement sdk.Source")
	}
	return src.Read(context.Background(), req, col)
}

func checkRead(t *testing.T, c sdk.Connector, sc *SourceCase) {
	ent := describe(t, c, sc)
	col := &Collector{}
	defer col.Release()
	if err := read(t, c, sdk.ReadRequest{Entity: sourceEntity(c, sc), Options: sc.Options, Limits: sdk.DefaultLimits}, col); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got := col.Rows(); got < sc.MinRows {
		t.Fatalf("read %d rows, want at least %d", got, sc.MinRows)
	}
	for i, b := range col.Batches {
		if !b.Schema().Equal(ent.Schema) {
			t.Fatalf("batch %d schema %s differs from the described schema %s", i, b.Schema(), ent.Schema)
		}
	}
}

func checkCaps(t *testing.T, c sdk.Connector, sc *SourceCase) {
	if sc.MinRows < 2 {
		t.Skip("needs an entity with at least 2 rows")
	}
	col := &Collector{}
	defer col.Release()
	limits := sdk.Limits{MaxRows: int(max(1, sc.MinRows/3)), MaxBytes: sdk.DefaultLimits.MaxBytes}
	if err := read(t, c, sdk.ReadRequest{Entity: sourceEntity(c, sc), Options: sc.Options, Limits: limits}, col); err != nil {
		t.Fatalf("Read: %v", err)
	}
	for i, b := range col.Batches {
		if b.NumRows() > int64(limits.MaxRows) {
			t.Fatalf("batch %d has %d rows, over the cap of %d", i, b.NumRows(), limits.MaxRows)
		}
	}
	if col.Rows() < sc.MinRows {
		t.Fatalf("read %d rows under a cap, want at least %d: capped batches must not lose rows", col.Rows(), sc.MinRows)
	}
}

func checkProjection(t *testing.T, c sdk.Connector, sc *SourceCase) {
	ent := describe(t, c, sc)
	if ent.Schema.NumFields() < 2 {
		t.Skip("needs at least two fields")
	}
	want := ent.Schema.Field(ent.Schema.NumFields() - 1).Name
	col := &Collector{}
	defer col.Release()
	if err := read(t, c, sdk.ReadRequest{Entity: sourceEntity(c, sc), Options: sc.Options, Fields: []string{want}, Limits: sdk.DefaultLimits}, col); err != nil {
		t.Fatalf("Read with Fields: %v", err)
	}
	for _, b := range col.Batches {
		if b.NumCols() != 1 || b.Schema().Field(0).Name != want {
			t.Fatalf("asked for field %q, got schema %s", want, b.Schema())
		}
	}
}

func checkReadCancel(t *testing.T, c sdk.Connector, sc *SourceCase) {
	if sc.MinRows < 2 {
		t.Skip("needs an entity with at least 2 rows")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	col := &Collector{OnSend: func(*Collector) error { cancel(); return nil }}
	defer col.Release()
	done := make(chan error, 1)
	go func() {
		done <- c.(sdk.Source).Read(ctx, sdk.ReadRequest{Entity: sourceEntity(c, sc), Options: sc.Options,
			Limits: sdk.Limits{MaxRows: 1, MaxBytes: sdk.DefaultLimits.MaxBytes}}, col)
	}()
	select {
	case err := <-done:
		if err == nil && col.Rows() < sc.MinRows {
			t.Fatal("Read returned nil after its context was cancelled without delivering everything")
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Read after cancel returned %v; want an error wrapping context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not stop within 10s of its context being cancelled")
	}
}

func openWriter(t *testing.T, c sdk.Connector, sk *SinkCase, opts sdk.Values, ctx context.Context) sdk.Writer {
	t.Helper()
	return openWriterRejecting(t, c, sk, opts, ctx, false)
}

func openWriterRejecting(t *testing.T, c sdk.Connector, sk *SinkCase, opts sdk.Values, ctx context.Context, rejectOnCommit bool) sdk.Writer {
	t.Helper()
	sink, ok := c.(sdk.Sink)
	if !ok {
		t.Fatal("connector does not implement sdk.Sink")
	}
	entity := sk.Entity
	if attr, ok := c.Spec().Sink.EntityAttribute(); ok && entity == "" {
		// The engine takes the entity from the attribute marked Entity.
		entity = opts.String(attr.Name, "")
	}
	mode := sk.Mode
	if mode == "" {
		mode = sdk.WriteInsert
	}
	w, err := sink.OpenWriter(ctx, sdk.WriteRequest{Entity: entity, Mode: mode, Keys: sk.Keys,
		Options: opts, Schema: TenColumnSchema, FlowName: "conformance", RunID: "sdktest", RejectOnCommit: rejectOnCommit})
	if err != nil {
		t.Fatalf("OpenWriter: %v", err)
	}
	return w
}

func writeBatch(t *testing.T, w sdk.Writer, rec arrow.RecordBatch) {
	t.Helper()
	res, err := w.Write(context.Background(), rec)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	for _, r := range res.Rejected {
		if r.Row < 0 || int64(r.Row) >= rec.NumRows() {
			t.Fatalf("rejected row index %d is outside the batch of %d rows", r.Row, rec.NumRows())
		}
		if r.Reason == "" {
			t.Fatalf("rejected row %d has no reason", r.Row)
		}
	}
	if len(res.Rejected) > 0 {
		t.Fatalf("the sink rejected %d valid rows, first: %s", len(res.Rejected), res.Rejected[0].Reason)
	}
}

func checkWrite(t *testing.T, c sdk.Connector, sk *SinkCase) {
	opts := sk.Options(t)
	w := openWriter(t, c, sk, opts, context.Background())
	total := 0
	for i := 0; i < 3; i++ {
		rec := TenColumnBatch(total, 1000+i)
		writeBatch(t, w, rec)
		total += int(rec.NumRows())
		rec.Release()
	}
	commit(t, w)
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if sk.Count != nil {
		if got := sk.Count(t, opts); got != int64(total) {
			t.Fatalf("after Commit the destination holds %d rows, want %d", got, total)
		}
	}
}

// commit commits a write opened without RejectOnCommit, which must not
// return refused rows.
func commit(t *testing.T, w sdk.Writer) {
	t.Helper()
	res, err := w.Commit(context.Background())
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if len(res.Rejected) > 0 {
		t.Fatalf("Commit returned %d refused rows (first: %s) for a write opened without RejectOnCommit; it must fail instead",
			len(res.Rejected), res.Rejected[0].Reason)
	}
}

// checkCommitRejects writes rows the destination partly refuses on
// Commit. With RejectOnCommit, Commit returns each refused row with its
// content and reason and commits the others; without it, Commit fails and
// commits none.
func checkCommitRejects(t *testing.T, c sdk.Connector, sk *SinkCase, allowed bool) {
	cr := sk.CommitRejects
	options := cr.Options
	if options == nil {
		options = sk.Options
	}
	opts := options(t)
	w := openWriterRejecting(t, c, sk, opts, context.Background(), allowed)
	closed := false
	closeWriter := func() {
		closed = true
		if err := w.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	defer func() {
		if !closed {
			w.Close(context.Background())
		}
	}()
	rec := cr.Batch()
	rows := rec.NumRows()
	writeBatch(t, w, rec)
	rec.Release()
	res, err := w.Commit(context.Background())
	if !allowed {
		if err == nil {
			t.Fatalf("Commit of rows the destination refuses succeeded (%d refused rows returned) for a write opened without RejectOnCommit; it must fail",
				len(res.Rejected))
		}
		// Over the protocol the failed Commit ended the stream, so Close
		// may report its error again.
		closed = true
		_ = w.Close(context.Background())
		if sk.Count != nil {
			if got := sk.Count(t, opts); got != 0 {
				t.Fatalf("a failed Commit left %d rows visible; without RejectOnCommit it must commit none", got)
			}
		}
		return
	}
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if len(res.Rejected) != cr.Refused {
		t.Fatalf("Commit returned %d refused rows, want %d", len(res.Rejected), cr.Refused)
	}
	for i, r := range res.Rejected {
		if r.Reason == "" {
			t.Fatalf("refused row %d has no reason", i)
		}
		if len(r.Fields) == 0 {
			t.Fatalf("refused row %d (%s) carries no fields: at commit the engine no longer holds the batch", i, r.Reason)
		}
		for name := range r.Fields {
			if TenColumnSchema.FieldIndices(name) == nil {
				t.Fatalf("refused row %d has field %q, which the written records do not have", i, name)
			}
		}
	}
	closeWriter()
	if sk.Count != nil {
		if got, want := sk.Count(t, opts), rows-int64(cr.Refused); got != want {
			t.Fatalf("after a Commit that refused %d of %d rows the destination holds %d, want %d: the others must be committed",
				cr.Refused, rows, got, want)
		}
	}
}

func checkAbort(t *testing.T, c sdk.Connector, sk *SinkCase) {
	if sk.Count == nil {
		t.Skip("needs SinkCase.Count")
	}
	opts := sk.Options(t)
	w := openWriter(t, c, sk, opts, context.Background())
	rec := TenColumnBatch(0, 500)
	writeBatch(t, w, rec)
	rec.Release()
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := sk.Count(t, opts); got != 0 {
		t.Fatalf("Close without Commit left %d rows visible; uncommitted data must be discarded", got)
	}
}

func checkLarge(t *testing.T, c sdk.Connector, sk *SinkCase) {
	rows := sk.LargeRows
	if rows == 0 {
		rows = 300_000
	}
	opts := sk.Options(t)
	w := openWriter(t, c, sk, opts, context.Background())
	rec := TenColumnBatch(0, rows)
	writeBatch(t, w, rec)
	rec.Release()
	commit(t, w)
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if sk.Count != nil {
		if got := sk.Count(t, opts); got != int64(rows) {
			t.Fatalf("a large batch arrived as %d rows, want %d: oversized batches must be split, never dropped", got, rows)
		}
	}
}

func checkWriteCancel(t *testing.T, c sdk.Connector, sk *SinkCase) {
	opts := sk.Options(t)
	ctx, cancel := context.WithCancel(context.Background())
	w := openWriter(t, c, sk, opts, ctx)
	rec := TenColumnBatch(0, 100)
	defer rec.Release()
	writeBatch(t, w, rec)
	cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// After cancellation, writes may fail but must not hang; Close
		// must still release everything.
		_, _ = w.Write(ctx, rec)
		_ = w.Close(context.Background())
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Write/Close hung after the context was cancelled")
	}
	if sk.Count != nil {
		if got := sk.Count(t, opts); got != 0 {
			t.Fatalf("a cancelled, uncommitted write left %d rows visible", got)
		}
	}
}

// sourceEntity is the case's entity, or, as the engine does it, the value
// of the source attribute marked Entity.
func sourceEntity(c sdk.Connector, sc *SourceCase) string {
	if sc.Entity != "" {
		return sc.Entity
	}
	if attr, ok := c.Spec().Source.EntityAttribute(); ok {
		return sc.Options.String(attr.Name, "")
	}
	return ""
}
