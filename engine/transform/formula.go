package transform

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-dev/sluice/engine/plan"
)

// scope is what formulas at one point of the pipeline can see: the schema
// the previous task produced, as an expr environment.
type scope struct {
	schema      *arrow.Schema
	env         map[string]any // field name -> typed zero value
	index       map[string]int // field name -> column index
	unsupported map[string]arrow.DataType
}

func newScope(schema *arrow.Schema) *scope {
	s := &scope{
		schema:      schema,
		env:         make(map[string]any, schema.NumFields()),
		index:       make(map[string]int, schema.NumFields()),
		unsupported: map[string]arrow.DataType{},
	}
	for i, f := range schema.Fields() {
		s.index[f.Name] = i
		if z, ok := formulaZero(f.Type); ok {
			s.env[f.Name] = z
		} else {
			s.unsupported[f.Name] = f.Type
		}
	}
	return s
}

func (s *scope) fieldNames() []string { return fieldNames(s.schema) }

func fieldNames(schema *arrow.Schema) []string {
	names := make([]string, schema.NumFields())
	for i, f := range schema.Fields() {
		names[i] = f.Name
	}
	return names
}

// want says what a formula must produce.
type want int

const (
	wantBool  want = iota // where, check
	wantValue             // map fields, mask formulas
)

// formula is one compiled formula: everything needed to evaluate it on
// either path.
type formula struct {
	src  plan.Formula
	what string // "where", `map field "x"`, ... for messages

	// refs are the columns the formula reads, in first-use order.
	refs []ref

	result  reflect.Type   // Go result type from the checker
	outType arrow.DataType // Arrow type of the result column (wantValue)
	// passthrough is the input column index when the formula is a bare
	// field reference: the column is reused as is, keeping its Arrow type.
	passthrough int
	nullable    bool

	// plain is the formula compiled as written: the fast per-row program
	// for rows whose referenced fields are all present.
	plain *vm.Program
	// nullsafe is the formula rewritten for null semantics (see doc.go):
	// the per-row program for rows with a null in a referenced field.
	nullsafe *vm.Program
	// alwaysNullsafe is set when the formula can produce nil on its own
	// (a nil literal outside `== nil`), so the plain program is never safe.
	alwaysNullsafe bool

	// vec evaluates the formula over whole columns; nil when some part of
	// the formula has no column kernel.
	vec vnode
	// guard, for a boolean formula that runs per row, is the column
	// kernel of the leading conjuncts of an && chain: rows where it is
	// false are false without running the VM, exactly as the VM would
	// short-circuit. `Stage == "Won" && regex_match(Name, ...)` then runs
	// the regex only on won rows.
	guard vnode

	// slot indexes the Runner's reusable env for this formula.
	slot int
}

type ref struct {
	name string
	col  int
}

// compileOptions are the expr options every formula shares.
func compileOptions(s *scope, extra ...expr.Option) []expr.Option {
	opts := []expr.Option{expr.Env(s.env)}
	opts = append(opts, libraryOptions()...)
	return append(opts, extra...)
}

