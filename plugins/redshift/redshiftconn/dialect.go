package redshiftconn

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
)

// dialect is the small part of the SQL that differs between Redshift and
// PostgreSQL. Everything else — staging, de-duplication, the merge — is
// the same text in both modes.
type dialect struct {
	redshift bool
}

var (
	redshiftDialect = dialect{redshift: true}
	postgresDialect = dialect{redshift: false}
)

func (d dialect) String() string {
	if d.redshift {
		return "redshift"
	}
	return "postgres"
}

// maxIdentBytes is the longest identifier: Redshift silently truncates past
// 127 bytes, PostgreSQL past 63. The loader refuses longer names instead.
func (d dialect) maxIdentBytes() int {
	if d.redshift {
		return 127
	}
	return 63
}

// foldIdent folds ASCII letters to lower case, as Redshift does even inside
// double quotes (unless enable_case_sensitive_identifier is on). Both modes
// fold, so a flow loads the same columns into either.
func foldIdent(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// checkIdent reports why name cannot be a column or table name.
func (d dialect) checkIdent(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("the name is empty")
	case !utf8.ValidString(name):
		return fmt.Errorf("%q is not valid UTF-8", name)
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("%q contains a NUL byte", name)
	case len(name) > d.maxIdentBytes():
		return fmt.Errorf("%q is %d bytes long; %s allows at most %d (longer names are silently truncated, so two fields could collide)",
			name, len(name), d, d.maxIdentBytes())
	}
	return nil
}

// quoteIdent quotes an already folded identifier.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// quoteLiteral quotes a string literal. Backslashes are refused before
// this is called (Redshift treats them as escapes, PostgreSQL does not).
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// tableName is a target table, schema optional, both parts folded.
type tableName struct {
	Schema string
	Name   string
}

func (t tableName) String() string {
	if t.Schema == "" {
		return quoteIdent(t.Name)
	}
	return quoteIdent(t.Schema) + "." + quoteIdent(t.Name)
}

// parseTable splits "schema.table" (either part may be double-quoted, in
// which case dots inside it are kept) and folds both parts.
func (d dialect) parseTable(s string) (tableName, error) {
	var parts []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' && quoted && i+1 < len(s) && s[i+1] == '"':
			cur.WriteByte('"')
			i++
		case c == '"':
			quoted = !quoted
		case c == '.' && !quoted:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	if quoted {
		return tableName{}, fmt.Errorf("table %q: unbalanced double quote", s)
	}
	if len(parts) > 2 {
		return tableName{}, fmt.Errorf("table %q: want table or schema.table", s)
	}
	for i, p := range parts {
		parts[i] = foldIdent(p)
		if err := d.checkIdent(parts[i]); err != nil {
			return tableName{}, fmt.Errorf("table %q: %v", s, err)
		}
		if strings.ContainsAny(parts[i], `\'`) {
			return tableName{}, fmt.Errorf("table %q: backslashes and single quotes are not supported in table names", s)
		}
	}
	if len(parts) == 1 {
		return tableName{Name: parts[0]}, nil
	}
	return tableName{Schema: parts[0], Name: parts[1]}, nil
}

// kind is a column type family.
type kind int

const (
	kUnknown kind = iota
	kBool
	kInt2
	kInt4
	kInt8
	kNumeric
	kFloat4
	kFloat8
	kVarchar
	kChar
	kText // PostgreSQL only; Redshift turns TEXT into VARCHAR(256)
	kDate
	kTime
	kTimestamp
	kTimestamptz
	kBinary // VARBYTE in Redshift, bytea in PostgreSQL
	kJSON   // SUPER in Redshift, jsonb (or json) in PostgreSQL
)

// colType is a column's SQL type: what the loader creates, or what it
// found in an existing table.
type colType struct {
	Kind kind
	// Length is the VARCHAR/CHAR/VARBYTE length (bytes for Redshift), 0 when
	// unbounded.
	Length int
	// Precision and Scale of a NUMERIC; Precision 0 when unconstrained.
	Precision, Scale int
	// Raw is the type as the catalog spelled it, for messages.
	Raw string
}

