package rpc

import (
	"fmt"
	"math"
	"time"

	"github.com/sluice-dev/sluice/sdk"
	pb "github.com/sluice-dev/sluice/sdk/protocol/sluicev1"
)

func valueToPB(v any) (*pb.Value, error) {
	switch x := v.(type) {
	case string:
		return &pb.Value{Kind: &pb.Value_StringValue{StringValue: x}}, nil
	case int64:
		return &pb.Value{Kind: &pb.Value_IntValue{IntValue: x}}, nil
	case int:
		return &pb.Value{Kind: &pb.Value_IntValue{IntValue: int64(x)}}, nil
	case float64:
		return &pb.Value{Kind: &pb.Value_FloatValue{FloatValue: x}}, nil
	case bool:
		return &pb.Value{Kind: &pb.Value_BoolValue{BoolValue: x}}, nil
	case []string:
		return &pb.Value{Kind: &pb.Value_ListValue{ListValue: &pb.StringList{Values: x}}}, nil
	case map[string]string:
		return &pb.Value{Kind: &pb.Value_MapValue{MapValue: &pb.StringMap{Values: x}}}, nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("config value of type %T cannot cross the plugin protocol", v)
}

func valueFromPB(v *pb.Value) any {
	switch x := v.GetKind().(type) {
	case *pb.Value_StringValue:
		return x.StringValue
	case *pb.Value_IntValue:
		return x.IntValue
	case *pb.Value_FloatValue:
		return x.FloatValue
	case *pb.Value_BoolValue:
		return x.BoolValue
	case *pb.Value_ListValue:
		if x.ListValue.GetValues() == nil {
			return []string{}
		}
		return x.ListValue.GetValues()
	case *pb.Value_MapValue:
		if x.MapValue.GetValues() == nil {
			return map[string]string{}
		}
		return x.MapValue.GetValues()
	}
	return nil
}

func valuesToPB(vs sdk.Values) (map[string]*pb.Value, error) {
	out := make(map[string]*pb.Value, len(vs))
	for k, v := range vs {
		pv, err := valueToPB(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		if pv != nil {
			out[k] = pv
		}
	}
	return out, nil
}

func valuesFromPB(m map[string]*pb.Value) sdk.Values {
	out := make(sdk.Values, len(m))
	for k, v := range m {
		out[k] = valueFromPB(v)
	}
	return out
}

func schemaToPB(c sdk.ConfigSchema) (*pb.ConfigSchema, error) {
	out := &pb.ConfigSchema{}
	for _, a := range c.Attributes {
		def, err := valueToPB(a.Default)
		if err != nil {
			return nil, fmt.Errorf("default of %s: %w", a.Name, err)
		}
		out.Attributes = append(out.Attributes, &pb.Attribute{
			Name: a.Name, Type: string(a.Type), Required: a.Required, Sensitive: a.Sensitive,
			Description: a.Description, Default: def, Entity: a.Entity,
		})
	}
	return out, nil
}

func schemaFromPB(c *pb.ConfigSchema) sdk.ConfigSchema {
	var out sdk.ConfigSchema
	for _, a := range c.GetAttributes() {
		var def any
		if a.Default != nil {
			def = valueFromPB(a.Default)
		}
		out.Attributes = append(out.Attributes, sdk.Attribute{
			Name: a.Name, Type: sdk.AttrType(a.Type), Required: a.Required, Sensitive: a.Sensitive,
			Description: a.Description, Default: def, Entity: a.Entity,
		})
	}
	return out
}

func specToPB(s sdk.Spec) (*pb.GetSpec_Response, error) {
	conn, err := schemaToPB(s.Connection)
	if err != nil {
		return nil, err
	}
	src, err := schemaToPB(s.Source)
	if err != nil {
		return nil, err
	}
	snk, err := schemaToPB(s.Sink)
	if err != nil {
		return nil, err
	}
	events, err := schemaToPB(s.Events)
	if err != nil {
		return nil, err
	}
	caps := make([]string, len(s.Capabilities))
	for i, c := range s.Capabilities {
		caps[i] = string(c)
	}
	return &pb.GetSpec_Response{Name: s.Name, Version: s.Version, Description: s.Description,
		Capabilities: caps, Connection: conn, Source: src, Sink: snk, Events: events}, nil
}

func specFromPB(r *pb.GetSpec_Response) sdk.Spec {
	caps := make([]sdk.Capability, len(r.Capabilities))
	for i, c := range r.Capabilities {
		caps[i] = sdk.Capability(c)
	}
	return sdk.Spec{Name: r.Name, Version: r.Version, Description: r.Description, Capabilities: caps,
		Connection: schemaFromPB(r.Connection), Source: schemaFromPB(r.Source), Sink: schemaFromPB(r.Sink),
		Events: schemaFromPB(r.Events)}
}

func diagsToPB(ds sdk.Diagnostics) []*pb.Diagnostic {
	out := make([]*pb.Diagnostic, len(ds))
	for i, d := range ds {
		sev := pb.Diagnostic_ERROR
		if d.Severity == sdk.SeverityWarning {
			sev = pb.Diagnostic_WARNING
		}
		out[i] = &pb.Diagnostic{Severity: sev, Summary: d.Summary, Detail: d.Detail, Path: d.Path}
	}
	return out
}

func diagsFromPB(ds []*pb.Diagnostic) sdk.Diagnostics {
	out := make(sdk.Diagnostics, len(ds))
	for i, d := range ds {
		sev := sdk.SeverityError
		if d.Severity == pb.Diagnostic_WARNING {
			sev = sdk.SeverityWarning
		}
		out[i] = sdk.Diagnostic{Severity: sev, Summary: d.Summary, Detail: d.Detail, Path: d.Path}
	}
	return out
}

func limitsToPB(l sdk.Limits) *pb.Limits {
	return &pb.Limits{MaxRows: int64(l.MaxRows), MaxBytes: int64(l.MaxBytes)}
}

func limitsFromPB(l *pb.Limits) sdk.Limits {
	out := sdk.Limits{MaxRows: int(l.GetMaxRows()), MaxBytes: int(l.GetMaxBytes())}
	if out.MaxRows <= 0 {
		out.MaxRows = sdk.DefaultLimits.MaxRows
	}
	if out.MaxBytes <= 0 {
		out.MaxBytes = sdk.DefaultLimits.MaxBytes
	}
	return out
}

func writeModesToStrings(ms []sdk.WriteMode) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}

func writeModesFromStrings(ss []string) []sdk.WriteMode {
	out := make([]sdk.WriteMode, len(ss))
	for i, s := range ss {
		out[i] = sdk.WriteMode(s)
	}
	return out
}

// predicatesToPB encodes filter hints; a value of a type the protocol
// cannot carry is an error (a bug in the engine, which only makes the
// documented types).
func predicatesToPB(ps []sdk.Predicate) ([]*pb.Predicate, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	out := make([]*pb.Predicate, len(ps))
	for i, p := range ps {
		q := &pb.Predicate{Field: p.Field, Op: p.Op, Values: make([]*pb.Literal, len(p.Values))}
		for j, v := range p.Values {
			var l *pb.Literal
			switch x := v.(type) {
			case string:
				l = &pb.Literal{Kind: &pb.Literal_StringValue{StringValue: x}}
			case int64:
				l = &pb.Literal{Kind: &pb.Literal_IntValue{IntValue: x}}
			case int:
				l = &pb.Literal{Kind: &pb.Literal_IntValue{IntValue: int64(x)}}
			case float64:
				l = &pb.Literal{Kind: &pb.Literal_FloatValue{FloatValue: x}}
			case bool:
				l = &pb.Literal{Kind: &pb.Literal_BoolValue{BoolValue: x}}
			case time.Time:
				if x.Before(minNanoTime) || x.After(maxNanoTime) {
					return nil, fmt.Errorf("filter %s: time %s is out of the protocol's range", p.Field, x)
				}
				l = &pb.Literal{Kind: &pb.Literal_TimeUnixNano{TimeUnixNano: x.UnixNano()}}
			default:
				return nil, fmt.Errorf("filter %s: unsupported value type %T", p.Field, v)
			}
			q.Values[j] = l
		}
		out[i] = q
	}
	return out, nil
}

// Times that fit in int64 Unix nanoseconds.
var (
	minNanoTime = time.Unix(0, math.MinInt64).UTC()
	maxNanoTime = time.Unix(0, math.MaxInt64).UTC()
)

// predicatesFromPB decodes filter hints. A predicate this side does not
// understand (a value kind from a newer engine) is left out: filters are
// hints, and dropping one only widens the read.
func predicatesFromPB(ps []*pb.Predicate) []sdk.Predicate {
	var out []sdk.Predicate
next:
	for _, q := range ps {
		p := sdk.Predicate{Field: q.GetField(), Op: q.GetOp()}
		for _, l := range q.GetValues() {
			switch k := l.GetKind().(type) {
			case *pb.Literal_StringValue:
				p.Values = append(p.Values, k.StringValue)
			case *pb.Literal_IntValue:
				p.Values = append(p.Values, k.IntValue)
			case *pb.Literal_FloatValue:
				p.Values = append(p.Values, k.FloatValue)
			case *pb.Literal_BoolValue:
				p.Values = append(p.Values, k.BoolValue)
			case *pb.Literal_TimeUnixNano:
				p.Values = append(p.Values, time.Unix(0, k.TimeUnixNano).UTC())
			default:
				continue next
			}
		}
		out = append(out, p)
	}
	return out
}

func windowToPB(w *sdk.Window) *pb.Window {
	if w == nil {
		return nil
	}
	out := &pb.Window{Cursor: w.Cursor}
	if !w.From.IsZero() {
		out.FromUnixNano = w.From.UnixNano()
	}
	if !w.To.IsZero() {
		out.ToUnixNano = w.To.UnixNano()
	}
	return out
}

func windowFromPB(w *pb.Window) *sdk.Window {
	if w == nil {
		return nil
	}
	out := &sdk.Window{Cursor: w.Cursor}
	if w.FromUnixNano != 0 {
		out.From = time.Unix(0, w.FromUnixNano).UTC()
	}
	if w.ToUnixNano != 0 {
		out.To = time.Unix(0, w.ToUnixNano).UTC()
	}
	return out
}

// readRequestToPB is a Read's start message, and a Partitions request.
func readRequestToPB(req sdk.ReadRequest) (*pb.Read_Request, error) {
	opts, err := valuesToPB(req.Options)
	if err != nil {
		return nil, err
	}
	filters, err := predicatesToPB(req.Filters)
	if err != nil {
		return nil, err
	}
	return &pb.Read_Request{
		Entity: req.Entity, Fields: req.Fields, Options: opts, Checkpoint: req.Checkpoint,
		Limits: limitsToPB(req.Limits), Filters: filters, Window: windowToPB(req.Window),
		Partition: req.Partition,
	}, nil
}

func readRequestFromPB(req *pb.Read_Request) sdk.ReadRequest {
	return sdk.ReadRequest{
		Entity: req.Entity, Fields: req.Fields, Options: valuesFromPB(req.Options),
		Checkpoint: req.Checkpoint, Limits: limitsFromPB(req.Limits), Filters: predicatesFromPB(req.Filters),
		Window: windowFromPB(req.Window), Partition: req.Partition,
	}
}
