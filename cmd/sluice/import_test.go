package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// appflowFixture is the path of an AppFlow definition under testdata/appflow.
func appflowFixture(t *testing.T, name string) string {
	p, err := filepath.Abs(filepath.Join("testdata", "appflow", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportAppFlowOutputIsFormatted imports every fixture and checks that
// `sluice fmt --check` accepts the result as it is.
func TestImportAppFlowOutputIsFormatted(t *testing.T) {
	dir := workdir(t)
	fixtures, _ := filepath.Glob(filepath.Join("testdata", "appflow", "*.json"))
	if len(fixtures) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range fixtures {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		out := name + ".hcl"
		r := sluice(t, dir, "import", "appflow", appflowFixture(t, filepath.Base(f)), "-o", out)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", name, r.code, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("%s: with -o nothing goes to stdout, got %q", name, r.stdout)
		}
		if r := sluice(t, dir, "fmt", "--check", out); r.code != 0 {
			t.Errorf("%s: fmt --check: exit %d\n%s%s", name, r.code, r.stdout, r.stderr)
		}
	}
}

func TestImportAppFlowReportsFindings(t *testing.T) {
	dir := workdir(t)
	r := sluice(t, dir, "import", "appflow", appflowFixture(t, "unsupported.json"))
	if r.code != 0 {
		t.Fatalf("exit %d, want 0 (findings are not errors)\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"unsupported.json: sourceFlowConfig.connectorType: no sluice connector yet for Zendesk",
		"unsupported.json: tasks[3].taskType: unknown task type \"Concat\"",
		"unsupported.json: kmsArn:",
		"item(s) need review",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, `flow "_2tickets_weekly" {`) || !strings.Contains(r.stdout, "# TODO(import): unknown task type") {
		t.Errorf("the flow goes to stdout without -o, with TODO comments:\n%s", r.stdout)
	}
	// A clean import says nothing on stderr.
	r = sluice(t, dir, "import", "appflow", appflowFixture(t, "event.json"))
	if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, `event = "ContactChangeEvent"`) {
		t.Errorf("event.json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestImportAppFlowBadInput(t *testing.T) {
	dir := workdir(t)
	os.WriteFile(filepath.Join(dir, "broken.json"), []byte("{\n  \"flowName\": \"x\",\n  \"tasks\": [}\n}\n"), 0o644)
	r := sluice(t, dir, "import", "appflow", "broken.json")
	if r.code != 2 || !strings.Contains(r.stderr, "broken.json:3:13: invalid JSON") {
		t.Errorf("syntax error: exit %d, want 2 naming file, line and column\n%s", r.code, r.stderr)
	}
	os.WriteFile(filepath.Join(dir, "other.json"), []byte(`{"Resources": {"B": {"Type": "AWS::S3::Bucket"}}}`), 0o644)
	if r := sluice(t, dir, "import", "appflow", "other.json"); r.code != 2 || !strings.Contains(r.stderr, "other.json") {
		t.Errorf("template without a flow: exit %d\n%s", r.code, r.stderr)
	}
	if r := sluice(t, dir, "import", "appflow", "missing.json"); r.code != 2 || !strings.Contains(r.stderr, "missing.json") {
		t.Errorf("missing file: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.hcl")); err == nil {
		t.Error("a failed import wrote output")
	}
}

// opportunities.csv feeds the all-operators flow once its Salesforce source
// is swapped for a file. Row 1 passes everything; row 2 fails the CONTAINS
// filter; row 3 fails VALIDATE_NUMERIC, whose action drops it.
const opportunitiesCSV = `Id,Name,AccountName,StageName,Amount,Discount,Probability,Quantity,CloseDate,LastModifiedDate,Email,Phone,Ssn,PostalCode,Description,IsWon,Region
006A,Acme Renewal,Acme,Closed Won,125000.50,500.25,90.5,10,2026-03-31,2026-09-07T01:05:00Z,ada@acme.com,+49 30 1234567,123-45-6789,10115,Big deal,true,EMEA
006B,Globex New,Globex,Closed Won,5000,0,50,2,2026-04-01,2026-09-01T00:00:00Z,grace@globex.io,+1 555 0100,987-65-4321,94105,Small,false,AMER
006C,Initech Renewal,Initech,Negotiation,7000,10,60,3,2026-05-01,2026-09-02T00:00:00Z,bob@initech.com,+1 555 0199,111-22-3333,AB1,Other,false,AMER
`

// TestImportedFormulasTypeCheck imports the flow using every task type and
// operator, points it at a CSV with the same fields, and has sluice
// validate (every formula against the real schema) and run it.
func TestImportedFormulasTypeCheck(t *testing.T) {
	dir := workdir(t)
	r := sluice(t, dir, "import", "appflow", appflowFixture(t, "all-operators.json"), "-o", "imported.hcl")
	if r.code != 0 {
		t.Fatalf("import: exit %d\n%s", r.code, r.stderr)
	}
	src, err := os.ReadFile(filepath.Join(dir, "imported.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "opportunities.csv"), []byte(opportunitiesCSV), 0o644)
	os.WriteFile(filepath.Join(dir, "local.hcl"), toFileConnector(t, src), 0o644)

	if r := sluice(t, dir, "validate", "local.hcl"); r.code != 0 {
		t.Fatalf("validate: exit %d\n%s\n%s", r.code, r.stderr, readFile(t, dir, "local.hcl"))
	}
	r = sluice(t, dir, "run", "local.hcl", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"records_written":1`) {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "out", "Region=EMEA", "StageName=Closed Won", "*.csv"))
	if len(parts) != 1 {
		t.Fatalf("want one part file under out/Region=EMEA/StageName=Closed Won, got %v", parts)
	}
	out := readFile(t, dir, strings.TrimPrefix(parts[0], dir+string(filepath.Separator)))
	for _, want := range []string{
		"##############",      // MASK_ALL with #, length kept
		"*****5-6789",         // MASK_FIRST_N 5 hides the first five
		"ada@acxxxxxx",        // MASK_LAST_N 6 with x hides the last six
		"Acme / Acme Renewal", // Merge with CONCAT_FORMAT " / "
		"125500.75",           // ADDITION
		"124500.25",           // SUBTRACTION
		"12500.05",            // DIVISION
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "10115") {
		t.Errorf("PostalCode is excluded by Map_all, yet written:\n%s", out)
	}
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// toFileConnector rewrites an imported flow file to read opportunities.csv
// and write CSV under out/: connection blocks go, the source and sink
// become file blocks, and everything else — the tasks above all — stays.
func toFileConnector(t *testing.T, src []byte) []byte {
	t.Helper()
	f, diags := hclwrite.ParseConfig(src, "imported.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	root := f.Body()
	for _, b := range root.Blocks() {
		if b.Type() == "connection" {
			root.RemoveBlock(b)
		}
	}
	for _, flow := range root.Blocks() {
		if flow.Type() != "flow" {
			continue
		}
		for _, b := range flow.Body().Blocks() {
			switch b.Type() {
			case "source":
				b.SetLabels([]string{"file"})
				body := b.Body()
				body.RemoveAttribute("connection")
				body.RemoveAttribute("object")
				body.SetAttributeValue("path", cty.StringVal("opportunities.csv"))
				body.SetAttributeValue("schema", cty.ObjectVal(map[string]cty.Value{
					"CloseDate": cty.StringVal("date"), "Quantity": cty.StringVal("int"),
					"Probability": cty.StringVal("float"), "Discount": cty.StringVal("float"),
					"PostalCode": cty.StringVal("string"), "Ssn": cty.StringVal("string"),
				}))
			case "sink":
				b.SetLabels([]string{"file"})
				body := b.Body()
				for name := range body.Attributes() {
					body.RemoveAttribute(name)
				}
				body.SetAttributeValue("path", cty.StringVal("out"))
				body.SetAttributeValue("format", cty.StringVal("csv"))
			}
		}
	}
	return hclwrite.Format(f.Bytes())
}
