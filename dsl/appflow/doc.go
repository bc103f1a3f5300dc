// Package appflow converts Amazon AppFlow flow definitions into sluice flow
// files, for `sluice import appflow`.
//
// Start at [Convert]. It reads a CreateFlow request, a DescribeFlow
// response, or a CloudFormation template (or single resource) of type
// AWS::AppFlow::Flow into one internal model — keys are matched without
// regard to case, so the API's camelCase and CloudFormation's PascalCase
// read alike — and writes HCL with hclwrite, so the output is already in
// `sluice fmt` form.
//
// AppFlow's tasks become sluice blocks in the order sluice runs them:
// source filters (PROJECTION becomes the source's fields list, the other
// filter operators one filter block each), validations, masks and
// truncations of source fields, then one map block for every Map, Map_all,
// Merge and Arithmetic task, and the partition keys, which name
// destination fields. Merge and Arithmetic results travel under a
// temporary destination field ("a,b") to a Map task, as AppFlow's console
// and CDK write them; the converter inlines them into that Map's formula.
//
// Nothing is dropped silently: whatever has no exact sluice equivalent is
// returned as a [Finding] with its JSON path and marked in the output with
// a `# TODO(import): ...` comment where it applies.
//
// The package only writes text; `sluice validate` checks the formulas it
// produces against the real source schema.
package appflow
