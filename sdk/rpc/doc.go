// Package rpc carries the sdk's Go-native connector interfaces across a
// process boundary: protocol v1 (package sdk/protocol/sluicev1) over
// go-plugin's gRPC connection.
//
// Start with [NewServer] (plugin side: wraps an sdk.Connector as a gRPC
// service) and [Client] (host side: implements every sdk role interface by
// calling the plugin). [Handshake] and [Plugin] are the go-plugin glue that
// sdk/serve and the engine's plugin host share.
//
// Record batches cross as one Arrow IPC stream per gRPC stream: the schema
// message once, then one data message per batch, so nothing is re-encoded
// per batch. Batches over the row or byte caps are sliced (zero-copy)
// before sending, never dropped.
//
// Data messages go through a gRPC codec of this package (installed by
// [ServerOptions] on the plugin side and per call on the host side): the
// sender hands gRPC the batch's own Arrow buffers, and the receiver copies
// gRPC's frames once, into the body the batch then uses. The bytes are the
// standard protobuf encoding of the same messages, so either side works
// with a peer built on gRPC's stock codec; only the copies differ.
//
// A sink's stream is pipelined: the host sends the next batches before the
// plugin has answered the last (Send and Await on the host's writer), and
// the plugin answers each in order. With shared memory (Client.SharedMemory)
// large bodies lie in a ring both processes map, and only their place
// crosses the socket. Each end of a connection keeps a ring (and the other
// end's mapping) for the connection's next stream: see shmSession.
//
// Errors keep their meaning across: sdk.ErrUnsupported, cancellation and
// sdk.AttributeError map to gRPC codes (and a BadRequest detail) and back;
// a plugin that crashes or goes silent becomes a [PluginFailure].
//
// Plugin authors do not import this package; they call serve.Serve.
package rpc
