package sfconn

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
)

// Change types of the ChangeEventHeader.
const (
	cdcCreate       = "CREATE"
	cdcUpdate       = "UPDATE"
	cdcDelete       = "DELETE"
	cdcUndelete     = "UNDELETE"
	cdcGapCreate    = "GAP_CREATE"
	cdcGapUpdate    = "GAP_UPDATE"
	cdcGapDelete    = "GAP_DELETE"
	cdcGapUndelete  = "GAP_UNDELETE"
	cdcGapOverflow  = "GAP_OVERFLOW"
	headerFieldName = "ChangeEventHeader"
)

// eventCodec decodes the payloads written with one schema id.
type eventCodec struct {
	id     string
	schema *avro.RecordSchema
	// body maps the lower-case name of each describe field an event body
	// carries to its path in the body ("Email", "Name.FirstName"), which
	// is how the changedFields bitmaps name it.
	body map[string]string
}

// newEventCodec parses a schema from GetSchema.
func newEventCodec(id, schemaJSON string) (*eventCodec, error) {
	// A cache of its own per parse: the package-wide one is keyed by full
	// name, and every version of an entity's schema has the same name.
	s, err := avro.ParseWithCache(schemaJSON, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", id, err)
	}
	rs, ok := s.(*avro.RecordSchema)
	if !ok {
		return nil, fmt.Errorf("schema %s is a %s, not a record", id, s.Type())
	}
	if fieldIndex(rs, headerFieldName) < 0 {
		return nil, fmt.Errorf("schema %s (%s) has no %s: not a change event", id, rs.FullName(), headerFieldName)
	}
	return &eventCodec{id: id, schema: rs, body: bodyFields(rs)}, nil
}

func fieldIndex(rs *avro.RecordSchema, name string) int {
	for i, f := range rs.Fields() {
		if f.Name() == name {
			return i
		}
	}
	return -1
}

// recordOf is the record a field holds, through a ["null", record] union.
func recordOf(s avro.Schema) *avro.RecordSchema {
	switch t := s.(type) {
	case *avro.RecordSchema:
		return t
	case *avro.RefSchema:
		return recordOf(t.Schema())
	case *avro.UnionSchema:
		for _, u := range t.Types() {
			if r := recordOf(u); r != nil {
				return r
			}
		}
	}
	return nil
}

// bodyFields maps describe field names onto body paths. Compound fields are
// nested records in the body but flat fields in SOQL: Name{FirstName, ...}
// holds FirstName, BillingAddress{Street, ...} holds BillingStreet. Nested
// fields of other shapes are left out, which only makes the caller refetch.
func bodyFields(rs *avro.RecordSchema) map[string]string {
	m := map[string]string{}
	for _, f := range rs.Fields() {
		if f.Name() == headerFieldName {
			continue
		}
		m[strings.ToLower(f.Name())] = f.Name()
		nested := recordOf(f.Type())
		if nested == nil {
			continue
		}
		prefix, ok := "", f.Name() == "Name"
		if strings.HasSuffix(f.Name(), "Address") {
			prefix, ok = strings.TrimSuffix(f.Name(), "Address"), true
		}
		if !ok {
			continue
		}
		for _, sub := range nested.Fields() {
			m[strings.ToLower(prefix+sub.Name())] = f.Name() + "." + sub.Name()
		}
	}
	return m
}

// changeHeader is what the connector uses of a ChangeEventHeader.
type changeHeader struct {
	entity     string
	recordIDs  []string
	changeType string
	origin     string
	commitTS   int64 // epoch ms
	// changed holds the body paths of changed and nulled fields (a nested
	// change also marks its parent); nil when the bitmaps could not be read.
	changed map[string]bool
}

// decode reads one payload's header.
func (ec *eventCodec) decode(payload []byte) (changeHeader, error) {
	var m map[string]any
	if err := avro.Unmarshal(ec.schema, payload, &m); err != nil {
		return changeHeader{}, fmt.Errorf("schema %s: %w", ec.id, err)
	}
	hm, ok := unwrapUnion(m[headerFieldName]).(map[string]any)
	if !ok {
		return changeHeader{}, fmt.Errorf("schema %s: the event has no %s", ec.id, headerFieldName)
	}
	h := changeHeader{
		entity:     stringOf(hm["entityName"]),
		recordIDs:  stringsOf(hm["recordIds"]),
		changeType: stringOf(hm["changeType"]),
		origin:     stringOf(hm["changeOrigin"]),
	}
	if h.changeType == "" {
		return changeHeader{}, fmt.Errorf("schema %s: the event's %s has no changeType", ec.id, headerFieldName)
	}
	h.commitTS, _ = int64Of(hm["commitTimestamp"])
	changed, err1 := expandBitmap(ec.schema, stringsOf(hm["changedFields"]))
	nulled, err2 := expandBitmap(ec.schema, stringsOf(hm["nulledFields"]))
	if err1 == nil && err2 == nil {
		h.changed = map[string]bool{}
		for _, n := range append(changed, nulled...) {
			h.changed[n] = true
		}
	}
	return h, nil
}

