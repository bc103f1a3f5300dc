package redshiftconn

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/redshiftdata/types"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluice-dev/sluice/sdk"
)

// cursorParam names the Data API parameter holding the checkpointed cursor
// value (":cursor" in the SQL).
const cursorParam = "cursor"

// dataAPITypeOIDs maps the Data API's column type names to the OIDs the
// wire transport sees, so both transports share arrowFor's mapping.
var dataAPITypeOIDs = map[string]uint32{
	"bool": pgtype.BoolOID, "boolean": pgtype.BoolOID,
	"int2": pgtype.Int2OID, "smallint": pgtype.Int2OID,
	"int4": pgtype.Int4OID, "int": pgtype.Int4OID, "integer": pgtype.Int4OID,
	"int8": pgtype.Int8OID, "bigint": pgtype.Int8OID,
	"float4": pgtype.Float4OID, "real": pgtype.Float4OID,
	"float8": pgtype.Float8OID, "float": pgtype.Float8OID, "double precision": pgtype.Float8OID,
	"numeric": pgtype.NumericOID, "decimal": pgtype.NumericOID,
	"date": pgtype.DateOID,
	"time": pgtype.TimeOID, "time without time zone": pgtype.TimeOID,
	"timestamp": pgtype.TimestampOID, "timestamp without time zone": pgtype.TimestampOID,
	"timestamptz": pgtype.TimestamptzOID, "timestamp with time zone": pgtype.TimestamptzOID,
	"varbyte": oidVarbyte, "varbinary": oidVarbyte, "binary varying": oidVarbyte, "bytea": pgtype.ByteaOID,
	"varchar": pgtype.VarcharOID, "character varying": pgtype.VarcharOID, "nvarchar": pgtype.VarcharOID,
	"text": pgtype.TextOID, "bpchar": pgtype.BPCharOID, "char": pgtype.BPCharOID, "character": pgtype.BPCharOID,
	"nchar": pgtype.BPCharOID, "name": pgtype.NameOID,
	"super": oidSuper, "geometry": oidGeometry, "geography": oidGeography,
}

// columnFromMetadata maps a Data API result column like arrowFor maps a
// wire column: the type name stands for the OID, precision and scale for
// the NUMERIC type modifier.
func columnFromMetadata(m types.ColumnMetadata) srcColumn {
	name := aws.ToString(m.Label)
	if name == "" {
		name = aws.ToString(m.Name)
	}
	typeName := strings.ToLower(strings.TrimSpace(aws.ToString(m.TypeName)))
	fd := pgconn.FieldDescription{Name: name, DataTypeOID: dataAPITypeOIDs[typeName], TypeModifier: -1}
	if fd.DataTypeOID == pgtype.NumericOID && m.Precision > 0 && m.Scale >= 0 && m.Scale <= m.Precision {
		fd.TypeModifier = (m.Precision<<16 | m.Scale) + 4
	}
	c := arrowFor(fd)
	c.typeName = aws.ToString(m.TypeName)
	if c.typeName == "" {
		c.typeName = "unknown"
	}
	return c
}

