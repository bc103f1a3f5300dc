package dsl

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/sdk"
)

// sensitiveMark is the cty mark carried by values of sensitive variables,
// so any value computed from one (a template, a function result) is known to
// be sensitive too: cty propagates marks through operations and calls.
type mark string

const sensitiveMark mark = "sensitive"

// scope is what an expression may refer to where it is evaluated.
type scope struct {
	ctx  *hcl.EvalContext
	vars map[string]*variable
	// conns holds the declared connections by type and name; nil where
	// connections cannot be referenced (inside connection blocks).
	conns map[string]map[string]*plan.Connection
}

// functions returns env() and file(). dir is the directory relative paths
// given to file() are read from: the flow file's own directory, so a flow
// and its key files can move together.
func functions(dir string, lookupEnv func(string) (string, bool)) map[string]function.Function {
	return map[string]function.Function{
		"env": function.New(&function.Spec{
			Description: "Returns the value of an environment variable, which must be set.",
			Params:      []function.Parameter{{Name: "name", Type: cty.String}},
			Type:        function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				name := args[0].AsString()
				v, ok := lookupEnv(name)
				if !ok {
					return cty.UnknownVal(cty.String), fmt.Errorf("environment variable %q is not set; export it before running sluice", name)
				}
				if !utf8.ValidString(v) {
					return cty.UnknownVal(cty.String), fmt.Errorf("environment variable %q is not valid UTF-8", name)
				}
				return cty.StringVal(v), nil
			},
		}),
		"file": function.New(&function.Spec{
			Description: "Returns the contents of a text file, relative to the flow file's directory.",
			Params:      []function.Parameter{{Name: "path", Type: cty.String}},
			Type:        function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				p := args[0].AsString()
				if !filepath.IsAbs(p) {
					p = filepath.Join(dir, p)
				}
				b, err := readSmallFile(p)
				if err != nil {
					return cty.UnknownVal(cty.String), fmt.Errorf("cannot read the file (paths are relative to the flow file's directory): %w", err)
				}
				if !utf8.Valid(b) {
					return cty.UnknownVal(cty.String), fmt.Errorf("%s is not UTF-8 text", p)
				}
				return cty.StringVal(string(b)), nil
			},
		}),
	}
}

// maxFileSize caps what file() reads. Flows read keys and certificates,
// never data; the cap keeps file("/dev/zero") from eating all memory.
const maxFileSize = 1 << 20

// readSmallFile reads a regular file of at most maxFileSize bytes.
func readSmallFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxFileSize)
	}
	return b, nil
}

// checkRefs reports references to things that do not exist before the
// expression is evaluated, because HCL's own message for them ("This object
// does not have an attribute named ...") does not say what to declare.
func (s *scope) checkRefs(expr hcl.Expression) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, t := range expr.Variables() {
		rng := t.SourceRange()
		attrName := func(i int) (string, bool) {
			if len(t) <= i {
				return "", false
			}
			a, ok := t[i].(hcl.TraverseAttr)
			return a.Name, ok
		}
		switch t.RootName() {
		case "var":
			name, ok := attrName(1)
			if !ok {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid variable reference",
					Detail:   "Refer to an input variable as var.<name>, for example var.region.",
					Subject:  &rng,
				})
				continue
			}
			if _, ok := s.vars[name]; !ok {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Reference to undeclared variable",
					Detail: fmt.Sprintf("No variable %q is declared. Declare it with a variable %q {} block, or fix the name.%s",
						name, name, didYouMean(name, sortedKeys(s.vars))),
					Subject: &rng,
				})
			}
		case "connection":
			if s.conns == nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Connection reference not allowed here",
					Detail:   "Only sources and sinks can refer to a connection; a connection block cannot refer to another one.",
					Subject:  &rng,
				})
				continue
			}
			typ, ok1 := attrName(1)
			name, ok2 := attrName(2)
			if !ok1 || !ok2 {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid connection reference",
					Detail:   "Refer to a connection as connection.<type>.<name>, for example connection.salesforce.prod.",
					Subject:  &rng,
				})
				continue
			}
			if _, ok := s.conns[typ][name]; !ok {
				var names []string
				for n := range s.conns[typ] {
					names = append(names, n)
				}
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Reference to undeclared connection",
					Detail: fmt.Sprintf("No connection %q %q is declared. Declare it with a connection %q %q { ... } block, or fix the reference.%s",
						typ, name, typ, name, didYouMean(name, names)),
					Subject: &rng,
				})
			}
		default:
			detail := fmt.Sprintf("There is nothing named %q to refer to. Expressions can refer to var.<name> and, in sources and sinks, connection.<type>.<name>; formulas about record fields go in quotes.", t.RootName())
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown reference",
				Detail:   detail,
				Subject:  &rng,
			})
		}
	}
	return diags
}

