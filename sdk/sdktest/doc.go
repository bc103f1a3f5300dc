// Package sdktest is the conformance kit for connector plugins. Every
// connector's tests call [Run]: it checks the spec, then drives the
// connector's source and sink roles twice — once directly and once through
// the real protocol (sdk/rpc over gRPC on a unix socket, as go-plugin runs
// it) — for schema agreement, batch caps, large batches, rejected rows,
// commit semantics (rows refused at commit too, see [CommitRejectCase]) and
// cancellation. A source that declares sdk.CapPartitions is also read
// partition by partition: together the partitions must give the rows and
// rejections of one whole read, in the described schema, and a partition
// read again the same rows (see [SourceCase.MinPartitions]).
//
// [Pipe] gives a connector's own tests the same over-the-wire client.
// Package sdk/serve is what a plugin's main calls instead.
package sdktest
