package transform

import (
	"reflect"
	"time"

	"github.com/expr-lang/expr/ast"
)

// planVec builds the column kernel for a checked formula, or returns nil
// when some node has none, in which case the formula runs per row.
//
// Shapes with kernels: field references (ints, floats, utf8 and
// large_utf8 strings, bools, timestamps and dates), literals, comparisons
// (times included, against fields or constant date("..."),
// timestamp("...") and parse_time("...", "...")), + - * / % ** on
// numbers, + on strings, unary - and !, Kleene && and ||, `x == nil` /
// `x != nil`, `x in [literals]`, `x in a..b`, contains / startsWith /
// endsWith, `matches "literal"`, `c ? a : b`, and lower, upper, trim, len,
// abs, is_null, coalesce (arguments of one kind).
func planVec(root ast.Node, s *scope) vnode {
	p := planner{s: s}
	v, ok := p.plan(root)
	if !ok {
		return nil
	}
	return v
}

type planner struct{ s *scope }

func kindOf(t reflect.Type) vkind {
	switch t {
	case typeBool:
		return vkBool
	case typeInt:
		return vkInt
	case typeFloat:
		return vkFloat
	case typeString:
		return vkStr
	case typeTime:
		return vkTime
	}
	return 0
}

// plan plans n and insists that the kernel's kind is the checker's type
// for the node, so the two paths can never disagree on a type.
func (p *planner) plan(n ast.Node) (vnode, bool) {
	want := kindOf(n.Type())
	if want == 0 {
		return nil, false
	}
	v, ok := p.node(n)
	if !ok {
		return nil, false
	}
	if v.kind() != want {
		// The checker rewrites an int literal passed where a float is
		// expected into a float literal, but leaves the type it recorded
		// on an enclosing unary minus: `coalesce(x, -3)` runs with -3.0.
		// The literal's own kind is the truth there; anywhere else a
		// mismatch means the paths could disagree, so run per row.
		if _, isInt := intLiteral(n); isInt {
			return v, true
		}
		if _, isFloat := floatLiteral(n); isFloat {
			return v, true
		}
		return nil, false
	}
	return v, true
}

func isNum(k vkind) bool { return k == vkInt || k == vkFloat }

// promote lifts an int operand to float when the other one is float.
func promote(l, r vnode) (vnode, vnode) {
	if l.kind() == vkInt && r.kind() == vkFloat {
		l = &toFloatNode{l}
	}
	if r.kind() == vkInt && l.kind() == vkFloat {
		r = &toFloatNode{r}
	}
	return l, r
}

func (p *planner) node(n ast.Node) (vnode, bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		col, ok := p.s.index[n.Value]
		if !ok {
			return nil, false
		}
		k := columnKind(p.s.schema.Field(col).Type)
		if k == 0 {
			return nil, false
		}
		return &colNode{col: col, k: k}, true
	case *ast.IntegerNode:
		return &constNode{scalarInt(int64(n.Value))}, true
	case *ast.FloatNode:
		return &constNode{scalarFloat(n.Value)}, true
	case *ast.StringNode:
		return &constNode{scalarStr(n.Value)}, true
	case *ast.BoolNode:
		return &constNode{scalarBool(n.Value)}, true
	case *ast.UnaryNode:
		return p.unary(n)
	case *ast.BinaryNode:
		return p.binary(n)
	case *ast.CallNode:
		return p.call(n)
	case *ast.ConditionalNode:
		c, ok := p.plan(n.Cond)
		if !ok || c.kind() != vkBool {
			return nil, false
		}
		a, ok1 := p.plan(n.Exp1)
		b, ok2 := p.plan(n.Exp2)
		if !ok1 || !ok2 || a.kind() != b.kind() {
			return nil, false
		}
		return &condNode{c: c, a: a, b: b, k: a.kind()}, true
	}
	return nil, false
}