// compileFormula checks f against scope s and compiles both per-row
// programs and, when every node has one, the column kernel.
func compileFormula(f plan.Formula, s *scope, w want, what string) (fm *formula, diags hcl.Diagnostics) {
	// expr's parser and checker are not known to panic, but a flow file is
	// user input and a panic here would take down a daemon loading many
	// flows; turn one into a diagnostic instead.
	defer func() {
		if r := recover(); r != nil {
			fm = nil
			diags = hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Invalid formula",
				Detail:   fmt.Sprintf("The %s formula could not be compiled: %v.", what, r),
				Subject:  f.Range.Ptr(),
			}}
		}
	}()

	if strings.TrimSpace(f.Text) == "" {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Empty formula",
			Detail:   fmt.Sprintf("The %s formula is empty; write an expression such as `Amount > 0`.", what),
			Subject:  f.Range.Ptr(),
		}}
	}

	// A map field that just names a field copies the column, whatever its
	// type: renaming a list or decimal column must not need formulas to
	// understand it.
	if col, ok := s.index[strings.TrimSpace(f.Text)]; ok && w == wantValue {
		fd := s.schema.Field(col)
		return &formula{src: f, what: what, refs: []ref{{name: fd.Name, col: col}}, passthrough: col, outType: fd.Type, nullable: fd.Nullable}, nil
	}

	// The analysis program is unoptimised so its AST is the one the user
	// wrote (the optimiser folds `in [...]` into constants, for example),
	// which is what the column planner and the diagnostics walk.
	analysis, err := expr.Compile(f.Text, compileOptions(s, expr.Optimize(false))...)
	if err != nil {
		return nil, hcl.Diagnostics{formulaDiag(f, s, what, err)}
	}
	root := analysis.Node()
	fm = &formula{src: f, what: what, result: root.Type(), passthrough: -1}

	if d := checkConstArgs(f, root); d != nil {
		return nil, hcl.Diagnostics{d}
	}

	switch w {
	case wantBool:
		if fm.result != typeBool {
			return nil, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Formula must be boolean",
				Detail: fmt.Sprintf("The %s formula produces %s, but it must be true or false. Compare the value, for example `%s != nil` or `%s == \"...\"`.",
					what, describeType(fm.result), f.Text, f.Text),
				Subject: f.Range.Ptr(),
			}}
		}
	case wantValue:
		t, ok := outputType(fm.result)
		if !ok {
			return nil, hcl.Diagnostics{resultTypeDiag(f, what, fm.result)}
		}
		fm.outType = t
	}

	seen := map[string]bool{}
	hasNil := false
	use := func(name string) {
		if col, ok := s.index[name]; ok && !seen[name] {
			seen[name] = true
			fm.refs = append(fm.refs, ref{name: name, col: col})
			if s.schema.Field(col).Nullable {
				fm.nullable = true
			}
		}
	}
	ast.Find(root, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.IdentifierNode:
			use(n.Value)
		case *ast.MemberNode:
			// $env["First Name"] reaches fields whose names are not
			// identifiers (CSV headers with spaces).
			if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "$env" {
				if p, ok := n.Property.(*ast.StringNode); ok {
					use(p.Value)
				}
			}
		case *ast.NilNode:
			hasNil = true
		}
		return false
	})
	fm.alwaysNullsafe = usesNilValue(root)
	if hasNil {
		fm.nullable = true
	}

	if fm.plain, err = expr.Compile(f.Text, compileOptions(s)...); err != nil {
		return nil, hcl.Diagnostics{formulaDiag(f, s, what, err)}
	}
	if fm.nullsafe, err = expr.Compile(f.Text, compileOptions(s, expr.Patch(&nullPatcher{}))...); err != nil {
		// The rewrite only adds guards around nodes that already checked,
		// so this is a bug in the rewrite, not in the flow.
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Internal error compiling formula",
			Detail:   fmt.Sprintf("The null-safe form of the %s formula did not compile (please report this): %v", what, err),
			Subject:  f.Range.Ptr(),
		}}
	}
	fm.vec = planVec(root, s)
	if fm.vec == nil && fm.result == typeBool {
		fm.guard = planGuard(root, s)
	}
	return fm, nil
}

// planGuard finds the longest left part of an && chain that has a column
// kernel. Only the left side may be taken: the VM evaluates left to right
// and stops at the first false, so skipping a row on a false left part
// skips exactly the evaluations (and errors) the VM would skip.
func planGuard(root ast.Node, s *scope) vnode {
	n := root
	for {
		b, ok := n.(*ast.BinaryNode)
		if !ok || (b.Operator != "&&" && b.Operator != "and") {
			return nil
		}
		if v := planVec(b.Left, s); v != nil && v.kind() == vkBool {
			return v
		}
		n = b.Left
	}
}

// usesNilValue reports whether nil appears anywhere other than as an
// operand of == or !=, i.e. whether the formula can make a null from
// non-null inputs.
func usesNilValue(root ast.Node) bool {
	found := false
	var walk func(n ast.Node, cmpOperand bool)
	walk = func(n ast.Node, cmpOperand bool) {
		if found || n == nil {
			return
		}
		switch n := n.(type) {
		case *ast.NilNode:
			if !cmpOperand {
				found = true
			}
		case *ast.BinaryNode:
			isCmp := n.Operator == "==" || n.Operator == "!="
			walk(n.Left, isCmp)
			walk(n.Right, isCmp)
		default:
			for _, c := range children(n) {
				walk(c, false)
			}
		}
	}
	walk(root, false)
	return found
}

