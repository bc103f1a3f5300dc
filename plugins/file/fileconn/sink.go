package fileconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/format"
)

// maxOpenFiles bounds the part files open at once. With partition_by over
// a high-cardinality field, the least recently written file is completed
// (not committed) to make room, which keeps descriptors and buffered
// Parquet row groups bounded.
const maxOpenFiles = 64

type countingWriter struct {
	w     io.Writer
	n     int64
	total *int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	*c.total += int64(n)
	return n, err
}

// outFile is one part file, under its temporary name until Commit.
type outFile struct {
	part      *partDir
	tmp       string
	final     string
	f         *os.File
	out       *countingWriter
	enc       format.Encoder
	lastWrite int64
}

// partDir is one output directory: the root, or a partition under it.
type partDir struct {
	abs string
	seq int
	cur *outFile
}

// writer is one write stream. Like the engine's use of it, it is not safe
// for concurrent calls.
type writer struct {
	opts  *sinkOptions
	conn  *Connector
	root  string
	runID string
	// StreamSchema pins the stream's schema and its partition fields.
	format.StreamSchema
	noDict  []string
	dictSet bool

	dirs     map[string]*partDir
	open     []*outFile
	finished []*outFile // complete, synced, awaiting rename
	created  []string   // directories this writer made, parents first
	written  int64
	tick     int64
	closed   bool
}

