// Package transform compiles a flow's tasks (filter, map, mask, truncate,
// validate, partition) against an Arrow schema and applies them to record
// batches.
//
// Start at Compile: it checks every task in order against the schema the
// task before it produced, type-checks the expr formulas, and returns a
// Pipeline or hcl diagnostics placed on the offending token of the flow
// file. A Pipeline is immutable and shared; each goroutine makes its own
// Runner with NewRunner and calls Apply per batch.
//
// Siblings: package dsl parses HCL into the plan this package compiles
// (engine/plan holds that plain data); package engine runs flows, moving
// batches from source plugins through a Runner into sinks and deciding
// what to do with Result.Rejected and Result.Filtered.
//
// # Two evaluation paths
//
// Formulas are expr-lang expressions. Each one is compiled three ways:
// a column kernel, built by walking the checked AST, that evaluates whole
// Arrow columns with typed Go loops (comparisons, arithmetic, Kleene
// logic, null tests, `in`, the common string operators and functions; see
// planVec for the list), and two expr programs for the per-row fallback —
// the formula as written, run for rows whose fields are all present, and
// a null-safe rewrite (see nullPatcher) for rows with a null. A formula
// runs on the column path only if every node in it has a kernel; the two
// paths must agree exactly, nulls and errors included, which a property
// test checks over random batches. StageInfo.Vectorized reports which
// path a task takes. A boolean formula that must run per row still uses
// kernels for the leading conjuncts of a top-level && chain: rows they
// make false never reach the VM, just as the VM would short-circuit.
//
// # Types
//
// Formulas see int for every Arrow integer type, float64 for floats and
// decimals, string for utf8, large_utf8, string_view and dictionaries of
// strings, bool, and time.Time (UTC) for timestamps and dates. Columns of
// other types pass through tasks untouched (and a map field naming one
// copies it) but cannot be read by formulas. A field whose name is not an
// identifier is read as $env["First Name"].
// Computed map fields get int64, float64, utf8, bool or timestamp[us, UTC];
// a map field that is a bare field reference keeps its source type.
//
// # Null semantics
//
// A null field is nil in a formula. The rules are SQL's, with `nil` as the
// spelling of NULL:
//
//   - `x == nil` is true when x is null and `x != nil` when it is not;
//     these, is_null(x) and coalesce(...) are how formulas test for null.
//   - Any other comparison with a null operand is null: `x > 1`, `x == 1`,
//     `x != 1` and `x == y` with both null are all null, not false.
//   - Arithmetic, string operators (+, contains, startsWith, endsWith,
//     matches), `x in [...]`, unary - and ! on a null give null.
//   - && and || are three-valued (Kleene): false && null is false,
//     true || null is true, true && null and false || null are null. They
//     short-circuit like expr: when the left side decides, the right side
//     is not evaluated, so `x != nil && int(x) > 0` is safe.
//   - `c ? a : b` with c null takes b, like SQL's CASE.
//   - Functions return null when an argument is null, except coalesce
//     (first non-null argument), is_null, and concat, which skips nulls
//     like PostgreSQL's concat().
//   - A filter keeps a row only when its where is true: false and null
//     both drop it. A validate passes a row only when its check is true:
//     a null check fails (a gate must not let unknown values through;
//     write `x == nil || ...` to accept nulls explicitly). Unlike SQL's
//     CHECK constraint, which passes null.
//   - A computed map field is null where its formula is null; mask and
//     truncate leave null values null.
//
// # Errors
//
// A formula that fails on a row (int("abc"), x % 0, a bad time layout) is
// an error for that row only. Apply with continueOnError turns it into a
// Rejected entry naming the task and the reason; without, Apply returns a
// *RowError naming the task, the row and its values. Diagnostics from
// Compile are for problems visible without data.
package transform
