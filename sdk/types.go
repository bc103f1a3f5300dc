package sdk

import (
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// Capability names a role a connector plays.
type Capability string

const (
	CapSource   Capability = "source"
	CapSink     Capability = "sink"
	CapEntities Capability = "entities"
	CapEvents   Capability = "events"
	CapCheck    Capability = "check"
	// CapPartitions: the source implements Partitioner.
	CapPartitions Capability = "partitions"
)

// Spec describes a connector.
type Spec struct {
	Name         string
	Version      string
	Description  string
	Capabilities []Capability
	// Connection lists the attributes of `connection "<name>" "<label>"`.
	// Connectors that need no connection block leave it empty.
	Connection ConfigSchema
	// Source and Sink list the attributes of the source and sink blocks
	// besides the ones the engine owns (connection, fields, write, key).
	Source ConfigSchema
	Sink   ConfigSchema
	// Events lists the attributes of a flow's `trigger "event"` block
	// besides the ones the engine owns (batch_size, batch_window), for
	// connectors with CapEvents. They reach Subscribe in
	// SubscribeRequest.Options, after the source block's.
	Events ConfigSchema
}

// Has reports whether the spec declares capability c.
func (s Spec) Has(c Capability) bool {
	for _, have := range s.Capabilities {
		if have == c {
			return true
		}
	}
	return false
}

// AttrType is the type of a config attribute.
type AttrType string

const (
	TypeString     AttrType = "string"
	TypeInt        AttrType = "int"
	TypeFloat      AttrType = "float"
	TypeBool       AttrType = "bool"
	TypeStringList AttrType = "list(string)"
	TypeStringMap  AttrType = "map(string)"
)

// Attribute describes one config attribute.
type Attribute struct {
	Name        string
	Type        AttrType
	Required    bool
	Sensitive   bool // never logged, planned or stored in run history
	Description string
	Default     any
	// Entity marks the attribute that names the entity to read or write
	// (object, table, path). At most one per block.
	Entity bool
}

// ConfigSchema is the list of attributes a block accepts.
type ConfigSchema struct {
	Attributes []Attribute
}

// Lookup returns the attribute named name.
func (c ConfigSchema) Lookup(name string) (Attribute, bool) {
	for _, a := range c.Attributes {
		if a.Name == name {
			return a, true
		}
	}
	return Attribute{}, false
}

// EntityAttribute returns the attribute marked Entity, if any.
func (c ConfigSchema) EntityAttribute() (Attribute, bool) {
	for _, a := range c.Attributes {
		if a.Entity {
			return a, true
		}
	}
	return Attribute{}, false
}

// Values holds evaluated config values: string, int64, float64, bool,
// []string and map[string]string, as declared by the ConfigSchema.
type Values map[string]any

// String returns the string value of key, or def when unset.
func (v Values) String(key, def string) string {
	if s, ok := v[key].(string); ok {
		return s
	}
	return def
}

// Int returns the integer value of key, or def when unset.
func (v Values) Int(key string, def int64) int64 {
	switch n := v[key].(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	}
	return def
}

// Float returns the number value of key, or def when unset.
func (v Values) Float(key string, def float64) float64 {
	switch n := v[key].(type) {
	case int64:
		return float64(n)
	case float64:
		return n
	}
	return def
}

// Bool returns the boolean value of key, or def when unset.
func (v Values) Bool(key string, def bool) bool {
	if b, ok := v[key].(bool); ok {
		return b
	}
	return def
}

// Strings returns the list value of key.
func (v Values) Strings(key string) []string {
	l, _ := v[key].([]string)
	return l
}

// StringMap returns the map value of key.
func (v Values) StringMap(key string) map[string]string {
	m, _ := v[key].(map[string]string)
	return m
}

// Severity grades a diagnostic.
type Severity int

const (
	SeverityError Severity = iota
	SeverityWarning
)

// Diagnostic is a problem found in configuration, placed by attribute path.
type Diagnostic struct {
	Severity Severity
	Summary  string
	Detail   string
	// Path is the attribute path inside the block, e.g. ["auth", "client_id"].
	Path []string
}

func (d Diagnostic) Error() string {
	var b strings.Builder
	if len(d.Path) > 0 {
		b.WriteString(strings.Join(d.Path, "."))
		b.WriteString(": ")
	}
	b.WriteString(d.Summary)
	if d.Detail != "" {
		b.WriteString(": ")
		b.WriteString(d.Detail)
	}
	return b.String()
}

// Diagnostics is a list of diagnostics.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Err returns the diagnostics as one error, or nil when none is an error.
func (ds Diagnostics) Err() error {
	if !ds.HasErrors() {
		return nil
	}
	msgs := make([]string, 0, len(ds))
	for _, d := range ds {
		if d.Severity == SeverityError {
			msgs = append(msgs, d.Error())
		}
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// Errorf builds an error diagnostic at path.
func Errorf(path []string, summary, detailFormat string, args ...any) Diagnostic {
	return Diagnostic{Severity: SeverityError, Summary: summary, Detail: fmt.Sprintf(detailFormat, args...), Path: path}
}

// EntityInfo names one entity a connector can reach.
type EntityInfo struct {
	Name        string
	Description string
}

// WriteMode says how a sink applies records.
type WriteMode string

const (
	WriteInsert WriteMode = "insert"
	WriteUpsert WriteMode = "upsert"
	WriteUpdate WriteMode = "update"
	WriteDelete WriteMode = "delete"
)

// DescribeRequest asks for an entity's shape.
type DescribeRequest struct {
	Entity  string
	Options Values // the source or sink block's connector attributes
}

// Entity describes one entity.
type Entity struct {
	Name         string
	Schema       *arrow.Schema
	PrimaryKey   []string
	CursorFields []string
	WriteModes   []WriteMode
}

// Limits caps the batches a source sends.
type Limits struct {
	MaxRows  int
	MaxBytes int
}

// DefaultLimits are the batch caps used when the engine sets none.
var DefaultLimits = Limits{MaxRows: 16384, MaxBytes: 8 << 20}

// ReadRequest asks a source for records.
type ReadRequest struct {
	Entity  string
	Fields  []string // empty means all fields
	Options Values
	// Checkpoint is the last position the engine stored for this flow, or
	// nil on a first run.
	Checkpoint []byte
	Limits     Limits
	// Filters are HINTS, AND-ed together: a source may use them to read
	// less; the engine still applies the flow's filters, so a source that
	// ignores them, or reads a superset, stays correct — but a source must
	// never drop a record the predicates would keep. A record whose field
	// is null satisfies only "is_null" (SQL semantics, as in formulas).
	Filters []Predicate
	// Window, when set, is the incremental window of a scheduled run: read
	// the records whose Cursor field lies in (From, To]. To trails the
	// schedule's tick, so records still being written are left for the
	// next run; From is zero on a first run without a starting point.
	// Sources that resume from Checkpoint may use To alone.
	Window *Window
	// Partition, when set, reads only this part of the entity (a
	// Partition's Spec); Checkpoint and Window are then ignored.
	Partition []byte
}

// Partition is one part of a read (see Partitioner).
type Partition struct {
	// Key names the part for people and logs: an object key, a page.
	// Unique within one Partitions answer.
	Key string
	// Spec is what Read needs to read only this part
	// (ReadRequest.Partition); opaque to the engine, and small (it is
	// stored in a job queue).
	Spec []byte
	// Size estimates the part (bytes or rows), 0 when unknown.
	Size int64
}

// Window is an incremental run's range of a cursor field.
type Window struct {
	Cursor   string
	From, To time.Time
}

// Predicate is one condition on a source field, from a flow's leading
// filters (see ReadRequest.Filters).
type Predicate struct {
	Field string
	// Op is one of "=", "!=", "<", "<=", ">", ">=", "in", "is_null" and
	// "not_null".
	Op string
	// Values are the operands: one for the comparisons, one or more for
	// "in", none for the null tests. Each is a string, int64, float64,
	// bool or time.Time (UTC), of the field's type.
	Values []any
}

// Predicate operators.
const (
	OpEq      = "="
	OpNe      = "!="
	OpLt      = "<"
	OpLe      = "<="
	OpGt      = ">"
	OpGe      = ">="
	OpIn      = "in"
	OpIsNull  = "is_null"
	OpNotNull = "not_null"
)

// String renders the predicate for logs and plans: `Amount > 100`.
func (p Predicate) String() string {
	switch p.Op {
	case OpIsNull:
		return p.Field + " is null"
	case OpNotNull:
		return p.Field + " is not null"
	}
	vals := make([]string, len(p.Values))
	for i, v := range p.Values {
		if s, ok := v.(string); ok {
			vals[i] = fmt.Sprintf("%q", s)
		} else {
			vals[i] = fmt.Sprint(v)
		}
	}
	if p.Op == OpIn {
		return p.Field + " in [" + strings.Join(vals, ", ") + "]"
	}
	return p.Field + " " + p.Op + " " + strings.Join(vals, ", ")
}

// BadRecord is input a source could not turn into a record.
type BadRecord struct {
	// Location names where the input came from: "data/in.csv:17".
	Location string
	Reason   string
	Raw      []byte
}

// Progress reports how far a read has come.
type Progress struct {
	BytesRead  int64
	BytesTotal int64 // 0 when unknown
}

// WriteRequest opens a write stream.
type WriteRequest struct {
	Entity   string
	Mode     WriteMode
	Keys     []string
	Options  Values
	Schema   *arrow.Schema
	FlowName string
	RunID    string
	// Deletes asks the sink to apply deletions: a row whose
	// ChangeTypeField is ChangeDelete deletes the record with its key
	// instead of being written. The engine sets it when the sink block
	// says `deletes = true`; a sink that cannot delete must refuse it (in
	// CheckWrite and OpenWriter) rather than write the rows.
	Deletes bool
	// RejectOnCommit says the engine takes rows refused while committing
	// (CommitResult.Rejected) and dead-letters them; it sets it when the
	// flow continues on error. Without it a refused row must fail the run,
	// so a sink that finds bad rows only while committing fails Commit
	// and commits none of it, just as the engine discards the uncommitted
	// rows when a row rejected by Write fails the run. An engine that
	// predates CommitResult.Rejected never sets it, so no row it would
	// ignore can be dropped.
	RejectOnCommit bool
}

// RejectedRow is one row a sink refused.
type RejectedRow struct {
	Row    int // index within the batch
	Reason string
}

// WriteResult answers one Write.
type WriteResult struct {
	Rejected []RejectedRow
	// BytesWritten is what this call wrote to the destination, if known.
	BytesWritten int64
}

// CommitResult answers one Commit.
type CommitResult struct {
	// BytesWritten is what this call wrote to the destination (buffered
	// data flushed on commit), if known; Write reports the rest.
	BytesWritten int64
	// Rejected are the rows the destination refused while committing
	// (see Writer.Commit). Only a request with RejectOnCommit may have
	// them.
	Rejected []CommitRejection
}

// CommitRejection is a row the destination refused while committing, when
// the sink can no longer point at a batch row: the row as the sink staged
// it (field name → text as written, absent for null) and why.
type CommitRejection struct {
	// Fields are keyed by the names of the written records' fields. The
	// text is the sink's staged form of the value (a timestamp as the
	// sink formatted it, binary as the sink encoded it), not an Arrow
	// value; a field the sink did not stage is absent, as a null is.
	Fields   map[string]string
	Reason   string
	Location string // e.g. "part-00003.csv.gz:118", optional
}

// SubscribeRequest asks an event source for change events.
type SubscribeRequest struct {
	Entity  string
	Options Values
	// Position is the stored replay position, or nil for the configured
	// starting point.
	Position []byte
	Limits   Limits
	// Fields narrows the entity's fields; empty means all.
	Fields []string
}

// Change events. The batches an EventSource sends carry the entity's
// fields, as DescribeEntity gives them (narrowed to the requested ones), in
// that order, followed by ChangeTypeField. A delete carries the key fields
// and nulls; creates, updates and undeletes carry the record as it stands.
const (
	// ChangeTypeField is the utf8, non-null column naming each row's change.
	ChangeTypeField = "_change_type"
	ChangeCreate    = "CREATE"
	ChangeUpdate    = "UPDATE"
	ChangeDelete    = "DELETE"
	ChangeUndelete  = "UNDELETE"
)
