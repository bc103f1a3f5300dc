package transform

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-dev/sluice/engine/plan"
)

var diagSchema = schemaOf(
	field("AccountId", str),
	field("Amount", f64),
	field("Stage", str),
	field("Tags", arrow.ListOf(str)),
)

// at is where token sits inside text, as a file position: the formula
// starts at line 10, column 15, byte 114 (see fml). Columns count
// characters, bytes count bytes.
func at(text, token string) hcl.Pos {
	i := strings.Index(text, token)
	if i < 0 {
		panic("token not in text: " + token)
	}
	return hcl.Pos{Line: 10, Column: 15 + utf8.RuneCountInString(text[:i]), Byte: 114 + i}
}

func TestFormulaDiagnostics(t *testing.T) {
	cases := []struct {
		name    string
		task    func(plan.Formula) plan.Task
		text    string
		summary string
		token   string // the subject starts here; "" means the whole formula, "*" somewhere inside it
		tokLen  int    // characters the subject covers, when checked
		detail  string
	}{
		{"unknown field", filterOf, `Amountt > 1000`, "Unknown field in formula", "Amountt", 7, `Did you mean "Amount"?`},
		{"unknown field later in the formula", filterOf, `Amount > 1000 && accountid == "x"`, "Unknown field in formula", "accountid", 9, `Did you mean "AccountId"?`},
		{"columns count characters, bytes count bytes", filterOf, `Stage == "héllo wörld" || Stagee == "x"`, "Unknown field in formula", "Stagee", 6, `Did you mean "Stage"?`},
		{"type mismatch", filterOf, `Amount > "x"`, "Type mismatch in formula", ">", 0, "mismatched types float64 and string"},
		{"wrong argument type", filterOf, `lower(Amount) == "x"`, "Type mismatch in formula", "Amount", 0, "cannot use float64"},
		{"not boolean", filterOf, `Amount + 1`, "Formula must be boolean", "", 0, "produces float"},
		{"check not boolean", validateOf, `lower(Stage)`, "Formula must be boolean", "", 0, "check formula produces string"},
		{"unknown function", filterOf, `lowr(Stage) == "x"`, "Unknown function in formula", "lowr", 4, `Did you mean "lower"?`},
		{"syntax", filterOf, `Amount > `, "Invalid formula syntax", "*", 0, "unexpected token EOF"},
		{"unknown result type", mapOf, `Amount > 1 ? "a" : 1`, "Formula type is unknown", "", 0, "cast"},
		{"list result", mapOf, `split(Stage, ",")`, "Unsupported formula result type", "", 0, "join"},
		{"bad regex literal", filterOf, `regex_match(Stage, "a(")`, "Invalid argument in formula", `"a("`, 0, "missing closing )"},
		{"bad matches literal", filterOf, `Stage matches "a("`, "Invalid argument in formula", "matches", 0, "missing closing )"},
		{"bad date_trunc unit", mapOf, `date_trunc("dya", now())`, "Invalid argument in formula", `"dya"`, 0, "does not know the unit"},
		{"bad duration", mapOf, `add_duration(now(), "1 fortnight")`, "Invalid argument in formula", `"1 fortnight"`, 0, "add_duration"},
		{"unsupported field type", filterOf, `Tags == nil`, "Field type not supported in formulas", "Tags", 4, "list<"},
		{"empty", filterOf, `  `, "Empty formula", "", 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			formula := f(tc.text)
			_, diags := Compile([]plan.Task{tc.task(formula)}, diagSchema)
			if len(diags) != 1 {
				t.Fatalf("want 1 diagnostic, got %v", diags)
			}
			d := diags[0]
			if d.Severity != hcl.DiagError || d.Summary != tc.summary {
				t.Errorf("summary %q, want %q (detail: %s)", d.Summary, tc.summary, d.Detail)
			}
			if !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("detail %q lacks %q", d.Detail, tc.detail)
			}
			if d.Subject == nil {
				t.Fatal("no subject")
			}
			if d.Subject.Filename != testFile {
				t.Errorf("file %q", d.Subject.Filename)
			}
			if tc.token == "" {
				if *d.Subject != formula.Range {
					t.Errorf("subject %v, want the formula %v", d.Subject, formula.Range)
				}
				return
			}
			if tc.token == "*" {
				r := formula.Range
				if d.Subject.Start.Byte < r.Start.Byte || d.Subject.End.Byte > r.End.Byte+1 {
					t.Errorf("subject %v outside the formula %v", d.Subject, r)
				}
				return
			}
			if want := at(tc.text, tc.token); d.Subject.Start != want {
				t.Errorf("subject starts %+v, want %+v", d.Subject.Start, want)
			}
			if tc.tokLen > 0 && d.Subject.End.Column-d.Subject.Start.Column != tc.tokLen {
				t.Errorf("subject %v covers %d characters, want %d", d.Subject, d.Subject.End.Column-d.Subject.Start.Column, tc.tokLen)
			}
		})
	}
}

