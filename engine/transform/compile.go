package transform

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/sdk"
)

// Pipeline is a flow's tasks compiled against its input schema. It is
// immutable and safe to share between goroutines; each goroutine applies
// it through its own Runner.
type Pipeline struct {
	input  *arrow.Schema
	output *arrow.Schema
	stages []stage
	// nformulas sizes each Runner's env slots.
	nformulas int
	opts      options
}

// options are knobs for tests and benchmarks, not for flows.
type options struct {
	// rowPath forces every formula onto the per-row VM, so tests can
	// compare the two paths and benchmarks can measure the difference.
	rowPath bool
}

// StageInfo describes one compiled task, for `sluice plan` and logs.
type StageInfo struct {
	Kind   string
	Range  hcl.Range
	Output *arrow.Schema
	// Vectorized is true if all the task's formulas run on the column path.
	Vectorized bool
}

// stage is one task ready to run.
type stage interface {
	info() StageInfo
	// run applies the stage to in and returns the new batch (which may
	// share in's columns; it never releases in) and the rows that failed.
	run(c *stageRun) (arrow.RecordBatch, error)
}

// Compile checks tasks, in order, against the input schema and returns
// the pipeline, or error diagnostics placed on the flow file. Each task is
// checked against the schema the task before it produces, so an unknown
// field is reported where it is used, not where the data came from.
func Compile(tasks []plan.Task, input *arrow.Schema) (*Pipeline, hcl.Diagnostics) {
	return compile(tasks, input, options{})
}

func compile(tasks []plan.Task, input *arrow.Schema, opts options) (*Pipeline, hcl.Diagnostics) {
	if input == nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No input schema",
			Detail: "The tasks cannot be checked without the source's schema (a bug in the caller)."}}
	}
	p := &Pipeline{input: input, opts: opts}
	c := &compiler{p: p}
	var diags hcl.Diagnostics
	schema := input
	for _, t := range tasks {
		st, out, d := c.task(t, schema)
		diags = append(diags, d...)
		if d.HasErrors() || st == nil {
			// Later tasks would be checked against a schema we could not
			// work out and report noise; stop at the first broken task.
			return nil, diags
		}
		p.stages = append(p.stages, st)
		schema = out
	}
	p.output = schema
	return p, diags
}

// OutputSchema is the schema of the batches Apply returns.
func (p *Pipeline) OutputSchema() *arrow.Schema { return p.output }

// Stages describes the compiled tasks, one per task, in order.
func (p *Pipeline) Stages() []StageInfo {
	out := make([]StageInfo, len(p.stages))
	for i, s := range p.stages {
		out[i] = s.info()
	}
	return out
}

type compiler struct {
	p *Pipeline
}

func (c *compiler) formula(f plan.Formula, s *scope, w want, what string) (*formula, hcl.Diagnostics) {
	fm, diags := compileFormula(f, s, w, what)
	if fm != nil {
		fm.slot = c.p.nformulas
		c.p.nformulas++
	}
	return fm, diags
}

// taskName is how messages and dead letters name a task: its kind and
// where it is declared.
func taskName(t plan.Task) string {
	r := t.DeclRange()
	if r.Filename == "" {
		return fmt.Sprintf("%s (line %d)", t.Kind(), r.Start.Line)
	}
	return fmt.Sprintf("%s (%s:%d)", t.Kind(), r.Filename, r.Start.Line)
}

func taskDiag(t plan.Task, summary, detail string) hcl.Diagnostics {
	return diagAt(t.DeclRange(), summary, detail)
}

// diagAt is a diagnostic on the tightest range known: an attribute or a
// label from the task's plan.Where, else the block.
func diagAt(r hcl.Range, summary, detail string) hcl.Diagnostics {
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &r}}
}

func (c *compiler) task(t plan.Task, in *arrow.Schema) (stage, *arrow.Schema, hcl.Diagnostics) {
	base := baseStage{name: taskName(t), kind: t.Kind(), rng: t.DeclRange(), in: in, change: ChangeColumn(in)}
	s := newScope(in)
	switch t := t.(type) {
	case *plan.Filter:
		fm, d := c.formula(t.Where, s, wantBool, "where")
		if fm == nil {
			return nil, nil, d
		}
		base.out = in
		return &filterStage{baseStage: base, where: fm}, in, d
	case *plan.Validate:
		return c.validate(base, t, s)
	case *plan.Map:
		return c.mapTask(base, t, s)
	case *plan.Mask:
		return c.mask(base, t, s)
	case *plan.Truncate:
		return c.truncate(base, t, s)
	case *plan.Partition:
		for _, k := range t.Keys {
			if _, ok := s.index[k]; !ok {
				return nil, nil, diagAt(t.Loc.At("keys", t.Range), "Unknown partition key",
					fmt.Sprintf("The partition key %q is not a field at this point in the flow.%s Fields here: %s.", k, suggest(k, s.fieldNames()), listNames(s.fieldNames())))
			}
		}
		base.out = in
		return &partitionStage{base}, in, nil
	case nil:
		return nil, nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Missing task", Detail: "A nil task was passed to the compiler (a bug in the caller)."}}
	}
	return nil, nil, taskDiag(t, "Unsupported task", fmt.Sprintf("The task kind %q is not supported; use filter, map, mask, truncate, validate or partition.", t.Kind()))
}

