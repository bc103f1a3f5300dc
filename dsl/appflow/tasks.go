package appflow

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// taskOut is a flow's tasks in the order sluice runs them: AppFlow filters
// and validates source records, masks and truncates source fields, then
// maps them to destination fields, which partition keys name. Filters,
// validations, masks and truncations keep their relative AppFlow order.
type taskOut struct {
	projection []string
	notes      []string
	filters    []*hclwrite.Block
	validates  []*hclwrite.Block
	edits      []*hclwrite.Block // mask and truncate
	mapAll     bool
	mapExcept  []string
	mapNotes   []string
	mapFields  []*mapField
	passthru   []string
	partition  *hclwrite.Block
	partKeys   []string
}

type mapField struct {
	name     string
	formula  string
	comments []string
}

// computed is the result of a Merge or Arithmetic task, held under its
// (temporary) destination field until a Map task names it.
type computed struct {
	formula string
	kind    kind
	name    string // destination field
	used    bool
	path    string
	notes   []string // comments for the map field
}

// task is one entry of tasks with its parts read.
type task struct {
	n         node
	typ       string
	op        string
	opPath    string
	sources   []string
	dest      string
	props     map[string]node
	propsPath string
}

func readTask(n node) task {
	t := task{n: n, typ: n.get("taskType").text(), dest: n.get("destinationField").text()}
	op := n.get("connectorOperator")
	for _, k := range op.keys() {
		t.op, t.opPath = strings.ToUpper(op.get(k).text()), op.child(k)
		break
	}
	if t.opPath == "" {
		t.opPath = op.path
	}
	for _, s := range n.get("sourceFields").list() {
		t.sources = append(t.sources, s.text())
	}
	p := n.get("taskProperties")
	t.props = p.taskProperties()
	t.propsPath = p.path
	return t
}

func (t task) prop(key string) string { return t.props[key].text() }

func (t task) propPath(key string) string {
	if n, ok := t.props[key]; ok {
		return n.path
	}
	return t.propsPath + "." + key
}

func (t task) field() string {
	if len(t.sources) > 0 {
		return t.sources[0]
	}
	return ""
}

// knownProps are the task properties each task type uses; any other is a
// finding.
var knownProps = map[string][]string{
	"filter":      {"DATA_TYPE", "VALUE", "VALUES", "LOWER_BOUND", "UPPER_BOUND", "SOURCE_DATA_TYPE", "DESTINATION_DATA_TYPE"},
	"map":         {"SOURCE_DATA_TYPE", "DESTINATION_DATA_TYPE"},
	"map_all":     {"EXCLUDE_SOURCE_FIELDS_LIST", "INCLUDE_NEW_FIELDS"},
	"merge":       {"CONCAT_FORMAT", "SOURCE_DATA_TYPE", "DESTINATION_DATA_TYPE"},
	"arithmetic":  {"MATH_OPERATION_FIELDS_ORDER", "SOURCE_DATA_TYPE", "DESTINATION_DATA_TYPE"},
	"mask":        {"MASK_LENGTH", "MASK_VALUE", "SOURCE_DATA_TYPE", "DESTINATION_DATA_TYPE"},
	"truncate":    {"TRUNCATE_LENGTH", "SOURCE_DATA_TYPE", "DESTINATION_DATA_TYPE"},
	"validate":    {"VALIDATION_ACTION", "DATA_TYPE", "SOURCE_DATA_TYPE", "DESTINATION_DATA_TYPE"},
	"partition":   {"ORDERED_PARTITION_KEYS_LIST"},
	"passthrough": {"SOURCE_DATA_TYPE", "DESTINATION_DATA_TYPE"},
}

