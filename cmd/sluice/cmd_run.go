package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-dev/sluice/engine"
)

func newRunCommand(g *globals) *cobra.Command {
	var flowName string
	var asJSON bool
	c := &cobra.Command{
		Use:   "run FILE|DIR",
		Short: "Run a flow once",
		Long: "Run a flow once and print its summary. Exit code 0 means every record was\n" +
			"written or accounted for in the dead-letter file, 1 means the run failed or was\n" +
			"cancelled, 2 means the flags or the flow file are invalid.",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			p, closePlugins, err := g.prepareFlow(ctx, args[0], flowName)
			defer closePlugins()
			if err != nil {
				return err
			}
			ro := engine.RunOptions{}
			if p.Flow.Trigger.Kind == "event" {
				// An event flow runs until stopped: the first signal
				// commits what arrived and stops, a second abandons it.
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(context.WithoutCancel(ctx))
				defer cancel()
				stop := make(chan struct{})
				ro.Stop = stop
				sigs := make(chan os.Signal, 2)
				signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
				defer signal.Stop(sigs)
				go func() {
					select {
					case <-sigs:
					case <-ctx.Done():
						return
					}
					fmt.Fprintln(os.Stderr, "Stopping: committing the events received so far (interrupt again to abandon them).")
					close(stop)
					select {
					case <-sigs:
						cancel()
					case <-ctx.Done():
					}
				}()
				fmt.Fprintf(os.Stderr, "Following change events of %s %s; interrupt to stop.\n", p.Flow.Source.Type, p.Flow.Source.Entity)
			}
			var bar *progressLine
			if !asJSON && isTerminal(os.Stderr) {
				bar = &progressLine{w: os.Stderr, start: time.Now()}
				ro.OnProgress = bar.update
			}
			res := p.Run(ctx, ro)
			if bar != nil {
				bar.clear()
			}
			if asJSON {
				if err := json.NewEncoder(os.Stdout).Encode(runJSON(res)); err != nil {
					return err
				}
			} else {
				printRunSummary(os.Stdout, res)
			}
			if res.Err != nil {
				if asJSON {
					fmt.Fprintln(os.Stderr, "Error:", res.Err)
				}
				return failed(errReported)
			}
			return nil
		},
	}
	c.Flags().StringVar(&flowName, "flow", "", "flow to run when the configuration holds several")
	c.Flags().BoolVar(&asJSON, "json", false, "print the run summary as one JSON object")
	addVarFlags(c, g)
	return c
}

func runJSON(r *engine.RunResult) map[string]any {
	out := map[string]any{
		"flow":             r.Flow,
		"run_id":           r.RunID,
		"status":           r.Status,
		"records_read":     r.Stats.RecordsRead,
		"records_filtered": r.Stats.RecordsFiltered,
		"records_written":  r.Stats.RecordsWritten,
		"records_failed":   r.Stats.RecordsFailed,
		"bytes_read":       r.Stats.BytesRead,
		"bytes_written":    r.Stats.BytesWritten,
		"started_at":       r.StartedAt.Format(time.RFC3339Nano),
		"finished_at":      r.FinishedAt.Format(time.RFC3339Nano),
		"sinks":            r.Sinks,
	}
	if r.Err != nil {
		out["error"] = r.Err.Error()
	}
	if r.DeadLetter != "" {
		out["dead_letter"] = r.DeadLetter
	}
	if len(r.ErrorSample) > 0 {
		out["error_sample"] = r.ErrorSample
	}
	return out
}

func printRunSummary(w io.Writer, r *engine.RunResult) {
	d := r.FinishedAt.Sub(r.StartedAt)
	fmt.Fprintf(w, "flow %s  run %s  %s\n", r.Flow, r.RunID, strings.ToUpper(string(r.Status)))
	fmt.Fprintf(w, "  records  read %s  filtered %s  written %s  failed %s\n",
		count(r.Stats.RecordsRead), count(r.Stats.RecordsFiltered), count(r.Stats.RecordsWritten), count(r.Stats.RecordsFailed))
	rate := ""
	if secs := d.Seconds(); secs > 0 {
		rate = fmt.Sprintf(" (%s rows/s)", count(int64(float64(r.Stats.RecordsRead)/secs)))
	}
	fmt.Fprintf(w, "  bytes    in %s  out %s  in %s%s\n", size(r.Stats.BytesRead), size(r.Stats.BytesWritten), d.Round(time.Millisecond), rate)
	for _, s := range r.Sinks {
		fmt.Fprintf(w, "  sink %s: %s written, %s rejected\n", s.Sink, count(s.Written), count(s.Rejected))
	}
	if r.DeadLetter != "" {
		fmt.Fprintf(w, "  rejected records: %s\n", r.DeadLetter)
	}
	if lines := sampleLines(r.ErrorSample, r.Stats.RecordsFailed, engine.ErrorSampleSize); len(lines) > 0 {
		fmt.Fprintln(w, "  failed records:")
		for _, l := range lines {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	if r.Err != nil {
		fmt.Fprintf(w, "  error: %v\n", r.Err)
	}
}

// progressLine redraws one status line on a terminal.
type progressLine struct {
	w     io.Writer
	start time.Time
}

func (p *progressLine) update(s engine.Stats) {
	secs := time.Since(p.start).Seconds()
	rate := int64(0)
	if secs > 0 {
		rate = int64(float64(s.RecordsRead) / secs)
	}
	fmt.Fprintf(p.w, "\r\033[K%s rows  %s rows/s  %s read  %s written",
		count(s.RecordsRead), count(rate), size(s.BytesRead), size(s.BytesWritten))
}

func (p *progressLine) clear() { fmt.Fprint(p.w, "\r\033[K") }

// count renders 1234567 as 1,234,567.
func count(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func size(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
