package dsl

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/sdk"
)

// Engine-owned arguments of source and sink blocks. They are decoded here;
// every other argument belongs to the connector's schema.
const (
	attrConnection = "connection"
	attrFields     = "fields"
	attrPlugin     = "plugin"
	attrWrite      = "write"
	attrKey        = "key"
	attrDeletes    = "deletes"
)

var (
	sourceEngineAttrs = []string{attrConnection, attrFields, attrPlugin}
	sinkEngineAttrs   = []string{attrConnection, attrWrite, attrKey, attrDeletes, attrPlugin}
	writeModes        = []string{string(sdk.WriteInsert), string(sdk.WriteUpsert), string(sdk.WriteUpdate), string(sdk.WriteDelete)}
)

// partitionAttr is the sink attribute by which a connector declares that it
// writes partitioned files or objects; only such sinks receive the flow's
// partition keys.
const partitionAttr = "partition_by"

// decodeEndpoint decodes what sources and sinks share. role is "source" or
// "sink"; engineAttrs are the role's engine-owned arguments. It returns the
// block's arguments (engine-owned ones included) for the caller to read its
// own, and the spec; ok is false when the connector is unknown, in which
// case nothing else of the block is checked.
func (l *loader) decodeEndpoint(b *hclsyntax.Block, role string, engineAttrs []string, sc *scope) (ep plan.Endpoint, attrs map[string]*hclsyntax.Attribute, spec sdk.Spec, ok bool) {
	ep = plan.Endpoint{
		Type:       b.Labels[0],
		Options:    sdk.Values{},
		Range:      b.DefRange(),
		AttrRanges: map[string]hcl.Range{},
	}
	// An explicit plugin path decides which executable answers for the
	// connector, so it is read before the spec is looked up.
	pluginPath := ""
	if a, ok := b.Body.Attributes[attrPlugin]; ok {
		pluginPath, _ = l.str(a, sc)
	}
	spec, err := l.pluginSpec(ep.Type, pluginPath)
	if err != nil {
		l.connectorError(ep.Type, err, b.LabelRanges[0])
		return ep, nil, spec, false
	}
	capability, schema := sdk.CapSource, spec.Source
	if role == "sink" {
		capability, schema = sdk.CapSink, spec.Sink
	}
	// A spec that lists no capabilities at all predates them; trust it.
	if len(spec.Capabilities) > 0 && !spec.Has(capability) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Connector cannot be a %s", role),
			Detail:   fmt.Sprintf("The %q connector does not support being used as a %s. Use a connector that does.", ep.Type, role),
			Subject:  b.LabelRanges[0].Ptr(),
		})
		return ep, nil, spec, false
	}

	allowed := append(append([]string{}, engineAttrs...), attrNames(schema)...)
	attrs, diags := attrsOf(b.Body, fmt.Sprintf("a %q %s", ep.Type, role), allowed)
	l.diags = append(l.diags, diags...)
	for name, a := range attrs {
		ep.AttrRanges[name] = a.Expr.Range()
	}

	ep.Connection = l.endpointConnection(b, ep.Type, spec, attrs[attrConnection], sc)
	ep.Plugin = pluginPath

	// Engine-owned names win over a connector attribute of the same name.
	connectorAttrs := map[string]*hclsyntax.Attribute{}
	for name, a := range attrs {
		if !contains(engineAttrs, name) {
			connectorAttrs[name] = a
		}
	}
	values, sensitive, _ := l.connectorValues(b, withoutEngine(schema, engineAttrs), connectorAttrs, sc)
	ep.Sensitive = sensitive
	if ent, ok := schema.EntityAttribute(); ok {
		if v, set := values[ent.Name]; set {
			if s, isString := v.(string); isString {
				ep.Entity = s
			} else {
				ep.Entity = fmt.Sprint(v)
			}
			delete(values, ent.Name)
		}
	}
	ep.Options = values
	return ep, attrs, spec, true
}

// withoutEngine drops connector attributes shadowed by engine-owned ones.
func withoutEngine(s sdk.ConfigSchema, engineAttrs []string) sdk.ConfigSchema {
	var out sdk.ConfigSchema
	for _, a := range s.Attributes {
		if !contains(engineAttrs, a.Name) {
			out.Attributes = append(out.Attributes, a)
		}
	}
	return out
}