func filterOf(f plan.Formula) plan.Task   { return &plan.Filter{Where: f} }
func validateOf(f plan.Formula) plan.Task { return &plan.Validate{Check: f, OnFail: plan.OnFailDrop} }
func mapOf(f plan.Formula) plan.Task {
	return &plan.Map{Fields: []plan.MapField{{Name: "x", Formula: f}}}
}

// TestMultiLineFormula maps an error on a heredoc's second line.
func TestMultiLineFormula(t *testing.T) {
	text := "Amount > 1 &&\n  Stagee == \"x\""
	formula := fml(text, 10, 15)
	_, diags := Compile([]plan.Task{&plan.Filter{Where: formula}}, diagSchema)
	if len(diags) != 1 {
		t.Fatalf("diags %v", diags)
	}
	got := diags[0].Subject.Start
	want := hcl.Pos{Line: 11, Column: 3, Byte: 114 + strings.Index(text, "Stagee")}
	if got != want {
		t.Errorf("subject %+v, want %+v", got, want)
	}
}

func TestTaskDiagnostics(t *testing.T) {
	rng := taskRange(20)
	cases := []struct {
		name    string
		task    plan.Task
		summary string
		detail  string
	}{
		{"mask missing field", &plan.Mask{Field: "Stag", Range: rng}, "Unknown field", `Did you mean "Stage"?`},
		{"mask non-string", &plan.Mask{Field: "Amount", KeepLast: 2, Range: rng}, "Field is not a string", "float64"},
		{"mask unknown hash", &plan.Mask{Field: "Stage", Hash: "sha1", Range: rng}, "Unknown hash", "sha256"},
		{"mask hash and keep", &plan.Mask{Field: "Stage", Hash: "md5", KeepLast: 4, Range: rng}, "Conflicting mask options", ""},
		{"mask formula and hash", &plan.Mask{Field: "Stage", Hash: "md5", Formula: ptr(f("Stage")), Range: rng}, "Conflicting mask options", ""},
		{"mask char", &plan.Mask{Field: "Stage", Char: "**", Range: rng}, "Invalid mask character", ""},
		{"mask negative", &plan.Mask{Field: "Stage", KeepFirst: -1, Range: rng}, "Invalid mask", ""},
		{"truncate missing field", &plan.Truncate{Field: "Nope", Length: 3, Range: rng}, "Unknown field", ""},
		{"truncate non-string", &plan.Truncate{Field: "Tags", Length: 3, Range: rng}, "Field is not a string", "list"},
		{"truncate negative", &plan.Truncate{Field: "Stage", Length: -1, Range: rng}, "Invalid length", ""},
		{"map except missing", &plan.Map{All: true, Except: []string{"Amont"}, Range: rng}, "Unknown field in except", `Did you mean "Amount"?`},
		{"map except without all", &plan.Map{Except: []string{"Amount"}, Fields: []plan.MapField{mf("a", "Amount")}, Range: rng}, "except without all", ""},
		{"map empty", &plan.Map{Range: rng}, "Empty map", ""},
		{"partition key", &plan.Partition{Keys: []string{"Stage", "Region"}, Range: rng}, "Unknown partition key", `"Region"`},
		{"validate on_fail", &plan.Validate{Check: f("Amount > 0"), OnFail: "ignore", Range: rng}, "Invalid on_fail", "dead_letter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := Compile([]plan.Task{tc.task}, diagSchema)
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			d := diags[0]
			if d.Summary != tc.summary || !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("got %q / %q, want %q / %q", d.Summary, d.Detail, tc.summary, tc.detail)
			}
			if d.Subject == nil || *d.Subject != rng {
				t.Errorf("subject %v, want the task range %v", d.Subject, rng)
			}
		})
	}
}

func TestDuplicateMapField(t *testing.T) {
	second := fml("Stage", 12, 9)
	_, diags := Compile([]plan.Task{&plan.Map{Fields: []plan.MapField{mf("a", "Amount"), {Name: "a", Formula: second}}}}, diagSchema)
	if len(diags) != 1 || diags[0].Summary != "Duplicate map field" || diags[0].Subject.Start.Line != 12 {
		t.Fatalf("diags %v", diags)
	}
}

// TestCompileStopsAtFirstBrokenTask keeps one mistake from cascading.
func TestCompileStopsAtFirstBrokenTask(t *testing.T) {
	p, diags := Compile([]plan.Task{
		&plan.Map{Fields: []plan.MapField{mf("a", "Amountt")}},
		&plan.Filter{Where: f("a > 1")},
	}, diagSchema)
	if p != nil || len(diags) != 1 {
		t.Fatalf("pipeline %v diags %v", p, diags)
	}
}

func TestValidateDefaultsToFail(t *testing.T) {
	p := mustCompile(t, oppSchema, options{}, &plan.Validate{Check: f("Amount > 0")})
	rec := oppBatch(t)
	defer rec.Release()
	if _, err := apply(t, p, rec, false); err == nil || !strings.Contains(err.Error(), "check failed: Amount > 0") {
		t.Fatalf("err = %v", err)
	}
}
