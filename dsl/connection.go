package dsl

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/sdk"
)

// decodeConnection decodes a `connection "<type>" "<name>"` block against
// the connector's connection schema. It returns nil for a block that cannot
// be referred to (bad or duplicate name).
func (l *loader) decodeConnection(b *hclsyntax.Block, sc *scope) *plan.Connection {
	typ, name := b.Labels[0], b.Labels[1]
	for i, label := range b.Labels {
		if !hclsyntax.ValidIdentifier(label) {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid connection label",
				Detail:   "Connection types and names must start with a letter or underscore and hold only letters, digits, underscores and dashes, because flows refer to them as connection.<type>.<name>.",
				Subject:  b.LabelRanges[i].Ptr(),
			})
			return nil
		}
	}
	if first, dup := l.conns[typ][name]; dup {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate connection",
			Detail:   fmt.Sprintf("A %q connection named %q is already declared at %s. Rename one of them.", typ, name, first.Range),
			Subject:  b.LabelRanges[1].Ptr(),
		})
		return nil
	}
	c := &plan.Connection{
		Type:      typ,
		Name:      name,
		Values:    sdk.Values{},
		Sensitive: map[string]bool{},
		Range:     b.DefRange(),
	}
	// Registered before its body is checked, so a flow referring to a
	// connection with a typo inside gets no second diagnostic.
	if l.conns[typ] == nil {
		l.conns[typ] = map[string]*plan.Connection{}
	}
	l.conns[typ][name] = c

	spec, err := l.spec(typ)
	if err != nil {
		l.connectorError(typ, err, b.LabelRanges[0])
		return c
	}
	if len(spec.Connection.Attributes) == 0 {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Connector takes no connection",
			Detail:   fmt.Sprintf("The %q connector has no connection settings. Remove this block, and the connection argument from sources and sinks that use it.", typ),
			Subject:  b.LabelRanges[0].Ptr(),
		})
		return c
	}
	attrs, diags := attrsOf(b.Body, fmt.Sprintf("a %q connection", typ), attrNames(spec.Connection))
	l.diags = append(l.diags, diags...)
	values, sensitive, _ := l.connectorValues(b, spec.Connection, attrs, sc)
	c.Values = values
	c.Sensitive = sensitive
	return c
}

// attrNames lists the attribute names of a connector schema.
func attrNames(s sdk.ConfigSchema) []string {
	out := make([]string, len(s.Attributes))
	for i, a := range s.Attributes {
		out[i] = a.Name
	}
	return out
}

// connectorValues evaluates the connector-owned attributes of a block
// against schema: required ones must be set, unset optional ones take the
// spec's default. sensitive names the attributes the spec marks sensitive or
// whose value derives from a sensitive variable. ranges maps each set
// attribute to its expression range.
func (l *loader) connectorValues(b *hclsyntax.Block, schema sdk.ConfigSchema, attrs map[string]*hclsyntax.Attribute, sc *scope) (sdk.Values, map[string]bool, map[string]hcl.Range) {
	values := sdk.Values{}
	sensitive := map[string]bool{}
	ranges := map[string]hcl.Range{}
	for _, spec := range schema.Attributes {
		a, set := attrs[spec.Name]
		if set {
			ranges[spec.Name] = a.Expr.Range()
			d, diags := sc.decode(a, spec.Type)
			l.diags = append(l.diags, diags...)
			if d.ok {
				values[spec.Name] = d.v
				if spec.Sensitive || d.sensitive {
					sensitive[spec.Name] = true
				}
				continue
			}
			if !d.null {
				// Reported already, or unknown because of an earlier error.
				continue
			}
			// An explicit null means "unset", as in Terraform.
		}
		if spec.Required {
			l.diags = append(l.diags, missingArg(b, spec.Name, fmt.Sprintf("%s = %s", spec.Name, exampleOf(spec.Type))))
			continue
		}
		if spec.Default != nil {
			values[spec.Name] = normalizeDefault(spec.Default)
			if spec.Sensitive {
				sensitive[spec.Name] = true
			}
		}
	}
	return values, sensitive, ranges
}

// exampleOf gives a placeholder value of typ for "add it like this" hints.
func exampleOf(typ sdk.AttrType) string {
	switch typ {
	case sdk.TypeInt, sdk.TypeFloat:
		return "0"
	case sdk.TypeBool:
		return "true"
	case sdk.TypeStringList:
		return `["..."]`
	case sdk.TypeStringMap:
		return `{ key = "..." }`
	}
	return `"..."`
}
