package dsl

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/robfig/cron/v3"

	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/sdk"
)

// flowRules are the blocks a flow holds. Tasks are decoded in the order
// written because each task sees the fields the one before it produced.
var flowRules = map[string]blockRule{
	"trigger":   {labels: []string{"kind"}, usage: `trigger "on_demand" {}`},
	"source":    {labels: []string{"type"}, usage: `source "<type>" { ... }`},
	"sink":      {labels: []string{"type", "name"}, optional: 1, usage: `sink "<type>" ["<name>"] { ... }`},
	"on_error":  {usage: `on_error { mode = "continue" }`},
	"filter":    {usage: `filter { where = "..." }`},
	"map":       {usage: `map { out = "formula" }`},
	"mask":      {labels: []string{"field"}, usage: `mask "<field>" { keep_last = 4 }`},
	"truncate":  {labels: []string{"field"}, usage: `truncate "<field>" { length = 20 }`},
	"validate":  {usage: `validate { check = "..." }`},
	"partition": {usage: `partition { keys = ["..."] }`},
}

// flowHints explain top-level blocks written inside a flow.
var flowHints = map[string]string{
	"connection": "Connections are declared at the top level of a file, outside any flow, and referred to as connection.<type>.<name>; move this block out of the flow.",
	"variable":   "Variables are declared at the top level of a file, outside any flow; move this block out of the flow.",
	"flow":       "Flows cannot be nested; move this block to the top level.",
}

// triggerKinds are the trigger labels sluice knows.
var triggerKinds = []string{"on_demand", "schedule", "event"}

var onErrorAttrs = []string{"mode", "dead_letter"}

var errorModes = []string{string(plan.FailFast), string(plan.Continue)}

// decodeFlow decodes a `flow "<name>"` block declared in file.
func (l *loader) decodeFlow(b *hclsyntax.Block, file string, sc *scope) *plan.Flow {
	name := b.Labels[0]
	if !hclsyntax.ValidIdentifier(name) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid flow name",
			Detail:   "A flow name must start with a letter or underscore and hold only letters, digits, underscores and dashes, so it can be used on the command line and in URLs.",
			Subject:  b.LabelRanges[0].Ptr(),
		})
		return nil
	}
	f := &plan.Flow{
		Name:  name,
		Range: b.DefRange(),
		File:  file,
		// Without an on_error block a flow stops at the first failed
		// record; the range points at the flow so errors about the policy
		// still have a place in the file.
		OnError: plan.ErrorPolicy{Mode: plan.FailFast, Range: b.DefRange()},
		Trigger: plan.Trigger{Kind: "on_demand", Range: b.DefRange()},
	}

	for _, a := range inOrder(b.Body.Attributes) {
		if a.Name == "description" {
			f.Description, _ = l.str(a, sc)
			continue
		}
		detail := fmt.Sprintf("An argument named %q is not expected in a flow block, which takes only description.", a.Name)
		if _, isBlock := flowRules[a.Name]; isBlock {
			detail = fmt.Sprintf("%q is a block, not an argument: write it as %s.", a.Name, flowRules[a.Name].usage)
		} else if s := suggest(a.Name, []string{"description"}); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		}
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported argument",
			Detail:   detail,
			Subject:  a.NameRange.Ptr(),
		})
	}

	blocks, diags := blocksOf(b.Body, "a flow block", flowRules, flowHints)
	l.diags = append(l.diags, diags...)

	// first remembers the first block of each kind that may appear once.
	first := map[string]*hclsyntax.Block{}
	once := func(blk *hclsyntax.Block, why string) bool {
		if prev, dup := first[blk.Type]; dup {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate %s block", blk.Type),
				Detail:   fmt.Sprintf("%s The first one is at %s; merge them or remove one.", why, prev.DefRange()),
				Subject:  blk.DefRange().Ptr(),
			})
			return false
		}
		first[blk.Type] = blk
		return true
	}

	var sinkSpecs []sdk.Spec
	var eventTrigger *hclsyntax.Block
	sinkBlocks := map[string]*hclsyntax.Block{}
	var partition *plan.Partition
	for _, blk := range blocks {
		switch blk.Type {
		case "trigger":
			if once(blk, "A flow has one trigger.") {
				l.checkTrigger(blk)
				f.Trigger = plan.Trigger{Kind: blk.Labels[0], Range: blk.DefRange()}
				switch f.Trigger.Kind {
				case "schedule":
					l.decodeSchedule(blk, sc, &f.Trigger)
				case "event":
					// Its arguments belong to the source's connector,
					// which may be declared further down.
					eventTrigger = blk
				}
			}
		case "source":
			if once(blk, "A flow reads from exactly one source.") {
				f.Source = l.decodeSource(blk, sc)
			}
		case "sink":
			s, spec := l.decodeSink(blk, sc)
			if len(blk.Labels) > 1 && s.Name == "" {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Empty sink name",
					Detail:   "A sink's second label names it in run reports; give it a name, or leave the label out to use the connector type.",
					Subject:  blk.LabelRanges[1].Ptr(),
				})
				continue
			}
			if prev, dup := sinkBlocks[s.Name]; dup {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate sink name",
					Detail: fmt.Sprintf("A sink named %q is already declared at %s. A sink's name is its second label, or its type when there is none; give each sink its own, as in sink %q \"archive\".",
						s.Name, prev.DefRange(), s.Type),
					Subject: blk.DefRange().Ptr(),
				})
				continue
			}
			sinkBlocks[s.Name] = blk
			f.Sinks = append(f.Sinks, s)
			sinkSpecs = append(sinkSpecs, spec)
		case "on_error":
			if once(blk, "A flow has one error policy.") {
				f.OnError = l.decodeOnError(blk, sc)
			}
		case "partition":
			if once(blk, "A flow partitions its output one way.") {
				p := l.decodePartition(blk, sc)
				partition = p
				f.Tasks = append(f.Tasks, p)
			}
		default:
			if t := l.decodeTask(blk, sc); t != nil {
				f.Tasks = append(f.Tasks, t)
			}
		}
	}

	if _, ok := first["source"]; !ok {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing source",
			Detail:   `A flow reads from one source; add a source block, for example source "file" { path = "in.csv" }.`,
			Subject:  b.DefRange().Ptr(),
		})
	}
	if len(sinkBlocks) == 0 {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing sink",
			Detail:   `A flow writes to at least one sink; add a sink block, for example sink "file" { path = "out/" }.`,
			Subject:  b.DefRange().Ptr(),
		})
	}
	if partition != nil && len(partition.Keys) > 0 {
		l.applyPartition(partition, f.Sinks, sinkSpecs)
	}
	if eventTrigger != nil {
		l.decodeEvent(eventTrigger, sc, f)
	}
	return f
}

