package sfconn

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
)

// contactEventSchema is shaped like Salesforce's ContactChangeEvent: the
// header first, compound fields as nested records, datetimes as longs.
const contactEventSchema = `{
 "type": "record", "name": "ContactChangeEvent", "namespace": "com.sforce.eventbus",
 "fields": [
  {"name": "ChangeEventHeader", "type": {"type": "record", "name": "ChangeEventHeader", "fields": [
    {"name": "entityName", "type": "string"},
    {"name": "recordIds", "type": {"type": "array", "items": "string"}},
    {"name": "changeType", "type": {"type": "enum", "name": "ChangeType", "symbols":
      ["CREATE", "UPDATE", "DELETE", "UNDELETE", "GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE", "GAP_OVERFLOW", "SNAPSHOT"]}},
    {"name": "changeOrigin", "type": "string"},
    {"name": "transactionKey", "type": "string"},
    {"name": "sequenceNumber", "type": "int"},
    {"name": "commitTimestamp", "type": "long"},
    {"name": "commitNumber", "type": "long"},
    {"name": "commitUser", "type": "string"},
    {"name": "nulledFields", "type": {"type": "array", "items": "string"}},
    {"name": "diffFields", "type": {"type": "array", "items": "string"}},
    {"name": "changedFields", "type": {"type": "array", "items": "string"}}]}},
  {"name": "Name", "type": ["null", {"type": "record", "name": "Switchable_PersonName", "fields": [
    {"name": "Salutation", "type": ["null", "string"], "default": null},
    {"name": "FirstName", "type": ["null", "string"], "default": null},
    {"name": "LastName", "type": ["null", "string"], "default": null}]}], "default": null},
  {"name": "AccountId", "type": ["null", "string"], "default": null},
  {"name": "Email", "type": ["null", "string"], "default": null},
  {"name": "Phone", "type": ["null", "string"], "default": null},
  {"name": "MailingAddress", "type": ["null", {"type": "record", "name": "Address", "fields": [
    {"name": "Street", "type": ["null", "string"], "default": null},
    {"name": "City", "type": ["null", "string"], "default": null},
    {"name": "PostalCode", "type": ["null", "string"], "default": null}]}], "default": null},
  {"name": "LastModifiedDate", "type": ["null", "long"], "default": null, "doc": "LastModifiedDate:DateTime"},
  {"name": "Description", "type": ["null", "string"], "default": null}
 ]}`

