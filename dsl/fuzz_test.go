package dsl

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary text to the loader as a flow file. The loader
// must never panic, and it must always return a config. The fixtures are
// the seed corpus, so a plain `go test` runs them through this target too.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"valid", "invalid", "multi"} {
		for _, name := range fixtures(f, dir) {
			src, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		name := filepath.Join(t.TempDir(), "flow.hcl")
		if err := os.WriteFile(name, src, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, _, files := Load(name, testOptions())
		if cfg == nil {
			t.Fatal("Load returned a nil config")
		}
		if files == nil {
			t.Fatal("Load returned a nil files map")
		}
		// Format must not panic either; errors are fine.
		_, _ = Format(src)
	})
}