func (c *compiler) validate(base baseStage, t *plan.Validate, s *scope) (stage, *arrow.Schema, hcl.Diagnostics) {
	switch t.OnFail {
	case plan.OnFailDrop, plan.OnFailFail, plan.OnFailDeadLetter:
	case "":
		t2 := *t
		t2.OnFail = plan.OnFailFail // the safe default: nothing vanishes unnoticed
		t = &t2
	default:
		return nil, nil, diagAt(t.Loc.At("on_fail", t.Range), "Invalid on_fail",
			fmt.Sprintf("on_fail = %q is not valid; use \"drop\", \"fail\" or \"dead_letter\".", t.OnFail))
	}
	fm, d := c.formula(t.Check, s, wantBool, "check")
	if fm == nil {
		return nil, nil, d
	}
	msg := t.Message
	if msg == "" {
		msg = fmt.Sprintf("check failed: %s", t.Check.Text)
	}
	base.out = s.schema
	return &validateStage{baseStage: base, check: fm, onFail: t.OnFail, message: msg}, s.schema, d
}

func (c *compiler) mapTask(base baseStage, t *plan.Map, s *scope) (stage, *arrow.Schema, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	except := map[string]bool{}
	for _, e := range t.Except {
		if _, ok := s.index[e]; !ok {
			diags = append(diags, diagAt(t.Loc.At("except", t.Range), "Unknown field in except",
				fmt.Sprintf("except names %q, which is not a field at this point in the flow.%s Fields here: %s.", e, suggest(e, s.fieldNames()), listNames(s.fieldNames())))...)
		}
		except[e] = true
	}
	if len(t.Except) > 0 && !t.All {
		diags = append(diags, diagAt(t.Loc.At("except", t.Range), "except without all",
			"except only makes sense with all = true (it removes fields from the carried set); without all, list the fields you want instead.")...)
	}
	if !t.All && len(t.Fields) == 0 {
		diags = append(diags, taskDiag(t, "Empty map",
			"This map produces no fields. List output fields (name = \"formula\"), or set all = true to carry the input through.")...)
	}
	var cols []mapCol
	pos := map[string]int{}
	if t.All {
		for i, f := range s.schema.Fields() {
			if except[f.Name] {
				continue
			}
			pos[f.Name] = len(cols)
			cols = append(cols, mapCol{field: f, carry: i})
		}
	}
	defined := map[string]bool{}
	for _, mf := range t.Fields {
		if mf.Name == "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Empty field name", Detail: "Map output fields need a name.", Subject: mf.Formula.Range.Ptr()})
			continue
		}
		if defined[mf.Name] {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate map field",
				Detail: fmt.Sprintf("The field %q is defined twice in this map; keep one.", mf.Name), Subject: mf.Formula.Range.Ptr()})
			continue
		}
		defined[mf.Name] = true
		fm, d := c.formula(mf.Formula, s, wantValue, fmt.Sprintf("map field %q", mf.Name))
		diags = append(diags, d...)
		if fm == nil {
			continue
		}
		col := mapCol{field: arrow.Field{Name: mf.Name, Type: fm.outType, Nullable: fm.nullable}, carry: -1, fm: fm}
		if fm.passthrough >= 0 {
			// A bare field reference keeps the source field's metadata.
			src := s.schema.Field(fm.passthrough)
			col.field = arrow.Field{Name: mf.Name, Type: src.Type, Nullable: src.Nullable, Metadata: src.Metadata}
		}
		// An output that names a carried field replaces it in place, so
		// `map { all = true  email = "lower(email)" }` keeps the column order.
		if i, ok := pos[mf.Name]; ok {
			cols[i] = col
		} else {
			pos[mf.Name] = len(cols)
			cols = append(cols, col)
		}
	}
	if diags.HasErrors() {
		return nil, nil, diags
	}
	if _, named := pos[sdk.ChangeTypeField]; !named && base.change >= 0 {
		// Without it a sink could not tell a deletion from a record.
		cols = append(cols, mapCol{field: s.schema.Field(base.change), carry: base.change})
	}
	fields := make([]arrow.Field, len(cols))
	for i, col := range cols {
		fields[i] = col.field
	}
	meta := s.schema.Metadata()
	out := arrow.NewSchema(fields, &meta)
	base.out = out
	return &mapStage{baseStage: base, cols: cols}, out, diags
}

