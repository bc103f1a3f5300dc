package format

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

const (
	// A row group is cut at this many Arrow bytes or rows: large enough
	// for efficient scans, small enough that the buffered group (pqarrow
	// keeps a whole group in memory before writing it) stays bounded.
	rowGroupBytes = 32 << 20
	rowGroupRows  = 512 << 10
)

type ParquetEncoder struct {
	bw    *bufio.Writer
	fw    *pqarrow.FileWriter
	out   *countingWriter
	mem   memory.Allocator
	limit int64 // row group cap in Arrow bytes for this file

	// pqarrow only counts a buffered group's pages once they are cut
	// (1 MiB each by default), so the size of the open group is estimated
	// from its Arrow bytes and the ratio the file's earlier groups
	// achieved, starting from 1:1.
	groupArrow                int64
	doneArrow, doneCompressed int64
}

func parquetCodec(name string) compress.Compression {
	switch name {
	case "zstd":
		return compress.Codecs.Zstd
	case "gzip":
		return compress.Codecs.Gzip
	case "lz4":
		return compress.Codecs.Lz4Raw
	case "none", "uncompressed":
		return compress.Codecs.Uncompressed
	}
	return compress.Codecs.Snappy
}

// ParquetWriteOptions shape the Parquet file an encoder writes.
type ParquetWriteOptions struct {
	// Compression is snappy (the default for ""), zstd, gzip, lz4 or none.
	Compression string
	// TargetFileSize caps the row groups too, so that a small target
	// still gets files cut near it; 0 means no cap beyond the default.
	TargetFileSize int64
	// NoDictionary lists top-level columns written without a dictionary
	// (see [HighCardinality]).
	NoDictionary []string
	// CreatedBy goes into the file footer.
	CreatedBy string
	// Mem allocates the encoder's buffers; nil means the default.
	Mem memory.Allocator
}

// NewParquetEncoder returns an encoder writing one Parquet file of schema
// sc to w. The Arrow schema is stored in the file, so a reader gets back
// the same types (timestamp zones, string vs binary).
func NewParquetEncoder(w io.Writer, sc *arrow.Schema, o ParquetWriteOptions) (*ParquetEncoder, error) {
	mem := o.Mem
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	if o.CreatedBy == "" {
		o.CreatedBy = "sluice"
	}
	limit := int64(rowGroupBytes)
	if o.TargetFileSize > 0 {
		limit = min(limit, o.TargetFileSize)
	}
	props := []parquet.WriterProperty{
		parquet.WithAllocator(mem),
		parquet.WithCompression(parquetCodec(o.Compression)),
		parquet.WithCreatedBy(o.CreatedBy),
	}
	for _, name := range o.NoDictionary {
		props = append(props, parquet.WithDictionaryFor(name, false))
	}
	out := &countingWriter{w: w}
	e := &ParquetEncoder{bw: bufio.NewWriterSize(out, 1<<20), out: out, mem: mem, limit: limit}
	// The stored Arrow schema keeps what Parquet alone would lose (the
	// timestamp zone, string vs binary), so a read gives back these types.
	fw, err := pqarrow.NewFileWriter(sc, e.bw, parquet.NewWriterProperties(props...),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(mem)))
	if err != nil {
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	e.fw = fw
	return e, nil
}

func (e *ParquetEncoder) Write(rec arrow.RecordBatch, rows []int) error {
	if rows != nil && len(rows) != int(rec.NumRows()) {
		sub, err := TakeRows(e.mem, rec, rows)
		if err != nil {
			return err
		}
		defer sub.Release()
		rec = sub
	}
	if err := e.fw.WriteBuffered(rec); err != nil {
		return fmt.Errorf("parquet write: %w", err)
	}
	e.groupArrow += RecordBytes(rec)
	GroupRows, _ := e.fw.RowGroupNumRows()
	if e.groupArrow >= e.limit || GroupRows >= rowGroupRows {
		before := e.flushed()
		if err := e.fw.NewBufferedRowGroupChecked(); err != nil {
			return fmt.Errorf("parquet write: %w", err)
		}
		e.doneCompressed += e.flushed() - before
		e.doneArrow += e.groupArrow
		e.groupArrow = 0
	}
	return nil
}

func (e *ParquetEncoder) flushed() int64 { return e.out.n + int64(e.bw.Buffered()) }

func (e *ParquetEncoder) Size() int64 {
	open := e.groupArrow
	if e.doneArrow > 0 {
		open = open * e.doneCompressed / e.doneArrow
	}
	return e.flushed() + max(open, e.fw.RowGroupTotalBytesWritten())
}

func (e *ParquetEncoder) Finish() error {
	if err := e.fw.Close(); err != nil {
		return fmt.Errorf("parquet close: %w", err)
	}
	return e.bw.Flush()
}

// TakeRows gathers the given rows into a new batch; a partition's rows are
// scattered through the batch and Parquet wants them contiguous.
func TakeRows(mem memory.Allocator, rec arrow.RecordBatch, rows []int) (arrow.RecordBatch, error) {
	ib := array.NewInt32Builder(mem)
	defer ib.Release()
	ib.Reserve(len(rows))
	for _, r := range rows {
		ib.UnsafeAppend(int32(r))
	}
	idx := ib.NewArray()
	defer idx.Release()
	ctx := compute.WithAllocator(context.Background(), mem)
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for j, c := range rec.Columns() {
		out, err := compute.TakeArray(ctx, c, idx)
		if err != nil {
			return nil, fmt.Errorf("partition rows: %w", err)
		}
		cols[j] = out
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(len(rows))), nil
}

// HighCardinality picks the top-level columns to write without a
// dictionary: when most sampled values are distinct the dictionary only
// adds hashing (16% of write time on unique numbers, measured) and falls
// back to plain encoding anyway.
func HighCardinality(rec arrow.RecordBatch) []string {
	const sample = 8192
	n := min(int(rec.NumRows()), sample)
	if n < 1024 {
		return nil
	}
	var out []string
	for j, col := range rec.Columns() {
		var distinct, seen int
		switch a := col.(type) {
		case *array.Int64:
			distinct, seen = countDistinct(n, a.IsNull, a.Value)
		case *array.Float64:
			distinct, seen = countDistinct(n, a.IsNull, a.Value)
		case *array.Timestamp:
			distinct, seen = countDistinct(n, a.IsNull, a.Value)
		case *array.String:
			distinct, seen = countDistinct(n, a.IsNull, a.Value)
		default:
			continue
		}
		if seen >= 1024 && distinct*2 > seen {
			out = append(out, rec.Schema().Field(j).Name)
		}
	}
	return out
}

func countDistinct[T comparable](n int, isNull func(int) bool, value func(int) T) (distinct, seen int) {
	set := make(map[T]struct{}, n)
	for i := 0; i < n; i++ {
		if isNull(i) {
			continue
		}
		seen++
		set[value(i)] = struct{}{}
	}
	return len(set), seen
}

// countingWriter counts the bytes that reached the underlying writer.
type countingWriter struct {
	w io.Writer
	n int64
}

var _ io.Writer = (*countingWriter)(nil)

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
