package appflow

import (
	"strings"
	"testing"
)

// convertTasks runs Convert on a Salesforce flow holding tasks and returns
// the output.
func convertTasks(t *testing.T, tasks string) string {
	t.Helper()
	src := `{"flowName": "f", "triggerConfig": {"triggerType": "OnDemand"},
	  "sourceFlowConfig": {"connectorType": "Salesforce", "connectorProfileName": "p",
	    "sourceConnectorProperties": {"Salesforce": {"object": "Account"}}},
	  "destinationFlowConfigList": [{"connectorType": "S3", "destinationConnectorProperties": {"S3": {"bucketName": "b"}}}],
	  "tasks": [` + tasks + `]}`
	out, findings, err := Convert([]byte(src), "t.json")
	if err != nil {
		t.Fatal(err)
	}
	checkOutput(t, out, findings)
	return string(out)
}

// TestOperators covers each of AppFlow's 21 operators once, through a whole
// conversion, by the line it must produce.
func TestOperators(t *testing.T) {
	task := func(typ, op, fields, props string) string {
		s := `{"taskType": "` + typ + `", "connectorOperator": {"Salesforce": "` + op + `"}, "sourceFields": [` + fields + `]`
		if props != "" {
			s += `, "taskProperties": {` + props + `}`
		}
		return s + `}`
	}
	arith := func(op, dest string) string {
		return `{"taskType": "Arithmetic", "connectorOperator": {"Salesforce": "` + op + `"}, "sourceFields": ["Amount", "Tax"],
			  "destinationField": "` + dest + `", "taskProperties": {"MATH_OPERATION_FIELDS_ORDER": "Tax,Amount"}}`
	}
	cases := []struct {
		op, tasks, want string
	}{
		{"PROJECTION", task("Filter", "PROJECTION", `"Id", "Name", "Id"`, ""), `fields     = ["Id", "Name"]`},
		{"LESS_THAN", task("Filter", "LESS_THAN", `"Amount"`, `"DATA_TYPE": "double", "VALUE": "10.5"`), `where = "Amount < 10.5"`},
		{"GREATER_THAN", task("Filter", "GREATER_THAN", `"NumberOfEmployees"`, `"DATA_TYPE": "int", "VALUE": "50"`), `where = "NumberOfEmployees > 50"`},
		{"BETWEEN", task("Filter", "BETWEEN", `"CreatedDate"`, `"DATA_TYPE": "datetime", "LOWER_BOUND": "1767225600000", "UPPER_BOUND": "1767312000123"`),
			`where = "CreatedDate >= timestamp('2026-01-01T00:00:00Z') && CreatedDate <= timestamp('2026-01-02T00:00:00.123Z')"`},
		{"LESS_THAN_OR_EQUAL_TO", task("Filter", "LESS_THAN_OR_EQUAL_TO", `"CloseDate"`, `"DATA_TYPE": "date", "VALUE": "1767225600000"`), `where = "CloseDate <= date('2026-01-01')"`},
		{"GREATER_THAN_OR_EQUAL_TO", task("Filter", "GREATER_THAN_OR_EQUAL_TO", `"Score"`, `"DATA_TYPE": "double", "VALUE": "-1"`), `where = "Score >= -1"`},
		{"EQUAL_TO", task("Filter", "EQUAL_TO", `"Type"`, `"DATA_TYPE": "picklist", "VALUES": "Customer, Partner,Reseller"`), `where = "Type in ['Customer', 'Partner', 'Reseller']"`},
		{"EQUAL_TO", task("Filter", "EQUAL_TO", `"IsDeleted"`, `"DATA_TYPE": "boolean", "VALUE": "FALSE"`), `where = "IsDeleted == false"`},
		{"CONTAINS", task("Filter", "CONTAINS", `"Name"`, `"DATA_TYPE": "string", "VALUES": "Inc,O'Brien"`), `where = "Name contains 'Inc' || Name contains 'O\\'Brien'"`},
		{"NOT_EQUAL_TO", task("Filter", "NOT_EQUAL_TO", `"Rating"`, `"DATA_TYPE": "string", "VALUE": "Cold"`), `where = "Rating != 'Cold'"`},
		{"ADDITION", arith("ADDITION", "total"), `total = "Tax + Amount"`},
		{"SUBTRACTION", arith("SUBTRACTION", "net"), `net = "Tax - Amount"`},
		{"MULTIPLICATION", arith("MULTIPLICATION", "product"), `product = "Tax * Amount"`},
		{"DIVISION", arith("DIVISION", "ratio"), `ratio = "Tax / Amount"`},
		{"MASK_ALL", task("Mask", "MASK_ALL", `"Phone"`, `"MASK_VALUE": "#"`), `char = "#"`},
		{"MASK_FIRST_N", task("Mask", "MASK_FIRST_N", `"Ssn"`, `"MASK_LENGTH": "3"`), `formula = "substr('***', 0, len(Ssn)) + substr(Ssn, 3)"`},
		{"MASK_LAST_N", task("Mask", "MASK_LAST_N", `"Card"`, `"MASK_LENGTH": "4", "MASK_VALUE": "x"`),
			`formula = "len(Card) > 4 ? substr(Card, 0, len(Card) - 4) + 'xxxx' : substr('xxxx', 0, len(Card))"`},
		{"VALIDATE_NON_NULL", task("Validate", "VALIDATE_NON_NULL", `"Id"`, `"VALIDATION_ACTION": "DropRecord"`), "check   = \"Id != nil\"\n    on_fail = \"drop\""},
		{"VALIDATE_NON_ZERO", task("Validate", "VALIDATE_NON_ZERO", `"Amount"`, `"VALIDATION_ACTION": "DropDataset"`), "check   = \"Amount != 0\"\n    on_fail = \"fail\""},
		{"VALIDATE_NON_NEGATIVE", task("Validate", "VALIDATE_NON_NEGATIVE", `"Qty"`, `"VALIDATION_ACTION": "DropRecord", "DATA_TYPE": "string"`), `check   = "float(Qty) >= 0"`},
		{"VALIDATE_NUMERIC", task("Validate", "VALIDATE_NUMERIC", `"Zip"`, `"VALIDATION_ACTION": "DropRecord"`), `check   = "Zip matches '^[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?$'"`},
		{"NO_OP", task("Map", "NO_OP", `"Name"`, `"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "string"`), `Name = "Name"`},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		seen[tc.op] = true
		out := convertTasks(t, tc.tasks)
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s: output lacks %s:\n%s", tc.op, tc.want, out)
		}
	}
	if len(seen) != 21 {
		t.Errorf("covered %d operators, want all 21", len(seen))
	}
}

