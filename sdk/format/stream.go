package format

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// StreamSchema pins the schema of one write stream — set from the write
// request, or else from the first batch — and where its partition fields
// are. File-like sinks embed it.
type StreamSchema struct {
	Schema *arrow.Schema
	// PartitionBy names the partition fields; PartNames and PartIdx are
	// them as found in Schema.
	PartitionBy []string
	PartNames   []string
	PartIdx     []int
}

// SetSchema pins sc, failing if a partition field is missing from it.
func (s *StreamSchema) SetSchema(sc *arrow.Schema) error {
	s.Schema = sc
	s.PartNames, s.PartIdx = nil, nil
	for _, name := range s.PartitionBy {
		idx := sc.FieldIndices(name)
		if len(idx) == 0 {
			return OptionError("partition_by", "%q is not a field of the written records", name)
		}
		s.PartNames = append(s.PartNames, name)
		s.PartIdx = append(s.PartIdx, idx[0])
	}
	return nil
}

// Conform checks rec against the stream's schema (pinning it from rec on
// the first batch). A batch that differs only in metadata or nullability
// flags is re-labelled with the stream's schema, because pqarrow (and CSV
// headers) need one schema per file. The caller releases the result.
func (s *StreamSchema) Conform(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	if s.Schema == nil {
		if err := s.SetSchema(rec.Schema()); err != nil {
			return nil, err
		}
	}
	sc := rec.Schema()
	if sc.Equal(s.Schema) {
		rec.Retain()
		return rec, nil
	}
	if sc.NumFields() != s.Schema.NumFields() {
		return nil, fmt.Errorf("batch has %d fields, the stream %d", sc.NumFields(), s.Schema.NumFields())
	}
	for i, f := range sc.Fields() {
		want := s.Schema.Field(i)
		if f.Name != want.Name || !arrow.TypeEqual(f.Type, want.Type) {
			return nil, fmt.Errorf("batch field %d is %s %s, the stream's is %s %s", i, f.Name, f.Type, want.Name, want.Type)
		}
	}
	return array.NewRecordBatch(s.Schema, rec.Columns(), rec.NumRows()), nil
}
