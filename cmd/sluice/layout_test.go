package main_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection enforces DESIGN.md's layout: plugins import only
// the sdk, and the sdk imports nothing of the engine, the dsl or the CLI.
func TestDependencyDirection(t *testing.T) {
	const mod = "github.com/sluice-dev/sluice/"
	rules := []struct {
		pkgs      string
		forbidden []string
	}{
		{"./sdk/...", []string{"engine", "dsl", "cmd", "plugins"}},
		{"./plugins/...", []string{"engine", "dsl", "cmd"}},
		{"./dsl/...", []string{"cmd", "engine/transform", "engine/pluginhost"}},
		{"./engine/...", []string{"dsl", "cmd", "plugins"}},
	}
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "../../"+strings.TrimPrefix(r.pkgs, "./")).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", r.pkgs, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range r.forbidden {
				if dep == mod+f || strings.HasPrefix(dep, mod+f+"/") {
					t.Errorf("%s depends on %s", r.pkgs, dep)
				}
			}
		}
	}
}
