package transform

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"

	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/sdk"
)

// Pushdown returns the conditions of a flow's leading filters that a
// source can apply while reading (sdk.ReadRequest.Filters). Only filter
// tasks before any other task count, and of each one's where only the
// conjuncts of its top-level && chain that are exactly a comparison of a
// source field with a literal of the field's type, `field in [literals]`,
// `field == nil` or `field != nil`. Anything else in a conjunct leaves
// that conjunct out: the AND of the rest keeps a superset of the rows.
//
// The engine still applies every filter, so the predicates only have to
// keep every row the filters keep. They must also not hide rows the
// filters would reject with an error, so pushing stops at the first
// filter whose formula could fail on a row (a function call, arithmetic):
// a pushed predicate that is false or null for a row must not stop that
// row from reaching a conjunct that would have failed on it.
func Pushdown(tasks []plan.Task, schema *arrow.Schema) []sdk.Predicate {
	if schema == nil {
		return nil
	}
	s := newScope(schema)
	var out []sdk.Predicate
	for _, t := range tasks {
		f, ok := t.(*plan.Filter)
		if !ok {
			break
		}
		root, ok := checkedAST(f.Where.Text, s)
		if !ok || !cannotFail(root, s) {
			break
		}
		for _, c := range conjuncts(root) {
			if p, ok := predicateOf(c, s); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

// checkedAST parses and type-checks a boolean formula against s, unoptimised
// so the tree is the one written.
func checkedAST(text string, s *scope) (root ast.Node, ok bool) {
	defer func() {
		if recover() != nil {
			root, ok = nil, false
		}
	}()
	prog, err := expr.Compile(text, compileOptions(s, expr.Optimize(false))...)
	if err != nil {
		return nil, false
	}
	root = prog.Node()
	if root.Type() != typeBool {
		return nil, false
	}
	return root, true
}

// conjuncts flattens a top-level && chain.
func conjuncts(n ast.Node) []ast.Node {
	if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
		return append(conjuncts(b.Left), conjuncts(b.Right)...)
	}
	return []ast.Node{n}
}

// cannotFail reports whether n is built only from nodes that cannot fail
// on any row: field references, literals, comparisons, `in` a literal list
// and boolean logic. timestamp/date of a string literal count as literals
// when the literal parses.
func cannotFail(n ast.Node, s *scope) bool {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		_, ok := s.index[n.Value]
		return ok
	case *ast.MemberNode:
		_, ok := fieldRef(n, s)
		return ok
	case *ast.IntegerNode, *ast.FloatNode, *ast.StringNode, *ast.BoolNode, *ast.NilNode:
		return true
	case *ast.CallNode:
		_, ok := timeLiteral(n)
		return ok
	case *ast.UnaryNode:
		if _, ok := numberLiteral(n); ok {
			return true
		}
		return (n.Operator == "!" || n.Operator == "not") && cannotFail(n.Node, s)
	case *ast.ArrayNode:
		for _, e := range n.Nodes {
			if !cannotFail(e, s) {
				return false
			}
		}
		return true
	case *ast.BinaryNode:
		switch n.Operator {
		case "==", "!=", "<", "<=", ">", ">=", "&&", "||", "and", "or", "in", "not in":
			return cannotFail(n.Left, s) && cannotFail(n.Right, s)
		}
	}
	return false
}

// fieldRef resolves a field reference: an identifier naming a field, or
// $env["name"].
func fieldRef(n ast.Node, s *scope) (arrow.Field, bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		if i, ok := s.index[n.Value]; ok {
			return s.schema.Field(i), true
		}
	case *ast.MemberNode:
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "$env" {
			if p, ok := n.Property.(*ast.StringNode); ok {
				if i, ok := s.index[p.Value]; ok {
					return s.schema.Field(i), true
				}
			}
		}
	}
	return arrow.Field{}, false
}

