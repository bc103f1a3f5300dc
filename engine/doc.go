// Package engine runs flows: it opens the connectors a flow names, checks
// the flow against the source's schema, and moves Arrow record batches from
// the source through the tasks into every sink.
//
// Start with [Prepare], which turns a plan.Flow into a [Prepared] flow
// (connectors started and configured, schemas resolved, formulas compiled);
// then [Prepared.Run], [Prepared.Preview] or [Prepared.Describe] for
// `sluice plan`, and [Prepared.Close] to give the connectors back to the
// plugin host (whose pool may keep them warm for the next run). Stages are joined by bounded channels, so a slow sink slows
// the source and memory stays flat however much data moves. A checkpoint is
// saved only after every sink has committed everything before it.
//
// Siblings: engine/pluginhost starts plugin processes, engine/transform
// compiles and applies tasks, engine/plan is the data this package
// consumes, and package dsl produces it from HCL.
package engine
