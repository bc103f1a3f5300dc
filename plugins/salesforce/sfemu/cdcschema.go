package sfemu

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/hamba/avro/v2"
)

// avroNamespace is the namespace of every change event schema.
const avroNamespace = "com.sforce.eventbus"

// cdcSchema is one version of an entity's change event schema. Position 0
// is ChangeEventHeader; slots[i] is the field at position i+1, the position
// the changedFields / nulledFields bitmaps refer to.
type cdcSchema struct {
	entity *cdcEntity
	id     string
	json   string
	avro   avro.Schema
	slots  []cdcSlot
}

// cdcSlot is a top-level field of the event body: an object field, or a
// compound field (Name on Contact/Lead, addresses) nesting its components.
type cdcSlot struct {
	name     string
	field    *Field    // nil for a compound field
	parts    []cdcPart // the components of a compound field
	unionKey string    // full name of the nested record, how hamba picks the union branch
}

type cdcPart struct {
	name  string
	field *Field
}

// JSON shapes of the Avro schema; struct field order fixes the key order,
// which the schema id depends on.
type (
	avroRecordJSON struct {
		Type      string          `json:"type"`
		Name      string          `json:"name"`
		Namespace string          `json:"namespace,omitempty"`
		Doc       string          `json:"doc,omitempty"`
		Fields    []avroFieldJSON `json:"fields"`
	}
	avroFieldJSON struct {
		Name    string          `json:"name"`
		Type    any             `json:"type"`
		Doc     string          `json:"doc,omitempty"`
		Default json.RawMessage `json:"default,omitempty"`
	}
	avroEnumJSON struct {
		Type    string   `json:"type"`
		Name    string   `json:"name"`
		Symbols []string `json:"symbols"`
	}
	avroArrayJSON struct {
		Type  string `json:"type"`
		Items string `json:"items"`
	}
)

var nullDefault = json.RawMessage("null")

func headerSchemaJSON() avroRecordJSON {
	strs := avroArrayJSON{Type: "array", Items: "string"}
	return avroRecordJSON{Type: "record", Name: "ChangeEventHeader", Fields: []avroFieldJSON{
		{Name: "entityName", Type: "string"},
		{Name: "recordIds", Type: strs},
		{Name: "changeType", Type: avroEnumJSON{Type: "enum", Name: "ChangeType", Symbols: changeTypes}},
		{Name: "changeOrigin", Type: "string"},
		{Name: "transactionKey", Type: "string"},
		{Name: "sequenceNumber", Type: "int"},
		{Name: "commitTimestamp", Type: "long"},
		{Name: "commitNumber", Type: "long"},
		{Name: "commitUser", Type: "string"},
		{Name: "nulledFields", Type: strs},
		{Name: "diffFields", Type: strs},
		{Name: "changedFields", Type: strs},
	}}
}

// avroType is the Avro type of a field's values in change events.
func avroType(f *Field) string {
	switch f.Type {
	case "datetime", "time", "long":
		return "long"
	case "date", "int":
		return "int"
	case "double", "currency", "percent":
		return "double"
	case "boolean":
		return "boolean"
	}
	return "string"
}

// docTypes name field types in the "<Field>:<Type>" doc Salesforce puts on
// event schema fields.
var docTypes = map[string]string{
	"id": "EntityId", "reference": "EntityId", "string": "Text", "textarea": "TextArea", "picklist": "Picklist",
	"multipicklist": "MultiPicklist", "combobox": "Combobox", "email": "Email", "phone": "Phone", "url": "Url",
	"encryptedstring": "EncryptedText", "base64": "Base64", "boolean": "Boolean", "double": "Double",
	"currency": "Currency", "percent": "Percent", "int": "Int", "long": "Long", "date": "Date",
	"datetime": "DateTime", "time": "Time", "address": "Address",
}

func fieldDoc(f *Field) string {
	t := docTypes[f.Type]
	if t == "" {
		t = f.Type
	}
	return f.Name + ":" + t
}

