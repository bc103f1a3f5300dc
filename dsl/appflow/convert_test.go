package appflow

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/sluice-dev/sluice/dsl"
)

var update = flag.Bool("update", false, "rewrite the expected .hcl files from the current output")

// fixtureDir holds the AppFlow definitions the CLI tests import too.
const fixtureDir = "../../cmd/sluice/testdata/appflow"

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if len(files) < 5 {
		t.Fatalf("want at least 5 fixtures in %s, got %v", fixtureDir, files)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, findings, err := Convert(src, name)
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(path, ".json") + ".hcl"
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./dsl/appflow -update to create it)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("output differs from %s (rerun with -update if the change is meant):\n%s", golden, out)
			}
			checkOutput(t, out, findings)
		})
	}
}

// checkOutput asserts what every conversion promises: the output parses,
// is in `sluice fmt` form, and holds one TODO comment per finding, naming
// its path.
func checkOutput(t *testing.T, out []byte, findings []Finding) {
	t.Helper()
	if _, diags := hclsyntax.ParseConfig(out, "out.hcl", hcl.InitialPos); diags.HasErrors() {
		t.Fatalf("output does not parse: %s\n%s", diags, out)
	}
	formatted, err := dsl.Format(out)
	if err != nil || !bytes.Equal(formatted, out) {
		t.Errorf("output is not in sluice fmt form (%v)", err)
	}
	if n := strings.Count(string(out), "# TODO(import): "); n != len(findings) {
		t.Errorf("%d TODO(import) comments for %d findings", n, len(findings))
	}
	for _, f := range findings {
		if f.Path == "" || f.Message == "" {
			t.Errorf("finding without path or message: %+v", f)
		}
		if !strings.Contains(string(out), "# TODO(import): "+f.Message+" ("+f.Path+")") {
			t.Errorf("no TODO comment for %s", f)
		}
	}
}

func TestFindingsNameWhatIsMissing(t *testing.T) {
	src, _ := os.ReadFile(filepath.Join(fixtureDir, "unsupported.json"))
	_, findings, err := Convert(src, "unsupported.json")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"kmsArn", "tags", "metadataCatalogConfig", "sourceFlowConfig.connectorType", "sourceFlowConfig.apiVersion",
		"tasks[1].connectorOperator.Zendesk", "tasks[3].taskType", "tasks[4].taskProperties.SUBFIELD_CATEGORY_MAP",
		"tasks[5].taskProperties.MASK_VALUE", "tasks[5].taskProperties.MASK_LENGTH",
		"tasks[6].taskProperties.VALIDATION_ACTION", "tasks[7].connectorOperator.Zendesk", "tasks[8].destinationField",
		"triggerConfig.triggerProperties.Scheduled.scheduleExpression",
		"triggerConfig.triggerProperties.Scheduled.scheduleOffset",
		"triggerConfig.triggerProperties.Scheduled.flowErrorDeactivationThreshold",
		"destinationFlowConfigList[0].connectorType",
	}
	paths := map[string]bool{}
	for _, f := range findings {
		paths[f.Path] = true
	}
	for _, p := range want {
		if !paths[p] {
			t.Errorf("no finding for %s; findings: %v", p, findings)
		}
	}
}

