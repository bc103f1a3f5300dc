package format

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/sluice-dev/sluice/sdk"
)

// openParquet opens a Parquet file of size bytes with page-sized buffered
// reads. The default reads each column chunk whole, which for a large row
// group means holding most of it in memory at once; over an object store
// every read is a ranged request, so page-sized reads also keep them few
// and bounded.
func openParquet(r io.ReaderAt, size int64, path string, mem memory.Allocator, batchRows int) (*pqarrow.FileReader, func() error, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	props := parquet.NewReaderProperties(mem)
	props.BufferedStreamEnabled = true
	props.BufferSize = 1 << 20
	rdr, err := file.NewParquetReader(io.NewSectionReader(r, 0, size), file.WithReadProps(props))
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: int64(batchRows)}, mem)
	if err != nil {
		rdr.Close()
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return fr, rdr.Close, nil
}

// ParquetSchema returns the Arrow schema of the Parquet file of size bytes
// that r reads; name is only for messages.
func ParquetSchema(r io.ReaderAt, size int64, name string, mem memory.Allocator) (*arrow.Schema, error) {
	path := name
	fr, closeFn, err := openParquet(r, size, path, mem, 1)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	sc, err := fr.Schema()
	if err != nil {
		return nil, fmt.Errorf("read %s: schema: %w", path, err)
	}
	return cleanSchema(sc), nil
}

// cleanSchema drops the "PARQUET:field_id": "-1" that pqarrow attaches to
// every top-level field of a file written without field ids. It carries no
// information and would make the schema differ from the one written.
func cleanSchema(sc *arrow.Schema) *arrow.Schema {
	fields := sc.Fields()
	for i, f := range fields {
		if j := f.Metadata.FindKey("PARQUET:field_id"); j >= 0 && f.Metadata.Values()[j] == "-1" {
			keys, vals := []string{}, []string{}
			for k := range f.Metadata.Keys() {
				if k != j {
					keys = append(keys, f.Metadata.Keys()[k])
					vals = append(vals, f.Metadata.Values()[k])
				}
			}
			fields[i].Metadata = arrow.NewMetadata(keys, vals)
		}
	}
	md := sc.Metadata()
	return arrow.NewSchema(fields, &md)
}

// leafColumns lists the Parquet leaf columns under a top-level field; the
// record reader selects by leaf, not by field.
func leafColumns(sf *pqarrow.SchemaField, out []int) []int {
	if sf.IsLeaf() {
		return append(out, sf.ColIndex)
	}
	for i := range sf.Children {
		out = leafColumns(&sf.Children[i], out)
	}
	return out
}

// ParquetRead describes one Parquet read.
type ParquetRead struct {
	// Name is where the file comes from, for messages.
	Name string
	// Schema is the entity's schema (see [ParquetSchema] of its first
	// file); a file whose schema differs is an error.
	Schema *arrow.Schema
	// Project lists the columns to read, as [Projection] returns them.
	Project []int
	Limits  sdk.Limits
	Mem     memory.Allocator
	Out     sdk.RecordSender
	// Progress, when set, is called after each batch sent with the bytes
	// of this file covered so far (estimated from the rows read).
	Progress func(current int64) error
}

// ReadParquet streams the selected columns of the Parquet file of size
// bytes that r reads into req.Out, in batches that respect req.Limits.
// Reads are ranged and page-sized: nothing holds a whole column chunk.
func ReadParquet(ctx context.Context, r io.ReaderAt, size int64, req ParquetRead) error {
	req.Limits = NormLimits(req.Limits)
	rs := &parquetState{ctx: ctx, req: &req}
	f := struct {
		path string
		size int64
	}{req.Name, size}
	proj := req.Project
	fr, closeFn, err := openParquet(r, size, f.path, req.Mem, req.Limits.MaxRows)
	if err != nil {
		return err
	}
	defer closeFn()
	sc, err := fr.Schema()
	if err != nil {
		return fmt.Errorf("read %s: schema: %w", f.path, err)
	}
	if sc = cleanSchema(sc); !sc.Equal(rs.req.Schema) {
		return fmt.Errorf("%s: schema differs from the first file's:\n%s\nvs\n%s", f.path, sc, rs.req.Schema)
	}
	total := fr.ParquetReader().NumRows()
	if total == 0 {
		return nil
	}
	var leaves []int
	for _, i := range proj {
		leaves = leafColumns(&fr.Manifest.Fields[i], leaves)
	}
	sort.Ints(leaves)
	rr, err := fr.GetRecordReader(rs.ctx, leaves, nil)
	if err != nil {
		return fmt.Errorf("read %s: %w", f.path, err)
	}
	defer rr.Release()

	// The reader returns the selected fields in file order; the request
	// may list them in another.
	outFields := make([]arrow.Field, len(proj))
	for i, p := range proj {
		outFields[i] = rs.req.Schema.Field(p)
	}
	outSchema := arrow.NewSchema(outFields, nil)
	var order []int
	for _, p := range proj {
		order = append(order, rr.Schema().FieldIndices(rs.req.Schema.Field(p).Name)[0])
	}

	var done int64
	for rr.Next() {
		if err := rs.ctx.Err(); err != nil {
			return err
		}
		rec := rr.RecordBatch()
		cols := make([]arrow.Array, len(order))
		for i, j := range order {
			cols[i] = rec.Column(j)
		}
		out := array.NewRecordBatch(outSchema, cols, rec.NumRows())
		// Parquet has no byte offset to report; rows done scale the size.
		err := rs.sendSplit(out, func(rows int64) int64 {
			return int64(float64(f.size) * float64(done+rows) / float64(total))
		})
		out.Release()
		if err != nil {
			return err
		}
		done += rec.NumRows()
	}
	if err := rr.Err(); err != nil {
		return fmt.Errorf("read %s: %w", f.path, err)
	}
	return nil
}

type parquetState struct {
	ctx context.Context
	req *ParquetRead
}

// sendSplit sends rec in slices that respect MaxBytes (MaxRows is already
// the reader's batch size), reporting progress after each.
func (rs *parquetState) sendSplit(rec arrow.RecordBatch, bytesAt func(rows int64) int64) error {
	rows := rec.NumRows()
	size := RecordBytes(rec)
	step := rows
	if size > int64(rs.req.Limits.MaxBytes) && rows > 1 {
		step = max(1, rows*int64(rs.req.Limits.MaxBytes)/size)
	}
	step = min(step, int64(rs.req.Limits.MaxRows))
	for off := int64(0); off < rows; off += step {
		if err := rs.ctx.Err(); err != nil {
			return err
		}
		part := rec
		if off > 0 || step < rows {
			part = rec.NewSlice(off, min(off+step, rows))
		}
		err := rs.req.Out.Send(part)
		if part != rec {
			part.Release()
		}
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
		if rs.req.Progress != nil {
			if err := rs.req.Progress(bytesAt(min(off+step, rows))); err != nil {
				return err
			}
		}
	}
	return nil
}

// RecordBytes is the size of rec's Arrow buffers.
func RecordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, c := range rec.Columns() {
		n += dataBytes(c.Data())
	}
	return n
}

func dataBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataBytes(c)
	}
	return n
}
