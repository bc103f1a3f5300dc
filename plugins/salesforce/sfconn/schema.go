package sfconn

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
)

// sfField is one field of an object's describe.
type sfField struct {
	Name              string   `json:"name"`
	Type              string   `json:"type"`
	Nillable          bool     `json:"nillable"`
	Createable        bool     `json:"createable"`
	Updateable        bool     `json:"updateable"`
	ExternalID        bool     `json:"externalId"`
	IDLookup          bool     `json:"idLookup"`
	Filterable        bool     `json:"filterable"`
	Precision         int      `json:"precision"`
	Scale             int      `json:"scale"`
	CompoundFieldName *string  `json:"compoundFieldName"`
	ReferenceTo       []string `json:"referenceTo"`
}

// sfObject is an object's describe, as far as the connector needs it.
type sfObject struct {
	Name       string    `json:"name"`
	Queryable  bool      `json:"queryable"`
	Createable bool      `json:"createable"`
	Updateable bool      `json:"updateable"`
	Deletable  bool      `json:"deletable"`
	Fields     []sfField `json:"fields"`

	byName map[string]*sfField // lower-case name
}

func (o *sfObject) field(name string) *sfField { return o.byName[strings.ToLower(name)] }

// describeCache keeps object describes for the life of the connector.
type describeCache struct {
	mu   sync.Mutex
	objs map[string]*sfObject
}

// describe fetches (once) the describe of object name.
func (c *Connector) describe(ctx context.Context, name string) (*sfObject, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("salesforce: no object named; set object")
	}
	key := strings.ToLower(name)
	c.cache.mu.Lock()
	if o := c.cache.objs[key]; o != nil {
		c.cache.mu.Unlock()
		return o, nil
	}
	c.cache.mu.Unlock()
	var o sfObject
	err := c.cl.doJSON(ctx, request{method: "GET", path: "sobjects/" + url.PathEscape(name) + "/describe"}, &o)
	if err != nil {
		if ae, ok := err.(*apiError); ok && (ae.Status == 404 || ae.Code == "NOT_FOUND" || ae.Code == "INVALID_TYPE") {
			return nil, fmt.Errorf("salesforce: there is no object %q in this org (see `sluice entities salesforce`)", name)
		}
		return nil, err
	}
	o.byName = map[string]*sfField{}
	for i := range o.Fields {
		o.byName[strings.ToLower(o.Fields[i].Name)] = &o.Fields[i]
	}
	c.cache.mu.Lock()
	if c.cache.objs == nil {
		c.cache.objs = map[string]*sfObject{}
	}
	c.cache.objs[key] = &o
	c.cache.mu.Unlock()
	return &o, nil
}

// Arrow types of the mapping (see doc.go).
var (
	timestampMS = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	time32MS    = arrow.FixedWidthTypes.Time32ms
)

// arrowType maps a Salesforce field type to Arrow; nil means the field is
// not read (compound address/location values, whose components are fields
// of their own, and base64 blobs, which REST returns as URLs).
func arrowType(f *sfField) arrow.DataType {
	switch f.Type {
	case "boolean":
		return arrow.FixedWidthTypes.Boolean
	case "int", "long":
		return arrow.PrimitiveTypes.Int64
	case "double", "currency", "percent":
		return arrow.PrimitiveTypes.Float64
	case "date":
		return arrow.FixedWidthTypes.Date32
	case "datetime":
		return timestampMS
	case "time":
		return time32MS
	case "address", "location", "base64":
		return nil
	default:
		// id, reference, string, picklist, multipicklist (';'-joined),
		// combobox, textarea, email, phone, url, encryptedstring, anyType,
		// complexvalue, json and any type added later.
		return arrow.BinaryTypes.String
	}
}

// arrowField is the Arrow field of f, with its Salesforce type in the metadata.
func arrowField(f *sfField) (arrow.Field, bool) {
	t := arrowType(f)
	if t == nil {
		return arrow.Field{}, false
	}
	keys := []string{"salesforce.type"}
	vals := []string{f.Type}
	if f.Type == "double" || f.Type == "currency" || f.Type == "percent" {
		keys = append(keys, "salesforce.precision", "salesforce.scale")
		vals = append(vals, strconv.Itoa(f.Precision), strconv.Itoa(f.Scale))
	}
	return arrow.Field{Name: f.Name, Type: t, Nullable: true, Metadata: arrow.NewMetadata(keys, vals)}, true
}

// readable lists the fields a read returns by default, in describe order.
func (o *sfObject) readable() []*sfField {
	var out []*sfField
	for i := range o.Fields {
		if arrowType(&o.Fields[i]) != nil {
			out = append(out, &o.Fields[i])
		}
	}
	return out
}

// selectFields resolves the requested names (all readable fields when
// none) against the describe.
func (o *sfObject) selectFields(names []string) ([]*sfField, error) {
	if len(names) == 0 {
		return o.readable(), nil
	}
	out := make([]*sfField, 0, len(names))
	for _, n := range names {
		f := o.field(n)
		if f == nil {
			return nil, fmt.Errorf("salesforce: no field %q on %s%s", n, o.Name, suggest(o, n))
		}
		if arrowType(f) == nil {
			return nil, fmt.Errorf("salesforce: field %s.%s is a compound %s field, which is not read; select its components instead", o.Name, f.Name, f.Type)
		}
		out = append(out, f)
	}
	return out, nil
}

// suggest names fields that look like n, for error messages.
func suggest(o *sfObject, n string) string {
	ln := strings.ToLower(n)
	var near []string
	for _, f := range o.Fields {
		lf := strings.ToLower(f.Name)
		if strings.Contains(lf, ln) || strings.Contains(ln, lf) {
			near = append(near, f.Name)
		}
	}
	sort.Strings(near)
	if len(near) > 5 {
		near = near[:5]
	}
	if len(near) == 0 {
		return ""
	}
	return " (did you mean " + strings.Join(near, ", ") + "?)"
}

// schemaOf is the Arrow schema of fields.
func schemaOf(fields []*sfField) *arrow.Schema {
	af := make([]arrow.Field, 0, len(fields))
	for _, f := range fields {
		a, _ := arrowField(f)
		af = append(af, a)
	}
	return arrow.NewSchema(af, nil)
}