// fieldList reads EXCLUDE_SOURCE_FIELDS_LIST or ORDERED_PARTITION_KEYS_LIST:
// a JSON array in a string, or failing that a comma list.
func fieldList(s string) []string {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err == nil {
		return out
	}
	s = strings.Trim(strings.TrimSpace(s), "[]")
	for _, p := range strings.Split(s, ",") {
		if p = strings.Trim(strings.TrimSpace(p), `"'`); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *converter) tasks(list node, src *endpointOut) taskOut {
	var out taskOut
	tasks := make([]task, 0)
	for _, n := range list.list() {
		tasks = append(tasks, readTask(n))
	}

	// Merge and Arithmetic results are temporary fields, not source fields.
	temps := map[string]bool{}
	for _, t := range tasks {
		if k := strings.ToLower(t.typ); (k == "merge" || k == "arithmetic") && t.dest != "" {
			temps[t.dest] = true
		}
	}
	// What AppFlow says about source field types decides literals and casts.
	types := map[string]kind{}
	for _, t := range tasks {
		f := t.field()
		if f == "" || temps[f] {
			continue
		}
		for _, key := range []string{"DATA_TYPE", "SOURCE_DATA_TYPE"} {
			if k := kindOf(t.prop(key)); k != kUnknown && types[f] == kUnknown {
				types[f] = k
			}
		}
	}

	comps := map[string]*computed{}
	var compOrder []*computed
	outNames := map[string]string{} // AppFlow destination field -> sluice map field

	for _, t := range tasks {
		typ := strings.ToLower(t.typ)
		if allowed, ok := knownProps[typ]; ok {
			for key, pn := range t.props {
				if !contains(allowed, key) {
					out.notes = append(out.notes, c.todo(pn.path, "%s task property %s is not carried over", t.typ, key))
				}
			}
		}
		switch typ {
		case "filter":
			c.filterTask(t, types, &out)
		case "map":
			c.mapTask(t, types, comps, outNames, &out)
		case "map_all":
			if t.op != "" && t.op != "NO_OP" {
				out.notes = append(out.notes, c.todo(t.opPath, "Map_all with operator %s; only NO_OP means anything", t.op))
			}
			out.mapAll = true
			if ex := t.prop("EXCLUDE_SOURCE_FIELDS_LIST"); ex != "" {
				out.mapExcept = append(out.mapExcept, fieldList(ex)...)
			}
			if inc := t.props["INCLUDE_NEW_FIELDS"]; inc.text() == "false" {
				out.mapNotes = append(out.mapNotes, c.todo(inc.path, "INCLUDE_NEW_FIELDS false: all = true also carries fields the source adds later; list the fields instead to freeze them"))
			}
		case "merge":
			if len(t.sources) == 0 {
				out.notes = append(out.notes, c.todo(t.n.get("sourceFields").path, "a Merge task without source fields is left out"))
				continue
			}
			format := t.prop("CONCAT_FORMAT")
			f, how := concatFormula(t.sources, format)
			cp := &computed{formula: f, kind: kString, name: t.dest, path: t.n.get("destinationField").path}
			if format != "" {
				cp.notes = append(cp.notes, fmt.Sprintf("Merge of %s: CONCAT_FORMAT %q %s.", strings.Join(t.sources, ", "), format, how))
			}
			c.addComputed(t, cp, comps, &compOrder, &out)
		case "arithmetic":
			fields := t.sources
			if order := t.prop("MATH_OPERATION_FIELDS_ORDER"); order != "" {
				fields = splitValues(order)
			}
			f, err := arithmeticFormula(t.op, fields)
			if err != nil {
				out.notes = append(out.notes, c.todo(t.opPath, "%v; the Arithmetic task is left out", err))
				continue
			}
			kinds := make([]kind, len(fields))
			for i, fl := range fields {
				kinds[i] = types[fl]
			}
			c.addComputed(t, &computed{formula: f, kind: arithmeticKind(t.op, kinds), name: t.dest, path: t.n.get("destinationField").path}, comps, &compOrder, &out)
		case "mask":
			c.maskTask(t, &out)
		case "truncate":
			n, err := strconv.Atoi(strings.TrimSpace(t.prop("TRUNCATE_LENGTH")))
			if err != nil || n < 1 || t.field() == "" {
				out.notes = append(out.notes, c.todo(t.propPath("TRUNCATE_LENGTH"), "a Truncate task needs a field and a positive TRUNCATE_LENGTH (got %q); left out", t.prop("TRUNCATE_LENGTH")))
				continue
			}
			b := hclwrite.NewBlock("truncate", []string{t.field()})
			b.Body().SetAttributeValue("length", cty.NumberIntVal(int64(n)))
			out.edits = append(out.edits, b)
		case "validate":
			c.validateTask(t, types, &out)
		case "partition":
			keys := fieldList(t.prop("ORDERED_PARTITION_KEYS_LIST"))
			if len(keys) == 0 {
				keys = t.sources
			}
			if len(keys) == 0 {
				out.notes = append(out.notes, c.todo(t.propPath("ORDERED_PARTITION_KEYS_LIST"), "a Partition task without keys is left out"))
				continue
			}
			if out.partition != nil {
				out.notes = append(out.notes, c.todo(t.n.path, "a second Partition task; sluice takes one partition block, so its keys are appended"))
			}
			for i, k := range keys {
				if r, ok := outNames[k]; ok {
					keys[i] = r
				}
			}
			if out.partition == nil {
				out.partition = hclwrite.NewBlock("partition", nil)
			}
			out.partKeys = append(out.partKeys, keys...)
			out.partition.Body().SetAttributeValue("keys", stringList(out.partKeys))
		case "passthrough":
			out.passthru = append(out.passthru, t.sources...)
		default:
			out.notes = append(out.notes, c.todo(t.n.get("taskType").path, "unknown task type %q is left out", t.typ))
		}
	}
	for _, cp := range compOrder {
		if cp.used {
			continue
		}
		name := cp.name
		if name == "" {
			out.notes = append(out.notes, c.todo(cp.path, "the result of this task has no destinationField and is left out"))
			continue
		}
		c.addMapField(&out, name, cp.formula, cp.path, cp.notes, outNames)
	}
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

func (c *converter) addComputed(t task, cp *computed, comps map[string]*computed, order *[]*computed, out *taskOut) {
	if t.dest == "" {
		out.notes = append(out.notes, c.todo(t.n.path, "%s task without destinationField: its result is left out", t.typ))
		return
	}
	// A later task may reuse the temporary name ("a,b" for every
	// arithmetic on a and b); Map tasks read the latest one.
	comps[t.dest] = cp
	*order = append(*order, cp)
}

// addMapField adds an output field to the map block. Map field names are
// HCL identifiers; other destination names are renamed.
func (c *converter) addMapField(out *taskOut, dest, formula, path string, comments []string, renames map[string]string) {
	name := identifier(dest)
	if name == "all" || name == "except" {
		name += "_"
	}
	if name != dest {
		comments = append(comments, c.todo(path, "destination field %q is not an identifier a map block can name; written as %s", dest, name))
	}
	for _, f := range out.mapFields {
		if f.name == name {
			comments = append(comments, c.todo(path, "destination field %s is mapped twice; the later mapping wins", name))
			f.formula, f.comments = formula, append(f.comments, comments...)
			renames[dest] = name
			return
		}
	}
	renames[dest] = name
	out.mapFields = append(out.mapFields, &mapField{name: name, formula: formula, comments: comments})
}

func (c *converter) filterTask(t task, types map[string]kind, out *taskOut) {
	switch t.op {
	case "PROJECTION":
		for _, f := range t.sources {
			if !contains(out.projection, f) {
				out.projection = append(out.projection, f)
			}
		}
		if out.projection == nil {
			out.projection = []string{}
		}
		return
	case "NO_OP", "":
		out.notes = append(out.notes, c.todo(t.opPath, "a Filter task with operator %q filters nothing; left out", t.op))
		return
	}
	field := t.field()
	if field == "" {
		out.notes = append(out.notes, c.todo(t.n.get("sourceFields").path, "a %s filter without a source field is left out", t.op))
		return
	}
	k := kindOf(t.prop("DATA_TYPE"))
	if k == kUnknown {
		k = types[field]
	}
	var values []string
	if v, ok := t.props["VALUE"]; ok {
		values = []string{v.text()}
	} else if vs := t.prop("VALUES"); vs != "" {
		values = splitValues(vs)
	}
	f, notes, err := filterFormula(t.op, field, k, values, t.prop("LOWER_BOUND"), t.prop("UPPER_BOUND"))
	if err != nil {
		out.notes = append(out.notes, c.todo(t.opPath, "%v; the filter is left out", err))
		return
	}
	b := hclwrite.NewBlock("filter", nil)
	for _, n := range notes {
		comment(b.Body(), c.todo(t.propsPath, "%s", n))
	}
	if t.op == "NOT_EQUAL_TO" && len(values) > 1 {
		comment(b.Body(), "AppFlow joins VALUES with OR; for NOT_EQUAL_TO that would keep every record, so this keeps records equal to none of them.")
	}
	b.Body().SetAttributeValue("where", cty.StringVal(f))
	out.filters = append(out.filters, b)
}

func (c *converter) mapTask(t task, types map[string]kind, comps map[string]*computed, renames map[string]string, out *taskOut) {
	if t.op != "" && t.op != "NO_OP" {
		out.notes = append(out.notes, c.todo(t.opPath, "a Map task with operator %s; only NO_OP means anything", t.op))
	}
	src := t.field()
	if src == "" {
		out.notes = append(out.notes, c.todo(t.n.get("sourceFields").path, "a Map task without a source field is left out"))
		return
	}
	if len(t.sources) > 1 {
		out.notes = append(out.notes, c.todo(t.n.get("sourceFields").path, "a Map task maps one field; only %s is used", src))
	}
	dest := t.dest
	if dest == "" {
		dest = src
	}
	var formula string
	var srcKind kind
	var notes []string
	if cp, ok := comps[src]; ok {
		cp.used = true
		formula, srcKind, notes = cp.formula, cp.kind, cp.notes
	} else {
		formula = fieldRef(src)
		srcKind = kindOf(t.prop("SOURCE_DATA_TYPE"))
		if srcKind == kUnknown {
			srcKind = types[src]
		}
	}
	if dk := kindOf(t.prop("DESTINATION_DATA_TYPE")); dk != kUnknown && dk != srcKind {
		formula = dk.cast() + "(" + formula + ")"
	} else if t.prop("DESTINATION_DATA_TYPE") != "" && dk == kUnknown {
		out.mapNotes = append(out.mapNotes, c.todo(t.propPath("DESTINATION_DATA_TYPE"), "unknown destination type %q; %s is not cast", t.prop("DESTINATION_DATA_TYPE"), dest))
	}
	c.addMapField(out, dest, formula, t.n.get("destinationField").path, notes, renames)
}

func (c *converter) maskTask(t task, out *taskOut) {
	field := t.field()
	if field == "" {
		out.notes = append(out.notes, c.todo(t.n.get("sourceFields").path, "a Mask task without a source field is left out"))
		return
	}
	char, problem := maskChar(t.prop("MASK_VALUE"))
	b := hclwrite.NewBlock("mask", []string{field})
	body := b.Body()
	if problem != "" {
		comment(body, c.todo(t.propPath("MASK_VALUE"), "%s", problem))
	}
	if t.dest != "" && t.dest != field {
		comment(body, c.todo(t.n.get("destinationField").path, "the Mask task writes to %q; sluice masks %s in place", t.dest, field))
	}
	switch t.op {
	case "MASK_ALL":
		if l := t.prop("MASK_LENGTH"); l != "" {
			comment(body, c.todo(t.propPath("MASK_LENGTH"), "MASK_LENGTH %s with MASK_ALL: sluice masks every character and keeps the value's length", l))
		}
		body.SetAttributeValue("char", cty.StringVal(char))
	case "MASK_FIRST_N", "MASK_LAST_N":
		n, err := strconv.Atoi(strings.TrimSpace(t.prop("MASK_LENGTH")))
		if err != nil || n < 0 {
			out.notes = append(out.notes, c.todo(t.propPath("MASK_LENGTH"), "%s needs a MASK_LENGTH (got %q); the mask is left out", t.op, t.prop("MASK_LENGTH")))
			return
		}
		f, _ := maskFormula(t.op, field, n, char)
		which := "first"
		if t.op == "MASK_LAST_N" {
			which = "last"
		}
		comment(body, fmt.Sprintf("%s: hide the %s %d characters (keep_first/keep_last count the visible ones).", t.op, which, n))
		body.SetAttributeValue("formula", cty.StringVal(f))
	default:
		out.notes = append(out.notes, c.todo(t.opPath, "unknown mask operator %q; the mask is left out", t.op))
		return
	}
	out.edits = append(out.edits, b)
}

func (c *converter) validateTask(t task, types map[string]kind, out *taskOut) {
	field := t.field()
	if field == "" {
		out.notes = append(out.notes, c.todo(t.n.get("sourceFields").path, "a Validate task without a source field is left out"))
		return
	}
	k := kindOf(t.prop("DATA_TYPE"))
	if k == kUnknown {
		k = types[field]
	}
	f, err := validateFormula(t.op, field, k)
	if err != nil {
		out.notes = append(out.notes, c.todo(t.opPath, "%v; the validation is left out", err))
		return
	}
	b := hclwrite.NewBlock("validate", nil)
	body := b.Body()
	onFail := "fail"
	switch action := t.props["VALIDATION_ACTION"]; action.text() {
	case "DropRecord":
		onFail = "drop"
	case "DropDataset":
	default:
		comment(body, c.todo(action.path, "unknown VALIDATION_ACTION %q; the run fails instead", action.text()))
	}
	body.SetAttributeValue("check", cty.StringVal(f))
	body.SetAttributeValue("on_fail", cty.StringVal(onFail))
	body.SetAttributeValue("message", cty.StringVal(fmt.Sprintf("%s failed for %s", t.op, field)))
	out.validates = append(out.validates, b)
}

// write appends the tasks to a flow body in sluice's order.
func (o *taskOut) write(body *hclwrite.Body) {
	for _, n := range o.notes {
		comment(body, n)
	}
	if len(o.notes) > 0 {
		body.AppendNewline()
	}
	for _, group := range [][]*hclwrite.Block{o.filters, o.validates, o.edits} {
		for _, b := range group {
			body.AppendBlock(b)
			body.AppendNewline()
		}
	}
	if o.mapAll || len(o.mapFields) > 0 {
		b := body.AppendNewBlock("map", nil)
		mb := b.Body()
		for _, n := range o.mapNotes {
			comment(mb, n)
		}
		if o.mapAll {
			mb.SetAttributeValue("all", cty.True)
			if len(o.mapExcept) > 0 {
				mb.SetAttributeValue("except", stringList(o.mapExcept))
			}
		}
		for _, f := range o.mapFields {
			for _, cm := range f.comments {
				comment(mb, cm)
			}
			mb.SetAttributeValue(f.name, cty.StringVal(f.formula))
		}
		for _, p := range o.passthru {
			if o.mapAll || hasField(o.mapFields, p) || !hclsyntax.ValidIdentifier(p) {
				continue
			}
			comment(mb, fmt.Sprintf("Passthrough of %s.", p))
			mb.SetAttributeValue(p, cty.StringVal(fieldRef(p)))
		}
		body.AppendNewline()
	} else if len(o.passthru) > 0 {
		comment(body, fmt.Sprintf("Passthrough of %s: fields pass through unchanged.", strings.Join(o.passthru, ", ")))
		body.AppendNewline()
	}
	if o.partition != nil {
		body.AppendBlock(o.partition)
		body.AppendNewline()
	}
}

func hasField(fields []*mapField, name string) bool {
	for _, f := range fields {
		if f.name == name {
			return true
		}
	}
	return false
}
