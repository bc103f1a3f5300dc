package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-dev/sluice/sdk"
)

// errEnough stops a preview's source once it has what it needs.
var errEnough = errors.New("preview has enough rows")

// PreviewResult is the first records of a flow after its tasks.
type PreviewResult struct {
	Schema   *arrow.Schema
	Rows     []map[string]any
	Filtered int
	// Rejected describes records that would have failed, with reasons.
	Rejected []string
}

// Preview reads from the source and applies the tasks until n records come
// out, writing nothing.
func (p *Prepared) Preview(ctx context.Context, n int) (*PreviewResult, error) {
	out := &PreviewResult{Schema: p.Pipeline.OutputSchema()}
	runner := p.Pipeline.NewRunner()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sender := &previewSender{onBatch: func(rec arrow.RecordBatch) error {
		if p.Flow.Trigger.Kind == "event" {
			// An event flow previews the records as they stand, as if
			// each had just been updated.
			rec = withChangeColumn(rec, sdk.ChangeUpdate)
			defer rec.Release()
		}
		res, err := runner.Apply(ctx, rec, true)
		if err != nil {
			return err
		}
		out.Filtered += res.Filtered
		for _, rj := range res.Rejected {
			out.Rejected = append(out.Rejected, fmt.Sprintf("%s: %s", rj.Task, rj.Reason))
		}
		if res.Out != nil {
			for i := 0; i < int(res.Out.NumRows()) && len(out.Rows) < n; i++ {
				out.Rows = append(out.Rows, rowValues(res.Out, i))
			}
			res.Out.Release()
		}
		if len(out.Rows) >= n {
			cancel(errEnough)
			return errEnough
		}
		return nil
	}, onReject: func(bad sdk.BadRecord) {
		out.Rejected = append(out.Rejected, fmt.Sprintf("%s: %s", bad.Location, bad.Reason))
	}}
	err := p.Source.(sdk.Source).Read(ctx, sdk.ReadRequest{
		Entity: p.Flow.Source.Entity, Fields: p.Flow.Source.Fields,
		Options: p.Flow.Source.Options, Limits: p.opts.Limits,
		Filters: p.SourceFilters,
	}, sender)
	if err != nil && !errors.Is(context.Cause(ctx), errEnough) {
		return out, fmt.Errorf("preview %s: %w", p.Flow.Name, err)
	}
	return out, nil
}

type previewSender struct {
	onBatch  func(arrow.RecordBatch) error
	onReject func(sdk.BadRecord)
}

func (s *previewSender) Send(rec arrow.RecordBatch) error { return s.onBatch(rec) }
func (s *previewSender) Checkpoint([]byte) error          { return nil }
func (s *previewSender) Progress(sdk.Progress) error      { return nil }
func (s *previewSender) Reject(bad sdk.BadRecord) error {
	s.onReject(bad)
	return nil
}

// StagePlan is one line of `sluice plan`.
type StagePlan struct {
	Kind   string
	Range  hcl.Range
	Schema *arrow.Schema
	// Vectorized says whether the stage's formulas run over whole columns.
	Vectorized bool
}

// SinkPlan says what goes to one sink.
type SinkPlan struct {
	Label   string
	Entity  string
	Mode    sdk.WriteMode
	Keys    []string
	Options sdk.Values // sensitive values already redacted
}

// FlowPlan is what `sluice plan` shows.
type FlowPlan struct {
	Flow   string
	Source StagePlan
	// Pushed are the conditions offered to the source to read less (the
	// filters still run in the engine).
	Pushed []sdk.Predicate
	Stages []StagePlan
	Sinks  []SinkPlan
}

// Describe explains the prepared flow without reading data.
func (p *Prepared) Describe() FlowPlan {
	fp := FlowPlan{Flow: p.Flow.Name, Source: StagePlan{Kind: "source " + p.Flow.Source.Type,
		Range: p.Flow.Source.Range, Schema: p.SourceEntity.Schema}, Pushed: p.SourceFilters}
	for _, st := range p.Pipeline.Stages() {
		fp.Stages = append(fp.Stages, StagePlan{Kind: st.Kind, Range: st.Range, Schema: st.Output, Vectorized: st.Vectorized})
	}
	for _, s := range p.Sinks {
		fp.Sinks = append(fp.Sinks, SinkPlan{Label: s.Label(), Entity: s.Plan.Entity, Mode: s.Plan.Mode,
			Keys: s.Plan.Keys, Options: redact(s.Options, s.Plan.Sensitive)})
	}
	return fp
}

// redact replaces sensitive values so plans and logs can be shown.
func redact(v sdk.Values, sensitive map[string]bool) sdk.Values {
	out := sdk.Values{}
	for k, val := range v {
		if sensitive[k] {
			out[k] = "(sensitive)"
			continue
		}
		out[k] = val
	}
	return out
}
