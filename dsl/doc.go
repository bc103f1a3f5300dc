// Package dsl loads flow files written in HCL into the typed plan the
// engine runs.
//
// Start with [Load]: it parses one .hcl file, or every .hcl file of a
// directory as one configuration (the way Terraform reads a module), resolves
// input variables, evaluates the HCL expressions (env(), file(), var.<name>,
// connection.<type>.<name>) once, checks every connector block against the
// connector's declared [sdk.Spec], and returns a [plan.Config] together with
// hcl.Diagnostics that point at a file, line and column. [Format] rewrites a
// file in canonical layout for `sluice fmt`.
//
// What this package leaves to its siblings:
//
//   - engine/plan holds the output types. The dsl fills them and nothing else;
//     it never runs anything.
//   - engine/transform compiles formulas (where, check, map fields, mask
//     formulas) against the source entity's schema. The dsl only checks that a
//     formula is a plain string, and records its text together with the range
//     of the string's contents, so a column in a formula error maps back to a
//     column in the file.
//   - Connector plugins never see HCL: the dsl evaluates each source, sink and
//     connection block on their behalf and hands over plain sdk.Values.
//
// The loader walks the native-syntax tree (hclsyntax) rather than decoding
// with a fixed hcl.BodySchema, because flows need things a schema cannot say:
// a sink label that may be left out, map fields kept in the order written,
// tasks kept in block order, and one consistent style of diagnostic (short
// Summary, a Detail that says how to fix it, the tightest Subject range).
//
// Loading is phased so that every reference points backwards: variables
// first, then connections (which may use var.*), then flows (which may use
// var.* and connection.*). A diagnostic in one block never stops the others
// from loading; the result is partial but safe to inspect.
package dsl
