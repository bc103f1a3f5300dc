package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/state"
)

func newHistoryCommand(g *globals) *cobra.Command {
	var statePath, status string
	var asJSON bool
	var limit int
	c := &cobra.Command{
		Use:   "history [FLOW]",
		Short: "List recorded runs, newest first",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			store, err := openState(c.Context(), g, statePath, false)
			if err != nil {
				return invalid(err)
			}
			defer store.Close()
			f := state.RunFilter{Limit: limit, Status: state.RunStatus(status)}
			if len(args) == 1 {
				f.Flow = args[0]
			}
			runs, err := store.Runs(c.Context(), f)
			if err != nil {
				return failed(err)
			}
			if asJSON {
				if runs == nil {
					runs = []*state.Run{}
				}
				return json.NewEncoder(os.Stdout).Encode(runs)
			}
			if len(runs) == 0 {
				fmt.Println("no runs recorded")
				return nil
			}
			// The table is laid out first and the sample lines slipped in
			// after: a line without tabs would split tabwriter's columns.
			var table bytes.Buffer
			w := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "RUN\tFLOW\tSTATUS\tTRIGGER\tSTARTED\tDURATION\tREAD\tWRITTEN\tFAILED")
			for _, r := range runs {
				dur := "-"
				if !r.FinishedAt.IsZero() {
					dur = r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Flow, r.Status, r.Trigger,
					r.StartedAt.Local().Format("2006-01-02 15:04:05"), dur, count(r.RecordsRead), count(r.RecordsWritten), count(r.RecordsFailed))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			lines := strings.SplitAfter(table.String(), "\n")
			out := bufio.NewWriter(os.Stdout)
			out.WriteString(lines[0])
			for i, r := range runs {
				out.WriteString(lines[i+1])
				for _, l := range sampleLines(r.ErrorSample, r.RecordsFailed, historySampleLines) {
					fmt.Fprintf(out, "    %s\n", l)
				}
			}
			return out.Flush()
		},
	}
	c.Flags().StringVar(&statePath, "state", os.Getenv("SLUICE_STATE"), "state database (default <state-dir>/sluice.db)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the runs as a JSON array")
	c.Flags().IntVarP(&limit, "limit", "n", 20, "how many runs to show")
	c.Flags().StringVar(&status, "status", "", "only runs with this status")
	return c
}

