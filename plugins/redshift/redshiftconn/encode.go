package redshiftconn

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// nullSentinel is the CSV text of NULL in the staged files (COPY … NULL AS
// in Redshift, NULL in PostgreSQL). It is written unquoted; a string value
// equal to it is rejected rather than loaded as NULL.
const nullSentinel = "__sluice_null__"

// encodeFunc appends the CSV text of row i (known not to be null) to dst.
// When the value cannot be loaded it returns a reason and dst is discarded.
type encodeFunc func(dst []byte, i int) ([]byte, string)

// encodeOptions are the sink options that change how values encode.
type encodeOptions struct {
	truncateNanos bool
}

// newEncoder returns the encoder of one column of one batch: the value of
// field f (array arr) loaded into a column of type col.
func newEncoder(d dialect, f arrow.Field, col colType, arr arrow.Array, o encodeOptions) (encodeFunc, error) {
	name := f.Name
	bad := func(format string, args ...any) string {
		return fmt.Sprintf("field %q: ", name) + fmt.Sprintf(format, args...)
	}
	if dict, ok := arr.(*array.Dictionary); ok {
		inner, err := newEncoder(d, arrow.Field{Name: name, Type: dict.Dictionary().DataType()}, col, dict.Dictionary(), o)
		if err != nil {
			return nil, err
		}
		values := dict.Dictionary()
		return func(dst []byte, i int) ([]byte, string) {
			j := dict.GetValueIndex(i)
			if values.IsNull(j) {
				return append(dst, nullSentinel...), ""
			}
			return inner(dst, j)
		}, nil
	}
	intRange := func(v int64) string {
		switch col.Kind {
		case kInt2:
			if v < math.MinInt16 || v > math.MaxInt16 {
				return bad("%d is out of range for a SMALLINT column", v)
			}
		case kInt4:
			if v < math.MinInt32 || v > math.MaxInt32 {
				return bad("%d is out of range for an INTEGER column", v)
			}
		case kNumeric:
			if col.Precision > 0 && digits(uint64(absInt(v))) > col.Precision-col.Scale {
				return bad("%d does not fit %s", v, col.describe())
			}
		}
		return ""
	}
	signed := func(get func(int) int64) encodeFunc {
		if col.Kind == kInt8 {
			return func(dst []byte, i int) ([]byte, string) { return strconv.AppendInt(dst, get(i), 10), "" }
		}
		return func(dst []byte, i int) ([]byte, string) {
			v := get(i)
			if r := intRange(v); r != "" {
				return dst, r
			}
			return strconv.AppendInt(dst, v, 10), ""
		}
	}
	switch a := arr.(type) {
	case *array.Null:
		return func(dst []byte, i int) ([]byte, string) { return append(dst, nullSentinel...), "" }, nil
	case *array.Boolean:
		return func(dst []byte, i int) ([]byte, string) {
			if a.Value(i) {
				return append(dst, "true"...), ""
			}
			return append(dst, "false"...), ""
		}, nil
	case *array.Int8:
		return signed(func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Int16:
		return signed(func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Int32:
		return signed(func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Int64:
		return signed(a.Value), nil
	case *array.Uint8:
		return signed(func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Uint16:
		return signed(func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Uint32:
		return signed(func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Uint64:
		return func(dst []byte, i int) ([]byte, string) {
			v := a.Value(i)
			if v > math.MaxInt64 && col.Kind != kNumeric {
				return dst, bad("%d is out of range for a %s column", v, col.describe())
			}
			if v <= math.MaxInt64 {
				if r := intRange(int64(v)); r != "" {
					return dst, r
				}
			} else if col.Precision > 0 && digits(v) > col.Precision-col.Scale {
				return dst, bad("%d does not fit %s", v, col.describe())
			}
			return strconv.AppendUint(dst, v, 10), ""
		}, nil
	case *array.Duration:
		unit := a.DataType().(*arrow.DurationType).Unit
		return func(dst []byte, i int) ([]byte, string) {
			us, ok, exact := toMicros(int64(a.Value(i)), unit)
			if !ok {
				return dst, bad("duration %d%s overflows microseconds", a.Value(i), unit)
			}
			if !exact && !o.truncateNanos {
				return dst, bad("duration %dns has sub-microsecond digits; %s keeps microseconds (set truncate_nanoseconds to drop them)", a.Value(i), d)
			}
			if r := intRange(us); r != "" {
				return dst, r
			}
			return strconv.AppendInt(dst, us, 10), ""
		}, nil
	case *array.Float16:
		return floatEncoder(bad, func(i int) float64 { return float64(a.Value(i).Float32()) }, 32), nil
	case *array.Float32:
		return floatEncoder(bad, func(i int) float64 { return float64(a.Value(i)) }, 32), nil
	case *array.Float64:
		return floatEncoder(bad, a.Value, 64), nil
	case *array.Decimal128:
		scale := int(a.DataType().(arrow.DecimalType).GetScale())
		return decimalEncoder(bad, col, scale, func(i int) *big.Int { return a.Value(i).BigInt() }), nil
	case *array.Decimal256:
		scale := int(a.DataType().(arrow.DecimalType).GetScale())
		return decimalEncoder(bad, col, scale, func(i int) *big.Int { return a.Value(i).BigInt() }), nil
	case *array.String:
		return stringEncoder(d, bad, col, a.Value), nil
	case *array.LargeString:
		return stringEncoder(d, bad, col, a.Value), nil
	case *array.StringView:
		return stringEncoder(d, bad, col, a.Value), nil
	case *array.Binary:
		return binaryEncoder(d, bad, col, a.Value), nil
	case *array.LargeBinary:
		return binaryEncoder(d, bad, col, a.Value), nil
	case *array.BinaryView:
		return binaryEncoder(d, bad, col, a.Value), nil
	case *array.FixedSizeBinary:
		return binaryEncoder(d, bad, col, a.Value), nil
	case *array.Date32:
		return func(dst []byte, i int) ([]byte, string) {
			out, ok := appendDate(dst, int64(a.Value(i)))
			if !ok {
				return dst, bad("date is outside years 1 to 9999")
			}
			return out, ""
		}, nil
	case *array.Date64:
		return func(dst []byte, i int) ([]byte, string) {
			out, ok := appendDate(dst, floorDiv(int64(a.Value(i)), 86_400_000))
			if !ok {
				return dst, bad("date is outside years 1 to 9999")
			}
			return out, ""
		}, nil
	case *array.Time32:
		unit := a.DataType().(*arrow.Time32Type).Unit
		return timeEncoder(d, bad, o, unit, func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Time64:
		unit := a.DataType().(*arrow.Time64Type).Unit
		return timeEncoder(d, bad, o, unit, func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Timestamp:
		tt := a.DataType().(*arrow.TimestampType)
		zone := tt.TimeZone != ""
		return func(dst []byte, i int) ([]byte, string) {
			v := int64(a.Value(i))
			us, ok, exact := toMicros(v, tt.Unit)
			if !ok {
				return dst, bad("timestamp %d%s is outside the range of TIMESTAMP", v, tt.Unit)
			}
			if !exact && !o.truncateNanos {
				return dst, bad("timestamp has sub-microsecond digits (%dns); %s keeps microseconds (set truncate_nanoseconds to drop them)", v, d)
			}
			out, ok := appendTimestamp(dst, us)
			if !ok {
				return dst, bad("timestamp is outside years 1 to 9999")
			}
			if zone {
				out = append(out, "+00"...)
			}
			return out, ""
		}, nil
	case *array.List, *array.LargeList, *array.FixedSizeList, *array.Struct, *array.Map:
		return func(dst []byte, i int) ([]byte, string) {
			js, err := json.Marshal(arr.GetOneForMarshal(i))
			if err != nil {
				return dst, bad("cannot encode as JSON: %v", err)
			}
			if strings.Contains(string(js), `\u0000`) {
				return dst, bad("contains a NUL character, which PostgreSQL's jsonb refuses")
			}
			limit := maxSuperBytes
			if col.Kind == kVarchar && col.Length > 0 {
				limit = col.Length
			}
			if len(js) > limit {
				return dst, bad("JSON text is %d bytes; the column holds at most %d", len(js), limit)
			}
			return appendCSVString(dst, string(js)), ""
		}, nil
	}
	return nil, fmt.Errorf("field %q: Arrow type %s cannot be loaded", name, arr.DataType())
}

func floatEncoder(bad func(string, ...any) string, get func(int) float64, bits int) encodeFunc {
	return func(dst []byte, i int) ([]byte, string) {
		v := get(i)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return dst, bad("%v cannot be loaded: Redshift's behaviour for NaN and infinity is undocumented, so they are refused in both modes", v)
		}
		return strconv.AppendFloat(dst, v, 'g', -1, bits), ""
	}
}

var bigTen = big.NewInt(10)

func pow10(n int) *big.Int { return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil) }

func decimalEncoder(bad func(string, ...any) string, col colType, scale int, get func(int) *big.Int) encodeFunc {
	prec, targetScale := col.Precision, col.Scale
	if prec == 0 { // unconstrained NUMERIC (PostgreSQL): keep the source scale
		targetScale = scale
	}
	return func(dst []byte, i int) ([]byte, string) {
		v := get(i)
		if targetScale < scale {
			q, r := new(big.Int).QuoRem(v, pow10(scale-targetScale), new(big.Int))
			if r.Sign() != 0 {
				return dst, bad("%s has more than %d decimal places for %s", formatDecimal(v, scale), targetScale, col.describe())
			}
			v = q
		} else if targetScale > scale {
			v = new(big.Int).Mul(v, pow10(targetScale-scale))
		}
		s := new(big.Int).Abs(v).String()
		if prec > 0 && len(s) > prec && v.Sign() != 0 {
			return dst, bad("%s does not fit %s", formatDecimal(v, targetScale), col.describe())
		}
		if prec == 0 && len(s) > maxDecimal {
			return dst, bad("%s has more than %d digits", formatDecimal(v, targetScale), maxDecimal)
		}
		return append(dst, formatDecimal(v, targetScale)...), ""
	}
}

func formatDecimal(v *big.Int, scale int) string {
	s := new(big.Int).Abs(v).String()
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if v.Sign() < 0 {
		s = "-" + s
	}
	return s
}

func stringEncoder(d dialect, bad func(string, ...any) string, col colType, get func(int) string) encodeFunc {
	limit := col.Length
	if col.Kind == kText && !d.redshift {
		limit = 0
	}
	return func(dst []byte, i int) ([]byte, string) {
		s := get(i)
		if limit > 0 && len(s) > limit {
			return dst, bad("value is %d bytes long; the column holds %d bytes (Redshift counts VARCHAR length in bytes)", len(s), limit)
		}
		if strings.IndexByte(s, 0) >= 0 {
			return dst, bad("value contains a NUL byte (0x00), which PostgreSQL refuses and Redshift would keep")
		}
		if !utf8.ValidString(s) {
			return dst, bad("value is not valid UTF-8")
		}
		if s == nullSentinel {
			return dst, bad("value equals the staging files' NULL marker %q", nullSentinel)
		}
		if col.Kind == kChar && d.redshift {
			for j := 0; j < len(s); j++ {
				if s[j] >= utf8.RuneSelf {
					return dst, bad("Redshift CHAR columns hold single-byte characters only")
				}
			}
		}
		return appendCSVString(dst, s), ""
	}
}

func binaryEncoder(d dialect, bad func(string, ...any) string, col colType, get func(int) []byte) encodeFunc {
	return func(dst []byte, i int) ([]byte, string) {
		b := get(i)
		if d.redshift && col.Length > 0 && len(b) > col.Length {
			return dst, bad("value is %d bytes; the VARBYTE column holds %d", len(b), col.Length)
		}
		if d.redshift && len(b) > maxVarbyte {
			return dst, bad("value is %d bytes; VARBYTE holds at most %d", len(b), maxVarbyte)
		}
		if !d.redshift {
			dst = append(dst, `\x`...)
		} else if len(b) == 0 {
			// An empty unquoted field would load as NULL.
			return append(dst, `""`...), ""
		}
		n := len(dst)
		dst = append(dst, make([]byte, hex.EncodedLen(len(b)))...)
		hex.Encode(dst[n:], b)
		return dst, ""
	}
}

func timeEncoder(d dialect, bad func(string, ...any) string, o encodeOptions, unit arrow.TimeUnit, get func(int) int64) encodeFunc {
	return func(dst []byte, i int) ([]byte, string) {
		v := get(i)
		us, ok, exact := toMicros(v, unit)
		if !ok || us < 0 || us >= 86_400_000_000 {
			return dst, bad("time of day %d%s is outside 00:00 to 24:00", v, unit)
		}
		if !exact && !o.truncateNanos {
			return dst, bad("time has sub-microsecond digits; %s keeps microseconds (set truncate_nanoseconds to drop them)", d)
		}
		return appendClock(dst, us), ""
	}
}

// appendCSVString quotes s when CSV needs it (and when it is empty, so an
// empty string never reads as NULL).
func appendCSVString(dst []byte, s string) []byte {
	need := len(s) == 0 || s[0] == ' ' || s[len(s)-1] == ' '
	if !need {
		for j := 0; j < len(s); j++ {
			switch s[j] {
			case ',', '"', '\n', '\r', '\\':
				need = true
			}
			if need {
				break
			}
		}
	}
	if !need {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for {
		j := strings.IndexByte(s, '"')
		if j < 0 {
			break
		}
		dst = append(dst, s[:j+1]...)
		dst = append(dst, '"')
		s = s[j+1:]
	}
	dst = append(dst, s...)
	return append(dst, '"')
}

// toMicros converts v in unit to microseconds. exact is false when
// sub-microsecond digits were dropped (rounding toward minus infinity).
func toMicros(v int64, unit arrow.TimeUnit) (us int64, ok, exact bool) {
	switch unit {
	case arrow.Second:
		if v > math.MaxInt64/1_000_000 || v < math.MinInt64/1_000_000 {
			return 0, false, false
		}
		return v * 1_000_000, true, true
	case arrow.Millisecond:
		if v > math.MaxInt64/1000 || v < math.MinInt64/1000 {
			return 0, false, false
		}
		return v * 1000, true, true
	case arrow.Microsecond:
		return v, true, true
	default:
		q := floorDiv(v, 1000)
		return q, true, q*1000 == v
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func absInt(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func digits(v uint64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil inverse).
func civil(days int64) (y int64, m, d int) {
	z := days + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func appendDate(dst []byte, days int64) ([]byte, bool) {
	y, m, d := civil(days)
	if y < 1 || y > 9999 {
		return dst, false
	}
	dst = append4(dst, int(y))
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	return append2(dst, d), true
}

func appendTimestamp(dst []byte, us int64) ([]byte, bool) {
	days := floorDiv(us, 86_400_000_000)
	dst, ok := appendDate(dst, days)
	if !ok {
		return dst, false
	}
	dst = append(dst, ' ')
	return appendClock(dst, us-days*86_400_000_000), true
}

func appendClock(dst []byte, us int64) []byte {
	secs := us / 1_000_000
	frac := int(us % 1_000_000)
	dst = append2(dst, int(secs/3600))
	dst = append(dst, ':')
	dst = append2(dst, int(secs/60%60))
	dst = append(dst, ':')
	dst = append2(dst, int(secs%60))
	if frac != 0 {
		dst = append(dst, '.')
		dst = append2(dst, frac/10000)
		dst = append2(dst, frac/100%100)
		dst = append2(dst, frac%100)
	}
	return dst
}

func append2(dst []byte, v int) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }

func append4(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

func (c colType) describe() string {
	if c.Raw != "" {
		return c.Raw
	}
	return redshiftDialect.ddl(c)
}