func TestTaskTypes(t *testing.T) {
	cases := []struct{ name, tasks, want string }{
		{"map cast", `{"taskType": "Map", "sourceFields": ["Amount"], "destinationField": "amount_text",
		  "taskProperties": {"SOURCE_DATA_TYPE": "currency", "DESTINATION_DATA_TYPE": "string"}}`, `amount_text = "string(Amount)"`},
		{"map int", `{"taskType": "Map", "sourceFields": ["Employees__c"], "destinationField": "employees",
		  "taskProperties": {"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "integer"}}`, `employees = "int(Employees__c)"`},
		{"map_all", `{"taskType": "Map_all", "sourceFields": [], "taskProperties": {"EXCLUDE_SOURCE_FIELDS_LIST": "[\"Secret__c\",\"Ssn\"]"}}`,
			"all    = true\n    except = [\"Secret__c\", \"Ssn\"]"},
		{"merge template", `{"taskType": "Merge", "sourceFields": ["FirstName", "LastName"], "destinationField": "FirstName,LastName",
		  "taskProperties": {"CONCAT_FORMAT": "{LastName}, {FirstName}"}},
		  {"taskType": "Map", "sourceFields": ["FirstName,LastName"], "destinationField": "full_name", "taskProperties": {"DESTINATION_DATA_TYPE": "string"}}`,
			`full_name = "concat(LastName, ', ', FirstName)"`},
		{"merge without map", `{"taskType": "Merge", "sourceFields": ["City", "Country"], "destinationField": "place"}`, `place = "concat(City, Country)"`},
		{"truncate", `{"taskType": "Truncate", "sourceFields": ["Description"], "taskProperties": {"TRUNCATE_LENGTH": "255"}}`,
			"truncate \"Description\" {\n    length = 255"},
		{"partition", `{"taskType": "Map", "sourceFields": ["Region"], "destinationField": "region name"},
		  {"taskType": "Partition", "sourceFields": [], "taskProperties": {"ORDERED_PARTITION_KEYS_LIST": "[\"region name\"]"}}`,
			`keys = ["region_name"]`},
		{"passthrough", `{"taskType": "Map", "sourceFields": ["Id"], "destinationField": "id"},
		  {"taskType": "Passthrough", "sourceFields": ["Name"]}`, "# Passthrough of Name.\n    Name = \"Name\""},
		{"odd field names", `{"taskType": "Filter", "connectorOperator": {"Salesforce": "EQUAL_TO"}, "sourceFields": ["First Name"],
		  "taskProperties": {"DATA_TYPE": "string", "VALUE": "Ada"}}`, `where = "$env['First Name'] == 'Ada'"`},
		{"keyword field", `{"taskType": "Validate", "connectorOperator": {"Salesforce": "VALIDATE_NON_NULL"}, "sourceFields": ["in"],
		  "taskProperties": {"VALIDATION_ACTION": "DropRecord"}}`, `check   = "$env['in'] != nil"`},
	}
	for _, tc := range cases {
		out := convertTasks(t, tc.tasks)
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s: output lacks %s:\n%s", tc.name, tc.want, out)
		}
	}
}

