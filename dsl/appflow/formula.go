package appflow

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// kind is the formula type an AppFlow data type stands for.
type kind int

const (
	kUnknown kind = iota
	kInt
	kFloat
	kString
	kBool
	kDate
	kDateTime
)

// kindOf classifies an AppFlow (mostly Salesforce) field type name.
func kindOf(dataType string) kind {
	switch strings.ToLower(strings.TrimSpace(dataType)) {
	case "int", "integer", "long", "short", "byte", "biginteger", "int32", "int64":
		return kInt
	case "double", "float", "currency", "percent", "decimal", "bigdecimal", "number", "numeric":
		return kFloat
	case "string", "id", "reference", "email", "phone", "picklist", "multipicklist", "textarea",
		"url", "combobox", "encryptedstring", "base64", "text", "char", "varchar":
		return kString
	case "boolean", "bool":
		return kBool
	case "date":
		return kDate
	case "datetime", "timestamp", "time":
		return kDateTime
	}
	return kUnknown
}

func (k kind) numeric() bool { return k == kInt || k == kFloat }

// cast is the function converting a value to k.
func (k kind) cast() string {
	switch k {
	case kInt:
		return "int"
	case kFloat:
		return "float"
	case kString:
		return "string"
	case kBool:
		return "bool"
	case kDate:
		return "date"
	case kDateTime:
		return "timestamp"
	}
	return ""
}

// exprKeywords cannot be field names in a formula even though they look
// like identifiers.
var exprKeywords = map[string]bool{
	"in": true, "not": true, "and": true, "or": true, "matches": true, "contains": true,
	"startsWith": true, "endsWith": true, "let": true, "nil": true, "true": true, "false": true,
	"if": true, "else": true,
}

var exprIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// fieldRef is how a formula reads a field: its name when that is an
// identifier, otherwise $env['First Name'] (see engine/transform/doc.go).
func fieldRef(name string) string {
	if exprIdent.MatchString(name) && !exprKeywords[name] {
		return name
	}
	return "$env[" + strLit(name) + "]"
}

// strLit is an expr string literal. Single quotes keep the formula free of
// the \" escapes it would need inside an HCL string.
func strLit(s string) string {
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
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// literal renders one filter value of type k. AppFlow writes timestamps as
// epoch milliseconds; they become RFC 3339 literals. problem is set when
// the value does not fit its type (the literal is then a best guess).
func literal(v string, k kind) (lit string, problem string) {
	v = strings.TrimSpace(v)
	switch k {
	case kInt, kFloat:
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return strLit(v), fmt.Sprintf("value %q is not a number", v)
		}
		return v, ""
	case kBool:
		if b, err := strconv.ParseBool(v); err == nil {
			return strconv.FormatBool(b), ""
		}
		return strLit(v), fmt.Sprintf("value %q is not a boolean", v)
	case kDate, kDateTime:
		t, ok := parseTime(v)
		if !ok {
			return strLit(v), fmt.Sprintf("value %q is neither epoch milliseconds nor an RFC 3339 time", v)
		}
		if k == kDate && t.Equal(t.Truncate(24*time.Hour)) {
			return "date(" + strLit(t.Format("2006-01-02")) + ")", ""
		}
		return "timestamp(" + strLit(t.Format(time.RFC3339Nano)) + ")", ""
	case kString:
		return strLit(v), ""
	}
	// No DATA_TYPE: a number stays a number, anything else is text.
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v, ""
	}
	return strLit(v), ""
}