// children lists a node's direct children.
func children(n ast.Node) []ast.Node {
	switch p := n.(type) {
	case *ast.UnaryNode:
		return []ast.Node{p.Node}
	case *ast.BinaryNode:
		return []ast.Node{p.Left, p.Right}
	case *ast.ChainNode:
		return []ast.Node{p.Node}
	case *ast.MemberNode:
		return []ast.Node{p.Node, p.Property}
	case *ast.SliceNode:
		return []ast.Node{p.Node, p.From, p.To}
	case *ast.CallNode:
		return append([]ast.Node{p.Callee}, p.Arguments...)
	case *ast.BuiltinNode:
		return p.Arguments
	case *ast.PredicateNode:
		return []ast.Node{p.Node}
	case *ast.ConditionalNode:
		return []ast.Node{p.Cond, p.Exp1, p.Exp2}
	case *ast.VariableDeclaratorNode:
		return []ast.Node{p.Value, p.Expr}
	case *ast.SequenceNode:
		return p.Nodes
	case *ast.ArrayNode:
		return p.Nodes
	case *ast.MapNode:
		return p.Pairs
	case *ast.PairNode:
		return []ast.Node{p.Key, p.Value}
	}
	return nil
}

// checkConstArgs validates literal arguments the checker cannot: regular
// expressions of regex_match and regex_replace (expr checks those of
// `matches` itself), date_trunc units and durations, so a typo fails at load
// time with a position instead of on every record.
func checkConstArgs(f plan.Formula, root ast.Node) *hcl.Diagnostic {
	var diag *hcl.Diagnostic
	ast.Find(root, func(n ast.Node) bool {
		if diag != nil {
			return false
		}
		lit := func(arg ast.Node) (string, ast.Node, bool) {
			s, ok := arg.(*ast.StringNode)
			if !ok {
				return "", nil, false
			}
			return s.Value, s, true
		}
		bad := func(at ast.Node, msg string) {
			diag = &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid argument in formula",
				Detail:   msg,
				Subject:  nodeRange(f, at).Ptr(),
			}
		}
		switch n := n.(type) {
		case *ast.CallNode:
			id, ok := n.Callee.(*ast.IdentifierNode)
			if !ok {
				return false
			}
			switch id.Value {
			case "regex_match", "regex_replace":
				if len(n.Arguments) > 1 {
					if p, at, ok := lit(n.Arguments[1]); ok {
						if _, err := compileRegex(p); err != nil {
							bad(at, err.Error()+".")
						}
					}
				}
			case "date_trunc":
				if len(n.Arguments) > 0 {
					if u, at, ok := lit(n.Arguments[0]); ok && !truncUnits[strings.ToLower(u)] {
						bad(at, fmt.Sprintf("date_trunc does not know the unit %q; use second, minute, hour, day, week, month, quarter or year.", u))
					}
				}
			case "add_duration":
				if len(n.Arguments) > 1 {
					if d, at, ok := lit(n.Arguments[1]); ok {
						if _, err := parseDuration(d); err != nil {
							bad(at, err.Error()+".")
						}
					}
				}
			}
		}
		return false
	})
	return diag
}

// formulaDiag turns an expr compile error into a diagnostic placed on the
// offending token inside the flow file.
func formulaDiag(f plan.Formula, s *scope, what string, err error) *hcl.Diagnostic {
	var fe *file.Error
	if !errors.As(err, &fe) {
		msg := err.Error()
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid formula",
			Detail:   fmt.Sprintf("The %s formula is not valid: %s.", what, msg),
			Subject:  f.Range.Ptr(),
		}
	}
	msg := fe.Message
	subject := formulaRange(f, fe.From, fe.To)
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Subject: &subject}
	switch {
	case strings.HasPrefix(msg, "unknown name "):
		name := strings.TrimPrefix(msg, "unknown name ")
		if isCallAt(f.Text, fe.To) {
			d.Summary = "Unknown function in formula"
			d.Detail = fmt.Sprintf("There is no function %q.%s Functions: %s.", name, suggest(name, functionNames), strings.Join(functionNames, ", "))
		} else if dt, ok := s.unsupported[name]; ok {
			d.Summary = "Field type not supported in formulas"
			d.Detail = fmt.Sprintf("Field %q has type %s, which formulas cannot read. Pass it through unchanged with `map { all = true }`, or leave it out of formulas.", name, dt)
		} else {
			d.Summary = "Unknown field in formula"
			d.Detail = fmt.Sprintf("There is no field %q at this point in the flow.%s Fields here: %s.", name, suggest(name, s.fieldNames()), listNames(s.fieldNames()))
		}
	case strings.Contains(msg, "arguments to call"):
		// "not enough arguments to call substr" / "too many arguments ..."
		d.Summary = "Wrong number of arguments in formula"
		d.Detail = fmt.Sprintf("In the %s formula: %s. Check the function's arguments in the list of formula functions.", what, strings.TrimSpace(msg))
	case strings.Contains(msg, "mismatched types"), strings.HasPrefix(msg, "cannot use"),
		strings.HasPrefix(msg, "invalid operation"):
		d.Summary = "Type mismatch in formula"
		d.Detail = fmt.Sprintf("In the %s formula: %s. Convert one side with int(), float(), string() or date() so both have the same type.", what, strings.TrimSpace(msg))
	case strings.HasPrefix(msg, "error parsing regexp"):
		d.Summary = "Invalid argument in formula"
		d.Detail = fmt.Sprintf("In the %s formula: %s. Patterns use Go's RE2 syntax.", what, msg)
	case strings.HasPrefix(msg, "unexpected"), strings.HasPrefix(msg, "unterminated"),
		strings.HasPrefix(msg, "unrecognized"), strings.Contains(msg, "expected"),
		strings.Contains(msg, "not terminated"):
		d.Summary = "Invalid formula syntax"
		d.Detail = fmt.Sprintf("The %s formula does not parse: %s. Formulas use expr syntax, e.g. `Amount > 1000 && Stage == \"Closed Won\"`.", what, msg)
	default:
		d.Summary = "Invalid formula"
		d.Detail = fmt.Sprintf("The %s formula is not valid: %s.", what, strings.TrimSpace(msg))
	}
	return d
}