// stringField finds a string field for mask and truncate; at is the
// block label that names it.
func stringField(at hcl.Range, s *scope, name, verb string) (int, hcl.Diagnostics) {
	i, ok := s.index[name]
	if !ok {
		return -1, diagAt(at, "Unknown field",
			fmt.Sprintf("%s names %q, which is not a field at this point in the flow.%s Fields here: %s.", verb, name, suggest(name, s.fieldNames()), listNames(s.fieldNames())))
	}
	if !isStringType(s.schema.Field(i).Type) {
		return -1, diagAt(at, "Field is not a string",
			fmt.Sprintf("%s works on strings, but %q has type %s. Convert it first with a map: %s = \"string(%s)\"; or, for mask, use formula = \"...\".", verb, name, s.schema.Field(i).Type, name, name))
	}
	return i, nil
}

func (c *compiler) mask(base baseStage, t *plan.Mask, s *scope) (stage, *arrow.Schema, hcl.Diagnostics) {
	st := &maskStage{baseStage: base, char: "*", keepFirst: t.KeepFirst, keepLast: t.KeepLast, hash: strings.ToLower(t.Hash)}
	if t.Formula != nil {
		if t.Hash != "" || t.KeepFirst != 0 || t.KeepLast != 0 || t.Char != "" {
			return nil, nil, taskDiag(t, "Conflicting mask options",
				"A mask with a formula computes the whole value; remove hash, char, keep_first and keep_last, or drop the formula.")
		}
		i, ok := s.index[t.Field]
		if !ok {
			return nil, nil, diagAt(t.Loc.At("", t.Range), "Unknown field",
				fmt.Sprintf("mask names %q, which is not a field at this point in the flow.%s Fields here: %s.", t.Field, suggest(t.Field, s.fieldNames()), listNames(s.fieldNames())))
		}
		fm, d := c.formula(*t.Formula, s, wantValue, fmt.Sprintf("mask %q", t.Field))
		if fm == nil {
			return nil, nil, d
		}
		st.col, st.formula = i, fm
		out := replaceField(s.schema, i, arrow.Field{Name: t.Field, Type: fm.outType, Nullable: fm.nullable || s.schema.Field(i).Nullable})
		st.out = out
		return st, out, d
	}
	i, d := stringField(t.Loc.At("", t.Range), s, t.Field, "mask")
	if d.HasErrors() {
		return nil, nil, d
	}
	st.col = i
	switch {
	case t.KeepFirst < 0 || t.KeepLast < 0:
		return nil, nil, diagAt(t.Loc.At(negativeKeep(t), t.Range), "Invalid mask", "keep_first and keep_last count characters to leave visible; they cannot be negative.")
	case st.hash != "" && st.hash != "sha256" && st.hash != "md5":
		return nil, nil, diagAt(t.Loc.At("hash", t.Range), "Unknown hash", fmt.Sprintf("hash = %q is not supported; use \"sha256\" or \"md5\".", t.Hash))
	case st.hash != "" && (t.KeepFirst != 0 || t.KeepLast != 0 || t.Char != ""):
		return nil, nil, taskDiag(t, "Conflicting mask options", "A hashed mask replaces the whole value; remove char, keep_first and keep_last.")
	}
	if t.Char != "" {
		if utf8.RuneCountInString(t.Char) != 1 {
			return nil, nil, diagAt(t.Loc.At("char", t.Range), "Invalid mask character", fmt.Sprintf("char must be exactly one character, not %q.", t.Char))
		}
		st.char = t.Char
	}
	st.out = s.schema
	return st, s.schema, nil
}

func replaceField(s *arrow.Schema, i int, f arrow.Field) *arrow.Schema {
	fields := append([]arrow.Field(nil), s.Fields()...)
	f.Metadata = fields[i].Metadata
	fields[i] = f
	meta := s.Metadata()
	return arrow.NewSchema(fields, &meta)
}

func (c *compiler) truncate(base baseStage, t *plan.Truncate, s *scope) (stage, *arrow.Schema, hcl.Diagnostics) {
	i, d := stringField(t.Loc.At("", t.Range), s, t.Field, "truncate")
	if d.HasErrors() {
		return nil, nil, d
	}
	if t.Length < 0 {
		return nil, nil, diagAt(t.Loc.At("length", t.Range), "Invalid length", fmt.Sprintf("length must be zero or more characters, not %d.", t.Length))
	}
	base.out = s.schema
	return &truncateStage{baseStage: base, col: i, length: t.Length}, s.schema, nil
}

// negativeKeep names the mask attribute that is negative.
func negativeKeep(t *plan.Mask) string {
	if t.KeepFirst < 0 {
		return "keep_first"
	}
	return "keep_last"
}