// Engine-owned arguments of an event trigger; the others belong to the
// source connector's event schema.
var eventEngineAttrs = []string{"batch_size", "batch_window"}

// decodeEvent decodes a `trigger "event"` block against the source
// connector's event schema.
func (l *loader) decodeEvent(b *hclsyntax.Block, sc *scope, f *plan.Flow) {
	t := &f.Trigger
	t.BatchSize, t.BatchWindow = plan.DefaultEventBatchSize, plan.DefaultEventBatchWindow
	t.AttrRanges = map[string]hcl.Range{}
	if f.Source == nil {
		return // "Missing source" is reported already
	}
	spec, err := l.pluginSpec(f.Source.Type, f.Source.Plugin)
	if err != nil {
		return // reported on the source block
	}
	if len(spec.Capabilities) > 0 && !spec.Has(sdk.CapEvents) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Source has no change events",
			Detail: fmt.Sprintf("The %q connector cannot deliver change events, so an event trigger has nothing to wait for. Use a schedule trigger, or a source that has events (salesforce change data capture, new s3 objects).",
				f.Source.Type),
			Subject: b.LabelRanges[0].Ptr(),
		})
		return
	}
	allowed := append(append([]string{}, eventEngineAttrs...), attrNames(spec.Events)...)
	attrs, diags := attrsOf(b.Body, fmt.Sprintf("a %q event trigger", f.Source.Type), allowed)
	l.diags = append(l.diags, diags...)
	connectorAttrs := map[string]*hclsyntax.Attribute{}
	for name, a := range attrs {
		t.AttrRanges[name] = a.Expr.Range()
		if !contains(eventEngineAttrs, name) {
			connectorAttrs[name] = a
		}
	}
	t.EventOptions, _, _ = l.connectorValues(b, withoutEngine(spec.Events, eventEngineAttrs), connectorAttrs, sc)
	if a := attrs["batch_size"]; a != nil {
		if n, ok := l.count(a, sc, 1); ok {
			t.BatchSize = n
		}
	}
	if a := attrs["batch_window"]; a != nil {
		if text, ok := l.str(a, sc); ok {
			d, err := time.ParseDuration(strings.ReplaceAll(text, " ", ""))
			if err != nil || d <= 0 {
				rng := a.Expr.Range()
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid batch window",
					Detail:   fmt.Sprintf("%q is not a positive duration; write a number and a unit, such as \"500ms\", \"2s\" or \"1m\".", text),
					Subject:  &rng,
				})
			} else {
				t.BatchWindow = d
			}
		}
	}
}

