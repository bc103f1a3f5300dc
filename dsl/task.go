package dsl

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/sluice-dev/sluice/engine/plan"
)

var (
	filterAttrs    = []string{"where"}
	maskAttrs      = []string{"keep_first", "keep_last", "char", "hash", "formula"}
	truncateAttrs  = []string{"length"}
	validateAttrs  = []string{"check", "on_fail", "message"}
	partitionAttrs = []string{"keys"}

	hashAlgorithms = []string{"sha256", "md5"}
	onFailActions  = []string{string(plan.OnFailDrop), string(plan.OnFailFail), string(plan.OnFailDeadLetter)}
)

// Arguments of a map block that are not output fields.
const (
	mapAll    = "all"
	mapExcept = "except"
)

// defaultMaskChar replaces masked characters when the mask names none.
const defaultMaskChar = "*"

// decodeTask decodes a filter, map, mask, truncate or validate block. It
// returns nil when the block is too broken to be worth keeping.
func (l *loader) decodeTask(b *hclsyntax.Block, sc *scope) plan.Task {
	switch b.Type {
	case "filter":
		return l.decodeFilter(b)
	case "map":
		return l.decodeMap(b, sc)
	case "mask":
		return l.decodeMask(b, sc)
	case "truncate":
		return l.decodeTruncate(b, sc)
	case "validate":
		return l.decodeValidate(b, sc)
	}
	return nil
}

func (l *loader) decodeFilter(b *hclsyntax.Block) plan.Task {
	t := &plan.Filter{Range: b.DefRange()}
	attrs, diags := attrsOf(b.Body, "a filter block", filterAttrs)
	l.diags = append(l.diags, diags...)
	a := attrs["where"]
	if a == nil {
		l.diags = append(l.diags, missingArg(b, "where", `where = "Email != nil"`))
		return t
	}
	t.Where, _ = l.formula(a)
	return t
}

func (l *loader) decodeMap(b *hclsyntax.Block, sc *scope) plan.Task {
	t := &plan.Map{Range: b.DefRange(), Loc: where(b)}
	// Every argument but all and except is an output field, so any name is
	// allowed here.
	attrs, diags := attrsOf(b.Body, "a map block", nil)
	l.diags = append(l.diags, diags...)
	var exceptAttr *hclsyntax.Attribute
	allBroken := false
	for _, a := range inOrder(b.Body.Attributes) {
		if _, ok := attrs[a.Name]; !ok {
			continue
		}
		switch a.Name {
		case mapAll:
			var ok bool
			t.All, ok = l.boolean(a, sc)
			allBroken = !ok
		case mapExcept:
			exceptAttr = a
			t.Except, _ = l.strList(a, sc)
		default:
			fm, _ := l.formula(a)
			t.Fields = append(t.Fields, plan.MapField{Name: a.Name, Formula: fm})
		}
	}
	if exceptAttr != nil && !t.All && !allBroken {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "except without all",
			Detail:   "except names input fields to leave out of all = true; add all = true to this map block, or remove except.",
			Subject:  exceptAttr.NameRange.Ptr(),
		})
	}
	if !t.All && len(t.Fields) == 0 && len(attrs) == 0 {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Empty map",
			Detail:   `A map block with no fields would drop every field. Add output fields, like id = "Id", or all = true to carry the input through.`,
			Subject:  b.DefRange().Ptr(),
		})
	}
	return t
}

