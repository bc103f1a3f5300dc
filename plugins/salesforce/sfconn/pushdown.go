package sfconn

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/sdk"
)

// soqlFilters translates the engine's filter hints (sdk.ReadRequest.Filters)
// into SOQL conditions, AND-ed with the source's where and the cursor.
//
// A hint is only a way to read less: the engine applies the flow's filters
// again, so a condition may keep more records than the filter (SOQL's
// `Field != 'x'` keeps nulls, the filter drops them) but never fewer. What
// cannot be said that way is left out:
//
//   - fields the object does not have, or that describe marks not
//     filterable, and multipicklists (whose = compares sets);
//   - on text fields only =, IN and the null tests: SOQL compares text
//     case-insensitively, which widens = and IN but would narrow != and
//     reorder < and >;
//   - on number fields, comparisons are widened by one float step, because
//     the filter compares the float64 it read, and Salesforce the exact
//     decimal; IN is left out;
//   - datetime literals have whole seconds, so a bound with a fraction is
//     widened to the second and = and != with one are left out; date
//     fields take only midnight-UTC bounds.
func soqlFilters(obj *sfObject, preds []sdk.Predicate) []string {
	var out []string
	for _, p := range preds {
		f := obj.field(p.Field)
		if f == nil || !f.Filterable || f.Type == "multipicklist" {
			continue
		}
		if c, ok := soqlCondition(f, p); ok {
			out = append(out, c)
		}
	}
	return out
}

func soqlCondition(f *sfField, p sdk.Predicate) (string, bool) {
	switch p.Op {
	case sdk.OpIsNull:
		return f.Name + " = null", len(p.Values) == 0
	case sdk.OpNotNull:
		return f.Name + " != null", len(p.Values) == 0
	case sdk.OpIn:
		if len(p.Values) == 0 {
			return "", false
		}
		lits := make([]string, len(p.Values))
		for i, v := range p.Values {
			// Only exact literals: text (widened by case) and whole numbers
			// on integer fields.
			lit, ok := exactLiteral(f, v)
			if !ok {
				return "", false
			}
			lits[i] = lit
		}
		return f.Name + " IN (" + strings.Join(lits, ", ") + ")", true
	case sdk.OpEq, sdk.OpNe, sdk.OpLt, sdk.OpLe, sdk.OpGt, sdk.OpGe:
	default:
		return "", false
	}
	if len(p.Values) != 1 {
		return "", false
	}
	v := p.Values[0]
	switch f.Type {
	case "double", "currency", "percent":
		return floatCondition(f.Name, p.Op, v)
	case "date":
		t, ok := v.(time.Time)
		if !ok {
			return "", false
		}
		t = t.UTC()
		if !t.Equal(t.Truncate(24 * time.Hour)) {
			return "", false
		}
		return f.Name + " " + p.Op + " " + t.Format("2006-01-02"), true
	case "datetime":
		t, ok := v.(time.Time)
		if !ok {
			return "", false
		}
		t = t.UTC()
		op, sec := p.Op, t.Truncate(time.Second)
		if !sec.Equal(t) {
			switch op {
			case sdk.OpGt, sdk.OpGe:
				op = sdk.OpGe
			case sdk.OpLt, sdk.OpLe:
				op, sec = sdk.OpLe, sec.Add(time.Second)
			default:
				return "", false
			}
		}
		return f.Name + " " + op + " " + sec.Format("2006-01-02T15:04:05Z"), true
	}
	if isText(f) && p.Op != sdk.OpEq {
		return "", false
	}
	lit, ok := exactLiteral(f, v)
	if !ok {
		return "", false
	}
	if _, isBool := v.(bool); isBool && p.Op != sdk.OpEq && p.Op != sdk.OpNe {
		return "", false
	}
	return f.Name + " " + p.Op + " " + lit, true
}

// isText reports whether SOQL compares f as text.
func isText(f *sfField) bool {
	switch f.Type {
	case "boolean", "int", "long", "double", "currency", "percent", "date", "datetime", "time":
		return false
	}
	return true
}

// exactLiteral is v as a SOQL literal for f when the comparison means the
// same in SOQL (up to case for text).
func exactLiteral(f *sfField, v any) (string, bool) {
	switch f.Type {
	case "boolean":
		if b, ok := v.(bool); ok {
			return strconv.FormatBool(b), true
		}
	case "int", "long":
		if i, ok := v.(int64); ok {
			return strconv.FormatInt(i, 10), true
		}
	case "double", "currency", "percent", "date", "datetime", "time", "address", "location", "base64":
	default:
		s, ok := v.(string)
		// Salesforce keeps no empty text (it is null), and an id literal
		// that is not an id fails the whole query.
		if !ok || s == "" || ((f.Type == "id" || f.Type == "reference") && !looksLikeID(s)) {
			return "", false
		}
		return soqlString(s), true
	}
	return "", false
}

// looksLikeID reports whether s has the shape of a 15- or 18-character id.
func looksLikeID(s string) bool {
	if len(s) != 15 && len(s) != 18 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return true
}

// floatCondition compares a number field with a float bound. The filter
// compares float64(d) with the bound, Salesforce the exact decimal d, and
// a decimal just below a bound can round up onto it; so the bound is moved
// one float step outwards, where the literal needs it.
func floatCondition(name, op string, v any) (string, bool) {
	var x float64
	switch n := v.(type) {
	case float64:
		x = n
	case int64:
		x = float64(n)
		if int64(x) != n {
			return "", false
		}
	default:
		return "", false
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "", false
	}
	down, up := math.Nextafter(x, math.Inf(-1)), math.Nextafter(x, math.Inf(1))
	switch op {
	case sdk.OpNe:
		// d == S exactly means float64(d) == x: the filter drops it too.
		return name + " != " + soqlNumber(x), true
	case sdk.OpEq:
		return "(" + name + " >= " + soqlNumber(down) + " AND " + name + " <= " + soqlNumber(up) + ")", true
	case sdk.OpGe:
		return name + " >= " + soqlNumber(down), true
	case sdk.OpLe:
		return name + " <= " + soqlNumber(up), true
	case sdk.OpGt:
		// float64(d) > x means d > x when x's literal is exactly x (a
		// whole number of at most 2^53): rounding is monotonic.
		if x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
			return name + " > " + soqlNumber(x), true
		}
		return name + " >= " + soqlNumber(x), true
	case sdk.OpLt:
		if x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
			return name + " < " + soqlNumber(x), true
		}
		return name + " <= " + soqlNumber(x), true
	}
	return "", false
}

// soqlNumber formats x without an exponent, which SOQL does not read.
func soqlNumber(x float64) string {
	return strconv.FormatFloat(x, 'f', -1, 64)
}

// soqlString quotes s as a SOQL string literal.
func soqlString(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
