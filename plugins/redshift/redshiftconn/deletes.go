package redshiftconn

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/sluice-dev/sluice/sdk"
)

// CheckWrite reports, without connecting, what OpenWriter would refuse:
// bad sink attributes, and for change-event deletes a write mode that
// cannot delete or records without a usable change-type column. Table and
// column problems need the database and are OpenWriter's.
func (c *Connector) CheckWrite(ctx context.Context, req sdk.WriteRequest) sdk.Diagnostics {
	_, err := parseSinkOptions(req.Options, req.Entity)
	return append(sdk.ErrorDiagnostics("Invalid redshift sink attribute", err), checkDeletes(req)...)
}

// checkDeletes is the part of a write request that deletes depend on.
// Diagnostics sit on the sink's deletes attribute, the one that asked.
func checkDeletes(req sdk.WriteRequest) sdk.Diagnostics {
	if !req.Deletes {
		return nil
	}
	path := []string{"deletes"}
	var diags sdk.Diagnostics
	switch req.Mode {
	case sdk.WriteUpsert, sdk.WriteUpdate:
	case "", sdk.WriteInsert:
		diags = append(diags, sdk.Errorf(path, `deletes need write = "upsert"`,
			`write = "insert" appends rows and matches no key, so it has nothing to delete by; use write = "upsert" (or "update") with a key`))
	case sdk.WriteDelete:
		diags = append(diags, sdk.Errorf(path, `deletes need write = "upsert"`,
			`write = "delete" deletes every record it receives; deletes = true applies each record's %s and needs write = "upsert" (or "update") with a key`,
			sdk.ChangeTypeField))
	}
	if req.Schema != nil {
		if _, err := changeTypeIndex(req.Schema); err != nil {
			diags = append(diags, sdk.Errorf(path, "deletes need the change type of each record", "%v", err))
		}
	}
	return diags
}

// changeTypeIndex finds the change-event column that tells a delete from
// a write.
func changeTypeIndex(schema *arrow.Schema) (int, error) {
	idx := schema.FieldIndices(sdk.ChangeTypeField)
	switch len(idx) {
	case 0:
		return -1, fmt.Errorf("deletes = true needs the %q field (CREATE, UPDATE, DELETE or UNDELETE per record), which change events carry; the records have %s",
			sdk.ChangeTypeField, fieldList(schema))
	case 1:
	default:
		return -1, fmt.Errorf("the records have %d fields named %q", len(idx), sdk.ChangeTypeField)
	}
	switch t := schema.Field(idx[0]).Type; t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
	default:
		return -1, fmt.Errorf("field %q is %s; the change type is a string", sdk.ChangeTypeField, t)
	}
	return idx[0], nil
}

// changeReader reads each row's change type from one batch's change-event
// column.
type changeReader struct {
	arr arrow.Array
	get func(i int) string
}

func newChangeReader(arr arrow.Array) (*changeReader, error) {
	r := &changeReader{arr: arr}
	switch a := arr.(type) {
	case *array.String:
		r.get = a.Value
	case *array.LargeString:
		r.get = a.Value
	case *array.StringView:
		r.get = a.Value
	default:
		return nil, fmt.Errorf("field %q is %s; the change type is a string", sdk.ChangeTypeField, arr.DataType())
	}
	return r, nil
}

// deleted reports whether row i deletes its key. A row whose change type
// is null or unknown gets a reason instead: neither writing nor deleting
// it is known to be right, so it is rejected.
func (r *changeReader) deleted(i int) (bool, string) {
	if r.arr.IsNull(i) {
		return false, fmt.Sprintf("field %q is null; a change event is CREATE, UPDATE, DELETE or UNDELETE", sdk.ChangeTypeField)
	}
	switch op := r.get(i); op {
	case sdk.ChangeDelete:
		return true, ""
	case sdk.ChangeCreate, sdk.ChangeUpdate, sdk.ChangeUndelete:
		return false, ""
	default:
		return false, fmt.Sprintf("field %q: %q is not a change this sink applies (CREATE, UPDATE, DELETE or UNDELETE)", sdk.ChangeTypeField, op)
	}
}