func (p *planner) unary(n *ast.UnaryNode) (vnode, bool) {
	x, ok := p.plan(n.Node)
	if !ok {
		return nil, false
	}
	switch n.Operator {
	case "!", "not":
		if x.kind() == vkBool {
			return &notNode{x}, true
		}
	case "-":
		if isNum(x.kind()) {
			return &negNode{x}, true
		}
	case "+":
		if isNum(x.kind()) {
			return x, true
		}
	}
	return nil, false
}

func (p *planner) binary(n *ast.BinaryNode) (vnode, bool) {
	op := n.Operator
	if op == "==" || op == "!=" {
		other := n.Left
		if isNilNode(n.Left) {
			other = n.Right
		} else if !isNilNode(n.Right) {
			other = nil
		}
		if other != nil {
			if isNilNode(other) {
				return nil, false // nil == nil: not worth a kernel
			}
			x, ok := p.plan(other)
			if !ok {
				return nil, false
			}
			return &nullTestNode{x: x, isNull: op == "=="}, true
		}
	}
	switch op {
	case "in":
		return p.in(n)
	case "matches":
		lit, ok := n.Right.(*ast.StringNode)
		if !ok {
			return nil, false
		}
		x, ok := p.plan(n.Left)
		if !ok || x.kind() != vkStr {
			return nil, false
		}
		re, err := compileRegex(lit.Value)
		if err != nil {
			return nil, false
		}
		return &matchNode{x: x, re: re}, true
	}

	l, ok1 := p.plan(n.Left)
	r, ok2 := p.plan(n.Right)
	if !ok1 || !ok2 {
		return nil, false
	}
	lk, rk := l.kind(), r.kind()
	switch op {
	case "==", "!=", "<", "<=", ">", ">=":
		switch {
		case isNum(lk) && isNum(rk):
			l, r = promote(l, r)
		case lk == vkStr && rk == vkStr:
		case lk == vkBool && rk == vkBool && (op == "==" || op == "!="):
		case lk == vkTime && rk == vkTime:
		default:
			return nil, false
		}
		return &cmpNode{op: cmpOps[op], l: l, r: r}, true
	case "&&", "and":
		if lk == vkBool && rk == vkBool {
			return &logicNode{or: false, l: l, r: r}, true
		}
	case "||", "or":
		if lk == vkBool && rk == vkBool {
			return &logicNode{or: true, l: l, r: r}, true
		}
	case "+", "-", "*":
		if op == "+" && lk == vkStr && rk == vkStr {
			return &arithNode{op: op, l: l, r: r, k: vkStr}, true
		}
		if isNum(lk) && isNum(rk) {
			if lk == vkInt && rk == vkInt {
				return &arithNode{op: op, l: l, r: r, k: vkInt}, true
			}
			return &arithNode{op: op, l: l, r: r, k: vkFloat}, true
		}
	case "/", "**", "^":
		if isNum(lk) && isNum(rk) {
			return &arithNode{op: op, l: l, r: r, k: vkFloat}, true
		}
	case "%":
		if lk == vkInt && rk == vkInt {
			return &arithNode{op: op, l: l, r: r, k: vkInt}, true
		}
	case "contains", "startsWith", "endsWith":
		if lk == vkStr && rk == vkStr {
			return &strPredNode{op: op, l: l, r: r}, true
		}
	}
	return nil, false
}

// in plans `x in [lit, ...]` and `x in lo..hi`. The list must hold
// literals of the needle's own kind: expr's optimiser turns such lists
// into a typed set, and a mixed list would compare differently.
func (p *planner) in(n *ast.BinaryNode) (vnode, bool) {
	x, ok := p.plan(n.Left)
	if !ok {
		return nil, false
	}
	switch r := n.Right.(type) {
	case *ast.BinaryNode:
		lo, ok1 := intLiteral(r.Left)
		hi, ok2 := intLiteral(r.Right)
		if r.Operator != ".." || !ok1 || !ok2 || x.kind() != vkInt {
			return nil, false
		}
		return &inNode{x: x, rng: true, lo: lo, hi: hi}, true
	case *ast.ArrayNode:
		in := &inNode{x: x}
		switch x.kind() {
		case vkInt:
			in.ints = map[int64]struct{}{}
			for _, e := range r.Nodes {
				v, ok := intLiteral(e)
				if !ok {
					return nil, false
				}
				in.ints[v] = struct{}{}
			}
		case vkFloat:
			in.flts = map[float64]struct{}{}
			for _, e := range r.Nodes {
				v, ok := floatLiteral(e)
				if !ok {
					return nil, false
				}
				in.flts[v] = struct{}{}
			}
		case vkStr:
			in.strs = map[string]struct{}{}
			for _, e := range r.Nodes {
				lit, ok := e.(*ast.StringNode)
				if !ok {
					return nil, false
				}
				in.strs[lit.Value] = struct{}{}
			}
		default:
			return nil, false
		}
		if len(r.Nodes) == 0 {
			return nil, false
		}
		return in, true
	}
	return nil, false
}

