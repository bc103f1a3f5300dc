package fileconn

import (
	"fmt"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// kind is the closed set of column types the text formats (CSV, JSONL)
// produce. Parquet files carry their own Arrow types and bypass it.
type kind uint8

const (
	kindString kind = iota
	kindInt
	kindFloat
	kindBool
	kindTimestamp
	kindDate
)

var kindNames = map[string]kind{
	"string":    kindString,
	"int":       kindInt,
	"float":     kindFloat,
	"bool":      kindBool,
	"timestamp": kindTimestamp,
	"date":      kindDate,
}

func (k kind) String() string {
	return [...]string{"string", "int", "float", "bool", "timestamp", "date"}[k]
}

var timestampUTC = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

func (k kind) arrowType() arrow.DataType {
	switch k {
	case kindInt:
		return arrow.PrimitiveTypes.Int64
	case kindFloat:
		return arrow.PrimitiveTypes.Float64
	case kindBool:
		return arrow.FixedWidthTypes.Boolean
	case kindTimestamp:
		return timestampUTC
	case kindDate:
		return arrow.FixedWidthTypes.Date32
	}
	return arrow.BinaryTypes.String
}

// width is the Arrow bytes one value takes, for the MaxBytes estimate.
// Strings add their length on top of the 4-byte offset.
func (k kind) width() int {
	switch k {
	case kindInt, kindFloat, kindTimestamp:
		return 8
	case kindDate, kindString:
		return 4
	}
	return 1
}

func parseKind(s string) (kind, error) {
	if k, ok := kindNames[strings.ToLower(strings.TrimSpace(s))]; ok {
		return k, nil
	}
	return 0, fmt.Errorf("unknown type %q (want one of %s)", s, strings.Join(kindList(), ", "))
}

func kindList() []string {
	names := make([]string, 0, len(kindNames))
	for n := range kindNames {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// textSchema is the shape of a CSV or JSONL entity: every column, in file
// order, with its kind after inference and overrides.
type textSchema struct {
	names []string
	kinds []kind
}

func (s textSchema) arrow() *arrow.Schema {
	fields := make([]arrow.Field, len(s.names))
	for i, n := range s.names {
		fields[i] = arrow.Field{Name: n, Type: s.kinds[i].arrowType(), Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

func (s textSchema) index(name string) int {
	for i, n := range s.names {
		if n == name {
			return i
		}
	}
	return -1
}

// applyOverrides sets the kinds named in the schema attribute. A name the
// file does not have is an error rather than ignored, because a typo would
// otherwise silently leave the column a string.
func (s textSchema) applyOverrides(overrides map[string]kind, where string) error {
	var missing []string
	for name, k := range overrides {
		i := s.index(name)
		if i < 0 {
			missing = append(missing, name)
			continue
		}
		s.kinds[i] = k
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("schema names %s, which %s does not have (columns: %s)",
			strings.Join(quoteAll(missing), ", "), where, strings.Join(s.names, ", "))
	}
	return nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// textGuess narrows a column's type as sample values arrive: each flag
// stays true only while every non-null value seen fits that type.
type textGuess struct {
	seen                                   bool
	isInt, isFloat, isBool, isTime, isDate bool
}

func newGuess() textGuess {
	return textGuess{isInt: true, isFloat: true, isBool: true, isTime: true, isDate: true}
}

func (g *textGuess) observe(v []byte) {
	g.seen = true
	if hasLeadingZero(v) {
		// "00123" is an identifier (a zip code, a Salesforce-style id):
		// reading it as a number would lose the zeros.
		g.isInt, g.isFloat = false, false
	}
	if g.isInt {
		if _, ok := parseInt(v); !ok {
			g.isInt = false
		}
	}
	if g.isFloat && !g.isInt {
		if _, ok := parseFloat(v); !ok || !looksNumeric(v) {
			g.isFloat = false
		}
	}
	if g.isBool && !isBoolWord(v) {
		g.isBool = false
	}
	if g.isTime && !isTimestampText(v) {
		g.isTime = false
	}
	if g.isDate {
		if _, ok := parseDate(v); !ok {
			g.isDate = false
		}
	}
}

func (g *textGuess) kind() kind {
	switch {
	case !g.seen:
		return kindString
	case g.isInt:
		return kindInt
	case g.isFloat:
		return kindFloat
	case g.isBool:
		return kindBool
	case g.isTime:
		return kindTimestamp
	case g.isDate:
		return kindDate
	}
	return kindString
}

// hasLeadingZero reports a number-like text with a redundant leading zero.
func hasLeadingZero(v []byte) bool {
	if len(v) > 0 && (v[0] == '-' || v[0] == '+') {
		v = v[1:]
	}
	return len(v) > 1 && v[0] == '0' && v[1] >= '0' && v[1] <= '9'
}
