package transform

import (
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/sdk"
)

// Change events carry a _change_type column (sdk.ChangeTypeField). A
// DELETE row holds only the record's key, so the tasks treat it apart:
// filters and validations let it through (judging a record by fields it
// no longer has would silently keep a deleted row alive in the sink),
// maps carry the column along even when they do not name it, and a
// formula failing on a delete row's nulls is not a failed record.

// ChangeColumn is the index of the change-type column in s, or -1 when
// there is none (or it holds no strings, so it cannot be one).
func ChangeColumn(s *arrow.Schema) int {
	idx := s.FieldIndices(sdk.ChangeTypeField)
	if len(idx) != 1 {
		return -1
	}
	if !arrow.IsBaseBinary(s.Field(idx[0]).Type.ID()) {
		return -1
	}
	return idx[0]
}

// Deletions marks the rows of rec that are deletions: nil when there
// are none, or when rec carries no change type.
func Deletions(rec arrow.RecordBatch) []bool {
	return deleteRows(rec, ChangeColumn(rec.Schema()))
}

// deleteRows is Deletions for a batch whose change-type column is col.
func deleteRows(rec arrow.RecordBatch, col int) []bool {
	if col < 0 {
		return nil
	}
	vals, ok := rec.Column(col).(stringValues)
	if !ok {
		return nil
	}
	var del []bool
	for i := 0; i < vals.Len(); i++ {
		if vals.IsValid(i) && vals.Value(i) == sdk.ChangeDelete {
			if del == nil {
				del = make([]bool, vals.Len())
			}
			del[i] = true
		}
	}
	return del
}

// passDeletes lets every delete row through a filter or validation: it
// passes, and a formula error on it is forgotten.
func passDeletes(rec arrow.RecordBatch, col int, pass []bool, errs []rowErr) []rowErr {
	del := deleteRows(rec, col)
	if del == nil {
		return errs
	}
	for i, d := range del {
		if d {
			pass[i] = true
		}
	}
	kept := errs[:0]
	for _, e := range errs {
		if !del[e.row] {
			kept = append(kept, e)
		}
	}
	return kept
}