// endpointConnection resolves the connection argument: required when the
// connector has connection settings, forbidden when it has none, and it
// must name a connection of the same connector type.
func (l *loader) endpointConnection(b *hclsyntax.Block, typ string, spec sdk.Spec, a *hclsyntax.Attribute, sc *scope) *plan.Connection {
	needs := len(spec.Connection.Attributes) > 0
	if a == nil {
		if needs {
			l.diags = append(l.diags, missingArg(b, attrConnection, fmt.Sprintf("connection = connection.%s.<name>", typ)))
		}
		return nil
	}
	if !needs {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unexpected connection",
			Detail:   fmt.Sprintf("The %q connector takes no connection; remove this argument.", typ),
			Subject:  a.NameRange.Ptr(),
		})
		return nil
	}
	val, diags := sc.value(a.Expr)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() || !val.IsWhollyKnown() {
		return nil
	}
	val, _ = val.UnmarkDeep()
	rng := a.Expr.Range()
	ty := val.Type()
	if val.IsNull() || !ty.IsObjectType() || !ty.HasAttribute("type") || !ty.HasAttribute("name") ||
		!ty.AttributeType("type").Equals(cty.String) || !ty.AttributeType("name").Equals(cty.String) ||
		val.GetAttr("type").IsNull() || val.GetAttr("name").IsNull() {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid connection reference",
			Detail:   fmt.Sprintf("The connection argument must refer to a connection block, like connection = connection.%s.<name>.", typ),
			Subject:  &rng,
		})
		return nil
	}
	ctyp, cname := val.GetAttr("type").AsString(), val.GetAttr("name").AsString()
	c, ok := l.conns[ctyp][cname]
	if !ok {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Reference to undeclared connection",
			Detail:   fmt.Sprintf("No connection %q %q is declared. Declare it with a connection block, or fix the reference.", ctyp, cname),
			Subject:  &rng,
		})
		return nil
	}
	if ctyp != typ {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Connection type mismatch",
			Detail:   fmt.Sprintf("This block uses the %q connector, but connection.%s.%s is a %q connection. Refer to a connection %q \"<name>\" block instead.", typ, ctyp, cname, ctyp, typ),
			Subject:  &rng,
		})
		return nil
	}
	return c
}

// decodeSource decodes a flow's `source "<type>"` block.
func (l *loader) decodeSource(b *hclsyntax.Block, sc *scope) *plan.Source {
	ep, attrs, _, ok := l.decodeEndpoint(b, "source", sourceEngineAttrs, sc)
	src := &plan.Source{Endpoint: ep}
	if !ok {
		return src
	}
	if a := attrs[attrFields]; a != nil {
		src.Fields, _ = l.strList(a, sc)
	}
	return src
}

// decodeSink decodes a flow's `sink "<type>" ["<name>"]` block. It also
// returns the spec, which decides later whether the sink takes partition
// keys.
func (l *loader) decodeSink(b *hclsyntax.Block, sc *scope) (*plan.Sink, sdk.Spec) {
	ep, attrs, spec, ok := l.decodeEndpoint(b, "sink", sinkEngineAttrs, sc)
	sink := &plan.Sink{Endpoint: ep, Name: ep.Type, Mode: sdk.WriteInsert}
	if len(b.Labels) > 1 {
		sink.Name = b.Labels[1]
	}
	if !ok {
		return sink, spec
	}
	if a := attrs[attrWrite]; a != nil {
		if m, ok := l.enum(a, sc, writeModes); ok {
			sink.Mode = sdk.WriteMode(m)
		}
	}
	if a := attrs[attrKey]; a != nil {
		sink.Keys, _ = l.strList(a, sc)
	}
	if a := attrs[attrDeletes]; a != nil {
		sink.Deletes, _ = l.boolean(a, sc)
		if sink.Deletes && (sink.Mode == sdk.WriteInsert || sink.Mode == sdk.WriteDelete) {
			rng := a.Expr.Range()
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Deletes need an upsert",
				Detail: fmt.Sprintf("A sink applies deletions by key alongside the records it upserts or updates; with write = %q there is nothing to pair them with. Set write = \"upsert\" (and key), or remove deletes.",
					sink.Mode),
				Subject: &rng,
			})
		}
	}
	return sink, spec
}

// str, strList, integer and boolean read an engine-owned argument; ok is
// false when it is null or had an error (already reported).
func (l *loader) str(a *hclsyntax.Attribute, sc *scope) (string, bool) {
	d, diags := sc.decode(a, sdk.TypeString)
	l.diags = append(l.diags, diags...)
	s, _ := d.v.(string)
	return s, d.ok
}

func (l *loader) strList(a *hclsyntax.Attribute, sc *scope) ([]string, bool) {
	d, diags := sc.decode(a, sdk.TypeStringList)
	l.diags = append(l.diags, diags...)
	s, _ := d.v.([]string)
	return s, d.ok
}

func (l *loader) integer(a *hclsyntax.Attribute, sc *scope) (int64, bool) {
	d, diags := sc.decode(a, sdk.TypeInt)
	l.diags = append(l.diags, diags...)
	n, _ := d.v.(int64)
	return n, d.ok
}

func (l *loader) boolean(a *hclsyntax.Attribute, sc *scope) (bool, bool) {
	d, diags := sc.decode(a, sdk.TypeBool)
	l.diags = append(l.diags, diags...)
	v, _ := d.v.(bool)
	return v, d.ok
}

// enum reads a string argument that must be one of choices.
func (l *loader) enum(a *hclsyntax.Attribute, sc *scope, choices []string) (string, bool) {
	s, ok := l.str(a, sc)
	if !ok {
		return "", false
	}
	if !contains(choices, s) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid %s value", a.Name),
			Detail:   fmt.Sprintf("%s must be %s, not %q.%s", a.Name, quoteList(choices), s, didYouMean(s, choices)),
			Subject:  a.Expr.Range().Ptr(),
		})
		return "", false
	}
	return s, true
}