// value evaluates expr. The value is unknown when evaluation failed earlier
// (a variable without a value); callers skip unknown values silently so one
// mistake yields one diagnostic.
func (s *scope) value(expr hcl.Expression) (cty.Value, hcl.Diagnostics) {
	if diags := s.checkRefs(expr); diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	v, diags := expr.Value(s.ctx)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	return v, diags
}

// decoded is the outcome of evaluating one attribute.
type decoded struct {
	v any
	// ok says v holds a valid value. It is false for null values (treated
	// as unset), unknown values (an error reported earlier) and invalid ones
	// (reported in the diagnostics).
	ok bool
	// null says the expression is an explicit null.
	null bool
	// sensitive says the value derives from a sensitive variable.
	sensitive bool
}

// decode evaluates attr and converts it to the Go type sdk.Values holds for
// typ.
func (s *scope) decode(attr *hclsyntax.Attribute, typ sdk.AttrType) (decoded, hcl.Diagnostics) {
	val, diags := s.value(attr.Expr)
	if diags.HasErrors() || !val.IsWhollyKnown() {
		return decoded{}, diags
	}
	val, marks := val.UnmarkDeep()
	d := decoded{sensitive: len(marks) > 0}
	if val.IsNull() {
		d.null = true
		return d, diags
	}
	gv, err := toGo(val, typ)
	if err != nil {
		rng := attr.Expr.Range()
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("Inappropriate value for argument %q: %s. It must be %s.", attr.Name, err, describeType(typ)),
			Subject:  &rng,
		})
		return d, diags
	}
	d.v, d.ok = gv, true
	return d, diags
}

// errUnsupportedType reports an attribute type a connector spec declares
// that sdk.Values cannot hold.
var errUnsupportedType = errors.New("unsupported attribute type")

// toGo converts a known, non-null, unmarked value to string, int64,
// float64, bool, []string or map[string]string.
func toGo(v cty.Value, typ sdk.AttrType) (any, error) {
	switch typ {
	case sdk.TypeString:
		c, err := convert.Convert(v, cty.String)
		if err != nil {
			return nil, err
		}
		return c.AsString(), nil
	case sdk.TypeInt:
		c, err := convert.Convert(v, cty.Number)
		if err != nil {
			return nil, err
		}
		bf := c.AsBigFloat()
		if !bf.IsInt() {
			return nil, errors.New("a whole number is required")
		}
		i, acc := bf.Int64()
		if acc != big.Exact {
			return nil, errors.New("the number is too large")
		}
		return i, nil
	case sdk.TypeFloat:
		c, err := convert.Convert(v, cty.Number)
		if err != nil {
			return nil, err
		}
		f, _ := c.AsBigFloat().Float64()
		if math.IsInf(f, 0) {
			return nil, errors.New("the number is too large")
		}
		return f, nil
	case sdk.TypeBool:
		c, err := convert.Convert(v, cty.Bool)
		if err != nil {
			return nil, err
		}
		return c.True(), nil
	case sdk.TypeStringList:
		c, err := convert.Convert(v, cty.List(cty.String))
		if err != nil {
			return nil, err
		}
		out := make([]string, 0, c.LengthInt())
		for it := c.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.IsNull() {
				return nil, fmt.Errorf("element %d is null", len(out))
			}
			out = append(out, e.AsString())
		}
		return out, nil
	case sdk.TypeStringMap:
		c, err := convert.Convert(v, cty.Map(cty.String))
		if err != nil {
			return nil, err
		}
		out := make(map[string]string, c.LengthInt())
		for it := c.ElementIterator(); it.Next(); {
			k, e := it.Element()
			if e.IsNull() {
				return nil, fmt.Errorf("element %q is null", k.AsString())
			}
			out[k.AsString()] = e.AsString()
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w %q", errUnsupportedType, typ)
}

// describeType says in words what a value of typ looks like.
func describeType(typ sdk.AttrType) string {
	switch typ {
	case sdk.TypeString:
		return `a string, like "abc"`
	case sdk.TypeInt:
		return "a whole number, like 10"
	case sdk.TypeFloat:
		return "a number, like 1.5"
	case sdk.TypeBool:
		return "true or false"
	case sdk.TypeStringList:
		return `a list of strings, like ["a", "b"]`
	case sdk.TypeStringMap:
		return `a map of strings, like { key = "value" }`
	}
	return fmt.Sprintf("of type %s", typ)
}

// normalizeDefault turns a spec default into the type sdk.Values promises,
// because plugin authors write defaults as untyped Go constants (10, not
// int64(10)).
func normalizeDefault(v any) any {
	switch n := v.(type) {
	case int:
		return int64(n)
	case int8:
		return int64(n)
	case int16:
		return int64(n)
	case int32:
		return int64(n)
	case uint:
		return int64(n)
	case uint8:
		return int64(n)
	case uint16:
		return int64(n)
	case uint32:
		return int64(n)
	case float32:
		return float64(n)
	}
	return v
}
