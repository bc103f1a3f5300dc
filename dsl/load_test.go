package dsl

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/sdk"
)

// testSpecs stands in for the plugin host: a file connector, a Salesforce
// connector with a connection, and a sink-only postgres connector.
func testSpecs(typ string) (sdk.Spec, error) {
	switch typ {
	case "file":
		return sdk.Spec{
			Name:         "file",
			Capabilities: []sdk.Capability{sdk.CapSource, sdk.CapSink},
			Source: sdk.ConfigSchema{Attributes: []sdk.Attribute{
				{Name: "path", Type: sdk.TypeString, Required: true, Entity: true},
				{Name: "format", Type: sdk.TypeString, Default: "csv"},
				{Name: "delimiter", Type: sdk.TypeString},
				{Name: "header", Type: sdk.TypeBool, Default: true},
				{Name: "null_values", Type: sdk.TypeStringList},
				{Name: "schema", Type: sdk.TypeStringMap},
			}},
			Sink: sdk.ConfigSchema{Attributes: []sdk.Attribute{
				{Name: "path", Type: sdk.TypeString, Required: true, Entity: true},
				{Name: "format", Type: sdk.TypeString, Default: "csv"},
				{Name: "partition_by", Type: sdk.TypeStringList},
				{Name: "target_file_size", Type: sdk.TypeInt, Default: 128 << 20},
				{Name: "compression_ratio", Type: sdk.TypeFloat},
			}},
		}, nil
	case "salesforce":
		return sdk.Spec{
			Name:         "salesforce",
			Capabilities: []sdk.Capability{sdk.CapSource, sdk.CapSink, sdk.CapEvents},
			Events: sdk.ConfigSchema{Attributes: []sdk.Attribute{
				{Name: "event", Type: sdk.TypeString},
				{Name: "replay_fallback", Type: sdk.TypeString, Default: "earliest"},
			}},
			Connection: sdk.ConfigSchema{Attributes: []sdk.Attribute{
				{Name: "login_url", Type: sdk.TypeString, Required: true},
				{Name: "client_id", Type: sdk.TypeString, Required: true, Sensitive: true},
				{Name: "private_key", Type: sdk.TypeString},
				{Name: "api_version", Type: sdk.TypeString, Default: "62.0"},
			}},
			Source: sdk.ConfigSchema{Attributes: []sdk.Attribute{
				{Name: "object", Type: sdk.TypeString, Required: true, Entity: true},
			}},
			Sink: sdk.ConfigSchema{Attributes: []sdk.Attribute{
				{Name: "object", Type: sdk.TypeString, Required: true, Entity: true},
			}},
		}, nil
	case "postgres":
		return sdk.Spec{
			Name:         "postgres",
			Capabilities: []sdk.Capability{sdk.CapSink},
			Connection: sdk.ConfigSchema{Attributes: []sdk.Attribute{
				{Name: "dsn", Type: sdk.TypeString, Required: true, Sensitive: true},
			}},
			Sink: sdk.ConfigSchema{Attributes: []sdk.Attribute{
				{Name: "table", Type: sdk.TypeString, Required: true, Entity: true},
			}},
		}, nil
	}
	return sdk.Spec{}, fmt.Errorf("%w: no plugin provides it", ErrUnknownConnector)
}

// testEnv is the environment fixtures see.
var testEnv = map[string]string{
	"SF_CLIENT_ID":          "client-123",
	"SF_LOGIN_URL":          "https://login.example.com",
	"SLUICE_VAR_batch_size": "500",
	"SLUICE_VAR_path":       "contacts",
}

func testOptions() LoadOptions {
	return LoadOptions{
		Specs: testSpecs,
		Env: func(name string) (string, bool) {
			v, ok := testEnv[name]
			return v, ok
		},
	}
}

func fixtures(t testing.TB, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", dir, "*.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("no fixtures in testdata/%s", dir)
	}
	return names
}

