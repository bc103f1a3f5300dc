package sdk

import (
	"context"
	"errors"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// ErrUnsupported is returned by a connector for a role it does not play.
// Over the wire it becomes gRPC's Unimplemented code, and back again.
var ErrUnsupported = errors.New("unsupported by this connector")

// AttributeError is a bad value of one attribute of a source or sink
// block; the engine places its diagnostic on that attribute's line. Over
// the wire it travels as InvalidArgument with the attribute in a
// BadRequest field violation, and comes back as an AttributeError.
type AttributeError struct {
	// Attribute names the attribute, optionally followed by a path into
	// it: "columns", "schema.amount".
	Attribute string
	Err       error
}

func (e *AttributeError) Error() string { return e.Attribute + ": " + e.Err.Error() }
func (e *AttributeError) Unwrap() error { return e.Err }

// Name is the top-level attribute: "schema" for "schema.amount".
func (e *AttributeError) Name() string {
	name, _, _ := strings.Cut(e.Attribute, ".")
	return name
}

// ErrorDiagnostics turns err into diagnostics for CheckWrite and the like:
// one error placed on its attribute when err is (or wraps) an
// AttributeError, else one on the whole block; nil for a nil err.
func ErrorDiagnostics(summary string, err error) Diagnostics {
	if err == nil {
		return nil
	}
	var bad *AttributeError
	if errors.As(err, &bad) {
		return Diagnostics{Errorf([]string{bad.Name()}, summary, "%s", err)}
	}
	return Diagnostics{Errorf(nil, summary, "%s", err)}
}

// Connector is what every plugin implements.
type Connector interface {
	// Spec describes the connector: name, version, roles and the
	// attributes its connection, source and sink blocks accept.
	Spec() Spec
	// Configure receives the evaluated connection block. Problems with
	// individual attributes are reported as diagnostics carrying the
	// attribute path, so the engine can point at the flow file.
	//
	// It may be called again on a running connector: a daemon keeps plugin
	// processes between runs and configures them before each. A later
	// call replaces what an earlier one set up (clients, caches, tokens),
	// so each run starts as it would in a new process.
	Configure(ctx context.Context, config Values) Diagnostics
}

// Checker is implemented by connectors that can test their connection.
type Checker interface {
	Check(ctx context.Context) error
}

// EntityLister is implemented by connectors that can enumerate what they
// can read or write (objects, tables, prefixes).
type EntityLister interface {
	ListEntities(ctx context.Context) ([]EntityInfo, error)
}

// EntityDescriber is implemented by connectors that can say what an entity
// looks like. Sources must implement it: the engine type-checks formulas
// against the schema it returns.
type EntityDescriber interface {
	DescribeEntity(ctx context.Context, req DescribeRequest) (Entity, error)
}

// Source reads records of one entity.
type Source interface {
	// Read sends record batches to out until the entity is exhausted or
	// ctx is cancelled. Batches must respect req.Limits; the transport
	// splits oversized ones but never drops them.
	Read(ctx context.Context, req ReadRequest, out RecordSender) error
}

// RecordSender is the channel a Source reads into.
type RecordSender interface {
	// Send delivers one batch. The sender takes no ownership: the caller
	// may release rec after Send returns.
	Send(rec arrow.RecordBatch) error
	// Checkpoint records that everything sent before it can be resumed
	// from position. The engine stores it only after every sink has
	// durably committed those records.
	Checkpoint(position []byte) error
	// Reject reports input that could not become a record (a malformed
	// CSV row, say). The engine fails the run or dead-letters it,
	// depending on the flow's error policy.
	Reject(bad BadRecord) error
	// Progress reports how far the read has come, for display only.
	Progress(p Progress) error
}

// Partitioner is implemented by sources whose reads split into parts that
// can be read independently and in any order, by any process: S3 objects,
// Salesforce Bulk result pages. Reading every partition yields exactly the
// records of one unpartitioned Read with the same request, in the schema
// DescribeEntity gives.
//
// A source that implements it lists CapPartitions in its Spec, which is
// what the engine goes by: a plugin's client implements every role.
// Unimplemented does not provide it. A source may decline to split one
// particular read with an error wrapping ErrUnsupported (the engine then
// reads it whole). Checkpoints sent by the Read of a partition mean
// nothing to the engine, so sources need not send them.
type Partitioner interface {
	Partitions(ctx context.Context, req ReadRequest) ([]Partition, error)
}

// Sink writes records into one entity.
type Sink interface {
	OpenWriter(ctx context.Context, req WriteRequest) (Writer, error)
}

// Writer receives the batches of one write stream.
type Writer interface {
	// Write takes one batch. Rows the destination refused are returned
	// with their reasons; every other row counts as accepted (but not yet
	// durable). An error aborts the whole stream.
	Write(ctx context.Context, rec arrow.RecordBatch) (WriteResult, error)
	// Commit makes everything accepted so far durable. The engine advances
	// checkpoints only after every sink's Commit returned nil.
	//
	// A destination may refuse rows only once they are loaded (a bulk
	// load's per-row errors), after the engine has let go of the batches.
	// When the request allowed it (WriteRequest.RejectOnCommit), Commit
	// returns such rows in CommitResult.Rejected, carrying their content:
	// they count as rejected, not written, and the commit still makes
	// every other row durable. Otherwise Commit fails and commits nothing.
	Commit(ctx context.Context) (CommitResult, error)
	// Close releases resources. If Commit was not called since the last
	// Write, Close must discard the uncommitted data rather than publish
	// it half written.
	Close(ctx context.Context) error
}

// WriteChecker is implemented by sinks that can tell, before anything is
// read, whether a write would be accepted: the entity exists, the records'
// fields match it, the key is usable. `sluice validate` and `plan` call it,
// so a wrong table or field is a diagnostic on the flow file rather than a
// failed run. Diagnostics' paths name sink attributes ("object",
// "external_id_field"), or a record field as [RecordFieldPath, name], which
// the engine places on the task that produced the field; without a path
// they are placed on the sink block.
type WriteChecker interface {
	CheckWrite(ctx context.Context, req WriteRequest) Diagnostics
}

// RecordFieldPath starts a diagnostic path that names a record field
// rather than a block attribute.
const RecordFieldPath = "@field"

// EventSource delivers change events (Salesforce CDC, new S3 objects).
type EventSource interface {
	Subscribe(ctx context.Context, req SubscribeRequest, out EventSender) error
}

// EventSender is the channel an EventSource publishes into.
type EventSender interface {
	// Send delivers a batch of events; position is the replay position
	// after the last event in the batch. rec may be nil to move the
	// position without events (a keep-alive that carries the latest
	// replay id). The sender takes no ownership of rec.
	Send(rec arrow.RecordBatch, position []byte) error
	// Reject reports input that could not become a record (a malformed
	// row in a new object, say), which the engine dead-letters or fails
	// the run on, as for reads. It belongs to the events sent after it.
	Reject(bad BadRecord) error
	// Acked returns positions the engine has durably delivered, in order.
	Acked() <-chan []byte
}

// Unimplemented answers ErrUnsupported for every optional role. Embed it in
// a connector to implement only the roles it plays.
type Unimplemented struct{}

func (Unimplemented) Check(context.Context) error { return nil }
func (Unimplemented) ListEntities(context.Context) ([]EntityInfo, error) {
	return nil, ErrUnsupported
}
func (Unimplemented) DescribeEntity(context.Context, DescribeRequest) (Entity, error) {
	return Entity{}, ErrUnsupported
}
func (Unimplemented) Read(context.Context, ReadRequest, RecordSender) error { return ErrUnsupported }
func (Unimplemented) OpenWriter(context.Context, WriteRequest) (Writer, error) {
	return nil, ErrUnsupported
}
func (Unimplemented) Subscribe(context.Context, SubscribeRequest, EventSender) error {
	return ErrUnsupported
}