func TestToCron(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		exact    bool
		err      bool
	}{
		{in: "rate(5minutes)", want: "*/5 * * * *", exact: true},
		{in: "rate(1 minute)", want: "* * * * *", exact: true},
		{in: "rate(7 minutes)", want: "*/7 * * * *"},
		{in: "rate(90 minutes)", err: true},
		{in: "rate(120 minutes)", want: "0 */2 * * *", exact: true},
		{in: "rate(1 hours)", want: "0 * * * *", exact: true},
		{in: "rate(6 hours)", want: "0 */6 * * *", exact: true},
		{in: "rate(1 day)", want: "0 0 * * *", exact: true},
		{in: "rate(3 days)", want: "0 0 */3 * *"},
		{in: "cron(15 10 ? * 6 *)", want: "15 10 * * 5", exact: true},
		{in: "cron(0 8 1 * ? *)", want: "0 8 1 * *", exact: true},
		{in: "cron(0/10 * ? * MON-FRI *)", want: "0-59/10 * * * MON-FRI", exact: true},
		{in: "cron(0 9 ? JUL 1,7 *)", want: "0 9 * JUL 0,6", exact: true},
		{in: "cron(0 6 L * ? *)", err: true},
		{in: "cron(0 6 ? * 6#3 *)", err: true},
		{in: "cron(0 6 * * ? 2027)", err: true},
		{in: "every day", err: true},
	} {
		got, exact, err := toCron(tc.in)
		if (err != nil) != tc.err || got != tc.want || exact != tc.exact {
			t.Errorf("toCron(%q) = %q, %v, %v; want %q, %v, error %v", tc.in, got, exact, err, tc.want, tc.exact, tc.err)
		}
	}
}

func TestLiterals(t *testing.T) {
	for _, tc := range []struct {
		v    string
		k    kind
		want string
		bad  bool
	}{
		{"42", kInt, "42", false},
		{"x", kFloat, "'x'", true},
		{"true", kBool, "true", false},
		{"maybe", kBool, "'maybe'", true},
		{"1767225600000", kDateTime, "timestamp('2026-01-01T00:00:00Z')", false},
		{"2026-03-01T10:00:00+01:00", kDateTime, "timestamp('2026-03-01T09:00:00Z')", false},
		{"1767229200000", kDate, "timestamp('2026-01-01T01:00:00Z')", false},
		{"soon", kDate, "'soon'", true},
		{`a\b'c`, kString, `'a\\b\'c'`, false},
		{"12.5", kUnknown, "12.5", false},
		{"abc", kUnknown, "'abc'", false},
	} {
		got, problem := literal(tc.v, tc.k)
		if got != tc.want || (problem != "") != tc.bad {
			t.Errorf("literal(%q, %d) = %q, %q; want %q, problem %v", tc.v, tc.k, got, problem, tc.want, tc.bad)
		}
	}
	if got := fieldRef("Account.Name"); got != "$env['Account.Name']" {
		t.Errorf("fieldRef: %s", got)
	}
}
