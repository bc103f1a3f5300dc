package sfemu

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Stored values: string (text-likes, ids, picklists), bool, float64 (all
// numbers), dateVal, dtVal, timeVal, or nil.
type (
	dateVal int64 // days since 1970-01-01
	dtVal   int64 // Unix milliseconds, UTC
	timeVal int64 // milliseconds after midnight
)

const dayMs = 86400000

func dtOf(t time.Time) dtVal       { return dtVal(t.UnixMilli()) }
func (d dtVal) time() time.Time    { return time.UnixMilli(int64(d)).UTC() }
func (d dateVal) time() time.Time  { return time.Unix(int64(d)*86400, 0).UTC() }
func dateOf(t time.Time) dateVal   { return dateVal(floorDiv(t.Unix(), 86400)) }
func floorDiv(a, b int64) int64    { return int64(math.Floor(float64(a) / float64(b))) }
func (d dtVal) String() string     { return d.time().Format("2006-01-02T15:04:05.000-0700") }
func (d dateVal) String() string   { return d.time().Format("2006-01-02") }
func (t timeVal) String() string   { return time.UnixMilli(int64(t)).UTC().Format("15:04:05.000Z") }
func (d dtVal) bulkString() string { return d.time().Format("2006-01-02T15:04:05.000Z") }

// record is one stored row; vals is indexed like its object's fields and is
// replaced, never mutated, once the record is visible (copy on write).
type record struct {
	vals   []any
	purged bool
}

func (r *record) id(o *sobject) string { return r.vals[o.iID].(string) }
func (r *record) deleted(o *sobject) bool {
	b, _ := r.vals[o.iDeleted].(bool)
	return b
}

// table holds the records of one object in creation order, indexed by Id.
type table struct {
	obj     *sobject
	recs    []*record
	byID    map[string]*record
	seq     uint64
	autoNum uint64
	uniq    map[int]uniqueIndex // lazily built indexes of unique / external id fields
}

func newTable(o *sobject) *table {
	return &table{obj: o, byID: map[string]*record{}}
}

func (t *table) nextID() string {
	t.seq++
	return mintID(t.obj.prefix, t.seq)
}

func (t *table) add(r *record) {
	t.recs = append(t.recs, r)
	id := r.id(t.obj)
	t.byID[id] = r
	if n := idSeq(id); n > t.seq {
		t.seq = n
	}
}

// get returns a record by 15- or 18-character ID (purged records are gone).
func (t *table) get(id string) *record {
	n := normID(id)
	if n == "" {
		return nil
	}
	r := t.byID[n]
	if r == nil || r.purged {
		return nil
	}
	return r
}

// ---- conversion of input values ----

// parseDateTime accepts the formats Salesforce accepts on input.
func parseDateTime(s string) (dtVal, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700",
		"2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05", "2006-01-02T15:04:05.000", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return dtOf(t), true
		}
	}
	return 0, false
}

func parseDate(s string) (dateVal, bool) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return dateOf(t), true
	}
	if d, ok := parseDateTime(s); ok {
		return dateOf(d.time()), true
	}
	return 0, false
}

func parseTime(s string) (timeVal, bool) {
	for _, layout := range []string{"15:04:05.000Z", "15:04:05Z", "15:04:05.000", "15:04:05", "15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return timeVal(t.Hour()*3600000 + t.Minute()*60000 + t.Second()*1000 + t.Nanosecond()/1e6), true
		}
	}
	return 0, false
}

func isNumeric(typ string) bool {
	return typ == "double" || typ == "currency" || typ == "percent" || typ == "int" || typ == "long"
}

func isText(typ string) bool {
	switch typ {
	case "string", "textarea", "picklist", "multipicklist", "combobox", "email", "phone", "url", "encryptedstring", "id", "reference", "base64":
		return true
	}
	return false
}

// convertJSON turns a decoded JSON value into the stored value for f.
func convertJSON(f *Field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch f.Type {
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if b, err := strconv.ParseBool(x); err == nil {
				return b, nil
			}
		}
	case "double", "currency", "percent", "int", "long":
		var n float64
		var err error
		switch x := v.(type) {
		case float64:
			n = x
		case json.Number:
			n, err = strconv.ParseFloat(string(x), 64)
		case string:
			n, err = strconv.ParseFloat(strings.TrimSpace(x), 64)
		default:
			err = fmt.Errorf("bad")
		}
		if err == nil {
			if f.Type == "int" || f.Type == "long" {
				n = math.Trunc(n)
			}
			return n, nil
		}
	case "date":
		if s, ok := v.(string); ok {
			if d, ok := parseDate(s); ok {
				return d, nil
			}
		}
	case "datetime":
		if s, ok := v.(string); ok {
			if d, ok := parseDateTime(s); ok {
				return d, nil
			}
		}
	case "time":
		if s, ok := v.(string); ok {
			if d, ok := parseTime(s); ok {
				return d, nil
			}
		}
	default:
		switch x := v.(type) {
		case string:
			if f.Type == "multipicklist" {
				return x, nil
			}
			return x, nil
		case json.Number:
			return string(x), nil
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
	}
	return nil, fmt.Errorf("%s", jsonTypeError(f, v))
}

func jsonTypeError(f *Field, v any) string {
	kind := "VALUE_STRING"
	switch v.(type) {
	case bool:
		kind = "VALUE_TRUE"
	case json.Number, float64:
		kind = "VALUE_NUMBER_INT"
	case map[string]any:
		kind = "START_OBJECT"
	case []any:
		kind = "START_ARRAY"
	}
	javaType := map[string]string{"boolean": "boolean", "double": "double", "currency": "double", "percent": "double",
		"int": "int", "long": "long", "date": "date", "datetime": "datetime", "time": "time"}[f.Type]
	if javaType == "" {
		javaType = "string"
	}
	return fmt.Sprintf("Cannot deserialize instance of %s from %s value %v or request may be missing a required field", javaType, kind, v)
}

// ---- rendering ----

// appendJSONValue renders a stored value as REST JSON.
func appendJSONValue(b []byte, f *Field, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendJSONString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case float64:
		if f != nil && (f.Type == "int" || f.Type == "long") {
			return strconv.AppendInt(b, int64(x), 10)
		}
		return appendJavaDouble(b, x)
	case dtVal:
		return appendJSONString(b, x.String())
	case dateVal:
		return appendJSONString(b, x.String())
	case timeVal:
		return appendJSONString(b, x.String())
	}
	return appendJSONString(b, fmt.Sprint(v))
}

// csvValue renders a stored value for a Bulk query CSV cell.
func csvValue(f *Field, v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		if f != nil && (f.Type == "int" || f.Type == "long") {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case dtVal:
		return x.bulkString()
	case dateVal:
		return x.String()
	case timeVal:
		return x.String()
	}
	return fmt.Sprint(v)
}

const hexDigits = "0123456789abcdef"

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJavaDouble renders a double as Salesforce's JSON does (Java's
// Double.toString): 15000.0, 0.25, 3.5E8.
func appendJavaDouble(b []byte, x float64) []byte {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return append(b, "null"...)
	}
	ax := math.Abs(x)
	if ax == 0 || (ax >= 1e-3 && ax < 1e7) {
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return append(b, s...)
	}
	s := strconv.FormatFloat(x, 'E', -1, 64) // 3.5E+08
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	b = append(b, mant...)
	b = append(b, 'E')
	return strconv.AppendInt(b, int64(e), 10)
}
