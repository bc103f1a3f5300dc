package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync/atomic"

	"github.com/agext/levenshtein"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/pluginhost"
	"github.com/sluice-dev/sluice/engine/transform"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/rpc"
)

// Options configure how flows are prepared and run.
type Options struct {
	Host *pluginhost.Host
	// Limits caps the batches sources send; zero fields take sdk defaults.
	Limits sdk.Limits
	// Checkpoints, when set, receives every durably delivered position.
	Checkpoints CheckpointStore
	// DeadLetterDir is used when a flow continues on error without naming
	// a dead-letter location.
	DeadLetterDir string
	// ChannelDepth is how many batches may wait between two stages.
	ChannelDepth int
}

// Prepared is a flow ready to run: connectors started and configured,
// the source schema known, every formula compiled against it.
type Prepared struct {
	Flow         *plan.Flow
	Source       sdk.Connector
	SourceEntity sdk.Entity
	Pipeline     *transform.Pipeline
	// SourceFilters are the conditions of the flow's leading filters the
	// source may apply while reading (transform.Pushdown); the pipeline
	// still applies every filter.
	SourceFilters []sdk.Predicate
	Sinks         []*PreparedSink
	opts          Options
	opened        *connectors
	pluginFailed  atomic.Bool
}

// PreparedSink is one configured sink of a prepared flow.
type PreparedSink struct {
	Plan      *plan.Sink
	Connector sdk.Connector
	Options   sdk.Values
	// Schema is what the sink receives: the pipeline's output, less the
	// change-type column when the sink does not apply deletions.
	Schema *arrow.Schema
	// dropChanges: the records carry _change_type but this sink does not
	// apply deletions, so deletions are held back and the column removed.
	dropChanges bool
}

// Label names the sink for messages: "file.archive".
func (s *PreparedSink) Label() string {
	if s.Plan.Name != "" && s.Plan.Name != s.Plan.Type {
		return s.Plan.Type + "." + s.Plan.Name
	}
	return s.Plan.Type
}

// Prepare opens and checks everything flow needs. Problems are returned as
// diagnostics placed on the flow file wherever the engine can tell where.
// Close the prepared flow when done with it, so its connectors go back to
// the host.
func Prepare(ctx context.Context, flow *plan.Flow, opts Options) (*Prepared, hcl.Diagnostics) {
	if opts.Host == nil {
		opts.Host = &pluginhost.Host{}
	}
	opened := &connectors{host: opts.Host}
	p, diags := prepare(ctx, flow, opts, opened)
	if p == nil {
		// What failed may be the plugin itself: do not keep it.
		opened.release(false)
		return nil, diags
	}
	p.opened = opened
	return p, diags
}

// Close gives the flow's connectors back to the plugin host, to wait in its
// pool for the next run unless a run saw a plugin fail. The prepared flow
// cannot run afterwards.
func (p *Prepared) Close() {
	p.opened.release(!p.pluginFailed.Load())
}

// notePluginFailure remembers a run's plugin crash or silence, so Close
// does not keep that plugin for another run.
func (p *Prepared) notePluginFailure(err error) {
	var pf *rpc.PluginFailure
	if errors.As(err, &pf) {
		p.pluginFailed.Store(true)
	}
}

