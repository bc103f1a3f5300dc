package transform

import (
	"context"
	"math/rand"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-dev/sluice/engine/plan"
)

// FuzzCompile feeds arbitrary formula text to Compile as a filter, a map
// field and a validate check. No input may panic, every diagnostic must
// point into the formula's file, and formulas that compile onto the column
// path are run on a small batch (both paths) to shake out kernel panics.
// Per-row-only formulas are not run: expr builtins such as repeat() can
// legitimately allocate without bound.
//
//	go test -run '^$' -fuzz FuzzCompile ./engine/transform
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		`Amount > 1000 && Stage == "Closed Won"`,
		`a + b * 2 > x / 3 || !(p && q)`,
		`s == nil || lower(s) startsWith "a"`,
		`s matches "^[a-z]+$" && len(t) in 1..5`,
		`coalesce(x, 0.0) ** 2 - abs(y)`,
		`a % b == 0 ? "even" : "odd"`,
		`a in [1, 2, 3] and s not in ["x", "y"]`,
		`int(s) + 1`,
		`date_trunc("day", now())`,
		`concat(s, "-", t)`,
		`regex_replace(s, "(a+)", "$1$1")`,
		`let z = a; z * z`,
		`[1, 2][a]`,
		`{"k": a}.k`,
		`s[1:2]`,
		`a ?? b`,
		`)(`,
		`"unterminated`,
		`a +`,
		`é == ü`,
		"\x00",
		``,
	} {
		f.Add(seed)
	}
	rng := rand.New(rand.NewSource(7))
	rec := randomBatch(f, rng, 64, 0.3)
	f.Cleanup(rec.Release)
	f.Fuzz(func(t *testing.T, text string) {
		formula := plan.Formula{Text: text, Range: hcl.Range{
			Filename: "fuzz.hcl",
			Start:    hcl.Pos{Line: 1, Column: 10, Byte: 9},
			End:      hcl.Pos{Line: 1, Column: 10 + len([]rune(text)), Byte: 9 + len(text)},
		}}
		tasks := []plan.Task{
			&plan.Filter{Where: formula},
			&plan.Map{Fields: []plan.MapField{{Name: "r", Formula: formula}}},
			&plan.Validate{Check: formula, OnFail: plan.OnFailDeadLetter},
		}
		for _, task := range tasks {
			p, diags := Compile([]plan.Task{task}, propSchema)
			for _, d := range diags {
				if d.Summary == "" || d.Subject == nil || d.Subject.Filename != "fuzz.hcl" {
					t.Fatalf("diagnostic without a place: %+v", d)
				}
				if strings.HasPrefix(d.Summary, "Internal error") {
					t.Fatalf("%q: %s", text, d.Detail)
				}
			}
			if p == nil || !p.Stages()[0].Vectorized {
				continue
			}
			for _, rowPath := range []bool{false, true} {
				p.opts.rowPath = rowPath
				res, err := p.NewRunner().Apply(context.Background(), rec, true)
				if err != nil {
					t.Fatalf("%q: %v", text, err)
				}
				if res.Out != nil {
					res.Out.Release()
				}
			}
		}
	})
}
