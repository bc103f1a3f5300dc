package plan

import (
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-dev/sluice/sdk"
)

// Config is everything loaded from one flow file or directory.
type Config struct {
	Connections []*Connection
	Flows       []*Flow
}

// Flow returns the flow called name, or nil.
func (c *Config) Flow(name string) *Flow {
	for _, f := range c.Flows {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Connection is a `connection "<type>" "<name>"` block.
type Connection struct {
	Type   string
	Name   string
	Values sdk.Values
	// Sensitive names values that must never be shown.
	Sensitive map[string]bool
	Range     hcl.Range
}

// Endpoint is what sources and sinks share: the connector, its connection
// and the connector-specific attributes of the block.
type Endpoint struct {
	Type       string // connector name, e.g. "file"
	Plugin     string // explicit plugin executable path, if the block names one
	Connection *Connection
	Entity     string
	Options    sdk.Values
	// Sensitive names options that must never be shown: marked so by the
	// connector's spec or derived from a sensitive variable.
	Sensitive  map[string]bool
	Range      hcl.Range            // the block's declaration range
	AttrRanges map[string]hcl.Range // attribute name -> expression range
}

// AttrRange returns the range of attribute name, or the block range.
func (e *Endpoint) AttrRange(name string) hcl.Range {
	if r, ok := e.AttrRanges[name]; ok {
		return r
	}
	return e.Range
}

// Source is a flow's `source "<type>"` block.
type Source struct {
	Endpoint
	Fields []string
}

// Sink is one `sink "<type>" ["<name>"]` block.
type Sink struct {
	Endpoint
	Name string // label, defaults to the type
	Mode sdk.WriteMode
	Keys []string
	// Deletes asks the sink to apply change-event deletions (rows whose
	// _change_type is DELETE) instead of dropping them.
	Deletes bool
	// PartitionKeys come from the flow's partition task, for file and
	// object sinks.
	PartitionKeys []string
}

// ErrorMode says what a run does with a record that fails.
type ErrorMode string

const (
	// FailFast stops the run at the first failed record.
	FailFast ErrorMode = "fail_fast"
	// Continue sends failed records to the dead-letter location and goes on.
	Continue ErrorMode = "continue"
)

// ErrorPolicy is a flow's `on_error` block.
type ErrorPolicy struct {
	Mode ErrorMode
	// DeadLetter is where rejected records go (a local directory for now).
	DeadLetter string
	Range      hcl.Range
}

// Trigger is a flow's `trigger "<kind>"` block: on_demand (the default),
// schedule or event. The schedule fields are set for schedule triggers,
// the event fields for event triggers.
type Trigger struct {
	Kind  string
	Range hcl.Range

	// Cron is a 5-field cron expression (or a descriptor such as @hourly);
	// a schedule trigger has either Cron or Rate.
	Cron string
	// Rate runs the flow every Rate, counted from Start (or from when the
	// daemon first loads the flow).
	Rate time.Duration
	// Start and End bound the schedule; zero means unbounded.
	Start time.Time
	End   time.Time
	// Location is the time zone cron fields are read in (nil: UTC);
	// Timezone is its name as written.
	Location *time.Location
	Timezone string
	// MaxFailures deactivates the flow after that many consecutive failed
	// runs; 0 leaves it to the daemon's default.
	MaxFailures int
	// AllowOverlap lets a tick start a run while the previous one is still
	// going on (by default the tick is skipped).
	AllowOverlap bool
	// Incremental, when set, makes each scheduled run read only what
	// changed since the previous one.
	Incremental *Incremental
	// EventOptions are an event trigger's connector arguments (the
	// channel, where to start, ...), checked against the source
	// connector's event schema; Subscribe gets them after the source's.
	EventOptions sdk.Values
	// BatchSize and BatchWindow close an event flow's micro-batch: at
	// BatchSize events, or BatchWindow after its first event, whichever
	// comes first. Each micro-batch is committed by every sink and then
	// checkpointed.
	BatchSize   int
	BatchWindow time.Duration
	// AttrRanges maps each argument to its expression's range.
	AttrRanges map[string]hcl.Range
}

// Event-trigger defaults: small enough for seconds of latency, large
// enough that a warehouse load per micro-batch stays efficient.
const (
	DefaultEventBatchSize   = 1000
	DefaultEventBatchWindow = time.Second
)

// AttrRange returns the range of attribute name, or the block's range.
func (t *Trigger) AttrRange(name string) hcl.Range {
	if r, ok := t.AttrRanges[name]; ok {
		return r
	}
	return t.Range
}

// Incremental is a schedule trigger's `incremental` block.
type Incremental struct {
	// Cursor is the source field that orders changes, e.g. SystemModstamp.
	Cursor string
	// StartFrom is where the first window starts; zero means the
	// beginning of time.
	StartFrom time.Time
	Range     hcl.Range
}

// Flow is a `flow "<name>"` block.
type Flow struct {
	Name        string
	Description string
	Trigger     Trigger
	Source      *Source
	Tasks       []Task
	Sinks       []*Sink
	OnError     ErrorPolicy
	Range       hcl.Range
	// File is the file the flow was declared in.
	File string
}

// Formula is an expr-language string inside a flow file.
type Formula struct {
	Text string
	// Range covers the string's contents (inside the quotes), so a column
	// offset into Text maps to a column in the file.
	Range hcl.Range
}

// Task is one task block. Tasks run in the order written.
type Task interface {
	// Kind is the block type: filter, map, mask, truncate, validate, partition.
	Kind() string
	// DeclRange is the block's declaration range.
	DeclRange() hcl.Range
}

// Where records the source ranges of a task block's label and attributes,
// so a problem found once the schema is known points at the attribute
// rather than the whole block.
type Where struct {
	// Label is the range of the block's label (the "email" of mask "email").
	Label *hcl.Range
	// Attrs maps an attribute name to its expression's range.
	Attrs map[string]hcl.Range
}

// At returns the range of attribute name, or of the label when name is
// empty, and decl when the task came from somewhere without ranges.
func (w Where) At(name string, decl hcl.Range) hcl.Range {
	if name == "" {
		if w.Label != nil {
			return *w.Label
		}
		return decl
	}
	if r, ok := w.Attrs[name]; ok {
		return r
	}
	return decl
}

// Filter keeps the records for which Where is true.
type Filter struct {
	Where Formula
	Range hcl.Range
}

// MapField is one output field of a map task.
type MapField struct {
	Name    string
	Formula Formula
}

// Map projects and computes fields. With All, every input field not in
// Except is carried through first, then Fields are added or replaced.
type Map struct {
	Fields []MapField
	All    bool
	Except []string
	Loc    Where
	Range  hcl.Range
}

// Mask hides part or all of a string field.
type Mask struct {
	Field string
	// Char replaces masked characters; defaults to "*".
	Char      string
	KeepFirst int
	KeepLast  int
	// Hash, when set ("sha256", "md5"), replaces the value by its hex digest.
	Hash string
	// Formula, when set, computes the replacement value.
	Formula *Formula
	Loc     Where
	Range   hcl.Range
}

// Truncate cuts a string field to Length characters.
type Truncate struct {
	Field  string
	Length int
	Loc    Where
	Range  hcl.Range
}

// OnFail says what a validate task does with a record that fails its check.
type OnFail string

const (
	OnFailDrop       OnFail = "drop"
	OnFailFail       OnFail = "fail"
	OnFailDeadLetter OnFail = "dead_letter"
)

// Validate checks each record.
type Validate struct {
	Check   Formula
	OnFail  OnFail
	Message string
	Loc     Where
	Range   hcl.Range
}

// Partition names the fields file and object sinks partition by.
type Partition struct {
	Keys  []string
	Loc   Where
	Range hcl.Range
}

func (*Filter) Kind() string    { return "filter" }
func (*Map) Kind() string       { return "map" }
func (*Mask) Kind() string      { return "mask" }
func (*Truncate) Kind() string  { return "truncate" }
func (*Validate) Kind() string  { return "validate" }
func (*Partition) Kind() string { return "partition" }

func (t *Filter) DeclRange() hcl.Range    { return t.Range }
func (t *Map) DeclRange() hcl.Range       { return t.Range }
func (t *Mask) DeclRange() hcl.Range      { return t.Range }
func (t *Truncate) DeclRange() hcl.Range  { return t.Range }
func (t *Validate) DeclRange() hcl.Range  { return t.Range }
func (t *Partition) DeclRange() hcl.Range { return t.Range }

var (
	_ Task = (*Filter)(nil)
	_ Task = (*Map)(nil)
	_ Task = (*Mask)(nil)
	_ Task = (*Truncate)(nil)
	_ Task = (*Validate)(nil)
	_ Task = (*Partition)(nil)
)