// applyPartition gives the partition keys to every sink whose connector
// declares a partition_by attribute, which is how a connector says it
// writes files or objects. Tables have no use for them.
func (l *loader) applyPartition(p *plan.Partition, sinks []*plan.Sink, specs []sdk.Spec) {
	used, unresolved := false, false
	for i, s := range sinks {
		if r, ok := l.specs[s.Type]; ok && r.err != nil {
			unresolved = true
		}
		if _, ok := specs[i].Sink.Lookup(partitionAttr); ok {
			s.PartitionKeys = append([]string(nil), p.Keys...)
			used = true
		}
	}
	// A sink whose connector could not be resolved has its own error; the
	// partition block may well be meant for it.
	if !used && !unresolved && len(sinks) > 0 {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Partition keys not used",
			Detail:   "None of this flow's sinks writes partitioned files or objects, so the partition block has no effect. Remove it, or add a file or object sink.",
			Subject:  p.Range.Ptr(),
		})
	}
}

// checkTrigger validates a trigger's kind. Its arguments are accepted as
// they are until the daemon gives each kind a typed form.
func (l *loader) checkTrigger(b *hclsyntax.Block) {
	kind := b.Labels[0]
	if contains(triggerKinds, kind) {
		return
	}
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Unknown trigger kind",
		Detail:   fmt.Sprintf("A trigger is %s, not %q.%s", quoteList(triggerKinds), kind, didYouMean(kind, triggerKinds)),
		Subject:  b.LabelRanges[0].Ptr(),
	})
}

// decodeOnError decodes an `on_error` block. continue without dead_letter
// is allowed: the engine picks a default directory.
func (l *loader) decodeOnError(b *hclsyntax.Block, sc *scope) plan.ErrorPolicy {
	p := plan.ErrorPolicy{Mode: plan.FailFast, Range: b.DefRange()}
	attrs, diags := attrsOf(b.Body, "an on_error block", onErrorAttrs)
	l.diags = append(l.diags, diags...)
	if a := attrs["mode"]; a != nil {
		if m, ok := l.enum(a, sc, errorModes); ok {
			p.Mode = plan.ErrorMode(m)
		}
	}
	if a := attrs["dead_letter"]; a != nil {
		if s, ok := l.str(a, sc); ok {
			if s == "" {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Empty dead_letter path",
					Detail:   "dead_letter names the local directory rejected records go to; give a path, or remove the argument to use the default.",
					Subject:  a.Expr.Range().Ptr(),
				})
			}
			p.DeadLetter = s
		}
	}
	return p
}

var scheduleAttrs = []string{"cron", "rate", "start", "end", "timezone", "max_failures", "allow_overlap"}

var incrementalAttrs = []string{"cursor", "start_from"}

var scheduleRules = map[string]blockRule{
	"incremental": {usage: `incremental { cursor = "SystemModstamp" }`},
}

// cronParser reads the cron expressions of schedule triggers: five fields
// (minute hour day-of-month month day-of-week) or a descriptor such as
// @hourly. The daemon parses with the same options.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// minRate is the shortest rate a schedule may have.
const minRate = time.Second

