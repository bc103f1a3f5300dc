package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sluice-dev/sluice/dsl/appflow"
)

func newImportCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "import",
		Short: "Convert flows defined for other tools into sluice flow files",
	}
	c.AddCommand(newImportAppFlowCommand())
	return c
}

func newImportAppFlowCommand() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "appflow FILE.json [-o OUT.hcl]",
		Short: "Convert an Amazon AppFlow flow (CreateFlow/DescribeFlow JSON or a CloudFormation template) into a flow file",
		Long: `Convert an Amazon AppFlow flow definition into a sluice flow file.

FILE.json is a CreateFlow request, a DescribeFlow response (aws appflow
describe-flow), or a CloudFormation template or resource of type
AWS::AppFlow::Flow. The flow file goes to -o, or to standard output.
Everything that has no exact sluice equivalent is listed on standard error
and marked in the output with a "# TODO(import): ..." comment.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			src, err := os.ReadFile(args[0])
			if err != nil {
				return invalid(err)
			}
			hcl, findings, err := appflow.Convert(src, args[0])
			if err != nil {
				return invalid(err)
			}
			for _, f := range findings {
				fmt.Fprintf(os.Stderr, "%s: %s\n", args[0], f)
			}
			if len(findings) > 0 {
				fmt.Fprintf(os.Stderr, "%d item(s) need review: see the TODO(import) comments\n", len(findings))
			}
			if out == "" || out == "-" {
				_, err := os.Stdout.Write(hcl)
				return err
			}
			if err := os.WriteFile(out, hcl, 0o644); err != nil {
				return failed(err)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "write the flow file here instead of standard output")
	return c
}
