package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func newPreviewCommand(g *globals) *cobra.Command {
	var flowName string
	var n int
	var asJSON bool
	c := &cobra.Command{
		Use:   "preview FILE|DIR",
		Short: "Show the first records after the tasks, writing nothing",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if n <= 0 {
				return invalid(fmt.Errorf("--limit must be positive"))
			}
			ctx := c.Context()
			p, closePlugins, err := g.prepareFlow(ctx, args[0], flowName)
			defer closePlugins()
			if err != nil {
				return err
			}
			res, err := p.Preview(ctx, n)
			if err != nil {
				return failed(err)
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				for _, row := range res.Rows {
					if err := enc.Encode(row); err != nil {
						return err
					}
				}
				return nil
			}
			names := make([]string, len(res.Schema.Fields()))
			for i, fl := range res.Schema.Fields() {
				names[i] = fl.Name
			}
			printTable(names, res.Rows)
			fmt.Printf("\n%d record(s) shown, %d filtered out", len(res.Rows), res.Filtered)
			if len(res.Rejected) > 0 {
				fmt.Printf(", %d rejected:\n  %s\n", len(res.Rejected), strings.Join(res.Rejected, "\n  "))
			} else {
				fmt.Println()
			}
			return nil
		},
	}
	c.Flags().StringVar(&flowName, "flow", "", "flow to preview when the configuration holds several")
	c.Flags().IntVarP(&n, "limit", "n", 10, "number of records to show")
	c.Flags().BoolVar(&asJSON, "json", false, "print records as JSON Lines")
	addVarFlags(c, g)
	return c
}

func printTable(cols []string, rows []map[string]any) {
	cells := make([][]string, len(rows))
	width := make([]int, len(cols))
	for i, c := range cols {
		width[i] = len(c)
	}
	for r, row := range rows {
		cells[r] = make([]string, len(cols))
		for i, c := range cols {
			v := "null"
			if x := row[c]; x != nil {
				v = fmt.Sprint(x)
			}
			if len(v) > 40 {
				v = v[:37] + "..."
			}
			cells[r][i] = v
			width[i] = max(width[i], len(v))
		}
	}
	line := func(vals []string) {
		for i, v := range vals {
			if i > 0 {
				fmt.Print("  ")
			}
			fmt.Printf("%-*s", width[i], v)
		}
		fmt.Println()
	}
	line(cols)
	seps := make([]string, len(cols))
	for i := range cols {
		seps[i] = strings.Repeat("-", width[i])
	}
	line(seps)
	for _, r := range cells {
		line(r)
	}
}
