package format

import (
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluice-dev/sluice/sdk"
)

// hiveDefaultPartition is Hive's directory value for null (and empty)
// partition values; Spark, Trino and DuckDB read it back as null.
const hiveDefaultPartition = "__HIVE_DEFAULT_PARTITION__"

// hiveEscape lists the bytes Hive's FileUtils.escapePathName encodes as
// %XX, so that directories written here parse back in Hive-compatible
// readers. It covers the separators ('/', '='), '%' itself and control
// characters, plus the characters that are unsafe in object-store keys.
var hiveEscape = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	for _, c := range []byte("\"#%'*/:=?\\\x7f{[]^") {
		t[c] = true
	}
	return t
}()

func appendHiveEscaped(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if hiveEscape[c] {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// partitionRenderer appends one column's partition value for row i, or
// returns a reason when the type has no directory form.
type partitionRenderer func(dst []byte, i int) ([]byte, string)

func newPartitionRenderer(name string, col arrow.Array) partitionRenderer {
	nullOr := func(render func(dst []byte, i int) []byte) partitionRenderer {
		return func(dst []byte, i int) ([]byte, string) {
			if col.IsNull(i) {
				return append(dst, hiveDefaultPartition...), ""
			}
			return render(dst, i), ""
		}
	}
	switch a := col.(type) {
	case *array.String:
		return nullOr(func(dst []byte, i int) []byte {
			if v := a.Value(i); v != "" {
				return appendHiveEscaped(dst, v)
			}
			return append(dst, hiveDefaultPartition...)
		})
	case *array.LargeString:
		return nullOr(func(dst []byte, i int) []byte {
			if v := a.Value(i); v != "" {
				return appendHiveEscaped(dst, v)
			}
			return append(dst, hiveDefaultPartition...)
		})
	case *array.Int64:
		return nullOr(func(dst []byte, i int) []byte { return strconv.AppendInt(dst, a.Value(i), 10) })
	case *array.Int32:
		return nullOr(func(dst []byte, i int) []byte { return strconv.AppendInt(dst, int64(a.Value(i)), 10) })
	case *array.Boolean:
		return nullOr(func(dst []byte, i int) []byte { return strconv.AppendBool(dst, a.Value(i)) })
	case *array.Date32:
		return nullOr(func(dst []byte, i int) []byte { return appendDate(dst, int64(a.Value(i))) })
	case *array.Timestamp:
		perSec := unitsPerSecond(a.DataType().(*arrow.TimestampType).Unit)
		return nullOr(func(dst []byte, i int) []byte {
			var tmp [40]byte
			sec, nsec := splitUnit(int64(a.Value(i)), perSec)
			return appendHiveEscaped(dst, string(appendTimestamp(tmp[:0], sec, nsec)))
		})
	}
	switch col.DataType().ID() {
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.STRUCT, arrow.MAP,
		arrow.DENSE_UNION, arrow.SPARSE_UNION, arrow.BINARY, arrow.LARGE_BINARY:
		return func(dst []byte, i int) ([]byte, string) {
			if col.IsNull(i) {
				return append(dst, hiveDefaultPartition...), ""
			}
			return dst, fmt.Sprintf("partition field %q: a %s value has no directory form", name, col.DataType())
		}
	}
	return nullOr(func(dst []byte, i int) []byte { return appendHiveEscaped(dst, col.ValueStr(i)) })
}

func unitsPerSecond(u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return 1
	case arrow.Millisecond:
		return 1e3
	case arrow.Microsecond:
		return 1e6
	}
	return 1e9
}

// PartitionGroup is the rows of one batch that go to one directory.
type PartitionGroup struct {
	// Dir is the Hive-style path, "k=v/k2=v2", slash-separated, values
	// escaped as Hive escapes them; null and empty values are
	// __HIVE_DEFAULT_PARTITION__.
	Dir string
	// Rows are the batch's row indices, in order.
	Rows []int
}

// GroupRows splits a batch by the partition directory its rows belong to,
// named by the fields names at column indices idx, in order of first
// appearance. Rows whose value has no directory form (a list, a struct)
// come back as rejected rows with a reason.
func GroupRows(rec arrow.RecordBatch, names []string, idx []int) ([]PartitionGroup, []sdk.RejectedRow) {
	renderers := make([]partitionRenderer, len(idx))
	prefixes := make([][]byte, len(idx))
	for j, c := range idx {
		renderers[j] = newPartitionRenderer(names[j], rec.Column(c))
		prefixes[j] = append(appendHiveEscaped(nil, names[j]), '=')
	}
	var groups []PartitionGroup
	byDir := map[string]int{}
	var rejects []sdk.RejectedRow
	var key []byte
	n := int(rec.NumRows())
rows:
	for i := 0; i < n; i++ {
		key = key[:0]
		for j := range renderers {
			if j > 0 {
				key = append(key, '/')
			}
			key = append(key, prefixes[j]...)
			var reason string
			if key, reason = renderers[j](key, i); reason != "" {
				rejects = append(rejects, sdk.RejectedRow{Row: i, Reason: reason})
				continue rows
			}
		}
		g, ok := byDir[string(key)]
		if !ok {
			g = len(groups)
			byDir[string(key)] = g
			groups = append(groups, PartitionGroup{Dir: string(key)})
		}
		groups[g].Rows = append(groups[g].Rows, i)
	}
	return groups, rejects
}