func (c *Connector) openWriter(ctx context.Context, req sdk.WriteRequest) (sdk.Writer, error) {
	opts, err := parseSinkOptions(req.Options, req.Entity)
	if err != nil {
		return nil, err
	}
	switch req.Mode {
	case "", sdk.WriteInsert:
	default:
		return nil, fmt.Errorf("write mode %q: the file sink only appends (insert)", req.Mode)
	}
	if req.Deletes {
		return nil, fmt.Errorf("deletes: %s: %s", deletesSummary, deletesDetail)
	}
	w := &writer{
		opts:         opts,
		StreamSchema: format.StreamSchema{PartitionBy: opts.partitionBy},
		conn:         c,
		root:         filepath.Clean(opts.path),
		runID:        safeRunID(req.RunID),
		dirs:         map[string]*partDir{},
	}
	if err := w.mkdirAll(w.root); err != nil {
		return nil, fmt.Errorf("create output directory %s: %w", w.root, err)
	}
	// MkdirAll succeeds on an existing read-only directory; finding out at
	// the first rename would waste the whole run.
	probe, err := os.CreateTemp(w.root, ".sluice-probe-*")
	if err != nil {
		return nil, fmt.Errorf("output directory %s is not writable: %w", w.root, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	if req.Schema != nil {
		if err := w.SetSchema(req.Schema); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// The file sink refuses change-event deletes: it never rewrites a file,
// so a delete could only be appended as a row, which readers would take
// for a live record.
const (
	deletesSummary = "the file sink cannot delete records"
	deletesDetail  = "it only appends files; remove deletes = true"
)

// CheckWrite finds before the run what OpenWriter would refuse: bad sink
// attributes and change-event deletes.
func (c *Connector) CheckWrite(ctx context.Context, req sdk.WriteRequest) sdk.Diagnostics {
	_, err := parseSinkOptions(req.Options, req.Entity)
	diags := sdk.ErrorDiagnostics("Invalid file sink attribute", err)
	if req.Deletes {
		diags = append(diags, sdk.Errorf([]string{"deletes"}, deletesSummary, deletesDetail))
	}
	return diags
}

// safeRunID keeps the run id usable inside a file name.
func safeRunID(id string) string {
	if id == "" {
		return "run"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, id)
}

func (w *writer) Write(ctx context.Context, rec arrow.RecordBatch) (sdk.WriteResult, error) {
	if w.closed {
		return sdk.WriteResult{}, errors.New("write after close")
	}
	if err := ctx.Err(); err != nil {
		return sdk.WriteResult{}, err
	}
	if rec.NumRows() == 0 {
		return sdk.WriteResult{}, nil
	}
	rec, err := w.Conform(rec)
	if err != nil {
		return sdk.WriteResult{}, err
	}
	defer rec.Release()
	if w.opts.Format == "parquet" && !w.dictSet {
		w.noDict = format.HighCardinality(rec)
		w.dictSet = true
	}
	before := w.written
	var res sdk.WriteResult
	if len(w.PartIdx) == 0 {
		if err := w.writeTo("", rec, nil); err != nil {
			return res, err
		}
	} else {
		groups, rejects := format.GroupRows(rec, w.PartNames, w.PartIdx)
		res.Rejected = append(res.Rejected, rejects...)
		for _, g := range groups {
			rows := g.Rows
			if len(groups) == 1 && len(rejects) == 0 {
				rows = nil
			}
			if err := w.writeTo(g.Dir, rec, rows); err != nil {
				return res, err
			}
		}
	}
	res.BytesWritten = w.written - before
	return res, nil
}

func (w *writer) writeTo(dir string, rec arrow.RecordBatch, rows []int) error {
	of, err := w.fileFor(dir)
	if err != nil {
		return err
	}
	w.tick++
	of.lastWrite = w.tick
	if err := of.enc.Write(rec, rows); err != nil {
		return fmt.Errorf("write %s: %w", of.tmp, err)
	}
	// With gzip, Size is the bytes on disk, as the target means.
	if of.enc.Size() >= w.opts.targetFileSize {
		return w.complete(of)
	}
	return nil
}

func (w *writer) ext() string { return w.opts.Ext() }

// fileFor returns the open part file of a partition directory, starting
// one if needed.
func (w *writer) fileFor(dir string) (*outFile, error) {
	pd := w.dirs[dir]
	if pd == nil {
		pd = &partDir{abs: filepath.Join(w.root, filepath.FromSlash(dir))}
		if err := w.mkdirAll(pd.abs); err != nil {
			return nil, fmt.Errorf("create partition directory %s: %w", pd.abs, err)
		}
		w.dirs[dir] = pd
	}
	if pd.cur != nil {
		return pd.cur, nil
	}
	if len(w.open) >= maxOpenFiles {
		lru := w.open[0]
		for _, of := range w.open[1:] {
			if of.lastWrite < lru.lastWrite {
				lru = of
			}
		}
		if err := w.complete(lru); err != nil {
			return nil, err
		}
	}
	// A name already taken belongs to an earlier writer of the same run
	// (a resumed run, say) whose files were committed: never overwrite
	// committed data, take the next number.
	var name string
	for {
		name = fmt.Sprintf("%s-%s-%05d.%s", w.opts.filePrefix, w.runID, pd.seq, w.ext())
		pd.seq++
		if _, err := os.Lstat(filepath.Join(pd.abs, name)); err != nil {
			break
		}
	}
	of := &outFile{
		part:  pd,
		final: filepath.Join(pd.abs, name),
		tmp:   filepath.Join(pd.abs, "."+name+".tmp"),
	}
	f, err := os.OpenFile(of.tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create part file: %w", err)
	}
	of.f = f
	of.out = &countingWriter{w: f, total: &w.written}
	of.enc, err = format.NewEncoder(of.out, w.Schema, w.opts.WriteOptions, format.ParquetWriteOptions{
		TargetFileSize: w.opts.targetFileSize,
		NoDictionary:   w.noDict,
		CreatedBy:      "sluice file connector",
		Mem:            w.conn.mem,
	})
	if err != nil {
		f.Close()
		os.Remove(of.tmp)
		return nil, err
	}
	pd.cur = of
	w.open = append(w.open, of)
	return of, nil
}

// complete finishes a part file and syncs it, leaving it under its
// temporary name for Commit to publish.
func (w *writer) complete(of *outFile) error {
	for i, o := range w.open {
		if o == of {
			w.open = append(w.open[:i], w.open[i+1:]...)
			break
		}
	}
	of.part.cur = nil
	w.finished = append(w.finished, of)
	err := of.enc.Finish()
	if err == nil {
		err = of.f.Sync()
	}
	if cerr := of.f.Close(); err == nil {
		err = cerr
	}
	of.f = nil
	if err != nil {
		return fmt.Errorf("complete %s: %w", of.tmp, err)
	}
	return nil
}

// Commit publishes every part file written so far: each is completed and
// fsynced, renamed to its final name, and the directories are synced so
// the renames survive a crash. Later writes start new part files.
func (w *writer) Commit(ctx context.Context) (sdk.CommitResult, error) {
	if w.closed {
		return sdk.CommitResult{}, errors.New("commit after close")
	}
	before := w.written
	res, err := w.commit()
	res.BytesWritten = w.written - before
	return res, err
}

func (w *writer) commit() (sdk.CommitResult, error) {
	for len(w.open) > 0 {
		if err := w.complete(w.open[0]); err != nil {
			return sdk.CommitResult{}, err
		}
	}
	dirs := map[string]bool{}
	for len(w.finished) > 0 {
		of := w.finished[0]
		if err := os.Rename(of.tmp, of.final); err != nil {
			return sdk.CommitResult{}, fmt.Errorf("publish %s: %w", of.final, err)
		}
		w.finished = w.finished[1:]
		dirs[of.part.abs] = true
	}
	// New partition directories need their own entries synced in their
	// parents, up to the root.
	for d := range dirs {
		for p := d; ; p = filepath.Dir(p) {
			dirs[p] = true
			if p == w.root || p == filepath.Dir(p) {
				break
			}
		}
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return sdk.CommitResult{}, fmt.Errorf("sync %s: %w", d, err)
		}
	}
	w.created = nil
	return sdk.CommitResult{}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close discards whatever was not committed: open and completed part
// files are removed, never renamed, so an aborted run leaves no file under
// a final name. Directories it created and left empty go too.
func (w *writer) Close(ctx context.Context) error {
	if w.closed {
		return nil
	}
	w.closed = true
	var errs []error
	for _, of := range w.open {
		of.f.Close()
		w.finished = append(w.finished, of)
	}
	w.open = nil
	for _, of := range w.finished {
		if err := os.Remove(of.tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	w.finished = nil
	for i := len(w.created) - 1; i >= 0; i-- {
		os.Remove(w.created[i]) // fails, as intended, unless empty
	}
	return errors.Join(errs...)
}

// mkdirAll is os.MkdirAll that remembers which directories it made, so an
// uncommitted run can remove them again.
func (w *writer) mkdirAll(dir string) error {
	var missing []string
	for p := dir; ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		}
		missing = append(missing, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		w.created = append(w.created, missing[i])
	}
	return nil
}
