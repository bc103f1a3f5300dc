package format

import (
	"fmt"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Kind is the closed set of column types the text formats (CSV, JSONL)
// produce. Parquet files carry their own Arrow types and bypass it.
type Kind uint8

const (
	KindString Kind = iota
	KindInt
	KindFloat
	KindBool
	KindTimestamp
	KindDate
)

var kindNames = map[string]Kind{
	"string":    KindString,
	"int":       KindInt,
	"float":     KindFloat,
	"bool":      KindBool,
	"timestamp": KindTimestamp,
	"date":      KindDate,
}

func (k Kind) String() string {
	return [...]string{"string", "int", "float", "bool", "timestamp", "date"}[k]
}

// TimestampUTC is the type of timestamp columns: microseconds, UTC.
var TimestampUTC = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// ArrowType is the Arrow type a column of kind k reads as.
func (k Kind) ArrowType() arrow.DataType {
	switch k {
	case KindInt:
		return arrow.PrimitiveTypes.Int64
	case KindFloat:
		return arrow.PrimitiveTypes.Float64
	case KindBool:
		return arrow.FixedWidthTypes.Boolean
	case KindTimestamp:
		return TimestampUTC
	case KindDate:
		return arrow.FixedWidthTypes.Date32
	}
	return arrow.BinaryTypes.String
}

// width is the Arrow bytes one value takes, for the MaxBytes estimate.
// Strings add their length on top of the 4-byte offset.
func (k Kind) width() int {
	switch k {
	case KindInt, KindFloat, KindTimestamp:
		return 8
	case KindDate, KindString:
		return 4
	}
	return 1
}

// ParseKind reads a type name as a schema override spells it: string,
// int, float, bool, timestamp or date.
func ParseKind(s string) (Kind, error) {
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

// TextSchema is the shape of a CSV or JSONL entity: every column, in file
// order, with its Kind after inference and overrides.
type TextSchema struct {
	Names []string
	Kinds []Kind
	// Declared: the columns attribute gave the names, not the first file.
	Declared bool
}

// Arrow is the schema of the batches a read produces: every column
// nullable, in file order.
func (s TextSchema) Arrow() *arrow.Schema {
	fields := make([]arrow.Field, len(s.Names))
	for i, n := range s.Names {
		fields[i] = arrow.Field{Name: n, Type: s.Kinds[i].ArrowType(), Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// Index returns the position of the column name, or -1.
func (s TextSchema) Index(name string) int {
	for i, n := range s.Names {
		if n == name {
			return i
		}
	}
	return -1
}

// ApplyOverrides sets the kinds named in the schema attribute. A name the
// file does not have is an error rather than ignored, because a typo would
// otherwise silently leave the column a string.
func (s TextSchema) ApplyOverrides(overrides map[string]Kind, where string) error {
	var missing []string
	for name, k := range overrides {
		i := s.Index(name)
		if i < 0 {
			missing = append(missing, name)
			continue
		}
		s.Kinds[i] = k
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("schema names %s, which %s does not have (columns: %s)",
			strings.Join(quoteAll(missing), ", "), where, strings.Join(s.Names, ", "))
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

func (g *textGuess) Kind() Kind {
	switch {
	case !g.seen:
		return KindString
	case g.isInt:
		return KindInt
	case g.isFloat:
		return KindFloat
	case g.isBool:
		return KindBool
	case g.isTime:
		return KindTimestamp
	case g.isDate:
		return KindDate
	}
	return KindString
}

// hasLeadingZero reports a number-like text with a redundant leading zero.
func hasLeadingZero(v []byte) bool {
	if len(v) > 0 && (v[0] == '-' || v[0] == '+') {
		v = v[1:]
	}
	return len(v) > 1 && v[0] == '0' && v[1] >= '0' && v[1] <= '9'
}