// describeColumns runs the source's SELECT … LIMIT 0 (as the wire transport
// does) and maps the column metadata of its result.
func (s *dataAPISession) describeColumns(ctx context.Context, o sourceOptions) ([]srcColumn, error) {
	sql := "SELECT * FROM " + o.from + " LIMIT 0"
	id, hasRows, err := s.execute(ctx, sql, nil)
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", o.label, err)
	}
	if !hasRows {
		return nil, fmt.Errorf("describe %s: the statement returned no result set", o.label)
	}
	var cols []srcColumn
	err = s.pages(ctx, id, sql, func(meta []types.ColumnMetadata, _ [][]types.Field) error {
		if cols == nil && len(meta) > 0 {
			cols = make([]srcColumn, len(meta))
			for i, m := range meta {
				cols[i] = columnFromMetadata(m)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", o.label, err)
	}
	if cols == nil {
		return nil, fmt.Errorf("describe %s: the result has no column metadata", o.label)
	}
	return cols, nil
}

// streamRead runs the read's SELECT and turns the pages of its result into
// batches typed by the described columns, checkpointing as the wire
// transport does (batchStream).
func (s *dataAPISession) streamRead(ctx context.Context, p readPlan, cursor string, limits sdk.Limits, out sdk.RecordSender) error {
	var params []types.SqlParameter
	if p.resume {
		params = []types.SqlParameter{{Name: aws.String(cursorParam), Value: aws.String(p.value)}}
	}
	id, hasRows, err := s.execute(ctx, p.query, params)
	if err != nil {
		return err
	}
	if !hasRows {
		return fmt.Errorf("%s: the statement returned no result set", firstLine(p.query))
	}
	bs := newBatchStream(ctx, p.cols, cursor, limits, out)
	defer bs.release()
	appenders := make([]fieldAppender, len(p.cols))
	for i, col := range p.cols {
		appenders[i] = newFieldAppender(col, bs.b.Field(i))
	}
	width := len(p.cols)
	if cursor != "" {
		width++
	}
	err = s.pages(ctx, id, p.query, func(_ []types.ColumnMetadata, records [][]types.Field) error {
		for _, rec := range records {
			if len(rec) != width {
				return fmt.Errorf("a result row has %d values, want %d", len(rec), width)
			}
			size := 0
			for i, app := range appenders {
				size += fieldSize(rec[i]) + 8
				if err := app(rec[i]); err != nil {
					return fmt.Errorf("column %q: %w", p.cols[i].name, err)
				}
			}
			var cur string
			valid := false
			if cursor != "" {
				f := rec[width-1]
				size += fieldSize(f) + 8
				_, null := f.(*types.FieldMemberIsNull)
				cur, valid = fieldText(f), !null
			}
			if err := bs.added(size, cur, valid); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return bs.send(true)
}

func fieldSize(f types.Field) int {
	switch v := f.(type) {
	case *types.FieldMemberStringValue:
		return len(v.Value)
	case *types.FieldMemberBlobValue:
		return len(v.Value)
	}
	return 0
}

// fieldAppender appends one Data API value to a column's builder.
type fieldAppender func(f types.Field) error

// newFieldAppender converts the Data API's values (longValue, doubleValue,
// stringValue, booleanValue, blobValue, isNull) to the column's Arrow type.
// NUMERIC, dates and times arrive as strings; a value that does not fit
// the type is an error, never rounded or dropped.
func newFieldAppender(col srcColumn, b array.Builder) fieldAppender {
	isNull := func(f types.Field) bool {
		v, ok := f.(*types.FieldMemberIsNull)
		return f == nil || ok && v.Value
	}
	wrap := func(fn func(f types.Field) error) fieldAppender {
		return func(f types.Field) error {
			if isNull(f) {
				b.AppendNull()
				return nil
			}
			return fn(f)
		}
	}
	switch bb := b.(type) {
	case *array.BooleanBuilder:
		return wrap(func(f types.Field) error {
			switch v := f.(type) {
			case *types.FieldMemberBooleanValue:
				bb.Append(v.Value)
				return nil
			case *types.FieldMemberStringValue:
				switch strings.ToLower(v.Value) {
				case "t", "true":
					bb.Append(true)
					return nil
				case "f", "false":
					bb.Append(false)
					return nil
				}
			}
			return badValue(f, "a boolean")
		})
	case *array.Int16Builder:
		return wrap(func(f types.Field) error {
			n, err := fieldInt(f, math.MinInt16, math.MaxInt16)
			if err == nil {
				bb.Append(int16(n))
			}
			return err
		})
	case *array.Int32Builder:
		return wrap(func(f types.Field) error {
			n, err := fieldInt(f, math.MinInt32, math.MaxInt32)
			if err == nil {
				bb.Append(int32(n))
			}
			return err
		})
	case *array.Int64Builder:
		return wrap(func(f types.Field) error {
			n, err := fieldInt(f, math.MinInt64, math.MaxInt64)
			if err == nil {
				bb.Append(n)
			}
			return err
		})
	case *array.Float32Builder:
		return wrap(func(f types.Field) error {
			x, err := fieldFloat(f)
			if err == nil {
				bb.Append(float32(x))
			}
			return err
		})
	case *array.Float64Builder:
		return wrap(func(f types.Field) error {
			x, err := fieldFloat(f)
			if err == nil {
				bb.Append(x)
			}
			return err
		})
	case *array.Decimal128Builder:
		dt := col.field.Type.(*arrow.Decimal128Type)
		return wrap(func(f types.Field) error {
			var text string
			switch v := f.(type) {
			case *types.FieldMemberStringValue:
				text = v.Value
			case *types.FieldMemberLongValue:
				text = strconv.FormatInt(v.Value, 10)
			default:
				return badValue(f, "a decimal")
			}
			n, err := parseDecimal(text, dt.Precision, dt.Scale)
			if err != nil {
				return err
			}
			bb.Append(n)
			return nil
		})
	case *array.Date32Builder:
		return wrap(func(f types.Field) error {
			v, ok := f.(*types.FieldMemberStringValue)
			if !ok {
				return badValue(f, "a date")
			}
			t, err := time.Parse("2006-01-02", v.Value)
			if err != nil {
				return fmt.Errorf("%q is not a date (YYYY-MM-DD)", v.Value)
			}
			bb.Append(arrow.Date32(floorDiv(t.Unix(), 86400)))
			return nil
		})
	case *array.Time64Builder:
		return wrap(func(f types.Field) error {
			v, ok := f.(*types.FieldMemberStringValue)
			if !ok {
				return badValue(f, "a time")
			}
			// The fraction after the seconds is optional when parsing.
			t, err := time.Parse("15:04:05", v.Value)
			if err != nil {
				return fmt.Errorf("%q is not a time (HH:MM:SS[.ffffff])", v.Value)
			}
			us := (int64(t.Hour())*3600+int64(t.Minute())*60+int64(t.Second()))*1e6 + int64(t.Nanosecond()/1e3)
			bb.Append(arrow.Time64(us))
			return nil
		})
	case *array.TimestampBuilder:
		zoned := col.oid == pgtype.TimestamptzOID
		return wrap(func(f types.Field) error {
			v, ok := f.(*types.FieldMemberStringValue)
			if !ok {
				return badValue(f, "a timestamp")
			}
			t, err := parseRedshiftTimestamp(v.Value, zoned)
			if err != nil {
				return err
			}
			bb.Append(arrow.Timestamp(t.UnixMicro()))
			return nil
		})
	case *array.BinaryBuilder:
		return wrap(func(f types.Field) error {
			switch v := f.(type) {
			case *types.FieldMemberBlobValue:
				bb.Append(v.Value)
				return nil
			case *types.FieldMemberStringValue:
				// VARBYTE as text is hexadecimal (as COPY takes it).
				raw, err := hex.DecodeString(strings.TrimPrefix(v.Value, `\x`))
				if err != nil {
					return fmt.Errorf("%q is not hexadecimal bytes", v.Value)
				}
				bb.Append(raw)
				return nil
			}
			return badValue(f, "bytes")
		})
	case *array.StringBuilder:
		return wrap(func(f types.Field) error {
			bb.Append(fieldText(f))
			return nil
		})
	}
	panic(fmt.Sprintf("redshift: no Data API reader for %s", col.field.Type))
}

func badValue(f types.Field, want string) error {
	return fmt.Errorf("the Data API returned %T %q, want %s", f, fieldText(f), want)
}

func fieldInt(f types.Field, lo, hi int64) (int64, error) {
	var n int64
	switch v := f.(type) {
	case *types.FieldMemberLongValue:
		n = v.Value
	case *types.FieldMemberStringValue:
		var err error
		if n, err = strconv.ParseInt(v.Value, 10, 64); err != nil {
			return 0, fmt.Errorf("%q is not an integer", v.Value)
		}
	default:
		return 0, badValue(f, "an integer")
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range [%d, %d]", n, lo, hi)
	}
	return n, nil
}

func fieldFloat(f types.Field) (float64, error) {
	switch v := f.(type) {
	case *types.FieldMemberDoubleValue:
		return v.Value, nil
	case *types.FieldMemberLongValue:
		return float64(v.Value), nil
	case *types.FieldMemberStringValue:
		x, err := strconv.ParseFloat(v.Value, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", v.Value)
		}
		return x, nil
	}
	return 0, badValue(f, "a number")
}

// parseDecimal reads a plain decimal string ([-]digits[.digits]) exactly at
// the column's scale; more fraction digits than the scale, or more digits
// than the precision, is an error.
func parseDecimal(text string, precision, scale int32) (decimal128.Num, error) {
	s := strings.TrimSpace(text)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || strings.Trim(whole+frac, "0123456789") != "" {
		return decimal128.Num{}, fmt.Errorf("%q is not a decimal", text)
	}
	if trimmed := strings.TrimRight(frac, "0"); len(trimmed) > int(scale) {
		return decimal128.Num{}, fmt.Errorf("%q has more than %d decimal places", text, scale)
	}
	for len(frac) < int(scale) {
		frac += "0"
	}
	digits := strings.TrimLeft(whole+frac[:scale], "0")
	if len(digits) > int(precision) {
		return decimal128.Num{}, fmt.Errorf("%q does not fit decimal(%d, %d)", text, precision, scale)
	}
	n, ok := new(big.Int).SetString("0"+digits, 10)
	if !ok {
		return decimal128.Num{}, fmt.Errorf("%q is not a decimal", text)
	}
	if neg {
		n.Neg(n)
	}
	return decimal128.FromBigInt(n), nil
}

// parseRedshiftTimestamp reads a timestamp as Redshift formats it,
// 'YYYY-MM-DD HH:MM:SS[.ffffff]', for TIMESTAMPTZ with the session's
// offset after it (+00 in UTC; +HH:MM and +HHMM too). A TIMESTAMPTZ without
// an offset is UTC.
func parseRedshiftTimestamp(v string, zoned bool) (time.Time, error) {
	// The fraction after the seconds is optional when parsing.
	const base = "2006-01-02 15:04:05"
	layouts := []string{base}
	if zoned {
		layouts = append(layouts, base+"-07", base+"-07:00", base+"-0700")
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC(), nil
		}
	}
	if zoned {
		return time.Time{}, fmt.Errorf("%q is not a timestamp (YYYY-MM-DD HH:MM:SS[.ffffff][+HH])", v)
	}
	return time.Time{}, fmt.Errorf("%q is not a timestamp (YYYY-MM-DD HH:MM:SS[.ffffff])", v)
}
