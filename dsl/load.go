package dsl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/sdk"
)

// SpecLookup returns the spec of the connector named typ ("file",
// "salesforce"...), or an error if no plugin provides it.
type SpecLookup func(typ string) (sdk.Spec, error)

// LoadOptions are the inputs to a load besides the files themselves.
type LoadOptions struct {
	// Vars are --var name=value settings; they win over every other source.
	Vars map[string]string
	// VarFiles are --var-file paths: HCL files of `name = value` lines,
	// applied in order, later files winning.
	VarFiles []string
	// Env looks up environment variables for env() and SLUICE_VAR_<name>.
	// It defaults to os.LookupEnv; tests pass a map.
	Env func(string) (string, bool)
	// Specs finds connector specs. Without it every connector is unknown.
	Specs SpecLookup
	// PluginSpecs finds the spec of an executable a block names with
	// `plugin = "..."`; without it such blocks fall back to Specs.
	PluginSpecs func(typ, path string) (sdk.Spec, error)
}

// envVarPrefix prefixes environment variables that set input variables,
// e.g. SLUICE_VAR_region.
const envVarPrefix = "SLUICE_VAR_"

// fileExt is the extension of flow files in a directory.
const fileExt = ".hcl"

// Load parses one .hcl file, or every .hcl file of a directory as one
// configuration (like a Terraform module).
//
// The Config is never nil. When the diagnostics hold errors it is partial:
// safe to inspect, not fit to run. The returned files map every parsed file
// (flow files and var files) by name, for a diagnostic writer to show source
// snippets.
func Load(path string, opts LoadOptions) (*plan.Config, hcl.Diagnostics, map[string]*hcl.File) {
	l := newLoader(opts)
	cfg := l.load(path)
	return cfg, l.diags, l.parser.Files()
}

// loader carries the state of one Load.
type loader struct {
	opts   LoadOptions
	parser *hclparse.Parser
	diags  hcl.Diagnostics

	vars      map[string]*variable
	varValues map[string]cty.Value

	// conns holds every declared connection, including ones whose body had
	// errors, so references to them do not cause a second diagnostic.
	conns map[string]map[string]*plan.Connection

	specs map[string]specResult
	// startFailed marks connectors whose plugin could not start, reported once.
	startFailed map[string]bool
}

type specResult struct {
	spec sdk.Spec
	err  error
}

// fileBlocks are the top-level blocks of one file.
type fileBlocks struct {
	name        string
	variables   []*hclsyntax.Block
	connections []*hclsyntax.Block
	flows       []*hclsyntax.Block
}

func newLoader(opts LoadOptions) *loader {
	if opts.Env == nil {
		opts.Env = os.LookupEnv
	}
	return &loader{
		opts:      opts,
		parser:    hclparse.NewParser(),
		vars:      map[string]*variable{},
		varValues: map[string]cty.Value{},
		conns:     map[string]map[string]*plan.Connection{},
		specs:     map[string]specResult{},
	}
}

// topRules are the blocks a flow file holds at its top level.
var topRules = map[string]blockRule{
	"variable":   {labels: []string{"name"}, usage: `variable "<name>" { ... }`},
	"connection": {labels: []string{"type", "name"}, usage: `connection "<type>" "<name>" { ... }`},
	"flow":       {labels: []string{"name"}, usage: `flow "<name>" { ... }`},
}

// topHints explain blocks that are valid, but only inside a flow.
var topHints = func() map[string]string {
	m := map[string]string{}
	for _, t := range []string{"trigger", "source", "sink", "filter", "map", "mask", "truncate", "validate", "partition", "on_error"} {
		m[t] = fmt.Sprintf("A %s block belongs inside a flow block; move it into the flow it is part of.", t)
	}
	return m
}()

func (l *loader) load(path string) *plan.Config {
	cfg := &plan.Config{}
	names, dir, err := flowFiles(path)
	if err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot read flow files",
			Detail:   fmt.Sprintf("%s. Give the path of a .hcl file or of a directory holding .hcl files.", err),
		})
		return cfg
	}

	var files []*fileBlocks
	parseFailed := false
	for _, name := range names {
		f, diags := l.parser.ParseHCLFile(name)
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() || f == nil {
			parseFailed = true
			continue
		}
		if fb := l.topLevel(name, f); fb != nil {
			files = append(files, fb)
		}
	}
	// A file that does not parse gives a partial tree; decoding it would only
	// add diagnostics that are echoes of the syntax error.
	if parseFailed {
		return cfg
	}

	for _, fb := range files {
		for _, b := range fb.variables {
			l.declareVariable(b)
		}
	}
	l.resolveVariables()

	vars := l.varObject()
	envFn := l.opts.Env
	connScope := &scope{
		ctx: &hcl.EvalContext{
			Variables: map[string]cty.Value{"var": vars},
			Functions: functions(dir, envFn),
		},
		vars: l.vars,
	}
	for _, fb := range files {
		for _, b := range fb.connections {
			if c := l.decodeConnection(b, connScope); c != nil {
				cfg.Connections = append(cfg.Connections, c)
			}
		}
	}

	flowScope := &scope{
		ctx: &hcl.EvalContext{
			Variables: map[string]cty.Value{"var": vars, "connection": l.connObject()},
			Functions: functions(dir, envFn),
		},
		vars:  l.vars,
		conns: l.conns,
	}
	seen := map[string]*plan.Flow{}
	for _, fb := range files {
		for _, b := range fb.flows {
			f := l.decodeFlow(b, fb.name, flowScope)
			if f == nil {
				continue
			}
			if first, dup := seen[f.Name]; dup {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate flow",
					Detail:   fmt.Sprintf("A flow named %q is already declared at %s. Flow names must be unique across the configuration; rename one of them.", f.Name, first.Range),
					Subject:  b.LabelRanges[0].Ptr(),
				})
				continue
			}
			seen[f.Name] = f
			cfg.Flows = append(cfg.Flows, f)
		}
	}
	return cfg
}

