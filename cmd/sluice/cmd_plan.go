package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/spf13/cobra"

	"github.com/sluice-dev/sluice/engine"
)

func newPlanCommand(g *globals) *cobra.Command {
	var flowName string
	c := &cobra.Command{
		Use:   "plan FILE|DIR",
		Short: "Show the source schema, each task's output schema and what goes to each sink",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			l, err := g.load(ctx, args[0])
			if err != nil {
				return err
			}
			defer l.host.Close()
			flows := l.cfg.Flows
			if flowName != "" {
				f, err := l.pickFlow(flowName)
				if err != nil {
					return err
				}
				flows = flows[:0:0]
				flows = append(flows, f)
			}
			for i, f := range flows {
				p, err := g.prepare(ctx, l, f)
				if err != nil {
					return err
				}
				if i > 0 {
					fmt.Println()
				}
				printPlan(os.Stdout, p.Describe())
			}
			return nil
		},
	}
	c.Flags().StringVar(&flowName, "flow", "", "only this flow")
	addVarFlags(c, g)
	return c
}

func printPlan(w io.Writer, fp engine.FlowPlan) {
	fmt.Fprintf(w, "flow %q\n\n", fp.Flow)
	fmt.Fprintf(w, "  %s  (%s)\n", fp.Source.Kind, shortRange(fp.Source.Range.String()))
	printSchema(w, fp.Source.Schema, "      ")
	for _, pr := range fp.Pushed {
		fmt.Fprintf(w, "      offered to the source: %s\n", pr)
	}
	prev := fp.Source.Schema
	for _, st := range fp.Stages {
		how := "per row"
		if st.Vectorized {
			how = "columnar"
		}
		fmt.Fprintf(w, "\n  %s  (%s, %s)\n", st.Kind, shortRange(st.Range.String()), how)
		if prev != nil && st.Schema != nil && prev.Equal(st.Schema) {
			fmt.Fprintln(w, "      (fields unchanged)")
			continue
		}
		printSchema(w, st.Schema, "      ")
		prev = st.Schema
	}
	for _, s := range fp.Sinks {
		fmt.Fprintf(w, "\n  sink %s  -> %s  write=%s", s.Label, s.Entity, s.Mode)
		if len(s.Keys) > 0 {
			fmt.Fprintf(w, " key=%s", strings.Join(s.Keys, ","))
		}
		fmt.Fprintln(w)
		keys := make([]string, 0, len(s.Options))
		for k := range s.Options {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, _ := json.Marshal(s.Options[k])
			fmt.Fprintf(w, "      %s = %s\n", k, v)
		}
	}
}

func printSchema(w io.Writer, s *arrow.Schema, indent string) {
	if s == nil {
		return
	}
	width := 0
	for _, f := range s.Fields() {
		width = max(width, len(f.Name))
	}
	for _, f := range s.Fields() {
		null := ""
		if !f.Nullable {
			null = " not null"
		}
		fmt.Fprintf(w, "%s%-*s  %s%s\n", indent, width, f.Name, f.Type, null)
	}
}

// shortRange drops the byte offsets hcl adds to range strings.
func shortRange(r string) string {
	if i := strings.Index(r, ","); i > 0 {
		return r[:i]
	}
	return r
}