// parseTime reads epoch milliseconds, RFC 3339 or a plain date, in UTC.
func parseTime(v string) (time.Time, bool) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), true
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return time.UnixMilli(int64(f)).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// splitValues splits a VALUES property: a comma list (AppFlow reads it as
// "any of").
func splitValues(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// filterFormula is the where formula of a Filter task. values holds VALUE,
// or the entries of VALUES; lower and upper are BETWEEN's bounds. notes
// explain a literal that had to be guessed.
func filterFormula(op, field string, k kind, values []string, lower, upper string) (formula string, notes []string, err error) {
	f := fieldRef(field)
	lit := func(v string) string {
		l, p := literal(v, k)
		if p != "" {
			notes = append(notes, p)
		}
		return l
	}
	lits := func() []string {
		out := make([]string, len(values))
		for i, v := range values {
			out[i] = lit(v)
		}
		return out
	}
	one := func(cmp string) (string, []string, error) {
		switch len(values) {
		case 0:
			return "", nil, fmt.Errorf("%s needs a VALUE", op)
		case 1:
		default:
			notes = append(notes, fmt.Sprintf("%s takes one value; only %q is used", op, values[0]))
		}
		return fmt.Sprintf("%s %s %s", f, cmp, lit(values[0])), notes, nil
	}
	switch op {
	case "LESS_THAN":
		return one("<")
	case "GREATER_THAN":
		return one(">")
	case "LESS_THAN_OR_EQUAL_TO":
		return one("<=")
	case "GREATER_THAN_OR_EQUAL_TO":
		return one(">=")
	case "BETWEEN":
		if lower == "" || upper == "" {
			return "", nil, fmt.Errorf("BETWEEN needs LOWER_BOUND and UPPER_BOUND")
		}
		lo, hi := lit(lower), lit(upper)
		return fmt.Sprintf("%s >= %s && %s <= %s", f, lo, f, hi), notes, nil
	case "EQUAL_TO":
		switch len(values) {
		case 0:
			return "", nil, fmt.Errorf("EQUAL_TO needs a VALUE or VALUES")
		case 1:
			return fmt.Sprintf("%s == %s", f, lit(values[0])), notes, nil
		}
		return fmt.Sprintf("%s in [%s]", f, strings.Join(lits(), ", ")), notes, nil
	case "NOT_EQUAL_TO":
		switch len(values) {
		case 0:
			return "", nil, fmt.Errorf("NOT_EQUAL_TO needs a VALUE or VALUES")
		case 1:
			return fmt.Sprintf("%s != %s", f, lit(values[0])), notes, nil
		}
		return fmt.Sprintf("!(%s in [%s])", f, strings.Join(lits(), ", ")), notes, nil
	case "CONTAINS":
		if len(values) == 0 {
			return "", nil, fmt.Errorf("CONTAINS needs a VALUE or VALUES")
		}
		parts := make([]string, len(values))
		for i, v := range values {
			// CONTAINS compares text whatever DATA_TYPE says.
			parts[i] = fmt.Sprintf("%s contains %s", f, strLit(strings.TrimSpace(v)))
		}
		return strings.Join(parts, " || "), notes, nil
	}
	return "", nil, fmt.Errorf("unknown filter operator %s", op)
}

// numericPattern is what VALIDATE_NUMERIC accepts in a text field. It avoids
// backslashes, which would need escaping twice (HCL, then expr).
const numericPattern = `^[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?$`

// validateFormula is the check formula of a Validate task.
func validateFormula(op, field string, k kind) (string, error) {
	f := fieldRef(field)
	num := f
	if k == kString {
		num = "float(" + f + ")"
	}
	switch op {
	case "VALIDATE_NON_NULL":
		return f + " != nil", nil
	case "VALIDATE_NON_ZERO":
		return num + " != 0", nil
	case "VALIDATE_NON_NEGATIVE":
		return num + " >= 0", nil
	case "VALIDATE_NUMERIC":
		if k.numeric() {
			return f + " != nil", nil
		}
		return f + " matches " + strLit(numericPattern), nil
	}
	return "", fmt.Errorf("unknown validation operator %s", op)
}

// arithmeticFormula is the formula of an Arithmetic task over fields, in
// MATH_OPERATION_FIELDS_ORDER.
func arithmeticFormula(op string, fields []string) (string, error) {
	sym := map[string]string{"ADDITION": "+", "SUBTRACTION": "-", "MULTIPLICATION": "*", "DIVISION": "/"}[op]
	if sym == "" {
		return "", fmt.Errorf("unknown arithmetic operator %s", op)
	}
	if len(fields) < 2 {
		return "", fmt.Errorf("%s needs two fields", op)
	}
	refs := make([]string, len(fields))
	for i, f := range fields {
		refs[i] = fieldRef(f)
	}
	return strings.Join(refs, " "+sym+" "), nil
}

// arithmeticKind is the type an arithmetic formula produces.
func arithmeticKind(op string, operands []kind) kind {
	if op == "DIVISION" {
		return kFloat
	}
	out := kInt
	for _, k := range operands {
		switch k {
		case kInt:
		case kFloat:
			out = kFloat
		default:
			return kUnknown
		}
	}
	return out
}

// placeholder matches ${Field} and {Field} in a CONCAT_FORMAT.
var placeholder = regexp.MustCompile(`\$?\{([^{}]+)\}`)

// concatFormula is the formula of a Merge task. AppFlow does not document
// CONCAT_FORMAT; when it names the source fields as ${Field} or {Field} it
// is read as a template, otherwise as the separator between the fields.
// how says which reading was taken.
func concatFormula(fields []string, format string) (formula, how string) {
	isField := map[string]bool{}
	for _, f := range fields {
		isField[f] = true
	}
	var args []string
	if ms := placeholder.FindAllStringSubmatchIndex(format, -1); len(ms) > 0 {
		allFields := true
		for _, m := range ms {
			allFields = allFields && isField[format[m[2]:m[3]]]
		}
		if allFields {
			prev := 0
			for _, m := range ms {
				if m[0] > prev {
					args = append(args, strLit(format[prev:m[0]]))
				}
				args = append(args, fieldRef(format[m[2]:m[3]]))
				prev = m[1]
			}
			if prev < len(format) {
				args = append(args, strLit(format[prev:]))
			}
			return "concat(" + strings.Join(args, ", ") + ")", "read as a template"
		}
	}
	for i, f := range fields {
		if i > 0 && format != "" {
			args = append(args, strLit(format))
		}
		args = append(args, fieldRef(f))
	}
	how = "read as the separator between the fields"
	if format == "" {
		how = "empty: the fields are joined directly"
	}
	return "concat(" + strings.Join(args, ", ") + ")", how
}

// maskFormula expresses AppFlow's MASK_FIRST_N and MASK_LAST_N, which
// HIDE n characters. sluice's keep_first and keep_last count the characters
// left visible, which a fixed number cannot express for values of varying
// length, so these become formulas. Values shorter than n are masked
// entirely, keeping their length; nulls stay null.
func maskFormula(op, field string, n int, char string) (string, error) {
	if n < 0 {
		return "", fmt.Errorf("MASK_LENGTH must not be negative")
	}
	f := fieldRef(field)
	mask := strLit(strings.Repeat(char, n))
	switch op {
	case "MASK_FIRST_N":
		// substr clamps: the mask shrinks to a short value, and the rest
		// after n characters is empty.
		return fmt.Sprintf("substr(%s, 0, len(%s)) + substr(%s, %d)", mask, f, f, n), nil
	case "MASK_LAST_N":
		// substr refuses a negative length, hence the condition.
		return fmt.Sprintf("len(%s) > %d ? substr(%s, 0, len(%s) - %d) + %s : substr(%s, 0, len(%s))", f, n, f, f, n, mask, mask, f), nil
	}
	return "", fmt.Errorf("unknown mask operator %s", op)
}

// maskChar reads MASK_VALUE: one character, * by default.
func maskChar(v string) (char string, problem string) {
	switch utf8.RuneCountInString(v) {
	case 0:
		return "*", ""
	case 1:
		return v, ""
	}
	r, _ := utf8.DecodeRuneInString(v)
	return string(r), fmt.Sprintf("MASK_VALUE %q is more than one character; sluice masks with %q", v, string(r))
}
