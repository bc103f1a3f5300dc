package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluice-dev/sluice/dsl"
)

func newFmtCommand() *cobra.Command {
	var check bool
	c := &cobra.Command{
		Use:   "fmt FILE|DIR...",
		Short: "Rewrite flow files in canonical form (-check: only report)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var files []string
			for _, a := range args {
				info, err := os.Stat(a)
				if err != nil {
					return invalid(err)
				}
				if !info.IsDir() {
					files = append(files, a)
					continue
				}
				matches, _ := filepath.Glob(filepath.Join(a, "*.hcl"))
				files = append(files, matches...)
			}
			var unformatted []string
			for _, f := range files {
				src, err := os.ReadFile(f)
				if err != nil {
					return invalid(err)
				}
				out, err := dsl.Format(src)
				if err != nil {
					return invalid(fmt.Errorf("%s: %w", f, err))
				}
				if bytes.Equal(src, out) {
					continue
				}
				unformatted = append(unformatted, f)
				if !check {
					if err := os.WriteFile(f, out, 0o644); err != nil {
						return failed(err)
					}
				}
				fmt.Println(f)
			}
			if check && len(unformatted) > 0 {
				return invalid(fmt.Errorf("not formatted: %s", strings.Join(unformatted, ", ")))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&check, "check", false, "exit non-zero if any file is not formatted, changing nothing")
	return c
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the sluice version and plugin protocol version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Printf("sluice %s (plugin protocol v%d)\n", version, protocolVersion)
		},
	}
}
