package transform

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/expr-lang/expr/vm"
)

// ErrValidationFailed is wrapped by the error Apply returns when a
// validate task with on_fail = "fail" refuses a record.
var ErrValidationFailed = errors.New("validation failed")

// Result is what one Apply call produced.
type Result struct {
	// Out holds the surviving rows in OutputSchema; nil if every row was
	// filtered or rejected. The caller releases it.
	Out arrow.RecordBatch
	// Filtered counts rows removed by filter tasks and by validate tasks
	// with on_fail = "drop".
	Filtered int
	// Rejected lists rows removed by validate tasks with
	// on_fail = "dead_letter", and rows whose formulas failed to evaluate
	// when Apply was told to continue on error.
	Rejected []Rejected
}

// Rejected is one refused row, ready for the dead-letter location.
type Rejected struct {
	Task   string // e.g. "validate (flows/x.hcl:12)"
	Reason string
	// Record is the row's values as the refusing task saw them.
	Record map[string]any
}

// RowError is the error Apply returns when a row stops the run: a failed
// validate with on_fail = "fail", or a formula that could not be evaluated
// when not continuing on error. It unwraps to the cause
// (ErrValidationFailed for validation).
type RowError struct {
	Task   string
	Row    int // row index within the batch the task received
	Record map[string]any
	Err    error
	// fields keeps the schema order for the message.
	fields []string
}

func (e *RowError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: row %d: %v; record {", e.Task, e.Row, e.Err)
	for i, f := range e.fields {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %s", f, formatValue(e.Record[f]))
	}
	b.WriteString("}")
	return b.String()
}

func (e *RowError) Unwrap() error { return e.Err }

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		const max = 200 // one huge field should not flood a log line
		if len(x) > max {
			return fmt.Sprintf("%q…", x[:max])
		}
		return fmt.Sprintf("%q", x)
	}
	return fmt.Sprint(v)
}

// Runner applies a Pipeline on one goroutine. It keeps the expr VM and
// the per-formula environments between batches so the per-row path does
// not allocate them per row or per batch.
type Runner struct {
	p     *Pipeline
	vm    vm.VM
	envs  []map[string]any
	arena arena
}

// NewRunner returns a Runner; use one per goroutine.
func (p *Pipeline) NewRunner() *Runner {
	return &Runner{p: p, envs: make([]map[string]any, p.nformulas)}
}

func (r *Runner) env(fm *formula) map[string]any {
	e := r.envs[fm.slot]
	if e == nil {
		e = make(map[string]any, len(fm.refs))
		r.envs[fm.slot] = e
	}
	return e
}

// Apply runs every stage over rec. It neither retains nor releases rec.
// With continueOnError, rows whose formulas fail become Rejected entries;
// without, the first such row ends Apply with a *RowError. A validate task
// with on_fail = "fail" always ends Apply at its first refused row.
func (r *Runner) Apply(ctx context.Context, rec arrow.RecordBatch, continueOnError bool) (Result, error) {
	var res Result
	if err := r.checkSchema(rec.Schema()); err != nil {
		return res, err
	}
	cur := rec
	owned := false // whether cur is ours to release
	drop := func() {
		if owned {
			cur.Release()
		}
	}
	for _, st := range r.p.stages {
		if err := ctx.Err(); err != nil {
			drop()
			return Result{}, fmt.Errorf("applying tasks: %w", err)
		}
		next, err := st.run(&stageRun{ctx: ctx, r: r, rec: cur, res: &res, cont: continueOnError})
		r.arena.reset()
		drop()
		if err != nil {
			return Result{}, err
		}
		cur, owned = next, true
		if cur.NumRows() == 0 {
			cur.Release()
			return res, nil
		}
	}
	if !owned {
		cur = sameColumns(rec)
	}
	res.Out = cur
	return res, nil
}

// checkSchema makes sure rec has the columns the pipeline was compiled
// for: stages address columns by position.
func (r *Runner) checkSchema(got *arrow.Schema) error {
	want := r.p.input
	if got.NumFields() != want.NumFields() {
		return fmt.Errorf("record batch has %d fields, the tasks were compiled for %d (%s)", got.NumFields(), want.NumFields(), strings.Join(fieldNames(want), ", "))
	}
	for i, f := range want.Fields() {
		g := got.Field(i)
		if g.Name != f.Name || !arrow.TypeEqual(g.Type, f.Type) {
			return fmt.Errorf("record batch field %d is %s %s, the tasks were compiled for %s %s", i, g.Name, g.Type, f.Name, f.Type)
		}
	}
	return nil
}
