package format

import (
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/klauspost/compress/gzip"
)

// NewEncoder returns the encoder o asks for, writing to w. p applies to
// Parquet only (o.ParquetCompression overrides p.Compression). With gzip,
// Size counts the compressed bytes that reached w and Finish ends the gzip
// stream; w itself is never closed.
func NewEncoder(w io.Writer, sc *arrow.Schema, o *WriteOptions, p ParquetWriteOptions) (Encoder, error) {
	switch o.Format {
	case "csv", "jsonl":
		var gz *gzip.Writer
		cw := &countingWriter{w: w}
		dst := io.Writer(cw)
		if o.Gzip {
			gz = gzip.NewWriter(cw)
			dst = gz
		}
		var enc Encoder
		if o.Format == "csv" {
			enc = NewCSVEncoder(dst, o.CSV)
		} else {
			enc = NewJSONLEncoder(dst, sc)
		}
		if gz == nil {
			return enc, nil
		}
		return &gzipEncoder{Encoder: enc, gz: gz, out: cw}, nil
	case "parquet":
		if o.ParquetCompression != "" {
			p.Compression = o.ParquetCompression
		}
		return NewParquetEncoder(w, sc, p)
	}
	return nil, fmt.Errorf("unknown format %q", o.Format)
}

// gzipEncoder compresses a text encoder's output.
type gzipEncoder struct {
	Encoder
	gz  *gzip.Writer
	out *countingWriter
}

// Size is about bytes at the destination; what gzip has emitted so far
// lags its input by at most one compression block.
func (e *gzipEncoder) Size() int64 { return e.out.n }

func (e *gzipEncoder) Finish() error {
	if err := e.Encoder.Finish(); err != nil {
		return err
	}
	return e.gz.Close()
}

// Projection maps requested field names to column indices of sc, in the
// order requested. No names means every column.
func Projection(names []string, sc *arrow.Schema) ([]int, error) {
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