func newStateCommand(g *globals) *cobra.Command {
	var statePath string
	c := &cobra.Command{
		Use:   "state",
		Short: "Show or change a flow's stored state: checkpoint, incremental watermark, activation",
	}
	c.PersistentFlags().StringVar(&statePath, "state", os.Getenv("SLUICE_STATE"), "state database (default <state-dir>/sluice.db)")

	var asJSON bool
	show := &cobra.Command{
		Use:   "show FLOW",
		Short: "Show a flow's checkpoint, watermark, activation and last run",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			store, err := openState(ctx, g, statePath, false)
			if err != nil {
				return invalid(err)
			}
			defer store.Close()
			fs, err := store.Flow(ctx, args[0])
			if err != nil {
				return failed(err)
			}
			cp, err := store.Checkpoint(ctx, args[0])
			if err != nil {
				return failed(err)
			}
			runs, err := store.Runs(ctx, state.RunFilter{Flow: args[0], Limit: 1})
			if err != nil {
				return failed(err)
			}
			out := map[string]any{"flow": fs}
			if cp != nil {
				out["checkpoint"] = cp
			}
			if len(runs) > 0 {
				out["last_run"] = runs[0]
			}
			if asJSON {
				return json.NewEncoder(os.Stdout).Encode(out)
			}
			fmt.Printf("flow %s\n", args[0])
			active := "yes"
			if !fs.Active {
				active = "no (" + fs.Reason + ")"
			}
			fmt.Printf("  active                %s\n", active)
			fmt.Printf("  consecutive failures  %d\n", fs.ConsecutiveFailures)
			if !fs.Watermark.IsZero() {
				fmt.Printf("  incremental watermark %s\n", fs.Watermark.Format(time.RFC3339))
			}
			if cp != nil {
				fmt.Printf("  checkpoint            %s (saved %s)\n", printable(cp.Position), cp.UpdatedAt.Local().Format(time.RFC3339))
			} else {
				fmt.Printf("  checkpoint            none\n")
			}
			if len(runs) > 0 {
				fmt.Printf("  last run              %s %s\n", runs[0].ID, runs[0].Status)
			}
			return nil
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print as JSON")

	reset := &cobra.Command{
		Use:   "reset FLOW",
		Short: "Forget a flow's checkpoint and incremental watermark: its next run starts from the beginning",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			store, err := openState(c.Context(), g, statePath, false)
			if err != nil {
				return invalid(err)
			}
			defer store.Close()
			if err := store.ResetCheckpoint(c.Context(), args[0]); err != nil {
				return failed(err)
			}
			fmt.Printf("flow %s: checkpoint and watermark reset\n", args[0])
			return nil
		},
	}

	var checkpoint, watermark, active string
	set := &cobra.Command{
		Use:   "set FLOW [--checkpoint TEXT] [--watermark TIME] [--active true|false]",
		Short: "Set a flow's checkpoint, incremental watermark or activation",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			fl := c.Flags()
			if !fl.Changed("checkpoint") && !fl.Changed("watermark") && !fl.Changed("active") {
				return invalid(errors.New("nothing to set: pass --checkpoint, --watermark or --active"))
			}
			var wm time.Time
			if fl.Changed("watermark") {
				t, err := time.Parse(time.RFC3339, watermark)
				if err != nil {
					return invalid(fmt.Errorf("--watermark %q: want RFC 3339, such as 2026-01-01T00:00:00Z", watermark))
				}
				wm = t
			}
			var act bool
			if fl.Changed("active") {
				switch strings.ToLower(active) {
				case "true", "yes", "1":
					act = true
				case "false", "no", "0":
				default:
					return invalid(fmt.Errorf("--active %q: want true or false", active))
				}
			}
			store, err := openState(ctx, g, statePath, false)
			if err != nil {
				return invalid(err)
			}
			defer store.Close()
			if fl.Changed("checkpoint") {
				if err := store.Save(ctx, args[0], []byte(checkpoint)); err != nil {
					return failed(err)
				}
			}
			if fl.Changed("watermark") {
				if err := store.SetWatermark(ctx, args[0], wm); err != nil {
					return failed(err)
				}
			}
			if fl.Changed("active") {
				if err := store.SetActive(ctx, args[0], act, "deactivated with sluice state set"); err != nil {
					return failed(err)
				}
			}
			fmt.Printf("flow %s: state updated (a running daemon keeps the activation it has; use its API to change that)\n", args[0])
			return nil
		},
	}
	set.Flags().StringVar(&checkpoint, "checkpoint", "", "checkpoint position, as the source reports it")
	set.Flags().StringVar(&watermark, "watermark", "", "where the next incremental window starts (RFC 3339)")
	set.Flags().StringVar(&active, "active", "", "activate (true) or deactivate (false) the flow")

	c.AddCommand(show, reset, set)
	return c
}

// historySampleLines is how many refused records `sluice history` shows
// under a run: enough to see the kinds of failure, few enough that a list
// of runs stays a list. --json carries the whole sample.
const historySampleLines = 3

// sampleLines renders up to limit entries of an error sample, one line
// each, and a last line counting the failed records not shown.
func sampleLines(sample []engine.RecordError, failed int64, limit int) []string {
	if len(sample) == 0 {
		return nil
	}
	shown := sample[:min(len(sample), limit)]
	out := make([]string, 0, len(shown)+1)
	for _, e := range shown {
		out = append(out, e.String())
	}
	if more := max(failed, int64(len(sample))) - int64(len(shown)); more > 0 {
		out = append(out, fmt.Sprintf("… and %s more failed record(s)", count(more)))
	}
	return out
}

// printable shows a checkpoint as text when it is, as hex otherwise.
func printable(b []byte) string {
	if utf8.Valid(b) && !strings.ContainsFunc(string(b), func(r rune) bool { return r < 0x20 }) {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%x", b)
}
