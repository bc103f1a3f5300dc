package redshiftconn

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/sluice-dev/sluice/sdk"
)

// fieldPlan says what happens to one source field.
type fieldPlan struct {
	idx    int // index in the record schema
	field  arrow.Field
	name   string // folded column name
	col    colType
	isNew  bool // the column does not exist yet
	key    bool
	nonull bool // the column must not receive NULL (a key)
}

// schemaPlan maps a record schema onto the target table.
type schemaPlan struct {
	table   tableName // schema resolved
	exists  bool
	fields  []fieldPlan // the loaded fields, in record order
	keys    []string    // folded
	ignored []string    // fields left out (on_schema_change = ignore)
	// change is the index of the change-event column (sdk.ChangeTypeField)
	// when the writer applies deletes, else -1. It is read per row and
	// never becomes a column.
	change int
}

// foldFields folds the record's field names and refuses names the target
// cannot hold or that collide after folding.
// The field at index skip (the change-event column, or -1) is not a
// column and is left out.
func foldFields(d dialect, schema *arrow.Schema, skip int) ([]string, error) {
	names := make([]string, schema.NumFields())
	seen := map[string]string{}
	for i, f := range schema.Fields() {
		if i == skip {
			continue
		}
		n := foldIdent(f.Name)
		if err := d.checkIdent(n); err != nil {
			return nil, fmt.Errorf("field %q: %v", f.Name, err)
		}
		if n == seqColumn || n == rnColumn || n == deletedColumn {
			return nil, fmt.Errorf("field %q: the name is reserved for the loader's staging tables", f.Name)
		}
		if prev, dup := seen[n]; dup {
			return nil, fmt.Errorf("fields %q and %q both become column %q (%s folds names to lower case)", prev, f.Name, n, d)
		}
		seen[n] = f.Name
		names[i] = n
	}
	return names, nil
}

// resolveSchema fills in the current schema of an unqualified table.
func resolveSchema(ctx context.Context, s session, t tableName) (tableName, error) {
	if t.Schema != "" {
		return t, nil
	}
	rows, err := s.Query(ctx, "SELECT CAST(current_schema() AS VARCHAR)")
	if err != nil {
		return t, err
	}
	if len(rows) == 0 || rows[0][0] == "" {
		return t, fmt.Errorf("table %s: no current schema; qualify the table as schema.table", t)
	}
	t.Schema = rows[0][0]
	return t, nil
}

// inspect returns the table's columns, or none when it does not exist.
func inspect(ctx context.Context, s session, t tableName) ([]column, error) {
	rows, err := s.Query(ctx, inspectSQL(t, t.Schema))
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", t, err)
	}
	cols := make([]column, len(rows))
	for i, r := range rows {
		cols[i] = column{Name: r[0], Type: parseCatalogType(r[1], r[2], r[3], r[4])}
	}
	return cols, nil
}

// planSchema checks schema against the table and decides, field by field,
// what the load does. It never changes an existing column's type: a field
// whose type the column cannot hold is an error naming both.
func planSchema(ctx context.Context, s session, d dialect, table tableName, schema *arrow.Schema, mode sdk.WriteMode, keys []string, o sinkOptions) (*schemaPlan, error) {
	p := &schemaPlan{change: -1}
	if o.deletes {
		i, err := changeTypeIndex(schema)
		if err != nil {
			return nil, err
		}
		p.change = i
	}
	names, err := foldFields(d, schema, p.change)
	if err != nil {
		return nil, err
	}
	byName := map[string]int{}
	for i, n := range names {
		if i != p.change {
			byName[n] = i
		}
	}
	keyed := mode != sdk.WriteInsert
	if keyed && len(keys) == 0 {
		return nil, fmt.Errorf("write mode %s needs key fields", mode)
	}
	if keyed {
		for _, k := range keys {
			fk := foldIdent(k)
			if _, ok := byName[fk]; !ok {
				return nil, fmt.Errorf("key field %q is not in the data; the records have %s", k, fieldList(schema))
			}
			if !contains(p.keys, fk) {
				p.keys = append(p.keys, fk)
			}
		}
	}
	p.table, err = resolveSchema(ctx, s, table)
	if err != nil {
		return nil, err
	}
	existing, err := inspect(ctx, s, p.table)
	if err != nil {
		return nil, err
	}
	p.exists = len(existing) > 0
	if !p.exists && !o.createTable {
		return nil, fmt.Errorf("table %s does not exist and create_table is false", p.table)
	}
	cols := map[string]colType{}
	for _, c := range existing {
		cols[c.Name] = c.Type
	}
	var mismatches, missing []string
	for i, f := range schema.Fields() {
		if i == p.change {
			continue
		}
		fp := fieldPlan{idx: i, field: f, name: names[i], key: contains(p.keys, names[i])}
		fp.nonull = fp.key
		if col, ok := cols[fp.name]; ok {
			if !compatible(f.Type, col) {
				mismatches = append(mismatches, fmt.Sprintf("column %q is %s in %s, but field %q is %s (%s needs %s)",
					fp.name, col.describe(), p.table, f.Name, f.Type, d, d.ddlFor(f)))
				continue
			}
			fp.col = col
		} else {
			if p.exists {
				switch o.onSchemaChange {
				case SchemaFail:
					missing = append(missing, fp.name)
					continue
				case SchemaIgnore:
					if fp.key {
						return nil, fmt.Errorf("key field %q has no column in %s, and on_schema_change = ignore would leave it out", f.Name, p.table)
					}
					p.ignored = append(p.ignored, f.Name)
					continue
				}
			}
			fp.col, err = d.columnType(f)
			if err != nil {
				return nil, err
			}
			fp.isNew = true
		}
		p.fields = append(p.fields, fp)
	}
	if len(mismatches) > 0 {
		return nil, fmt.Errorf("incompatible column types (the loader never changes an existing column's type): %s", strings.Join(mismatches, "; "))
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("table %s has no column for %s, and on_schema_change = fail", p.table, strings.Join(missing, ", "))
	}
	if len(p.fields) == 0 {
		return nil, fmt.Errorf("no field of the records has a column in %s", p.table)
	}
	for _, k := range append([]string{o.distKey}, o.sortKey...) {
		if k == "" {
			continue
		}
		if _, ok := byName[foldIdent(k)]; !ok {
			return nil, fmt.Errorf("distkey/sortkey %q is not a field of the records", k)
		}
	}
	return p, nil
}

func (d dialect) ddlFor(f arrow.Field) string {
	t, err := d.columnType(f)
	if err != nil {
		return "a type it does not have"
	}
	return d.ddl(t)
}

func fieldList(schema *arrow.Schema) string {
	names := make([]string, schema.NumFields())
	for i, f := range schema.Fields() {
		names[i] = f.Name
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// sameShape reports whether a batch has the schema the writer was opened
// with (names and types; metadata aside).
func sameShape(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.Fields() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || !arrow.TypeEqual(fa.Type, fb.Type) {
			return false
		}
	}
	return true
}