// flowFiles lists the files to load: path itself, or the .hcl files of the
// directory path in name order (so diagnostics come out in a stable order).
// dir is the directory file() reads relative paths from.
func flowFiles(path string) (names []string, dir string, err error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("reading flow files: %w", err)
	}
	if !info.IsDir() {
		return []string{path}, filepath.Dir(path), nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, "", fmt.Errorf("reading flow directory: %w", err)
	}
	for _, e := range entries {
		// Editors leave hidden and backup files beside the real ones.
		if e.IsDir() || !strings.HasSuffix(e.Name(), fileExt) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		names = append(names, filepath.Join(path, e.Name()))
	}
	if len(names) == 0 {
		return nil, "", fmt.Errorf("no %s files in directory %s", fileExt, path)
	}
	sort.Strings(names)
	return names, path, nil
}

// topLevel sorts a file's top-level blocks by kind.
func (l *loader) topLevel(name string, f *hcl.File) *fileBlocks {
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		// ParseHCLFile always yields native syntax; this guards the type
		// assertion rather than a real case.
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported file syntax",
			Detail:   fmt.Sprintf("%s is not in HCL native syntax.", name),
		})
		return nil
	}
	for _, a := range inOrder(body.Attributes) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported argument",
			Detail:   fmt.Sprintf("An argument named %q is not expected at the top level of a flow file, which holds only variable, connection and flow blocks. Move it into the block it belongs to.", a.Name),
			Subject:  a.NameRange.Ptr(),
		})
	}
	blocks, diags := blocksOf(body, "a flow file's top level", topRules, topHints)
	l.diags = append(l.diags, diags...)
	fb := &fileBlocks{name: name}
	for _, b := range blocks {
		switch b.Type {
		case "variable":
			fb.variables = append(fb.variables, b)
		case "connection":
			fb.connections = append(fb.connections, b)
		case "flow":
			fb.flows = append(fb.flows, b)
		}
	}
	return fb
}

// spec looks up a connector spec once per load, since a lookup may start a
// plugin process.
func (l *loader) spec(typ string) (sdk.Spec, error) { return l.pluginSpec(typ, "") }

// pluginSpec looks up the spec of the executable a block names with
// `plugin = "..."`, or of the installed plugin when path is empty.
func (l *loader) pluginSpec(typ, path string) (sdk.Spec, error) {
	key := typ
	if path != "" {
		key = typ + "\x00" + path
	}
	if r, ok := l.specs[key]; ok {
		return r.spec, r.err
	}
	var r specResult
	switch {
	case path != "" && l.opts.PluginSpecs != nil:
		r.spec, r.err = l.opts.PluginSpecs(typ, path)
	case l.opts.Specs == nil:
		r.err = fmt.Errorf("%w: no connector plugins are available", ErrUnknownConnector)
	default:
		r.spec, r.err = l.opts.Specs(typ)
	}
	l.specs[key] = r
	return r.spec, r.err
}

// unknownConnector reports a connector type no plugin provides.
// connectorError reports a connector that could not be resolved. A typo is
// reported at every block that makes it; a plugin that would not start is
// one problem, reported once, at the first block that needed it.
func (l *loader) connectorError(typ string, err error, subject hcl.Range) {
	if !errors.Is(err, ErrUnknownConnector) {
		if l.startFailed[typ] {
			return
		}
		if l.startFailed == nil {
			l.startFailed = map[string]bool{}
		}
		l.startFailed[typ] = true
	}
	l.diags = append(l.diags, unknownConnector(typ, err, subject))
}

func unknownConnector(typ string, err error, subject hcl.Range) *hcl.Diagnostic {
	if !errors.Is(err, ErrUnknownConnector) {
		// The plugin exists but could not answer: untrusted, crashed, or
		// speaking another protocol version. Its own message says which.
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot start the " + typ + " connector",
			Detail:   err.Error(),
			Subject:  &subject,
		}
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Unknown connector type",
		Detail:   fmt.Sprintf("No plugin provides a connector named %q (%s). Check the spelling, or install the plugin that provides it.", typ, err),
		Subject:  &subject,
	}
}

// ErrUnknownConnector is what a SpecLookup wraps when no plugin provides
// the connector; any other lookup error is reported as a failure to start.
var ErrUnknownConnector = errors.New("unknown connector")

// varObject is the value of `var` in expressions.
func (l *loader) varObject() cty.Value {
	if len(l.varValues) == 0 {
		return cty.EmptyObjectVal
	}
	return cty.ObjectVal(l.varValues)
}

// connObject is the value of `connection` in expressions: each connection
// evaluates to an object carrying its type and name, which the source or
// sink resolves back to the *plan.Connection. Values stay out of it so
// secrets never flow into other expressions.
func (l *loader) connObject() cty.Value {
	if len(l.conns) == 0 {
		return cty.EmptyObjectVal
	}
	types := map[string]cty.Value{}
	for typ, byName := range l.conns {
		names := map[string]cty.Value{}
		for name := range byName {
			names[name] = cty.ObjectVal(map[string]cty.Value{
				"type": cty.StringVal(typ),
				"name": cty.StringVal(name),
			})
		}
		types[typ] = cty.ObjectVal(names)
	}
	return cty.ObjectVal(types)
}
