package dsl

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// blockRule describes one block type allowed in a body.
type blockRule struct {
	// labels names the labels, in order, for messages.
	labels []string
	// optional is how many trailing labels may be left out (a sink's name).
	optional int
	// usage shows the block's header, e.g. `flow "<name>" { ... }`.
	usage string
}

// blocksOf checks the blocks of body against rules and returns the ones
// whose type and labels fit, in source order. where names the enclosing
// block for messages ("a flow block", "the top level"). hints gives a better
// message for block types that are valid somewhere else.
func blocksOf(body *hclsyntax.Body, where string, rules map[string]blockRule, hints map[string]string) ([]*hclsyntax.Block, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var out []*hclsyntax.Block
	for _, b := range body.Blocks {
		rule, ok := rules[b.Type]
		if !ok {
			detail := fmt.Sprintf("Blocks of type %q are not expected in %s.", b.Type, where)
			if hint, ok := hints[b.Type]; ok {
				detail = hint
			} else if s := suggest(b.Type, sortedKeys(rules)); s != "" {
				detail += fmt.Sprintf(" Did you mean %q?", s)
			} else {
				detail += fmt.Sprintf(" The valid blocks here are: %s.", strings.Join(sortedKeys(rules), ", "))
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported block type",
				Detail:   detail,
				Subject:  b.TypeRange.Ptr(),
			})
			continue
		}
		maxLabels := len(rule.labels)
		minLabels := maxLabels - rule.optional
		switch {
		case len(b.Labels) > maxLabels:
			detail := fmt.Sprintf("A %s block takes no labels; write it as %s.", b.Type, rule.usage)
			if maxLabels > 0 {
				detail = fmt.Sprintf("A %s block takes at most %d label(s) (%s); write it as %s.",
					b.Type, maxLabels, strings.Join(rule.labels, ", "), rule.usage)
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Extraneous label for %s", b.Type),
				Detail:   detail,
				Subject:  b.LabelRanges[maxLabels].Ptr(),
				Context:  hcl.RangeBetween(b.TypeRange, b.OpenBraceRange).Ptr(),
			})
			continue
		case len(b.Labels) < minLabels:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Missing %s label for %s", rule.labels[len(b.Labels)], b.Type),
				Detail:   fmt.Sprintf("Write the block as %s.", rule.usage),
				Subject:  b.OpenBraceRange.Ptr(),
				Context:  hcl.RangeBetween(b.TypeRange, b.OpenBraceRange).Ptr(),
			})
			continue
		}
		out = append(out, b)
	}
	return out, diags
}

// attrsOf returns the attributes of a body that holds only arguments.
// allowed lists the argument names the block takes; nil allows any name
// (a map block, whose arguments are output fields). what names the block
// for messages ("a filter block").
func attrsOf(body *hclsyntax.Body, what string, allowed []string) (map[string]*hclsyntax.Attribute, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	for _, b := range body.Blocks {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported block type",
			Detail:   fmt.Sprintf("%s takes only arguments, not nested blocks; remove the %q block or write its settings as arguments.", capitalize(what), b.Type),
			Subject:  b.TypeRange.Ptr(),
		})
	}
	out := make(map[string]*hclsyntax.Attribute, len(body.Attributes))
	for _, a := range inOrder(body.Attributes) {
		if allowed != nil && !contains(allowed, a.Name) {
			detail := fmt.Sprintf("An argument named %q is not expected in %s.", a.Name, what)
			if s := suggest(a.Name, allowed); s != "" {
				detail += fmt.Sprintf(" Did you mean %q?", s)
			} else if len(allowed) > 0 {
				detail += fmt.Sprintf(" The valid arguments are: %s.", strings.Join(allowed, ", "))
			} else {
				detail += " It takes no arguments."
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported argument",
				Detail:   detail,
				Subject:  a.NameRange.Ptr(),
			})
			continue
		}
		out[a.Name] = a
	}
	return out, diags
}

// missingArg reports a required argument that block leaves out.
func missingArg(block *hclsyntax.Block, name, example string) *hcl.Diagnostic {
	detail := fmt.Sprintf("A %s block needs the %q argument.", block.Type, name)
	if example != "" {
		detail += fmt.Sprintf(" Add it, for example: %s.", example)
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Missing required argument %q", name),
		Detail:   detail,
		Subject:  block.DefRange().Ptr(),
	}
}

// inOrder returns attributes sorted by source position, because the parser
// hands them over as a map and both map fields and diagnostics must follow
// the order written.
func inOrder(attrs hclsyntax.Attributes) []*hclsyntax.Attribute {
	out := make([]*hclsyntax.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SrcRange.Start.Byte < out[j].SrcRange.Start.Byte })
	return out
}

// suggest returns the candidate closest to given, or "" when none is close
// enough to be a likely typo. It mirrors HCL's own "did you mean" rule.
func suggest(given string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein.Distance(given, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// didYouMean formats a suggestion as a sentence to append to a Detail.
func didYouMean(given string, candidates []string) string {
	if s := suggest(given, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// quoteList renders choices as `"a", "b" or "c"` for messages.
func quoteList(choices []string) string {
	q := make([]string, len(choices))
	for i, c := range choices {
		q[i] = fmt.Sprintf("%q", c)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
