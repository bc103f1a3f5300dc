package transform

import (
	"fmt"

	"github.com/expr-lang/expr/ast"
)

// nullPatcher rewrites a checked formula so the expr VM follows the null
// semantics in doc.go instead of failing on nil. expr's own operators
// panic on nil (`nil > 1`), and typed opcodes assert concrete types, so
// every operator that can see a null is wrapped:
//
//	a OP b   ->  let l = a; let r = b; (l == nil || r == nil) ? nil : (l OP r)
//	!a, -a   ->  let v = a; v == nil ? nil : !v
//	a && b   ->  let l = a; l == false ? false :
//	               (let r = b; r == false ? false : (l == nil || r == nil) ? nil : true)
//	c ? x : y -> (c == true) ? x : y
//
// The && and || forms keep expr's short-circuit: the right side is not
// evaluated when the left decides the result, so `x != nil && int(x) > 0`
// never calls int on a row it should not. Literal operands are not bound
// to variables, so `s matches "re"` still compiles its pattern once.
//
// The rewritten program is slower than the plain one, so the evaluator only
// runs it on rows where a referenced field is null.
type nullPatcher struct{ n int }

func (p *nullPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "==", "!=":
			if isNilNode(n.Left) || isNilNode(n.Right) {
				return // `x == nil` is how formulas test for null
			}
			p.replace(node, p.guardBinary(n))
		case "&&", "and":
			p.replace(node, p.kleene(n, false))
		case "||", "or":
			p.replace(node, p.kleene(n, true))
		case "??":
			// nil-coalescing is defined on nil already.
		case "in":
			// Only the needle can be a field's null; a nil inside a literal
			// list is matched by expr as written.
			p.replace(node, p.guard([]*ast.Node{&n.Left}, n))
		default:
			p.replace(node, p.guardBinary(n))
		}
	case *ast.UnaryNode:
		p.replace(node, p.guard([]*ast.Node{&n.Node}, n))
	case *ast.ConditionalNode:
		n.Cond = p.at(&ast.BinaryNode{Operator: "==", Left: n.Cond, Right: p.at(&ast.BoolNode{Value: true}, n)}, n)
	case *ast.BuiltinNode:
		// Builtins we do not override (hasPrefix, repeat, ...) fail on nil;
		// guard their plain arguments. Those taking predicates iterate a
		// collection and are left alone.
		for _, a := range n.Arguments {
			if _, ok := a.(*ast.PredicateNode); ok {
				return
			}
		}
		if len(n.Arguments) == 0 {
			return
		}
		slots := make([]*ast.Node, len(n.Arguments))
		for i := range n.Arguments {
			slots[i] = &n.Arguments[i]
		}
		p.replace(node, p.guard(slots, n))
	}
}

func (p *nullPatcher) replace(node *ast.Node, with ast.Node) {
	with.SetLocation((*node).Location())
	*node = with
}

func (p *nullPatcher) at(n ast.Node, from ast.Node) ast.Node {
	n.SetLocation(from.Location())
	return n
}

func (p *nullPatcher) fresh() string {
	p.n++
	return fmt.Sprintf("__sluice_null%d", p.n)
}

func (p *nullPatcher) guardBinary(n *ast.BinaryNode) ast.Node {
	return p.guard([]*ast.Node{&n.Left, &n.Right}, n)
}

// guard binds every non-literal operand in slots to a variable, points the
// operand at the variable, and returns `nil` when any of them is nil, else
// the original node.
func (p *nullPatcher) guard(slots []*ast.Node, n ast.Node) ast.Node {
	type binding struct {
		name  string
		value ast.Node
	}
	var binds []binding
	for _, slot := range slots {
		if isLiteral(*slot) {
			continue
		}
		name := p.fresh()
		binds = append(binds, binding{name, *slot})
		*slot = p.at(&ast.IdentifierNode{Value: name}, *slot)
	}
	if len(binds) == 0 {
		return n
	}
	var cond ast.Node
	for _, b := range binds {
		isNil := p.at(&ast.BinaryNode{Operator: "==", Left: p.at(&ast.IdentifierNode{Value: b.name}, n), Right: p.at(&ast.NilNode{}, n)}, n)
		if cond == nil {
			cond = isNil
		} else {
			cond = p.at(&ast.BinaryNode{Operator: "||", Left: cond, Right: isNil}, n)
		}
	}
	var out ast.Node = p.at(&ast.ConditionalNode{Cond: cond, Exp1: p.at(&ast.NilNode{}, n), Exp2: n}, n)
	for i := len(binds) - 1; i >= 0; i-- {
		out = p.at(&ast.VariableDeclaratorNode{Name: binds[i].name, Value: binds[i].value, Expr: out}, n)
	}
	return out
}

// kleene builds three-valued && (or=false) or || (or=true) with
// short-circuit on the deciding value.
func (p *nullPatcher) kleene(n *ast.BinaryNode, or bool) ast.Node {
	l, r := p.fresh(), p.fresh()
	decide := p.at(&ast.BoolNode{Value: or}, n) // false decides &&, true decides ||
	id := func(name string) ast.Node { return p.at(&ast.IdentifierNode{Value: name}, n) }
	is := func(name string, v ast.Node) ast.Node {
		return p.at(&ast.BinaryNode{Operator: "==", Left: id(name), Right: v}, n)
	}
	anyNil := p.at(&ast.BinaryNode{Operator: "||", Left: is(l, p.at(&ast.NilNode{}, n)), Right: is(r, p.at(&ast.NilNode{}, n))}, n)
	both := p.at(&ast.ConditionalNode{Cond: anyNil, Exp1: p.at(&ast.NilNode{}, n), Exp2: p.at(&ast.BoolNode{Value: !or}, n)}, n)
	right := p.at(&ast.VariableDeclaratorNode{Name: r, Value: n.Right,
		Expr: p.at(&ast.ConditionalNode{Cond: is(r, decide), Exp1: p.at(&ast.BoolNode{Value: or}, n), Exp2: both}, n)}, n)
	return p.at(&ast.VariableDeclaratorNode{Name: l, Value: n.Left,
		Expr: p.at(&ast.ConditionalNode{Cond: is(l, p.at(&ast.BoolNode{Value: or}, n)), Exp1: p.at(&ast.BoolNode{Value: or}, n), Exp2: right}, n)}, n)
}

func isNilNode(n ast.Node) bool {
	_, ok := n.(*ast.NilNode)
	return ok
}

func isLiteral(n ast.Node) bool {
	switch n.(type) {
	case *ast.IntegerNode, *ast.FloatNode, *ast.StringNode, *ast.BoolNode, *ast.ConstantNode, *ast.ArrayNode, *ast.MapNode, *ast.NilNode:
		return true
	}
	return false
}
