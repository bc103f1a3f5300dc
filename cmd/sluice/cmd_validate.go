package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/sluice-dev/sluice/dsl"
	"github.com/sluice-dev/sluice/engine"
)

func newValidateCommand(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "validate FILE|DIR",
		Short: "Check flow files: syntax, connectors, and every formula against the source schema",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			host, err := g.host()
			if err != nil {
				return err
			}
			defer host.Close()
			vars, err := parseVars(g.vars)
			if err != nil {
				return err
			}
			cfg, diags, files := dsl.Load(args[0], dsl.LoadOptions{Vars: vars, VarFiles: g.varFiles,
				Specs: specLookup(ctx, host), PluginSpecs: pluginSpecLookup(ctx, host)})
			if !diags.HasErrors() {
				// Formulas can only be checked against a schema, which comes
				// from the source connector.
				for _, f := range cfg.Flows {
					_, ds := engine.Prepare(ctx, f, engine.Options{Host: host})
					diags = append(diags, ds...)
				}
			}
			if asJSON {
				if err := json.NewEncoder(os.Stdout).Encode(diagnosticsJSON(diags)); err != nil {
					return err
				}
			} else if len(diags) > 0 {
				printDiagnostics(files, diags)
			}
			if diags.HasErrors() {
				return invalid(errReported)
			}
			if !asJSON {
				fmt.Printf("%s: %d flow(s) valid\n", args[0], len(cfg.Flows))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print diagnostics as JSON")
	addVarFlags(c, g)
	return c
}

type diagJSON struct {
	Severity string     `json:"severity"`
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail,omitempty"`
	Range    *rangeJSON `json:"range,omitempty"`
}

type rangeJSON struct {
	File        string `json:"filename"`
	StartLine   int    `json:"start_line"`
	StartColumn int    `json:"start_column"`
	EndLine     int    `json:"end_line"`
	EndColumn   int    `json:"end_column"`
}

func diagnosticsJSON(diags hcl.Diagnostics) map[string]any {
	out := []diagJSON{}
	errs := 0
	for _, d := range diags {
		dj := diagJSON{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			dj.Severity = "warning"
		} else {
			errs++
		}
		if r := d.Subject; r != nil {
			dj.Range = &rangeJSON{File: r.Filename, StartLine: r.Start.Line, StartColumn: r.Start.Column,
				EndLine: r.End.Line, EndColumn: r.End.Column}
		}
		out = append(out, dj)
	}
	return map[string]any{"valid": errs == 0, "error_count": errs, "diagnostics": out}
}

func parseVars(kvs []string) (map[string]string, error) {
	vars := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := cutVar(kv)
		if !ok {
			return nil, invalid(fmt.Errorf("--var %q: want name=value", kv))
		}
		vars[k] = v
	}
	return vars, nil
}