func TestValidFixtures(t *testing.T) {
	for _, name := range fixtures(t, "valid") {
		t.Run(filepath.Base(name), func(t *testing.T) {
			cfg, diags, files := Load(name, testOptions())
			for _, d := range diags {
				t.Errorf("unexpected diagnostic: %s", describe(d))
			}
			if cfg == nil || len(cfg.Flows) == 0 {
				t.Fatalf("no flows loaded")
			}
			if files[name] == nil {
				t.Errorf("files map lacks %s", name)
			}
			for _, f := range cfg.Flows {
				if f.File != name {
					t.Errorf("flow %s: File = %q, want %q", f.Name, f.File, name)
				}
			}
		})
	}
}

// marker is an expected diagnostic written on the line it refers to.
type marker struct {
	line     int
	severity hcl.DiagnosticSeverity
	text     string
}

var markerRE = regexp.MustCompile(`#\s*(error|warning):`)

// markers reads the `# error: <text>` and `# warning: <text>` comments of a
// fixture. A line may carry several; each text runs to the next marker.
func markers(t *testing.T, name string) []marker {
	t.Helper()
	src, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []marker
	for i, line := range strings.Split(string(src), "\n") {
		found := markerRE.FindAllStringSubmatchIndex(line, -1)
		for k, m := range found {
			end := len(line)
			if k+1 < len(found) {
				end = found[k+1][0]
			}
			sev := hcl.DiagError
			if line[m[2]:m[3]] == "warning" {
				sev = hcl.DiagWarning
			}
			out = append(out, marker{line: i + 1, severity: sev, text: strings.TrimSpace(line[m[1]:end])})
		}
	}
	return out
}

func (m marker) matches(d *hcl.Diagnostic, file string) bool {
	return d.Severity == m.severity && d.Subject != nil && d.Subject.Filename == file &&
		d.Subject.Start.Line == m.line &&
		(strings.Contains(d.Summary, m.text) || strings.Contains(d.Detail, m.text))
}

func TestInvalidFixtures(t *testing.T) {
	names := fixtures(t, "invalid")
	cases := 0
	for _, name := range names {
		t.Run(filepath.Base(name), func(t *testing.T) {
			want := markers(t, name)
			if len(want) == 0 {
				t.Fatal("fixture has no # error: marker")
			}
			cases += len(want)
			_, diags, _ := Load(name, testOptions())
			for _, m := range want {
				found := false
				for _, d := range diags {
					if m.matches(d, name) {
						found = true
						break
					}
				}
				if !found {
					t.Errorf("line %d: no diagnostic matching %q", m.line, m.text)
				}
			}
			for _, d := range diags {
				expected := false
				for _, m := range want {
					if m.matches(d, name) {
						expected = true
						break
					}
				}
				if !expected {
					t.Errorf("unexpected diagnostic: %s", describe(d))
				}
			}
		})
	}
	if cases < 25 {
		t.Errorf("only %d invalid cases; want at least 25", cases)
	}
}

func describe(d *hcl.Diagnostic) string {
	sev := "error"
	if d.Severity == hcl.DiagWarning {
		sev = "warning"
	}
	where := "(no subject)"
	if d.Subject != nil {
		where = d.Subject.String()
	}
	return fmt.Sprintf("%s %s: %s; %s", sev, where, d.Summary, d.Detail)
}

func loadValid(t *testing.T, name string, opts LoadOptions) *plan.Config {
	t.Helper()
	cfg, diags, _ := Load(filepath.Join("testdata", name), opts)
	for _, d := range diags {
		t.Errorf("unexpected diagnostic: %s", describe(d))
	}
	if t.Failed() {
		t.FailNow()
	}
	return cfg
}

func mustFlow(t *testing.T, cfg *plan.Config, name string) *plan.Flow {
	t.Helper()
	f := cfg.Flow(name)
	if f == nil {
		t.Fatalf("flow %q not loaded", name)
	}
	return f
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