// flipped is op with its operands swapped: 5 < x is x > 5.
var flipped = map[string]string{"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

var predicateOps = map[string]string{"==": sdk.OpEq, "!=": sdk.OpNe, "<": sdk.OpLt, "<=": sdk.OpLe, ">": sdk.OpGt, ">=": sdk.OpGe}

// predicateOf translates one conjunct, if it has an exact shape.
func predicateOf(n ast.Node, s *scope) (sdk.Predicate, bool) {
	b, ok := n.(*ast.BinaryNode)
	if !ok {
		return sdk.Predicate{}, false
	}
	switch b.Operator {
	case "==", "!=", "<", "<=", ">", ">=":
		op := b.Operator
		f, ok := fieldRef(b.Left, s)
		lit := b.Right
		if !ok {
			if f, ok = fieldRef(b.Right, s); !ok {
				return sdk.Predicate{}, false
			}
			lit, op = b.Left, flipped[op]
		}
		if _, isNil := lit.(*ast.NilNode); isNil {
			switch op {
			case "==":
				return sdk.Predicate{Field: f.Name, Op: sdk.OpIsNull}, true
			case "!=":
				return sdk.Predicate{Field: f.Name, Op: sdk.OpNotNull}, true
			}
			return sdk.Predicate{}, false
		}
		v, ok := literalFor(f.Type, lit)
		if !ok {
			return sdk.Predicate{}, false
		}
		if _, isBool := v.(bool); isBool && op != "==" && op != "!=" {
			return sdk.Predicate{}, false
		}
		return sdk.Predicate{Field: f.Name, Op: predicateOps[op], Values: []any{v}}, true
	case "in":
		f, ok := fieldRef(b.Left, s)
		if !ok {
			return sdk.Predicate{}, false
		}
		arr, ok := b.Right.(*ast.ArrayNode)
		if !ok || len(arr.Nodes) == 0 {
			return sdk.Predicate{}, false
		}
		vals := make([]any, len(arr.Nodes))
		for i, e := range arr.Nodes {
			if vals[i], ok = literalFor(f.Type, e); !ok {
				return sdk.Predicate{}, false
			}
		}
		return sdk.Predicate{Field: f.Name, Op: sdk.OpIn, Values: vals}, true
	}
	return sdk.Predicate{}, false
}

// literalFor is the constant n as a value of the Go type that stands for
// Arrow type dt in predicates, if n is a literal that compares with the
// field exactly as the formula does.
func literalFor(dt arrow.DataType, n ast.Node) (any, bool) {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32:
		// uint64 is left out: values past MaxInt64 do not compare in int.
		if v, ok := numberLiteral(n); ok {
			if i, ok := v.(int); ok {
				return int64(i), true
			}
		}
	case arrow.FLOAT32, arrow.FLOAT64:
		// Decimals are left out: formulas compare them as float64, a
		// source compares them exactly.
		if v, ok := numberLiteral(n); ok {
			switch v := v.(type) {
			case int:
				return float64(v), true
			case float64:
				return v, true
			}
		}
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		if sn, ok := n.(*ast.StringNode); ok {
			return sn.Value, true
		}
	case arrow.DICTIONARY:
		if isStringType(dt.(*arrow.DictionaryType).ValueType) {
			if sn, ok := n.(*ast.StringNode); ok {
				return sn.Value, true
			}
		}
	case arrow.BOOL:
		if bn, ok := n.(*ast.BoolNode); ok {
			return bn.Value, true
		}
	case arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64:
		if c, ok := n.(*ast.CallNode); ok {
			return timeLiteral(c)
		}
	}
	return nil, false
}

// numberLiteral is an integer (int) or float (float64) literal, possibly
// negated.
func numberLiteral(n ast.Node) (any, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return n.Value, true
	case *ast.FloatNode:
		return n.Value, true
	case *ast.UnaryNode:
		if n.Operator != "-" {
			return nil, false
		}
		switch m := n.Node.(type) {
		case *ast.IntegerNode:
			return -m.Value, true
		case *ast.FloatNode:
			return -m.Value, true
		}
	}
	return nil, false
}

// timeLiteral evaluates timestamp("...") or date("...") of a string
// literal, exactly as the formula would.
func timeLiteral(c *ast.CallNode) (time.Time, bool) {
	id, ok := c.Callee.(*ast.IdentifierNode)
	if !ok || len(c.Arguments) != 1 {
		return time.Time{}, false
	}
	arg, ok := c.Arguments[0].(*ast.StringNode)
	if !ok {
		return time.Time{}, false
	}
	var v any
	var err error
	switch id.Value {
	case "timestamp":
		v, err = castTimestamp(arg.Value)
	case "date":
		v, err = castDate(arg.Value)
	default:
		return time.Time{}, false
	}
	if err != nil {
		return time.Time{}, false
	}
	t, ok := v.(time.Time)
	return t.UTC(), ok
}