// cdcSlots lays out an object's fields as change events carry them: no Id
// (recordIds has it), IsDeleted, SystemModstamp or formula fields, and
// compound components nested under their compound field.
func cdcSlots(o *sobject) []cdcSlot {
	present := map[string]bool{}
	for _, f := range o.fields {
		present[f.Name] = true
	}
	components := map[string][]*Field{}
	for _, f := range o.fields {
		if f.CompoundFieldName != "" && present[f.CompoundFieldName] {
			components[f.CompoundFieldName] = append(components[f.CompoundFieldName], f)
		}
	}
	var slots []cdcSlot
	for _, f := range o.fields {
		switch {
		case f.idx == o.iID, f.idx == o.iDeleted, f.idx == o.iStamp, f.Calculated:
			continue
		case f.CompoundFieldName != "" && present[f.CompoundFieldName]:
			continue
		}
		parts := components[f.Name]
		if len(parts) == 0 {
			slots = append(slots, cdcSlot{name: f.Name, field: f})
			continue
		}
		// Address components drop their prefix (BillingStreet → Street);
		// name components keep their names.
		prefix, record := "", "Name"
		if f.Type == "address" {
			prefix, record = strings.TrimSuffix(f.Name, "Address"), "Address"
		}
		slot := cdcSlot{name: f.Name, unionKey: avroNamespace + "." + record}
		for _, p := range parts {
			slot.parts = append(slot.parts, cdcPart{name: strings.TrimPrefix(p.Name, prefix), field: p})
		}
		slots = append(slots, slot)
	}
	return slots
}

// buildCDCSchema derives the entity's change event schema from its
// object's current fields. The id is a fingerprint of the schema JSON, so
// it is stable across restarts and changes with the fields.
func buildCDCSchema(e *cdcEntity) (*cdcSchema, error) {
	slots := cdcSlots(e.obj)
	fields := []avroFieldJSON{{Name: "ChangeEventHeader", Type: headerSchemaJSON(), Doc: "Data:ChangeEventHeader"}}
	defined := map[string][]string{} // nested record name → its field names
	for i := range slots {
		sl := &slots[i]
		if sl.field != nil {
			fields = append(fields, avroFieldJSON{Name: sl.name, Type: []string{"null", avroType(sl.field)},
				Doc: fieldDoc(sl.field), Default: nullDefault})
			continue
		}
		var names []string
		var nested []avroFieldJSON
		for _, p := range sl.parts {
			names = append(names, p.name)
			nested = append(nested, avroFieldJSON{Name: p.name, Type: []string{"null", avroType(p.field)},
				Doc: fieldDoc(p.field), Default: nullDefault})
		}
		record := strings.TrimPrefix(sl.unionKey, avroNamespace+".")
		var typ any
		switch prev, ok := defined[record]; {
		case !ok:
			defined[record] = names
			typ = avroRecordJSON{Type: "record", Name: record, Fields: nested}
		case slices.Equal(prev, names):
			typ = sl.unionKey // a named type is defined once, then referenced
		default:
			// a same-named compound with other components gets its own record
			record = sl.name + "Value"
			sl.unionKey = avroNamespace + "." + record
			defined[record] = names
			typ = avroRecordJSON{Type: "record", Name: record, Fields: nested}
		}
		fields = append(fields, avroFieldJSON{Name: sl.name, Type: []any{"null", typ},
			Doc: sl.name + ":" + record, Default: nullDefault})
	}
	doc := "Change Data Capture events of " + e.obj.name + " (sluice Salesforce emulator)"
	b, err := json.Marshal(avroRecordJSON{Type: "record", Name: e.name, Namespace: avroNamespace, Doc: doc, Fields: fields})
	if err != nil {
		return nil, fmt.Errorf("sfemu: %s schema: %w", e.name, err)
	}
	// A private cache: schemas of different entities and versions reuse
	// record names (Address, ChangeEventHeader) with other fields.
	parsed, err := avro.ParseWithCache(string(b), "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("sfemu: %s schema: %w", e.name, err)
	}
	sum := sha256.Sum256(b)
	return &cdcSchema{entity: e, id: base64.RawURLEncoding.EncodeToString(sum[:16]), json: string(b),
		avro: parsed, slots: slots}, nil
}

// changeHeader is the ChangeEventHeader of one event.
type changeHeader struct {
	entity, changeType, origin, txKey, user string
	ids                                     []string
	seq                                     int32
	commitMs, commitNumber                  int64
}

// bitmap is a changedFields / nulledFields value under construction: top
// over schema positions, nested per compound position.
type bitmap struct {
	top    []byte
	nested map[int][]byte
}

func setBit(bits *[]byte, pos int) {
	for len(*bits) <= pos/8 {
		*bits = append(*bits, 0)
	}
	(*bits)[pos/8] |= 1 << (pos % 8)
}

// hexBits renders a bit set as Salesforce does: the hex of an unsigned
// big-endian integer whose bit i is position i ("0x650004E0").
func hexBits(bits []byte) string {
	const digits = "0123456789ABCDEF"
	out := []byte("0x")
	if len(bits) == 0 {
		return "0x00"
	}
	for i := len(bits) - 1; i >= 0; i-- {
		out = append(out, digits[bits[i]>>4], digits[bits[i]&15])
	}
	return string(out)
}