func prepare(ctx context.Context, flow *plan.Flow, opts Options, opened *connectors) (*Prepared, hcl.Diagnostics) {
	p := &Prepared{Flow: flow, opts: opts}
	var diags hcl.Diagnostics

	src, ds := opened.open(ctx, &flow.Source.Endpoint, "source")
	diags = append(diags, ds...)
	if diags.HasErrors() {
		return nil, diags
	}
	p.Source = src
	if !src.Spec().Has(sdk.CapSource) {
		return nil, append(diags, errorAt(flow.Source.Range, "Connector cannot be a source",
			fmt.Sprintf("The %s connector does not read records; use it as a sink, or pick a connector that lists \"source\" in `sluice connectors`.", flow.Source.Type)))
	}
	desc, ok := src.(sdk.EntityDescriber)
	if !ok {
		return nil, append(diags, errorAt(flow.Source.Range, "Source cannot describe its data",
			fmt.Sprintf("The %s connector does not implement DescribeEntity, which the engine needs to check formulas.", flow.Source.Type)))
	}
	ent, err := desc.DescribeEntity(ctx, sdk.DescribeRequest{Entity: flow.Source.Entity, Options: flow.Source.Options})
	if err != nil {
		// A wrong object or path is the usual cause: point at the attribute
		// that names it.
		at := flow.Source.Range
		var bad *sdk.AttributeError
		if errors.As(err, &bad) {
			at = flow.Source.AttrRange(bad.Name())
		} else if attr, ok := src.Spec().Source.EntityAttribute(); ok {
			at = flow.Source.AttrRange(attr.Name)
		}
		return nil, append(diags, errorAt(at, "Cannot describe the source", err.Error()))
	}
	if ent.Schema == nil {
		return nil, append(diags, errorAt(flow.Source.Range, "Source has no schema",
			fmt.Sprintf("The %s connector described %q without a schema.", flow.Source.Type, flow.Source.Entity)))
	}
	if len(flow.Source.Fields) > 0 {
		projected, ds := project(ent.Schema, flow.Source.Fields, flow.Source.AttrRange("fields"))
		diags = append(diags, ds...)
		ent.Schema = projected
	}
	if flow.Trigger.Kind == "event" {
		if _, ok := src.(sdk.EventSource); !ok || !src.Spec().Has(sdk.CapEvents) {
			return nil, append(diags, errorAt(flow.Trigger.Range, "Source has no change events",
				fmt.Sprintf("The %s connector cannot deliver change events; use a schedule trigger instead.", flow.Source.Type)))
		}
		ent.Schema = withChangeType(ent.Schema)
	}
	p.SourceEntity = ent
	if diags.HasErrors() {
		return nil, diags
	}

	pipe, ds := transform.Compile(flow.Tasks, ent.Schema)
	diags = append(diags, ds...)
	if diags.HasErrors() {
		return nil, diags
	}
	p.Pipeline = pipe
	p.SourceFilters = transform.Pushdown(flow.Tasks, ent.Schema)

	for _, s := range flow.Sinks {
		conn, ds := opened.open(ctx, &s.Endpoint, "sink")
		diags = append(diags, ds...)
		if ds.HasErrors() {
			continue
		}
		spec := conn.Spec()
		if !spec.Has(sdk.CapSink) {
			diags = append(diags, errorAt(s.Range, "Connector cannot be a sink",
				fmt.Sprintf("The %s connector does not write records.", s.Type)))
			continue
		}
		options := maps.Clone(s.Options)
		if options == nil {
			options = sdk.Values{}
		}
		if len(s.PartitionKeys) > 0 {
			if _, ok := spec.Sink.Lookup("partition_by"); !ok {
				diags = append(diags, errorAt(s.Range, "Sink cannot partition",
					fmt.Sprintf("The flow has a partition task, but the %s connector does not write partitioned output; remove the partition task or use a file or object sink.", s.Type)))
				continue
			}
			options["partition_by"] = s.PartitionKeys
		}
		ps := &PreparedSink{Plan: s, Connector: conn, Options: options, Schema: pipe.OutputSchema()}
		if change := transform.ChangeColumn(ps.Schema); change >= 0 && !s.Deletes {
			ps.Schema, ps.dropChanges = removeField(ps.Schema, change), true
		} else if change < 0 && s.Deletes {
			diags = append(diags, errorAt(s.AttrRange("deletes"), "No deletions to apply",
				fmt.Sprintf("deletes = true applies the deletions of change events, but this flow's records carry no %s field: use an event trigger, or produce the field (values %q, %q, ...) with a map.",
					sdk.ChangeTypeField, sdk.ChangeDelete, sdk.ChangeUpdate)))
			continue
		}
		diags = append(diags, checkWrite(ctx, ps, flow.Name, flow.Tasks)...)
		p.Sinks = append(p.Sinks, ps)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return p, diags
}

// Partitions splits the flow's read into parts that can run separately
// (RunOptions.Partition), when its source can split it; nil when it cannot
// or the flow follows events.
func (p *Prepared) Partitions(ctx context.Context) ([]sdk.Partition, error) {
	pt, ok := p.Source.(sdk.Partitioner)
	if !ok || !p.Source.Spec().Has(sdk.CapPartitions) || p.Flow.Trigger.Kind == "event" {
		return nil, nil
	}
	parts, err := pt.Partitions(ctx, sdk.ReadRequest{
		Entity: p.Flow.Source.Entity, Fields: p.Flow.Source.Fields, Options: p.Flow.Source.Options,
		Limits: p.opts.Limits, Filters: p.SourceFilters,
	})
	if errors.Is(err, sdk.ErrUnsupported) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("source %s: partitions: %w", p.Flow.Source.Type, err)
	}
	return parts, nil
}

// checkWrite asks a sink that can tell whether it would accept the flow's
// records, placing its answers on the attribute they name.
func checkWrite(ctx context.Context, s *PreparedSink, flow string, tasks []plan.Task) hcl.Diagnostics {
	wc, ok := s.Connector.(sdk.WriteChecker)
	if !ok {
		return nil
	}
	var diags hcl.Diagnostics
	for _, d := range wc.CheckWrite(ctx, sdk.WriteRequest{Entity: s.Plan.Entity, Mode: s.Plan.Mode, Keys: s.Plan.Keys,
		Options: s.Options, Schema: s.Schema, FlowName: flow, Deletes: s.Plan.Deletes}) {
		sev := hcl.DiagError
		if d.Severity == sdk.SeverityWarning {
			sev = hcl.DiagWarning
		}
		r := s.Plan.Range
		switch {
		case len(d.Path) == 2 && d.Path[0] == sdk.RecordFieldPath:
			r = fieldOrigin(tasks, d.Path[1], r)
		case len(d.Path) > 0:
			r = s.Plan.AttrRange(d.Path[0])
		}
		diags = append(diags, &hcl.Diagnostic{Severity: sev, Summary: d.Summary, Detail: d.Detail, Subject: &r})
	}
	return diags
}

