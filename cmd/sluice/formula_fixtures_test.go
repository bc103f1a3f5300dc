package main_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The fixtures under dsl/testdata/formulas are flow files whose offending
// lines end in a comment saying which error they must get:
//
//	filter { where = "Nmae != nil" } # error: Did you mean "Name"?
//	filter { where = "Nmae != nil" } # error at Nmae: Unknown field
//
// The substring must occur in the diagnostic's summary or detail, and the
// diagnostic must start on that line; with `at <token>` it must also start
// at the column where token last occurs before the comment. Every error sluice
// reports must be expected by some line.

// formulaFixtureDir holds the fixtures, relative to this package.
func formulaFixtureDir(t *testing.T) string {
	return filepath.Join(repoRoot(t), "dsl", "testdata", "formulas")
}

var expectRE = regexp.MustCompile(`#\s*error(?:\s+at\s+(\S+))?:\s*(.+?)\s*$`)

type expectedDiag struct {
	line    int
	column  int // 0: any
	substr  string
	matched bool
}

func parseExpectations(t *testing.T, src string) []*expectedDiag {
	t.Helper()
	var out []*expectedDiag
	for i, line := range strings.Split(src, "\n") {
		m := expectRE.FindStringSubmatchIndex(line)
		if m == nil || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		e := &expectedDiag{line: i + 1, substr: line[m[4]:m[5]]}
		if m[2] >= 0 {
			token := line[m[2]:m[3]]
			code := line[:m[0]]
			col := strings.LastIndex(code, token)
			if col < 0 {
				t.Fatalf("line %d: token %q of `error at` is not on the line", i+1, token)
			}
			// HCL columns count characters from 1; the fixtures are ASCII.
			e.column = col + 1
		}
		out = append(out, e)
	}
	return out
}

type validateJSON struct {
	Valid       bool `json:"valid"`
	ErrorCount  int  `json:"error_count"`
	Diagnostics []struct {
		Severity string `json:"severity"`
		Summary  string `json:"summary"`
		Detail   string `json:"detail"`
		Range    *struct {
			File        string `json:"filename"`
			StartLine   int    `json:"start_line"`
			StartColumn int    `json:"start_column"`
			EndLine     int    `json:"end_line"`
			EndColumn   int    `json:"end_column"`
		} `json:"range"`
	} `json:"diagnostics"`
}

// formulaWorkdir is a locked work directory holding the fixture CSV.
func formulaWorkdir(t *testing.T) string {
	t.Helper()
	dir := workdir(t)
	csv, err := os.ReadFile(filepath.Join(formulaFixtureDir(t), "accounts.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts.csv"), csv, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestFormulaFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(formulaFixtureDir(t), "*.hcl"))
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	dir := formulaWorkdir(t)
	total := 0
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".hcl"), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), src, 0o644); err != nil {
				t.Fatal(err)
			}
			want := parseExpectations(t, string(src))
			total += len(want)
			r := sluice(t, dir, "validate", "--json", name)
			var out validateJSON
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
				t.Fatalf("validate --json: %v\n%s%s", err, r.stdout, r.stderr)
			}
			if wantCode := map[bool]int{true: 2, false: 0}[len(want) > 0]; r.code != wantCode {
				t.Errorf("exit %d, want %d", r.code, wantCode)
			}
			for _, d := range out.Diagnostics {
				if d.Severity != "error" {
					continue
				}
				if d.Range == nil {
					t.Errorf("error without a range: %s: %s", d.Summary, d.Detail)
					continue
				}
				if d.Range.File != name {
					t.Errorf("error placed in %q, want %q", d.Range.File, name)
				}
				text := d.Summary + ": " + d.Detail
				found := false
				for _, e := range want {
					if e.matched || e.line != d.Range.StartLine || !strings.Contains(text, e.substr) {
						continue
					}
					if e.column != 0 && e.column != d.Range.StartColumn {
						t.Errorf("line %d: error %q starts at column %d, want %d", e.line, d.Summary, d.Range.StartColumn, e.column)
					}
					e.matched, found = true, true
					break
				}
				if !found {
					t.Errorf("unexpected error at line %d col %d: %s", d.Range.StartLine, d.Range.StartColumn, text)
				}
			}
			for _, e := range want {
				if !e.matched {
					t.Errorf("line %d: no error containing %q", e.line, e.substr)
				}
			}
		})
	}
	if total < 20 {
		t.Errorf("only %d expected errors across the fixtures; the suite promises at least 20", total)
	}
}