// encodeEvent writes a ContactChangeEvent payload.
func encodeEvent(t testing.TB, schemaJSON string, h map[string]any, body map[string]any) []byte {
	t.Helper()
	s, err := avro.ParseWithCache(schemaJSON, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]any{"entityName": "Contact", "recordIds": []any{}, "changeType": "UPDATE",
		"changeOrigin": "", "transactionKey": "tx", "sequenceNumber": 1, "commitTimestamp": int64(0),
		"commitNumber": int64(1), "commitUser": "005000000000001AAA", "nulledFields": []any{},
		"diffFields": []any{}, "changedFields": []any{}}
	for k, v := range h {
		hdr[k] = v
	}
	m := map[string]any{"ChangeEventHeader": hdr}
	for _, f := range s.(*avro.RecordSchema).Fields() {
		if f.Name() != "ChangeEventHeader" {
			m[f.Name()] = nil
		}
	}
	for k, v := range body {
		m[k] = v
	}
	b, err := avro.Marshal(s, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustCodec(t testing.TB, schemaJSON string) *eventCodec {
	t.Helper()
	ec, err := newEventCodec("sch1", schemaJSON)
	if err != nil {
		t.Fatal(err)
	}
	return ec
}

func TestExpandBitmap(t *testing.T) {
	ec := mustCodec(t, contactEventSchema)
	for _, tc := range []struct {
		in   []string
		want []string
		err  string
	}{
		{in: nil, want: nil},
		{in: []string{"0x08"}, want: []string{"Email"}},
		{in: []string{"0x48"}, want: []string{"Email", "LastModifiedDate"}},
		// Odd-length hex and upper-case prefix.
		{in: []string{"0X8"}, want: []string{"Email"}},
		{in: []string{"0x42", "1-0x04"}, want: []string{"LastModifiedDate", "Name", "Name", "Name.LastName"}},
		{in: []string{"0x00", "5-0x06"}, want: []string{"MailingAddress", "MailingAddress.City", "MailingAddress.PostalCode"}},
		// The CometD form names fields.
		{in: []string{"Email", "Phone"}, want: []string{"Email", "Phone"}},
		{in: []string{"0x0100"}, err: "bit 8 is past the 8 fields"},
		{in: []string{"3-0x01"}, err: "Email is not a nested record"},
		{in: []string{"9-0x01"}, err: "no top-level field 9"},
		{in: []string{"0xzz"}, err: "invalid byte"},
		{in: []string{"1-Salutation"}, err: "want <pos>-0x<hex>"},
	} {
		got, err := expandBitmap(ec.schema, tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.in, err)
			continue
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestExpandBitmapWide checks the reference's example on a 32-field
// schema: "0x650004E0" sets bits 5, 6, 7, 10, 24, 26, 29 and 30; "4-0x10"
// is bit 4 of the record at position 4, "7-0x06" bits 1 and 2 of the one at 7.
func TestExpandBitmapWide(t *testing.T) {
	var fields []string
	fields = append(fields, `{"name":"ChangeEventHeader","type":{"type":"record","name":"H","fields":[{"name":"changeType","type":"string"}]}}`)
	for i := 1; i < 32; i++ {
		typ := `["null","string"]`
		if i == 4 || i == 7 {
			var sub []string
			for j := 0; j < 6; j++ {
				sub = append(sub, fmt.Sprintf(`{"name":"S%d","type":["null","string"],"default":null}`, j))
			}
			typ = fmt.Sprintf(`["null",{"type":"record","name":"R%d","fields":[%s]}]`, i, strings.Join(sub, ","))
		}
		fields = append(fields, fmt.Sprintf(`{"name":"F%d","type":%s,"default":null}`, i, typ))
	}
	ec := mustCodec(t, `{"type":"record","name":"Wide","namespace":"x","fields":[`+strings.Join(fields, ",")+`]}`)
	got, err := expandBitmap(ec.schema, []string{"0x650004E0", "4-0x10", "7-0x06"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"F5", "F6", "F7", "F10", "F24", "F26", "F29", "F30", "F4", "F4.S4", "F7", "F7.S1", "F7.S2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%v\nwant %v", got, want)
	}
}

func TestBodyFields(t *testing.T) {
	ec := mustCodec(t, contactEventSchema)
	for soql, path := range map[string]string{
		"email": "Email", "name": "Name", "firstname": "Name.FirstName", "salutation": "Name.Salutation",
		"mailingcity": "MailingAddress.City", "mailingstreet": "MailingAddress.Street", "lastmodifieddate": "LastModifiedDate",
	} {
		if got := ec.body[soql]; got != path {
			t.Errorf("%s: %q, want %q", soql, got, path)
		}
	}
	for _, absent := range []string{"changeeventheader", "systemmodstamp", "city"} {
		if p, ok := ec.body[absent]; ok {
			t.Errorf("%s should not be in the body map (got %q)", absent, p)
		}
	}
}

func TestDecodeHeader(t *testing.T) {
	ec := mustCodec(t, contactEventSchema)
	payload := encodeEvent(t, contactEventSchema, map[string]any{
		"recordIds": []any{"003000000000001AAA", "003000000000002AAA"}, "changeType": "UPDATE",
		"changeOrigin": "com/salesforce/api/rest/64.0;client=other", "commitTimestamp": int64(1700000000123),
		"changedFields": []any{"0x48", "1-0x02"}, "nulledFields": []any{"0x10"},
	}, map[string]any{
		"Email": "a@example.com",
		"Name":  map[string]any{"com.sforce.eventbus.Switchable_PersonName": map[string]any{"Salutation": nil, "FirstName": "Ann", "LastName": nil}},
	})
	h, err := ec.decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	if h.entity != "Contact" || h.changeType != "UPDATE" || h.commitTS != 1700000000123 ||
		!reflect.DeepEqual(h.recordIDs, []string{"003000000000001AAA", "003000000000002AAA"}) ||
		h.origin != "com/salesforce/api/rest/64.0;client=other" {
		t.Fatalf("header: %+v", h)
	}
	want := map[string]bool{"Email": true, "LastModifiedDate": true, "Name": true, "Name.FirstName": true, "Phone": true}
	if !reflect.DeepEqual(h.changed, want) {
		t.Fatalf("changed %v, want %v", h.changed, want)
	}

	// A bitmap that does not fit the schema leaves changed unknown.
	bad := encodeEvent(t, contactEventSchema, map[string]any{"changedFields": []any{"0xFFFF"}}, nil)
	if h, err := ec.decode(bad); err != nil || h.changed != nil {
		t.Fatalf("bad bitmap: %v %v", h.changed, err)
	}
	if _, err := ec.decode([]byte{0x01}); err == nil {
		t.Fatal("a truncated payload decoded")
	}
}

// TestDecodeNullableHeader: a header declared as a union (or with union
// typed members) decodes the same.
func TestDecodeNullableHeader(t *testing.T) {
	js := `{"type":"record","name":"E","namespace":"n","fields":[
	 {"name":"ChangeEventHeader","type":["null",{"type":"record","name":"H","fields":[
	   {"name":"entityName","type":["null","string"]},
	   {"name":"recordIds","type":["null",{"type":"array","items":"string"}]},
	   {"name":"changeType","type":"string"},
	   {"name":"changeOrigin","type":["null","string"]},
	   {"name":"commitTimestamp","type":["null","int","long"]}]}]},
	 {"name":"Email","type":["null","string"],"default":null}]}`
	ec := mustCodec(t, js)
	s, _ := avro.ParseWithCache(js, "", &avro.SchemaCache{})
	b, err := avro.Marshal(s, map[string]any{"ChangeEventHeader": map[string]any{"n.H": map[string]any{
		"entityName": "Contact", "recordIds": []any{"003000000000001AAA"}, "changeType": "DELETE",
		"changeOrigin": nil, "commitTimestamp": map[string]any{"long": int64(42)}}}, "Email": nil})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ec.decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.entity != "Contact" || h.changeType != "DELETE" || h.commitTS != 42 || len(h.recordIDs) != 1 || h.origin != "" {
		t.Fatalf("%+v", h)
	}
}

func TestNewEventCodecRefuses(t *testing.T) {
	if _, err := newEventCodec("x", `{"type":"record","name":"P","fields":[{"name":"a","type":"string"}]}`); err == nil || !strings.Contains(err.Error(), "not a change event") {
		t.Fatalf("platform event schema: %v", err)
	}
	if _, err := newEventCodec("x", `"string"`); err == nil {
		t.Fatal("a string schema was accepted")
	}
	if _, err := newEventCodec("x", `{`); err == nil {
		t.Fatal("bad JSON was accepted")
	}
	// Two versions of one entity's schema parse side by side.
	a := mustCodec(t, contactEventSchema)
	b := mustCodec(t, strings.Replace(contactEventSchema, `{"name": "Description"`, `{"name": "Extra__c", "type": ["null", "string"], "default": null},
  {"name": "Description"`, 1))
	if len(a.schema.Fields()) != 8 || len(b.schema.Fields()) != 9 {
		t.Fatalf("fields: %d, %d", len(a.schema.Fields()), len(b.schema.Fields()))
	}
}

func TestOwnOrigin(t *testing.T) {
	for _, tc := range []struct {
		origin, tag string
		want        bool
	}{
		{"com/salesforce/api/rest/64.0;client=sluice", "sluice", true},
		{"com/salesforce/api/soap/64.0; client=sluice", "sluice", true},
		{"com/salesforce/api/rest/64.0;client=sluice-b", "sluice", false},
		{"com/salesforce/api/rest/64.0;client=sluice", "sluice-b", false},
		{"com/salesforce/api/rest/64.0", "sluice", false},
		{"", "sluice", false},
		{"client=Sluice", "sluice", false},
	} {
		if got := ownOrigin(tc.origin, tc.tag); got != tc.want {
			t.Errorf("ownOrigin(%q, %q) = %v", tc.origin, tc.tag, got)
		}
	}
}
