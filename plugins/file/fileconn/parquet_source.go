package fileconn

import (
	"fmt"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// openParquet opens path with page-sized buffered reads. The default reads
// each column chunk whole, which for a large row group means holding most
// of it in memory at once.
func openParquet(path string, mem memory.Allocator, batchRows int) (*pqarrow.FileReader, func() error, error) {
	props := parquet.NewReaderProperties(mem)
	props.BufferedStreamEnabled = true
	props.BufferSize = 1 << 20
	rdr, err := file.OpenParquetFile(path, false, file.WithReadProps(props))
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

func parquetSchema(path string, mem memory.Allocator) (*arrow.Schema, error) {
	fr, closeFn, err := openParquet(path, mem, 1)
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

func (rs *readState) readParquet(f sourceFile, proj []int) error {
	fr, closeFn, err := openParquet(f.path, rs.mem, rs.limits.MaxRows)
	if err != nil {
		return err
	}
	defer closeFn()
	sc, err := fr.Schema()
	if err != nil {
		return fmt.Errorf("read %s: schema: %w", f.path, err)
	}
	if sc = cleanSchema(sc); !sc.Equal(rs.plan.parquet) {
		return fmt.Errorf("%s: schema differs from the first file's:\n%s\nvs\n%s", f.path, sc, rs.plan.parquet)
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
		outFields[i] = rs.plan.parquet.Field(p)
	}
	outSchema := arrow.NewSchema(outFields, nil)
	var order []int
	for _, p := range proj {
		order = append(order, rr.Schema().FieldIndices(rs.plan.parquet.Field(p).Name)[0])
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

// sendSplit sends rec in slices that respect MaxBytes (MaxRows is already
// the reader's batch size), reporting progress after each.
func (rs *readState) sendSplit(rec arrow.RecordBatch, bytesAt func(rows int64) int64) error {
	rows := rec.NumRows()
	size := recordBytes(rec)
	step := rows
	if size > int64(rs.limits.MaxBytes) && rows > 1 {
		step = max(1, rows*int64(rs.limits.MaxBytes)/size)
	}
	step = min(step, int64(rs.limits.MaxRows))
	for off := int64(0); off < rows; off += step {
		if err := rs.ctx.Err(); err != nil {
			return err
		}
		part := rec
		if off > 0 || step < rows {
			part = rec.NewSlice(off, min(off+step, rows))
		}
		err := rs.out.Send(part)
		if part != rec {
			part.Release()
		}
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
		if err := rs.progress(bytesAt(min(off+step, rows))); err != nil {
			return err
		}
	}
	return nil
}

func recordBytes(rec arrow.RecordBatch) int64 {
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