func (p *planner) call(n *ast.CallNode) (vnode, bool) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		return nil, false
	}
	if c, ok := constTime(id.Value, n.Arguments); ok {
		return c, true
	}
	args := make([]vnode, len(n.Arguments))
	for i, a := range n.Arguments {
		v, ok := p.plan(a)
		if !ok {
			return nil, false
		}
		args[i] = v
	}
	one := func(k vkind) (vnode, bool) {
		if len(args) == 1 && args[0].kind() == k {
			return args[0], true
		}
		return nil, false
	}
	switch id.Value {
	case "lower":
		if x, ok := one(vkStr); ok {
			return &strMapNode{fn: appendLower, x: x}, true
		}
	case "upper":
		if x, ok := one(vkStr); ok {
			return &strMapNode{fn: appendUpper, x: x}, true
		}
	case "trim":
		if x, ok := one(vkStr); ok {
			return &strMapNode{fn: appendTrim, x: x}, true
		}
	case "len":
		if x, ok := one(vkStr); ok {
			return &lenNode{x}, true
		}
	case "abs":
		if len(args) == 1 && isNum(args[0].kind()) {
			return &absNode{args[0]}, true
		}
	case "is_null":
		if len(args) == 1 {
			return &nullTestNode{x: args[0], isNull: true}, true
		}
	case "coalesce":
		// Every argument must already have the result's kind: with an int
		// field among float ones the VM returns the int itself, and int
		// arithmetic downstream would differ from float kernels.
		k := kindOf(n.Type())
		for _, a := range args {
			if a.kind() != k {
				return nil, false
			}
		}
		return &coalesceNode{args: args, k: k}, true
	}
	return nil, false
}

// intLiteral reads an integer literal, including a negated one: the
// parser writes -1 as unary minus applied to 1.
func intLiteral(n ast.Node) (int64, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return int64(n.Value), true
	case *ast.UnaryNode:
		if v, ok := intLiteral(n.Node); ok && n.Operator == "-" {
			return -v, true
		}
	}
	return 0, false
}

func floatLiteral(n ast.Node) (float64, bool) {
	switch n := n.(type) {
	case *ast.FloatNode:
		return n.Value, true
	case *ast.UnaryNode:
		if v, ok := floatLiteral(n.Node); ok && n.Operator == "-" {
			return -v, true
		}
	}
	return 0, false
}

// constTime folds date("2024-01-01"), timestamp("...") and
// parse_time("...", "layout") with literal arguments into a constant, so
// `CloseDate >= date("2024-01-01")` runs on the column path. now() is not
// folded: per row it is read at each call.
func constTime(name string, args []ast.Node) (vnode, bool) {
	var fn func(...any) (any, error)
	for _, f := range library {
		if f.name == name {
			fn = f.fn
		}
	}
	switch name {
	case "date", "timestamp", "parse_time":
	default:
		return nil, false
	}
	vals := make([]any, len(args))
	for i, a := range args {
		s, ok := a.(*ast.StringNode)
		if !ok {
			return nil, false
		}
		vals[i] = s.Value
	}
	v, err := fn(vals...)
	t, ok := v.(time.Time)
	if err != nil || !ok {
		return nil, false // per row, where the error is reported
	}
	return &constNode{scalarTime(t)}, true
}