func (l *loader) decodeMask(b *hclsyntax.Block, sc *scope) plan.Task {
	t := &plan.Mask{Field: b.Labels[0], Range: b.DefRange(), Loc: where(b)}
	l.checkFieldLabel(b)
	attrs, diags := attrsOf(b.Body, "a mask block", maskAttrs)
	l.diags = append(l.diags, diags...)

	if a := attrs["keep_first"]; a != nil {
		t.KeepFirst, _ = l.count(a, sc, 0)
	}
	if a := attrs["keep_last"]; a != nil {
		t.KeepLast, _ = l.count(a, sc, 0)
	}
	if a := attrs["char"]; a != nil {
		if s, ok := l.str(a, sc); ok {
			if utf8.RuneCountInString(s) != 1 {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid mask character",
					Detail:   fmt.Sprintf("char must be exactly one character, like \"#\", not %q.", s),
					Subject:  a.Expr.Range().Ptr(),
				})
			} else {
				t.Char = s
			}
		}
	}
	if a := attrs["hash"]; a != nil {
		t.Hash, _ = l.enum(a, sc, hashAlgorithms)
	}
	if a := attrs["formula"]; a != nil {
		if fm, ok := l.formula(a); ok {
			t.Formula = &fm
		}
	}

	// The three ways to mask exclude each other: characters, a digest, or a
	// computed value.
	var charOpts []*hclsyntax.Attribute
	for _, n := range []string{"keep_first", "keep_last", "char"} {
		if a := attrs[n]; a != nil {
			charOpts = append(charOpts, a)
		}
	}
	hash, formula := attrs["hash"], attrs["formula"]
	switch {
	case hash != nil && formula != nil:
		l.diags = append(l.diags, conflict(formula, "hash", "formula"))
	case hash != nil && len(charOpts) > 0:
		l.diags = append(l.diags, conflict(charOpts[0], "hash", charOpts[0].Name))
	case formula != nil && len(charOpts) > 0:
		l.diags = append(l.diags, conflict(charOpts[0], "formula", charOpts[0].Name))
	}
	if hash == nil && formula == nil && t.Char == "" {
		t.Char = defaultMaskChar
	}
	return t
}

// conflict reports two mask options that cannot be combined.
func conflict(at *hclsyntax.Attribute, a, b string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Conflicting mask options",
		Detail:   fmt.Sprintf("A mask either replaces characters (keep_first, keep_last, char), hashes the value (hash) or computes it (formula); %s and %s cannot be combined. Keep one.", a, b),
		Subject:  at.NameRange.Ptr(),
	}
}

func (l *loader) decodeTruncate(b *hclsyntax.Block, sc *scope) plan.Task {
	t := &plan.Truncate{Field: b.Labels[0], Range: b.DefRange(), Loc: where(b)}
	l.checkFieldLabel(b)
	attrs, diags := attrsOf(b.Body, "a truncate block", truncateAttrs)
	l.diags = append(l.diags, diags...)
	a := attrs["length"]
	if a == nil {
		l.diags = append(l.diags, missingArg(b, "length", "length = 20"))
		return t
	}
	t.Length, _ = l.count(a, sc, 1)
	return t
}

func (l *loader) decodeValidate(b *hclsyntax.Block, sc *scope) plan.Task {
	// A failed check fails the run unless the flow says otherwise: silently
	// losing records is the worse surprise.
	t := &plan.Validate{OnFail: plan.OnFailFail, Range: b.DefRange(), Loc: where(b)}
	attrs, diags := attrsOf(b.Body, "a validate block", validateAttrs)
	l.diags = append(l.diags, diags...)
	if a := attrs["check"]; a != nil {
		t.Check, _ = l.formula(a)
	} else {
		l.diags = append(l.diags, missingArg(b, "check", `check = "Amount >= 0"`))
	}
	if a := attrs["on_fail"]; a != nil {
		if s, ok := l.enum(a, sc, onFailActions); ok {
			t.OnFail = plan.OnFail(s)
		}
	}
	if a := attrs["message"]; a != nil {
		t.Message, _ = l.str(a, sc)
	}
	return t
}

func (l *loader) decodePartition(b *hclsyntax.Block, sc *scope) *plan.Partition {
	t := &plan.Partition{Range: b.DefRange(), Loc: where(b)}
	attrs, diags := attrsOf(b.Body, "a partition block", partitionAttrs)
	l.diags = append(l.diags, diags...)
	a := attrs["keys"]
	if a == nil {
		l.diags = append(l.diags, missingArg(b, "keys", `keys = ["country"]`))
		return t
	}
	keys, ok := l.strList(a, sc)
	if ok && len(keys) == 0 {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No partition keys",
			Detail:   "keys names the fields to partition the output by; list at least one, or remove the partition block.",
			Subject:  a.Expr.Range().Ptr(),
		})
	}
	t.Keys = keys
	return t
}