// render renders the bitmap: element 0 over top-level positions, then
// "<pos>-0x…" per compound field in position order; no elements when no
// bit is set.
func (b *bitmap) render() []string {
	if len(b.top) == 0 && len(b.nested) == 0 {
		return []string{}
	}
	out := []string{hexBits(b.top)}
	var positions []int
	for p := range b.nested {
		positions = append(positions, p)
	}
	slices.Sort(positions)
	for _, p := range positions {
		out = append(out, fmt.Sprintf("%d-%s", p, hexBits(b.nested[p])))
	}
	return out
}

func (b *bitmap) setNested(pos, part int) {
	if b.nested == nil {
		b.nested = map[int][]byte{}
	}
	bits := b.nested[pos]
	setBit(&bits, part)
	b.nested[pos] = bits
}

// avroValue converts a stored value to the Go value hamba encodes as the
// field's Avro type; nil (null) when the stored value does not fit.
func avroValue(f *Field, v any) any {
	switch avroType(f) {
	case "long":
		switch x := v.(type) {
		case dtVal:
			return int64(x)
		case timeVal:
			return int64(x)
		case float64:
			return int64(x)
		}
	case "int":
		switch x := v.(type) {
		case dateVal:
			return int32(x)
		case float64:
			return int32(x)
		}
	case "double":
		if x, ok := v.(float64); ok {
			return x
		}
	case "boolean":
		if x, ok := v.(bool); ok {
			return x
		}
	default:
		if x, ok := v.(string); ok {
			return x
		}
		if v != nil {
			return csvValue(f, v)
		}
	}
	return nil
}

// encode renders one event as Avro binary (no container header). A
// CREATE/UNDELETE body holds the record's non-null values; an UPDATE body
// only the changed ones, with changedFields / nulledFields saying which;
// DELETE and gap events have a header only. Absent fields encode as null.
func (sc *cdcSchema) encode(h changeHeader, old, new []any) ([]byte, error) {
	body := map[string]any{}
	var changed, nulled bitmap
	switch h.changeType {
	case changeCreate, changeUndelete:
		for _, sl := range sc.slots {
			if sl.field != nil {
				if v := avroValue(sl.field, valueAt(new, sl.field)); v != nil {
					body[sl.name] = v
				}
				continue
			}
			nested := map[string]any{}
			for _, p := range sl.parts {
				if v := avroValue(p.field, valueAt(new, p.field)); v != nil {
					nested[p.name] = v
				}
			}
			if len(nested) > 0 {
				body[sl.name] = map[string]any{sl.unionKey: nested}
			}
		}
	case changeUpdate:
		for i, sl := range sc.slots {
			pos := i + 1
			if sl.field != nil {
				ov, nv := valueAt(old, sl.field), valueAt(new, sl.field)
				if ov == nv {
					continue
				}
				setBit(&changed.top, pos)
				if v := avroValue(sl.field, nv); v != nil {
					body[sl.name] = v
				} else {
					setBit(&nulled.top, pos)
				}
				continue
			}
			nested := map[string]any{}
			nulledParts := 0
			for j, p := range sl.parts {
				ov, nv := valueAt(old, p.field), valueAt(new, p.field)
				if ov == nv {
					continue
				}
				changed.setNested(pos, j)
				if v := avroValue(p.field, nv); v != nil {
					nested[p.name] = v
				} else {
					nulled.setNested(pos, j)
					nulledParts++
				}
			}
			if len(nested) > 0 || nulledParts > 0 {
				body[sl.name] = map[string]any{sl.unionKey: nested}
			}
		}
	}
	body["ChangeEventHeader"] = map[string]any{
		"entityName": h.entity, "recordIds": h.ids, "changeType": h.changeType, "changeOrigin": h.origin,
		"transactionKey": h.txKey, "sequenceNumber": h.seq, "commitTimestamp": h.commitMs,
		"commitNumber": h.commitNumber, "commitUser": h.user, "nulledFields": nulled.render(),
		"diffFields": []string{}, "changedFields": changed.render(),
	}
	return avro.Marshal(sc.avro, body)
}

// valueAt reads a field of a value slice that may predate the field
// (AddField appends to objects).
func valueAt(vals []any, f *Field) any {
	if f.idx < len(vals) {
		return vals[f.idx]
	}
	return nil
}