// unwrapUnion undoes how a union holding a record, or more than one
// non-null type, decodes generically: {"<type name>": value}. Header
// fields are lowerCamel, so a single key that is a type name (a primitive,
// a dotted full name or a capitalized record name) is a union branch.
func unwrapUnion(v any) any {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return v
	}
	for k, inner := range m {
		switch {
		case avroTypeNames[k], strings.Contains(k, "."), k != "" && k[0] >= 'A' && k[0] <= 'Z':
			return inner
		}
	}
	return v
}

var avroTypeNames = map[string]bool{"string": true, "bytes": true, "int": true, "long": true, "float": true,
	"double": true, "boolean": true, "array": true, "map": true, "enum": true, "fixed": true, "record": true}

func stringOf(v any) string {
	switch t := unwrapUnion(v).(type) {
	case string:
		return t
	case []byte:
		return string(t)
	}
	return ""
}

func stringsOf(v any) []string {
	arr, _ := unwrapUnion(v).([]any)
	out := make([]string, 0, len(arr))
	for _, a := range arr {
		if s := stringOf(a); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func int64Of(v any) (int64, bool) {
	switch t := unwrapUnion(v).(type) {
	case int64:
		return t, true
	case int32:
		return int64(t), true
	case int:
		return int64(t), true
	case float64:
		return int64(t), true
	}
	return 0, false
}

// expandBitmap turns changedFields/nulledFields into body paths. The first
// kind of entry is "0x<hex>": a big-endian bitmap over the top-level fields
// in schema order, bit i naming fields[i]; "<pos>-0x<hex>" is the same over
// the fields of the record nested at top-level position pos. Plain names
// (the CometD form) are taken as they are.
func expandBitmap(rs *avro.RecordSchema, entries []string) ([]string, error) {
	var out []string
	for _, e := range entries {
		pos, bits, nested := strings.Cut(e, "-")
		if !nested {
			bits = e
		}
		if !strings.HasPrefix(bits, "0x") && !strings.HasPrefix(bits, "0X") {
			if nested {
				return nil, fmt.Errorf("bitmap entry %q: want <pos>-0x<hex>", e)
			}
			out = append(out, e)
			continue
		}
		b, err := hexBits(bits[2:])
		if err != nil {
			return nil, fmt.Errorf("bitmap entry %q: %w", e, err)
		}
		fields, prefix := rs.Fields(), ""
		if nested {
			p, err := strconv.Atoi(pos)
			if err != nil || p < 0 || p >= len(fields) {
				return nil, fmt.Errorf("bitmap entry %q: no top-level field %s", e, pos)
			}
			parent := fields[p]
			inner := recordOf(parent.Type())
			if inner == nil {
				return nil, fmt.Errorf("bitmap entry %q: %s is not a nested record", e, parent.Name())
			}
			fields, prefix = inner.Fields(), parent.Name()+"."
			out = append(out, parent.Name())
		}
		for i := 0; i < len(b)*8; i++ {
			if b[len(b)-1-i/8]&(1<<(i%8)) == 0 {
				continue
			}
			if i >= len(fields) {
				return nil, fmt.Errorf("bitmap entry %q: bit %d is past the %d fields of the schema", e, i, len(fields))
			}
			out = append(out, prefix+fields[i].Name())
		}
	}
	return out, nil
}

func hexBits(h string) ([]byte, error) {
	if h == "" {
		return nil, errors.New("empty bitmap")
	}
	if len(h)%2 == 1 {
		h = "0" + h
	}
	return hex.DecodeString(h)
}

// ownOrigin reports whether changeOrigin ("com/salesforce/api/rest/64.0;
// client=sluice") names our client tag.
func ownOrigin(origin, tag string) bool {
	for _, part := range strings.Split(origin, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && strings.TrimSpace(k) == "client" && strings.TrimSpace(v) == tag {
			return true
		}
	}
	return false
}