const (
	maxVarchar      = 65535
	maxDecimal      = 38
	maxVarbyte      = 1024000
	defaultVarbyte  = 65535
	maxSuperBytes   = 16 << 20
	nullFieldLength = 256
)

// ddl renders t for CREATE TABLE / ADD COLUMN in dialect d.
func (d dialect) ddl(t colType) string {
	switch t.Kind {
	case kBool:
		return "BOOLEAN"
	case kInt2:
		return "SMALLINT"
	case kInt4:
		return "INTEGER"
	case kInt8:
		return "BIGINT"
	case kNumeric:
		return fmt.Sprintf("DECIMAL(%d,%d)", t.Precision, t.Scale)
	case kFloat4:
		return "REAL"
	case kFloat8:
		return "DOUBLE PRECISION"
	case kVarchar, kText:
		n := t.Length
		if n == 0 {
			n = maxVarchar
		}
		return fmt.Sprintf("VARCHAR(%d)", n)
	case kChar:
		return fmt.Sprintf("CHAR(%d)", t.Length)
	case kDate:
		return "DATE"
	case kTime:
		return "TIME"
	case kTimestamp:
		return "TIMESTAMP"
	case kTimestamptz:
		return "TIMESTAMPTZ"
	case kBinary:
		if d.redshift {
			n := t.Length
			if n == 0 {
				n = defaultVarbyte
			}
			return fmt.Sprintf("VARBYTE(%d)", n)
		}
		return "BYTEA"
	case kJSON:
		if d.redshift {
			return "SUPER"
		}
		return "JSONB"
	}
	return "VARCHAR(256)"
}

// columnType maps an Arrow field to the column the loader creates for it
// (the type mapping of reference/redshift-loading.md, section 4).
func (d dialect) columnType(f arrow.Field) (colType, error) {
	dt := f.Type
	if dict, ok := dt.(*arrow.DictionaryType); ok {
		dt = dict.ValueType
	}
	switch t := dt.(type) {
	case *arrow.BooleanType:
		return colType{Kind: kBool}, nil
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Uint8Type:
		return colType{Kind: kInt2}, nil
	case *arrow.Int32Type, *arrow.Uint16Type:
		return colType{Kind: kInt4}, nil
	case *arrow.Int64Type, *arrow.Uint32Type:
		return colType{Kind: kInt8}, nil
	case *arrow.Uint64Type:
		return colType{Kind: kNumeric, Precision: 20}, nil
	case *arrow.Float16Type, *arrow.Float32Type:
		return colType{Kind: kFloat4}, nil
	case *arrow.Float64Type:
		return colType{Kind: kFloat8}, nil
	case arrow.DecimalType:
		p, s := int(t.GetPrecision()), int(t.GetScale())
		if s < 0 {
			return colType{}, fmt.Errorf("field %q: %s has a negative scale, which %s cannot store", f.Name, dt, d)
		}
		if p > maxDecimal {
			// Values that fit DECIMAL(38,s) load; the rest are rejected
			// row by row.
			p = maxDecimal
			if s > p {
				return colType{}, fmt.Errorf("field %q: %s has scale %d, over %s's maximum precision of 38", f.Name, dt, s, d)
			}
		}
		return colType{Kind: kNumeric, Precision: p, Scale: s}, nil
	case *arrow.StringType, *arrow.LargeStringType, *arrow.StringViewType:
		return colType{Kind: kVarchar, Length: maxVarchar}, nil
	case *arrow.BinaryType, *arrow.LargeBinaryType, *arrow.BinaryViewType:
		return colType{Kind: kBinary, Length: defaultVarbyte}, nil
	case *arrow.FixedSizeBinaryType:
		return colType{Kind: kBinary, Length: max(t.ByteWidth, 1)}, nil
	case *arrow.Date32Type, *arrow.Date64Type:
		return colType{Kind: kDate}, nil
	case *arrow.Time32Type, *arrow.Time64Type:
		return colType{Kind: kTime}, nil
	case *arrow.TimestampType:
		if t.TimeZone != "" {
			return colType{Kind: kTimestamptz}, nil
		}
		return colType{Kind: kTimestamp}, nil
	case *arrow.DurationType:
		return colType{Kind: kInt8}, nil
	case *arrow.ListType, *arrow.LargeListType, *arrow.FixedSizeListType, *arrow.StructType, *arrow.MapType:
		return colType{Kind: kJSON}, nil
	case *arrow.NullType:
		return colType{Kind: kVarchar, Length: nullFieldLength}, nil
	}
	return colType{}, fmt.Errorf("field %q: Arrow type %s has no %s column type", f.Name, dt, d)
}

