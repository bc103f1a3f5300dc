package dsl

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// variable is a declared `variable "<name>"` block.
type variable struct {
	name        string
	typ         cty.Type
	def         cty.Value // cty.NilVal when there is no default
	description string
	sensitive   bool
	block       *hclsyntax.Block
	// broken says the declaration had errors; the variable then gets an
	// unknown value without a "no value" diagnostic on top.
	broken bool
}

var variableAttrs = []string{"type", "default", "description", "sensitive"}

// variableTypes maps the keywords allowed in `type = ...` to cty types.
var variableTypes = map[string]cty.Type{
	"string": cty.String,
	"number": cty.Number,
	"bool":   cty.Bool,
}

func (l *loader) declareVariable(b *hclsyntax.Block) {
	name := b.Labels[0]
	nameRange := b.LabelRanges[0]
	if !hclsyntax.ValidIdentifier(name) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid variable name",
			Detail:   "A variable name must start with a letter or underscore and hold only letters, digits, underscores and dashes, because it is referred to as var.<name>.",
			Subject:  &nameRange,
		})
		return
	}
	if first, dup := l.vars[name]; dup {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate variable",
			Detail:   fmt.Sprintf("A variable named %q is already declared at %s. Remove one of them or rename it.", name, first.block.DefRange()),
			Subject:  &nameRange,
		})
		return
	}
	v := &variable{name: name, typ: cty.String, block: b}
	// Register before decoding the body, so references to a variable whose
	// body is wrong do not add "undeclared variable" errors.
	l.vars[name] = v
	before := len(l.diags)
	defer func() { v.broken = l.diags[before:].HasErrors() }()

	attrs, diags := attrsOf(b.Body, "a variable block", variableAttrs)
	l.diags = append(l.diags, diags...)

	if a, ok := attrs["type"]; ok {
		kw := hcl.ExprAsKeyword(a.Expr)
		if t, ok := variableTypes[kw]; ok {
			v.typ = t
		} else {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid variable type",
				Detail:   fmt.Sprintf("The type of a variable is one of the keywords string, number or bool, written without quotes.%s", didYouMean(kw, sortedKeys(variableTypes))),
				Subject:  a.Expr.Range().Ptr(),
			})
		}
	}
	// Literal-only attributes: variables are resolved before anything else
	// exists, so a nil context is all they can see.
	if a, ok := attrs["description"]; ok {
		if s, ok := l.literal(a, cty.String); ok {
			v.description = s.AsString()
		}
	}
	if a, ok := attrs["sensitive"]; ok {
		if s, ok := l.literal(a, cty.Bool); ok {
			v.sensitive = s.True()
		}
	}
	if a, ok := attrs["default"]; ok {
		if d, ok := l.literal(a, v.typ); ok {
			v.def = d
		}
	}
}

// literal evaluates an expression that may not refer to anything and
// converts it to typ. ok is false for null values and errors.
func (l *loader) literal(a *hclsyntax.Attribute, typ cty.Type) (cty.Value, bool) {
	val, diags := a.Expr.Value(nil)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() || !val.IsWhollyKnown() || val.IsNull() {
		return cty.NilVal, false
	}
	c, err := convert.Convert(val, typ)
	if err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("Inappropriate value for argument %q: %s. It must be a %s.", a.Name, err, typ.FriendlyName()),
			Subject:  a.Expr.Range().Ptr(),
		})
		return cty.NilVal, false
	}
	return c, true
}

// resolveVariables gives every declared variable its value. Precedence,
// highest first: --var, --var-file (later files win), SLUICE_VAR_<name>,
// the default. A variable with a problem gets an unknown value, which
// expressions using it carry along without further diagnostics.
func (l *loader) resolveVariables() {
	fromFiles := l.readVarFiles()

	for _, name := range sortedKeys(l.opts.Vars) {
		if _, ok := l.vars[name]; !ok {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("--var sets %q, but no variable of that name is declared. Declare it with a variable %q {} block, or fix the name.%s", name, name, didYouMean(name, sortedKeys(l.vars))),
			})
		}
	}

	for _, name := range sortedKeys(l.vars) {
		v := l.vars[name]
		val, ok := l.valueOf(v, fromFiles)
		if !ok {
			val = cty.UnknownVal(v.typ)
		}
		if v.sensitive {
			val = val.Mark(sensitiveMark)
		}
		l.varValues[name] = val
	}
}

// valueOf finds the value of one variable; ok is false after a diagnostic.
func (l *loader) valueOf(v *variable, fromFiles map[string]*hclsyntax.Attribute) (cty.Value, bool) {
	if s, ok := l.opts.Vars[v.name]; ok {
		c, err := convert.Convert(cty.StringVal(s), v.typ)
		if err != nil {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for variable",
				Detail:   fmt.Sprintf("--var %s=%s is not a valid %s: %s.", v.name, s, v.typ.FriendlyName(), err),
			})
			return cty.NilVal, false
		}
		return c, true
	}
	if a, ok := fromFiles[v.name]; ok {
		return l.literal(a, v.typ)
	}
	if s, ok := l.opts.Env(envVarPrefix + v.name); ok {
		c, err := convert.Convert(cty.StringVal(s), v.typ)
		if err != nil {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for variable",
				Detail:   fmt.Sprintf("The environment variable %s%s is not a valid %s: %s.", envVarPrefix, v.name, v.typ.FriendlyName(), err),
				Subject:  v.block.LabelRanges[0].Ptr(),
			})
			return cty.NilVal, false
		}
		return c, true
	}
	if v.def != cty.NilVal {
		return v.def, true
	}
	if v.broken {
		return cty.NilVal, false
	}
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "No value for required variable",
		Detail: fmt.Sprintf("Variable %q has no default, so it needs a value: pass --var %s=<value>, put it in a --var-file, or set the environment variable %s%s.",
			v.name, v.name, envVarPrefix, v.name),
		Subject: v.block.LabelRanges[0].Ptr(),
	})
	return cty.NilVal, false
}

// readVarFiles parses the --var-file files, later files overriding earlier
// ones, and returns the unevaluated attributes by name.
func (l *loader) readVarFiles() map[string]*hclsyntax.Attribute {
	out := map[string]*hclsyntax.Attribute{}
	for _, path := range l.opts.VarFiles {
		f, diags := l.parser.ParseHCLFile(path)
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() || f == nil {
			continue
		}
		body, ok := f.Body.(*hclsyntax.Body)
		if !ok {
			continue
		}
		attrs, diags := attrsOf(body, "a variables file", nil)
		l.diags = append(l.diags, diags...)
		for _, a := range inOrder(body.Attributes) {
			if _, ok := attrs[a.Name]; !ok {
				continue
			}
			if _, declared := l.vars[a.Name]; !declared {
				// A warning, as in Terraform: one var file often serves
				// several configurations.
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagWarning,
					Summary:  "Value for undeclared variable",
					Detail:   fmt.Sprintf("No variable %q is declared, so this value is ignored.%s", a.Name, didYouMean(a.Name, sortedKeys(l.vars))),
					Subject:  a.NameRange.Ptr(),
				})
				continue
			}
			out[a.Name] = a
		}
	}
	return out
}