// checkFieldLabel rejects an empty field name in mask and truncate labels.
func (l *loader) checkFieldLabel(b *hclsyntax.Block) {
	if strings.TrimSpace(b.Labels[0]) != "" {
		return
	}
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Empty field name",
		Detail:   fmt.Sprintf("The label of a %s block names the field it changes, like %s.", b.Type, flowRules[b.Type].usage),
		Subject:  b.LabelRanges[0].Ptr(),
	})
}

// count reads a whole number of at least min that fits an int.
func (l *loader) count(a *hclsyntax.Attribute, sc *scope, min int64) (int, bool) {
	n, ok := l.integer(a, sc)
	if !ok {
		return 0, false
	}
	if n < min || n > math.MaxInt32 {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid %s value", a.Name),
			Detail:   fmt.Sprintf("%s must be a whole number from %d to %d, not %d.", a.Name, min, math.MaxInt32, n),
			Subject:  a.Expr.Range().Ptr(),
		})
		return 0, false
	}
	return int(n), true
}

// formula reads a formula argument. A formula is evaluated per record by
// the engine, not by HCL, so it must be a plain string: a quoted literal or
// a heredoc without ${...} or %{...}. The range covers the string's contents
// so a column offset into the formula maps to a column in the file.
func (l *loader) formula(a *hclsyntax.Attribute) (plan.Formula, bool) {
	rng := a.Expr.Range()
	bad := func(detail string) (plan.Formula, bool) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid formula",
			Detail:   detail,
			Subject:  &rng,
		})
		return plan.Formula{}, false
	}
	tmpl, ok := a.Expr.(*hclsyntax.TemplateExpr)
	if !ok {
		if _, wrap := a.Expr.(*hclsyntax.TemplateWrapExpr); wrap {
			return bad(interpolationDetail(a.Name))
		}
		return bad(fmt.Sprintf(`%s is a formula, evaluated for each record, and must be written as a quoted string, like %s = "lower(Email)".`, a.Name, a.Name))
	}
	var lit *hclsyntax.LiteralValueExpr
	if len(tmpl.Parts) == 1 {
		lit, _ = tmpl.Parts[0].(*hclsyntax.LiteralValueExpr)
	}
	if lit == nil || lit.Val.Type() != cty.String || lit.Val.IsNull() {
		return bad(interpolationDetail(a.Name))
	}
	text := lit.Val.AsString()
	if strings.TrimSpace(text) == "" {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Empty formula",
			Detail:   fmt.Sprintf(`%s needs an expression, like %s = "Amount > 0".`, a.Name, a.Name),
			Subject:  &rng,
		})
		return plan.Formula{Text: text, Range: contentRange(rng, lit.SrcRange)}, false
	}
	return plan.Formula{Text: text, Range: contentRange(rng, lit.SrcRange)}, true
}

func interpolationDetail(name string) string {
	return fmt.Sprintf("%s is a formula, evaluated for each record, so it cannot use HCL interpolation (${...} or %%{...}), which runs once when the file loads. Refer to record fields directly inside the string, like %s = \"lower(Email)\"; write $${ for a literal ${.", name, name)
}

// contentRange is the range inside a string's quotes. For a quoted string
// the contents start one column after the expression and end one before it;
// a heredoc's contents are the literal part itself, on the lines after the
// opening marker.
func contentRange(expr, part hcl.Range) hcl.Range {
	if part.Start.Line > expr.Start.Line {
		return part
	}
	r := expr
	if r.End.Byte-r.Start.Byte < 2 {
		return r
	}
	r.Start.Column++
	r.Start.Byte++
	r.End.Column--
	r.End.Byte--
	return r
}

// where records the block's label and attribute ranges for diagnostics
// found after loading, when formulas meet the source schema.
func where(b *hclsyntax.Block) plan.Where {
	w := plan.Where{Attrs: make(map[string]hcl.Range, len(b.Body.Attributes))}
	if len(b.LabelRanges) > 0 {
		r := b.LabelRanges[0]
		w.Label = &r
	}
	for name, a := range b.Body.Attributes {
		w.Attrs[name] = a.Expr.Range()
	}
	return w
}
