// Package plan holds the typed, validated description of flows that the
// dsl package produces from HCL files and the engine executes.
//
// It is plain data: no parsing (see package dsl), no evaluation (see
// engine/transform for tasks and package engine for runs). Every element
// keeps the source range it came from, so later stages can report problems
// against the flow file.
package plan
