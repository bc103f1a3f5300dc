package transform

import (
	"fmt"
	"reflect"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Formulas see Arrow columns as a handful of Go types, the ones expr knows
// how to compare and compute with. Narrow integers widen to int, floats and
// decimals to float64 (decimals lose exactness; a formula that needs exact
// money should keep the field out of arithmetic), every string flavour to
// string, timestamps and dates to time.Time in UTC.

var (
	typeInt    = reflect.TypeOf(0)
	typeFloat  = reflect.TypeOf(0.0)
	typeString = reflect.TypeOf("")
	typeBool   = reflect.TypeOf(false)
	typeTime   = reflect.TypeOf(time.Time{})
)

// formulaZero returns the typed zero value a formula sees for a column of
// type dt, which is what the checker types the identifier by.
func formulaZero(dt arrow.DataType) (any, bool) {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return 0, true
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128, arrow.DECIMAL256:
		return 0.0, true
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return "", true
	case arrow.BOOL:
		return false, true
	case arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64:
		return time.Time{}, true
	case arrow.DICTIONARY:
		if isStringType(dt.(*arrow.DictionaryType).ValueType) {
			return "", true
		}
	}
	return nil, false
}

func isStringType(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return true
	}
	return false
}

// outputType is the Arrow type a computed column of Go type t gets.
func outputType(t reflect.Type) (arrow.DataType, bool) {
	switch t {
	case typeInt:
		return arrow.PrimitiveTypes.Int64, true
	case typeFloat:
		return arrow.PrimitiveTypes.Float64, true
	case typeString:
		return arrow.BinaryTypes.String, true
	case typeBool:
		return arrow.FixedWidthTypes.Boolean, true
	case typeTime:
		return timestampUTC, true
	}
	return nil, false
}

var timestampUTC = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// rowGetter returns the formula value of row i, which must not be null.
type rowGetter func(i int) any

// newRowGetter builds the getter for one column of one batch. The type
// switch happens once per batch, not once per row.
func newRowGetter(arr arrow.Array) rowGetter {
	switch a := arr.(type) {
	case *array.Int64:
		v := a.Int64Values()
		return func(i int) any { return int(v[i]) }
	case *array.Int32:
		v := a.Int32Values()
		return func(i int) any { return int(v[i]) }
	case *array.Int16:
		v := a.Int16Values()
		return func(i int) any { return int(v[i]) }
	case *array.Int8:
		v := a.Int8Values()
		return func(i int) any { return int(v[i]) }
	case *array.Uint64:
		v := a.Uint64Values()
		return func(i int) any { return int(v[i]) }
	case *array.Uint32:
		v := a.Uint32Values()
		return func(i int) any { return int(v[i]) }
	case *array.Uint16:
		v := a.Uint16Values()
		return func(i int) any { return int(v[i]) }
	case *array.Uint8:
		v := a.Uint8Values()
		return func(i int) any { return int(v[i]) }
	case *array.Float64:
		v := a.Float64Values()
		return func(i int) any { return v[i] }
	case *array.Float32:
		v := a.Float32Values()
		return func(i int) any { return float64(v[i]) }
	case *array.Float16:
		return func(i int) any { return float64(a.Value(i).Float32()) }
	case *array.Decimal128:
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		return func(i int) any { return a.Value(i).ToFloat64(scale) }
	case *array.Decimal256:
		scale := a.DataType().(*arrow.Decimal256Type).Scale
		return func(i int) any { return a.Value(i).ToFloat64(scale) }
	case *array.String:
		return func(i int) any { return a.Value(i) }
	case *array.LargeString:
		return func(i int) any { return a.Value(i) }
	case *array.StringView:
		return func(i int) any { return a.Value(i) }
	case *array.Boolean:
		return func(i int) any { return a.Value(i) }
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		v := a.TimestampValues()
		return func(i int) any { return v[i].ToTime(unit).UTC() }
	case *array.Date32:
		v := a.Date32Values()
		return func(i int) any { return v[i].ToTime().UTC() }
	case *array.Date64:
		v := a.Date64Values()
		return func(i int) any { return v[i].ToTime().UTC() }
	case *array.Dictionary:
		dict := newRowGetter(a.Dictionary())
		return func(i int) any { return dict(a.GetValueIndex(i)) }
	}
	return func(i int) any { return arr.GetOneForMarshal(i) }
}

// rowValues is a record's values as a task saw them, for dead letters and
// error messages. Types formulas understand keep their formula form; any
// other column falls back to Arrow's JSON-ready form.
func rowValues(rec arrow.RecordBatch, i int) map[string]any {
	out := make(map[string]any, rec.NumCols())
	for c, f := range rec.Schema().Fields() {
		col := rec.Column(c)
		if col.IsNull(i) {
			out[f.Name] = nil
			continue
		}
		out[f.Name] = newRowGetter(col)(i)
	}
	return out
}

// describeType names a Go formula type for diagnostics.
func describeType(t reflect.Type) string {
	switch t {
	case nil:
		return "unknown"
	case typeInt:
		return "int"
	case typeFloat:
		return "float"
	case typeString:
		return "string"
	case typeBool:
		return "bool"
	case typeTime:
		return "time"
	}
	if t.Kind() == reflect.Interface {
		return "unknown"
	}
	return fmt.Sprint(t)
}
