package fileconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/format"
)

// plan is what a read needs to know before the first row: the files, their
// format and the entity's schema.
type plan struct {
	opts   *sourceOptions
	files  []sourceFile
	format string

	text    format.TextSchema // csv and jsonl
	parquet *arrow.Schema     // parquet
}

func (p *plan) schema() *arrow.Schema {
	if p.format == "parquet" {
		return p.parquet
	}
	return p.text.Arrow()
}

func makePlan(ctx context.Context, mem memory.Allocator, opts *sourceOptions) (*plan, error) {
	files, err := listFiles(opts.path)
	if err != nil {
		return nil, err
	}
	p := &plan{opts: opts, files: files, format: opts.Format}
	if p.format == "" {
		var tab bool
		for i, f := range files {
			fmtName, isTab := format.FormatFromName(f.path)
			if fmtName == "" {
				return nil, fmt.Errorf("cannot tell the format of %s from its name; set format to csv, jsonl or parquet", f.path)
			}
			if i == 0 {
				p.format, tab = fmtName, isTab
			} else if fmtName != p.format {
				return nil, fmt.Errorf("%s looks like %s but %s looks like %s; one read takes one format (set format, or narrow path)",
					files[0].path, p.format, f.path, fmtName)
			}
		}
		if tab && !opts.DelimiterSet {
			opts.Delimiter = '\t'
		}
	}
	switch p.format {
	case "csv", "jsonl":
		var declared bool
		if p.text, declared, err = opts.DeclaredSchema(); err == nil && !declared {
			p.text, err = inferText(ctx, opts, files, p.format)
		}
	case "parquet":
		if len(opts.Overrides) > 0 {
			return nil, optionError("schema", "does not apply to parquet, whose files carry their own types")
		}
		if len(opts.Columns) > 0 {
			return nil, optionError("columns", "does not apply to parquet, whose files carry their own columns")
		}
		if opts.Compression == "gzip" {
			return nil, optionError("compression", "parquet files compress their pages themselves; gzip does not apply")
		}
		p.parquet, err = parquetSchema(files[0].path, mem)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// inferText settles the columns from the first file that holds data and
// applies the schema overrides.
func inferText(ctx context.Context, opts *sourceOptions, files []sourceFile, fmtName string) (format.TextSchema, error) {
	for _, f := range files {
		ts, ok, err := inferFile(ctx, opts, f.path, fmtName)
		if err != nil {
			return format.TextSchema{}, err
		}
		if ok {
			where := files[0].path
			if len(files) > 1 {
				where = "the files under " + opts.path
			}
			if err := ts.ApplyOverrides(opts.Overrides, where); err != nil {
				return format.TextSchema{}, optionError("schema", "%v", err)
			}
			return ts, nil
		}
	}
	if fmtName == "csv" {
		return format.TextSchema{}, fmt.Errorf("%s: no CSV header or rows to take columns from", opts.path)
	}
	return format.TextSchema{}, fmt.Errorf("%s: no JSON objects to take columns from", opts.path)
}

func inferFile(ctx context.Context, opts *sourceOptions, path, fmtName string) (format.TextSchema, bool, error) {
	in, closeFn, err := openInput(path, opts.Compression)
	if err != nil {
		return format.TextSchema{}, false, err
	}
	defer closeFn()
	if fmtName == "csv" {
		return format.InferCSV(ctx, in, opts.ReadOptions)
	}
	return format.InferJSONL(ctx, in, opts.ReadOptions)
}

// openInput opens path for a text format, decompressed as needed.
func openInput(path, compression string) (*format.Input, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open %w", err)
	}
	in, err := format.NewInput(f, path, compression)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return in, func() { in.Close(); f.Close() }, nil
}

func parquetSchema(path string, mem memory.Allocator) (*arrow.Schema, error) {
	f, size, err := openParquetFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return format.ParquetSchema(f, size, path, mem)
}

func openParquetFile(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("open %s: %w", path, err)
	}
	return f, info.Size(), nil
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

func (c *Connector) read(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	opts, err := parseSourceOptions(req.Options, req.Entity)
	if err != nil {
		return err
	}
	p, err := makePlan(ctx, c.mem, opts)
	if err != nil {
		return err
	}
	proj, err := format.Projection(req.Fields, p.schema())
	if err != nil {
		return err
	}
	skip, err := resumeAfter(req.Checkpoint, p.files)
	if err != nil {
		return err
	}
	limits := format.NormLimits(req.Limits)
	var bytesDone, bytesTotal int64
	for _, f := range p.files[skip:] {
		bytesTotal += f.size
	}
	progress := func(current int64) error {
		return out.Progress(sdk.Progress{BytesRead: bytesDone + current, BytesTotal: bytesTotal})
	}
	var b *format.Batcher
	if p.format != "parquet" {
		b = format.NewBatcher(c.mem, p.text, proj, limits)
		defer b.Release()
	}
	for i := skip; i < len(p.files); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := p.files[i]
		switch p.format {
		case "csv", "jsonl":
			err = readText(ctx, opts, f.path, p.format, format.Target{Out: out, Batcher: b, Progress: progress})
		case "parquet":
			err = readParquet(ctx, f, format.ParquetRead{Name: f.path, Schema: p.parquet, Project: proj,
				Limits: limits, Mem: c.mem, Out: out, Progress: progress})
		}
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
				return ctxErr
			}
			return err
		}
		bytesDone += f.size
		cp, _ := json.Marshal(position{File: f.path, FilesDone: i + 1})
		if err := out.Checkpoint(cp); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	return progress(0)
}

func readText(ctx context.Context, opts *sourceOptions, path, fmtName string, t format.Target) error {
	in, closeFn, err := openInput(path, opts.Compression)
	if err != nil {
		return err
	}
	defer closeFn()
	if fmtName == "csv" {
		return format.ReadCSV(ctx, in, opts.ReadOptions, t)
	}
	return format.ReadJSONL(ctx, in, t)
}

func readParquet(ctx context.Context, f sourceFile, req format.ParquetRead) error {
	file, size, err := openParquetFile(f.path)
	if err != nil {
		return err
	}
	defer file.Close()
	return format.ReadParquet(ctx, file, size, req)
}