func TestCloudFormationAndAPIAgree(t *testing.T) {
	api := `{"flowName": "f", "triggerConfig": {"triggerType": "OnDemand"},
	  "sourceFlowConfig": {"connectorType": "Salesforce", "connectorProfileName": "p",
	    "sourceConnectorProperties": {"Salesforce": {"object": "Account"}}},
	  "destinationFlowConfigList": [{"connectorType": "S3",
	    "destinationConnectorProperties": {"S3": {"bucketName": "b", "s3OutputFormatConfig": {"fileType": "CSV"}}}}],
	  "tasks": [{"taskType": "Filter", "connectorOperator": {"Salesforce": "EQUAL_TO"}, "sourceFields": ["Type"],
	    "taskProperties": {"DATA_TYPE": "picklist", "VALUE": "Customer"}},
	    {"taskType": "Map", "connectorOperator": {"Salesforce": "NO_OP"}, "sourceFields": ["Name"], "destinationField": "name"}]}`
	cfn := `{"Type": "AWS::AppFlow::Flow", "Properties": {"FlowName": "f", "TriggerConfig": {"TriggerType": "OnDemand"},
	  "SourceFlowConfig": {"ConnectorType": "Salesforce", "ConnectorProfileName": "p",
	    "SourceConnectorProperties": {"Salesforce": {"Object": "Account"}}},
	  "DestinationFlowConfigList": [{"ConnectorType": "S3",
	    "DestinationConnectorProperties": {"S3": {"BucketName": "b", "S3OutputFormatConfig": {"FileType": "CSV"}}}}],
	  "Tasks": [{"TaskType": "Filter", "ConnectorOperator": {"Salesforce": "EQUAL_TO"}, "SourceFields": ["Type"],
	    "TaskProperties": [{"Key": "DATA_TYPE", "Value": "picklist"}, {"Key": "VALUE", "Value": "Customer"}]},
	    {"TaskType": "Map", "ConnectorOperator": {"Salesforce": "NO_OP"}, "SourceFields": ["Name"], "DestinationField": "name"}]}}`
	a, fa, err := Convert([]byte(api), "x.json")
	if err != nil {
		t.Fatal(err)
	}
	c, fc, err := Convert([]byte(cfn), "x.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, c) || len(fa) != 0 || len(fc) != 0 {
		t.Fatalf("API and CloudFormation forms differ:\n%s\n---\n%s\n%v %v", a, c, fa, fc)
	}
	for _, want := range []string{`where = "Type == 'Customer'"`, `name = "Name"`, `object     = "Account"`, `format = "csv"`} {
		if !strings.Contains(string(a), want) {
			t.Errorf("output lacks %s:\n%s", want, a)
		}
	}
}

func TestInvalidInput(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"{\n  \"flowName\": \"x\",\n  \"tasks\": [,]\n}", "in.json:3:13: invalid JSON"},
		{"{\"flowName\": \"x\"", "in.json:1:17: invalid JSON: unexpected end of file"},
		{"[1, 2]", "not an AppFlow flow definition"},
		{`{"hello": "world"}`, "no flowName or sourceFlowConfig"},
		{`{"Resources": {"B": {"Type": "AWS::S3::Bucket"}}}`, "no resource of type AWS::AppFlow::Flow"},
		{`{"a": 1} {"b": 2}`, "more than one value"},
	} {
		_, _, err := Convert([]byte(tc.src), "in.json")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestSeveralFlowsInOneTemplate(t *testing.T) {
	flow := func(name string) string {
		return `{"Type": "AWS::AppFlow::Flow", "Properties": {"FlowName": "` + name + `",
		  "TriggerConfig": {"TriggerType": "OnDemand"},
		  "SourceFlowConfig": {"ConnectorType": "Salesforce", "ConnectorProfileName": "shared",
		    "SourceConnectorProperties": {"Salesforce": {"Object": "Account"}}},
		  "DestinationFlowConfigList": [{"ConnectorType": "S3", "DestinationConnectorProperties": {"S3": {"BucketName": "b"}}}],
		  "Tasks": [{"TaskType": "Map_all", "ConnectorOperator": {"Salesforce": "NO_OP"}, "SourceFields": []}]}}`
	}
	out, _, err := Convert([]byte(`{"Resources": {"A": `+flow("one")+`, "B": `+flow("two")+`}}`), "t.json")
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Count(s, `connection "salesforce" "shared"`) != 1 || !strings.Contains(s, `flow "one"`) || !strings.Contains(s, `flow "two"`) {
		t.Fatalf("want two flows sharing one connection:\n%s", s)
	}
}
