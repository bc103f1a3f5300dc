package fileconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/sluice-dev/sluice/sdk"
)

// plan is what a read needs to know before the first row: the files, their
// format and the entity's schema.
type plan struct {
	opts   *sourceOptions
	files  []sourceFile
	format string

	text    textSchema    // csv and jsonl
	parquet *arrow.Schema // parquet
}

func (p *plan) schema() *arrow.Schema {
	if p.format == "parquet" {
		return p.parquet
	}
	return p.text.arrow()
}

func makePlan(ctx context.Context, mem memory.Allocator, opts *sourceOptions) (*plan, error) {
	files, err := listFiles(opts.path)
	if err != nil {
		return nil, err
	}
	p := &plan{opts: opts, files: files, format: opts.format}
	if p.format == "" {
		var tab bool
		for i, f := range files {
			format, isTab := formatFromName(f.path)
			if format == "" {
				return nil, fmt.Errorf("cannot tell the format of %s from its name; set format to csv, jsonl or parquet", f.path)
			}
			if i == 0 {
				p.format, tab = format, isTab
			} else if format != p.format {
				return nil, fmt.Errorf("%s looks like %s but %s looks like %s; one read takes one format (set format, or narrow path)",
					files[0].path, p.format, f.path, format)
			}
		}
		if tab && !opts.delimiterSet {
			opts.delimiter = '\t'
		}
	}
	switch p.format {
	case "csv":
		p.text, err = inferCSV(ctx, opts, files)
	case "jsonl":
		p.text, err = inferJSONL(ctx, opts, files)
	case "parquet":
		if len(opts.overrides) > 0 {
			return nil, optionError("schema", "does not apply to parquet, whose files carry their own types")
		}
		if opts.compression == "gzip" {
			return nil, optionError("compression", "parquet files compress their pages themselves; gzip does not apply")
		}
		p.parquet, err = parquetSchema(files[0].path, mem)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// projection maps requested field names to column indices, in the order
// requested. No names means every column.
func projection(names []string, sc *arrow.Schema) ([]int, error) {
	if len(names) == 0 {
		idx := make([]int, sc.NumFields())
		for i := range idx {
			idx[i] = i
		}
		return idx, nil
	}
	idx := make([]int, 0, len(names))
	for _, n := range names {
		found := sc.FieldIndices(n)
		if len(found) == 0 {
			have := make([]string, sc.NumFields())
			for i, f := range sc.Fields() {
				have[i] = f.Name
			}
			return nil, fmt.Errorf("fields: %q is not a column of this entity (columns: %s)", n, strings.Join(have, ", "))
		}
		idx = append(idx, found[0])
	}
	return idx, nil
}

// position is the checkpoint a read leaves after each file.
type position struct {
	File      string `json:"file"`
	FilesDone int    `json:"files_done"`
}

// resumeAfter returns how many of the sorted files a checkpoint covers:
// every file sorting at or before the checkpointed one. Comparing names
// rather than trusting files_done keeps resumption right when files were
// added or removed in between, and makes a re-run pick up only new files.
func resumeAfter(cp []byte, files []sourceFile) (int, error) {
	if len(cp) == 0 {
		return 0, nil
	}
	var pos position
	if err := json.Unmarshal(cp, &pos); err != nil {
		return 0, fmt.Errorf("checkpoint %q is not from this connector: %w", cp, err)
	}
	n := 0
	for n < len(files) && files[n].path <= pos.File {
		n++
	}
	return n, nil
}

// readState carries what every format's reader shares.
type readState struct {
	ctx    context.Context
	out    sdk.RecordSender
	plan   *plan
	limits sdk.Limits
	mem    memory.Allocator

	bytesDone  int64 // on-disk bytes of finished files
	bytesTotal int64
}

func (rs *readState) progress(current int64) error {
	return rs.out.Progress(sdk.Progress{BytesRead: rs.bytesDone + current, BytesTotal: rs.bytesTotal})
}

func (rs *readState) reject(path string, line int64, reason string, raw []byte) error {
	return rs.out.Reject(sdk.BadRecord{
		Location: fmt.Sprintf("%s:%d", path, line),
		Reason:   reason,
		Raw:      raw,
	})
}

// send flushes b and reports progress. It is the one place the read
// blocks on the engine, so cancellation is checked here too.
func (rs *readState) send(b *batcher, current int64) error {
	if err := rs.ctx.Err(); err != nil {
		return err
	}
	if b.rows == 0 {
		return nil
	}
	if err := b.flush(rs.out); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return rs.progress(current)
}

func normLimits(l sdk.Limits) sdk.Limits {
	if l.MaxRows <= 0 {
		l.MaxRows = sdk.DefaultLimits.MaxRows
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = sdk.DefaultLimits.MaxBytes
	}
	return l
}

func (c *Connector) read(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	opts, err := parseSourceOptions(req.Options, req.Entity)
	if err != nil {
		return err
	}
	p, err := makePlan(ctx, c.mem, opts)
	if err != nil {
		return err
	}
	proj, err := projection(req.Fields, p.schema())
	if err != nil {
		return err
	}
	skip, err := resumeAfter(req.Checkpoint, p.files)
	if err != nil {
		return err
	}
	rs := &readState{ctx: ctx, out: out, plan: p, limits: normLimits(req.Limits), mem: c.mem}
	for _, f := range p.files[skip:] {
		rs.bytesTotal += f.size
	}
	var b *batcher
	if p.format != "parquet" {
		b = newBatcher(c.mem, p.text, proj, rs.limits)
		defer b.release()
	}
	for i := skip; i < len(p.files); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := p.files[i]
		switch p.format {
		case "csv":
			err = rs.readCSV(f, b)
		case "jsonl":
			err = rs.readJSONL(f, b)
		case "parquet":
			err = rs.readParquet(f, proj)
		}
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
				return ctxErr
			}
			return err
		}
		rs.bytesDone += f.size
		cp, _ := json.Marshal(position{File: f.path, FilesDone: i + 1})
		if err := out.Checkpoint(cp); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	return rs.progress(0)
}