// isCallAt reports whether the rune offset at points at "(" (after spaces).
func isCallAt(text string, at int) bool {
	r := []rune(text)
	for i := at; i < len(r); i++ {
		if r[i] == ' ' || r[i] == '\t' {
			continue
		}
		return r[i] == '('
	}
	return false
}

func resultTypeDiag(f plan.Formula, what string, t reflect.Type) *hcl.Diagnostic {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Subject: f.Range.Ptr()}
	if t == nil || t.Kind() == reflect.Interface {
		d.Summary = "Formula type is unknown"
		d.Detail = fmt.Sprintf("The type of the %s formula cannot be worked out (it may be nil on one branch, or come from a function returning any). Wrap it in a cast: string(...), int(...), float(...), bool(...) or timestamp(...).", what)
		return d
	}
	d.Summary = "Unsupported formula result type"
	d.Detail = fmt.Sprintf("The %s formula produces %s, which cannot be stored in a field. Fields hold int, float, string, bool or time; for a list, use join(...) or index it, e.g. split(Name, \" \")[0].", what, t)
	return d
}

// nodeRange maps a node's location to the flow file.
func nodeRange(f plan.Formula, n ast.Node) hcl.Range {
	loc := n.Location()
	return formulaRange(f, loc.From, loc.To)
}

// formulaRange maps rune offsets [from, to) inside f.Text to a range in the
// file. f.Range.Start is the first character of the formula; expr counts
// columns in runes from 0, HCL in characters from 1. If the source held
// escapes (\" inside the string) the file and Text differ in length and
// positions after the escape drift; they are clamped into the formula.
func formulaRange(f plan.Formula, from, to int) hcl.Range {
	if to <= from {
		to = from + 1
	}
	return hcl.Range{
		Filename: f.Range.Filename,
		Start:    formulaPos(f, from),
		End:      formulaPos(f, to),
	}
}

func formulaPos(f plan.Formula, runeOff int) hcl.Pos {
	pos := f.Range.Start
	if pos.Line == 0 {
		pos.Line, pos.Column = 1, 1
	}
	i := 0
	for _, r := range f.Text {
		if i == runeOff {
			break
		}
		if r == '\n' {
			pos.Line++
			pos.Column = 1
		} else {
			pos.Column++
		}
		pos.Byte += len(string(r))
		i++
	}
	end := f.Range.End
	if end.Line != 0 && (pos.Line > end.Line || (pos.Line == end.Line && pos.Column > end.Column)) {
		return end
	}
	return pos
}

// suggest returns ` Did you mean "X"?` for the closest name, or "".
func suggest(name string, candidates []string) string {
	if best := closest(name, candidates); best != "" {
		return fmt.Sprintf(" Did you mean %q?", best)
	}
	return ""
}

func listNames(names []string) string {
	const max = 20
	if len(names) > max {
		sorted := append([]string(nil), names[:max]...)
		return strings.Join(sorted, ", ") + fmt.Sprintf(" and %d more", len(names)-max)
	}
	return strings.Join(names, ", ")
}