// connectors opens each connector once per flow: a source and a sink of
// the same connector, plugin and connection share one configured plugin
// process, which handles the two streams side by side. Fewer processes
// means fewer runtimes competing for the same cores.
type connectors struct {
	host  *pluginhost.Host
	byUse map[string]sdk.Connector
	// acquired lists every connector taken from the host, configured or not.
	acquired []sdk.Connector
}

// release gives every connector back to the host, once.
func (c *connectors) release(reusable bool) {
	if c == nil {
		return
	}
	for _, conn := range c.acquired {
		c.host.Release(conn, reusable)
	}
	c.acquired, c.byUse = nil, nil
}

func (c *connectors) open(ctx context.Context, e *plan.Endpoint, role string) (sdk.Connector, hcl.Diagnostics) {
	key := e.Type + "\x00" + e.Plugin
	if e.Connection != nil {
		key += "\x00" + e.Connection.Type + "." + e.Connection.Name
	}
	if conn, ok := c.byUse[key]; ok {
		return conn, nil
	}
	conn, diags := openEndpoint(ctx, c.host, e, role)
	if conn != nil {
		c.acquired = append(c.acquired, conn)
	}
	if conn != nil && !diags.HasErrors() {
		if c.byUse == nil {
			c.byUse = map[string]sdk.Connector{}
		}
		c.byUse[key] = conn
	}
	return conn, diags
}

// openEndpoint starts an endpoint's connector and configures it with its
// connection block.
func openEndpoint(ctx context.Context, host *pluginhost.Host, e *plan.Endpoint, role string) (sdk.Connector, hcl.Diagnostics) {
	var config sdk.Values
	rng := e.Range
	if e.Connection != nil {
		config = e.Connection.Values
		rng = e.Connection.Range
	}
	conn, configured, err := host.Acquire(ctx, e.Type, e.Plugin, config)
	if err != nil {
		summary := "Cannot start the " + e.Type + " connector"
		switch {
		case errors.Is(err, pluginhost.ErrNotFound):
			summary = "Connector plugin not found"
		case errors.Is(err, pluginhost.ErrChecksum):
			summary = "Connector plugin is not trusted"
		}
		return nil, hcl.Diagnostics{errorAt(e.Range, summary, err.Error())}
	}
	var diags hcl.Diagnostics
	for _, d := range configured {
		sev := hcl.DiagError
		if d.Severity == sdk.SeverityWarning {
			sev = hcl.DiagWarning
		}
		detail := d.Detail
		if len(d.Path) > 0 {
			detail = fmt.Sprintf("%s (attribute %v of the %s's connection)", detail, d.Path, role)
		}
		r := rng
		diags = append(diags, &hcl.Diagnostic{Severity: sev, Summary: d.Summary, Detail: detail, Subject: &r})
	}
	return conn, diags
}

func errorAt(r hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &r}
}

// project narrows schema to fields, in the order given.
func project(schema *arrow.Schema, fields []string, rng hcl.Range) (*arrow.Schema, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	out := make([]arrow.Field, 0, len(fields))
	for _, name := range fields {
		idx := schema.FieldIndices(name)
		if len(idx) == 0 {
			diags = append(diags, errorAt(rng, "Unknown source field",
				fmt.Sprintf("The source has no field %q.%s", name, closestField(name, schema))))
			continue
		}
		out = append(out, schema.Field(idx[0]))
	}
	md := schema.Metadata()
	return arrow.NewSchema(out, &md), diags
}

// closestField suggests the field name nearest to name, and lists the
// fields when there are few enough to read.
func closestField(name string, s *arrow.Schema) string {
	best, bestDist := "", 0
	for _, f := range s.Fields() {
		d := levenshtein.Distance(strings.ToLower(name), strings.ToLower(f.Name), nil)
		if best == "" || d < bestDist {
			best, bestDist = f.Name, d
		}
	}
	out := ""
	if best != "" && bestDist <= max(2, len(name)/3) {
		out = fmt.Sprintf(" Did you mean %q?", best)
	}
	if s.NumFields() <= 30 {
		out += fmt.Sprintf(" It has: %s.", fieldNames(s))
	}
	return out
}

func fieldNames(s *arrow.Schema) string {
	out := ""
	for i, f := range s.Fields() {
		if i > 0 {
			out += ", "
		}
		out += f.Name
	}
	return out
}

// fieldOrigin is the range of the map field that last produced name, or
// def when a task did not (the field came from the source unchanged).
func fieldOrigin(tasks []plan.Task, name string, def hcl.Range) hcl.Range {
	for i := len(tasks) - 1; i >= 0; i-- {
		m, ok := tasks[i].(*plan.Map)
		if !ok {
			continue
		}
		for _, f := range m.Fields {
			if f.Name == name {
				// The attribute's name sits just before its formula; the
				// formula's line is the field's line.
				return f.Formula.Range
			}
		}
	}
	return def
}
