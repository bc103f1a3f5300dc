// Package sdk is the public, stable API that sluice connector plugins are
// written against.
//
// Start with [Connector]: every plugin implements it, then adds the role
// interfaces it supports — [Source] to read records, [Sink] to write them,
// [EntityLister] and [EntityDescriber] to expose what it can reach,
// [Checker] for a connection test, [EventSource] for change events and
// [Partitioner] to split a read for several processes. Embed
// [Unimplemented] to get "unsupported" answers for the roles you skip.
//
// Return [ErrUnsupported] for what a connector cannot do and an
// [AttributeError] for a bad attribute value, so the engine's diagnostic
// lands on that attribute's line; Configure reports per-attribute
// [Diagnostics] itself.
//
// Records travel as Apache Arrow record batches. A plugin's main function is
// one call to serve.Serve (package sdk/serve); sdk/sdktest holds the
// conformance kit every connector's tests should run. The wire protocol that
// carries these types between processes lives in sdk/rpc and
// sdk/protocol/sluicev1; plugin authors never need to import either.
package sdk