// TestFormulaErrorsPointInsideTheString checks, beyond the fixtures' start
// columns, that a formula error's whole range lies inside the quotes.
func TestFormulaErrorsPointInsideTheString(t *testing.T) {
	dir := formulaWorkdir(t)
	src := `flow "f" {
  source "file" { path = "accounts.csv" }
  filter { where = "Stage == 'Won' && Emplyees > 3" }
  sink "file" { path = "out" }
}
`
	os.WriteFile(filepath.Join(dir, "f.hcl"), []byte(src), 0o644)
	r := sluice(t, dir, "validate", "--json", "f.hcl")
	var out validateJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Diagnostics) != 1 {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	rg := out.Diagnostics[0].Range
	line := strings.Split(src, "\n")[2]
	open := strings.Index(line, `"`) + 1 // column of the first character inside the quotes
	if rg.StartLine != 3 || rg.EndLine != 3 {
		t.Fatalf("range %+v, want line 3", rg)
	}
	got := line[rg.StartColumn-1 : rg.EndColumn-1]
	if got != "Emplyees" || rg.StartColumn <= open {
		t.Fatalf("range covers %q (columns %d-%d), want the token Emplyees", got, rg.StartColumn, rg.EndColumn)
	}
}

func TestValidateShowsSourceSnippet(t *testing.T) {
	dir := formulaWorkdir(t)
	os.WriteFile(filepath.Join(dir, "f.hcl"), []byte(`flow "f" {
  source "file" { path = "accounts.csv" }
  filter { where = "Nmae != nil" }
  sink "file" { path = "out" }
}
`), 0o644)
	r := sluice(t, dir, "validate", "f.hcl")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2", r.code)
	}
	for _, want := range []string{
		"Error: Unknown field in formula",
		"on f.hcl line 3:",
		"    3:   filter { where = \"Nmae != nil\" }\n" +
			"                           ^^^^\n",
		`Did you mean "Name"?`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}

	// On a terminal HCL's writer underlines the offending token itself
	// (bold + underline escape codes) instead of drawing carets.
	scriptPath, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) to run sluice under a pseudo-terminal")
	}
	cmd := exec.Command(scriptPath, "-qec", filepath.Join(binDir, "sluice")+" validate f.hcl", "/dev/null")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SLUICE_PLUGIN_PATH=", "SLUICE_DEV_PLUGINS=", "TERM=xterm")
	tty, _ := cmd.CombinedOutput()
	if !strings.Contains(string(tty), "\x1b[1;4mNmae\x1b[0m") {
		t.Errorf("on a terminal the token Nmae is not underlined:\n%q", tty)
	}
}

// TestFmtCheckThenFmt uses Terraform's spelling, -check, which sluice
// accepts besides --check.
func TestFmtCheckThenFmt(t *testing.T) {
	dir := formulaWorkdir(t)
	ugly := `flow "f" {
source "file" { path = "accounts.csv" }
    map {
  id = "Id"
      long_name = "Name"
    }
  sink "file" { path = "out" }
}
`
	path := filepath.Join(dir, "ugly.hcl")
	os.WriteFile(path, []byte(ugly), 0o644)
	if r := sluice(t, dir, "fmt", "-check", "ugly.hcl"); r.code != 2 || !strings.Contains(r.stderr, "not formatted: ugly.hcl") {
		t.Fatalf("fmt -check on an unformatted file: exit %d, want 2 naming it\n%s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(path); string(b) != ugly {
		t.Fatal("fmt -check changed the file")
	}
	if r := sluice(t, dir, "fmt", "ugly.hcl"); r.code != 0 || strings.TrimSpace(r.stdout) != "ugly.hcl" {
		t.Fatalf("fmt: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := sluice(t, dir, "fmt", "--check", "ugly.hcl"); r.code != 0 {
		t.Fatalf("fmt -check after fmt: exit %d\n%s", r.code, r.stderr)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "    id        = \"Id\"\n    long_name = \"Name\"\n") {
		t.Errorf("fmt did not indent and align:\n%s", b)
	}
	if r := sluice(t, dir, "validate", "ugly.hcl"); r.code != 0 {
		t.Errorf("the formatted file does not validate: %s", r.stderr)
	}
}
