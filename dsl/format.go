package dsl

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Format returns src in canonical HCL layout (indentation, aligned equals
// signs), for `sluice fmt`. It refuses source that does not parse, because
// hclwrite formats token by token and would happily rearrange a broken file
// into a differently broken one.
func Format(src []byte) ([]byte, error) {
	if _, diags := hclsyntax.ParseConfig(src, "input.hcl", hcl.InitialPos); diags.HasErrors() {
		return nil, fmt.Errorf("formatting flow file: %w", diags)
	}
	return hclwrite.Format(src), nil
}