// decodeSchedule decodes a `trigger "schedule"` block into t.
func (l *loader) decodeSchedule(b *hclsyntax.Block, sc *scope, t *plan.Trigger) {
	blocks, diags := blocksOf(b.Body, "a schedule trigger", scheduleRules, nil)
	l.diags = append(l.diags, diags...)
	attrs, diags := attrsOf(&hclsyntax.Body{Attributes: b.Body.Attributes}, "a schedule trigger", scheduleAttrs)
	l.diags = append(l.diags, diags...)
	t.AttrRanges = map[string]hcl.Range{}
	for name, a := range attrs {
		t.AttrRanges[name] = a.Expr.Range()
	}
	bad := func(a *hclsyntax.Attribute, summary, detail string) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: a.Expr.Range().Ptr(),
		})
	}

	t.Location = time.UTC
	if a := attrs["timezone"]; a != nil {
		if name, ok := l.str(a, sc); ok {
			loc, err := time.LoadLocation(name)
			if err != nil || name == "" || name == "Local" {
				bad(a, "Unknown time zone", fmt.Sprintf("%q is not a time zone name; use an IANA name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\".", name))
			} else {
				t.Location, t.Timezone = loc, name
			}
		}
	}

	cronAttr, rateAttr := attrs["cron"], attrs["rate"]
	switch {
	case cronAttr == nil && rateAttr == nil:
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing schedule",
			Detail:   `A schedule trigger needs a cron expression or a rate, for example cron = "*/15 * * * *" or rate = "5m".`,
			Subject:  b.DefRange().Ptr(),
		})
	case cronAttr != nil && rateAttr != nil:
		bad(rateAttr, "Conflicting schedule arguments", "A schedule trigger has either cron or rate, not both; remove one.")
	}
	if cronAttr != nil {
		if expr, ok := l.str(cronAttr, sc); ok {
			if _, err := cronParser.Parse(expr); err != nil || strings.TrimSpace(expr) == "" {
				msg := "empty expression"
				if err != nil {
					msg = err.Error()
				}
				bad(cronAttr, "Invalid cron expression", fmt.Sprintf("%q is not a cron expression (%s). Write five fields, minute hour day-of-month month day-of-week, such as \"*/15 * * * *\" or \"0 6 * * MON-FRI\", or a descriptor such as \"@hourly\".", expr, msg))
			} else {
				t.Cron = expr
			}
		}
	}
	if rateAttr != nil {
		if text, ok := l.str(rateAttr, sc); ok {
			d, err := time.ParseDuration(strings.ReplaceAll(text, " ", ""))
			switch {
			case err != nil:
				bad(rateAttr, "Invalid rate", fmt.Sprintf("%q is not a duration; write a number and a unit, such as \"30s\", \"5m\", \"1h\" or \"1h30m\".", text))
			case d < minRate:
				bad(rateAttr, "Invalid rate", fmt.Sprintf("A rate must be at least %s, not %q.", minRate, text))
			default:
				t.Rate = d
			}
		}
	}
	readTime := func(a *hclsyntax.Attribute) time.Time {
		text, ok := l.str(a, sc)
		if !ok {
			return time.Time{}
		}
		at, err := parseScheduleTime(text, t.Location)
		if err != nil {
			bad(a, fmt.Sprintf("Invalid %s time", a.Name), fmt.Sprintf("%q is not a time; write RFC 3339, such as \"2026-01-01T00:00:00Z\", or a date and time without an offset, read in the trigger's timezone.", text))
		}
		return at
	}
	if a := attrs["start"]; a != nil {
		t.Start = readTime(a)
	}
	if a := attrs["end"]; a != nil {
		t.End = readTime(a)
		if !t.End.IsZero() && !t.Start.IsZero() && !t.End.After(t.Start) {
			bad(a, "Schedule ends before it starts", fmt.Sprintf("end (%s) must be after start (%s).", t.End.Format(time.RFC3339), t.Start.Format(time.RFC3339)))
		}
	}
	if a := attrs["max_failures"]; a != nil {
		if n, ok := l.count(a, sc, 0); ok {
			t.MaxFailures = n
		}
	}

	var incBlock *hclsyntax.Block
	for _, blk := range blocks {
		if incBlock != nil {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate incremental block",
				Detail:   fmt.Sprintf("A schedule trigger pulls incrementally one way. The first incremental block is at %s; merge them or remove one.", incBlock.DefRange()),
				Subject:  blk.DefRange().Ptr(),
			})
			continue
		}
		incBlock = blk
		inc := &plan.Incremental{Range: blk.DefRange()}
		iattrs, diags := attrsOf(blk.Body, "an incremental block", incrementalAttrs)
		l.diags = append(l.diags, diags...)
		if a := iattrs["cursor"]; a != nil {
			if c, ok := l.str(a, sc); ok {
				if c == "" {
					bad(a, "Empty cursor", "cursor names the source field that orders changes, such as \"SystemModstamp\" or \"updated_at\".")
				}
				inc.Cursor = c
			}
		} else {
			l.diags = append(l.diags, missingArg(blk, "cursor", `cursor = "SystemModstamp"`))
		}
		if a := iattrs["start_from"]; a != nil {
			inc.StartFrom = readTime(a)
		}
		t.Incremental = inc
	}
	if a := attrs["allow_overlap"]; a != nil {
		if v, ok := l.boolean(a, sc); ok {
			t.AllowOverlap = v
			if v && t.Incremental != nil {
				// Two runs over the same window would read the same changes
				// and race to move the watermark.
				bad(a, "Overlapping incremental runs",
					"An incremental schedule reads each window once, so its runs cannot overlap; remove allow_overlap or the incremental block.")
			}
		}
	}
}

// parseScheduleTime reads RFC 3339, or a date and time without an offset
// in loc.
func parseScheduleTime(text string, loc *time.Location) (time.Time, error) {
	if at, err := time.Parse(time.RFC3339, text); err == nil {
		return at, nil
	}
	var err error
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		var at time.Time
		if at, err = time.ParseInLocation(layout, text, loc); err == nil {
			return at, nil
		}
	}
	return time.Time{}, err
}