// parseCatalogType reads information_schema's data_type and sizes.
func parseCatalogType(dataType string, charLen, precision, scale string) colType {
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	t := colType{Raw: dataType}
	switch strings.ToLower(dataType) {
	case "boolean":
		t.Kind = kBool
	case "smallint":
		t.Kind = kInt2
	case "integer":
		t.Kind = kInt4
	case "bigint":
		t.Kind = kInt8
	case "numeric", "decimal":
		t.Kind, t.Precision, t.Scale = kNumeric, n(precision), n(scale)
	case "real":
		t.Kind = kFloat4
	case "double precision":
		t.Kind = kFloat8
	case "character varying", "varchar":
		t.Kind, t.Length = kVarchar, n(charLen)
	case "character", "char", "bpchar":
		t.Kind, t.Length = kChar, n(charLen)
	case "text":
		t.Kind = kText
	case "date":
		t.Kind = kDate
	case "time without time zone", "time":
		t.Kind = kTime
	case "timestamp without time zone", "timestamp":
		t.Kind = kTimestamp
	case "timestamp with time zone", "timestamptz":
		t.Kind = kTimestamptz
	case "bytea", "binary varying", "varbyte":
		t.Kind, t.Length = kBinary, n(charLen)
	case "jsonb", "json", "super":
		t.Kind = kJSON
	}
	if t.Length > 0 || t.Precision > 0 {
		switch t.Kind {
		case kVarchar, kChar, kBinary:
			t.Raw = fmt.Sprintf("%s(%d)", dataType, t.Length)
		case kNumeric:
			t.Raw = fmt.Sprintf("%s(%d,%d)", dataType, t.Precision, t.Scale)
		}
	}
	return t
}

// compatible reports whether values of Arrow type dt can be loaded into a
// column of type col without changing the column. Values are still checked
// one by one (lengths, ranges, precision).
func compatible(dt arrow.DataType, col colType) bool {
	if dict, ok := dt.(*arrow.DictionaryType); ok {
		dt = dict.ValueType
	}
	intCol := col.Kind == kInt2 || col.Kind == kInt4 || col.Kind == kInt8 || col.Kind == kNumeric
	switch dt.(type) {
	case *arrow.NullType:
		return col.Kind != kUnknown
	case *arrow.BooleanType:
		return col.Kind == kBool
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type,
		*arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type, *arrow.Uint64Type, *arrow.DurationType:
		return intCol
	case *arrow.Float16Type, *arrow.Float32Type, *arrow.Float64Type:
		return col.Kind == kFloat4 || col.Kind == kFloat8
	case arrow.DecimalType:
		return col.Kind == kNumeric
	case *arrow.StringType, *arrow.LargeStringType, *arrow.StringViewType:
		return col.Kind == kVarchar || col.Kind == kChar || col.Kind == kText
	case *arrow.BinaryType, *arrow.LargeBinaryType, *arrow.BinaryViewType, *arrow.FixedSizeBinaryType:
		return col.Kind == kBinary
	case *arrow.Date32Type, *arrow.Date64Type:
		return col.Kind == kDate
	case *arrow.Time32Type, *arrow.Time64Type:
		return col.Kind == kTime
	case *arrow.TimestampType:
		return col.Kind == kTimestamp || col.Kind == kTimestamptz
	case *arrow.ListType, *arrow.LargeListType, *arrow.FixedSizeListType, *arrow.StructType, *arrow.MapType:
		return col.Kind == kJSON || col.Kind == kVarchar || col.Kind == kText
	}
	return false
}
