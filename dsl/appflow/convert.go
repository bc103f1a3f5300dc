package appflow

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// Finding is something of the AppFlow definition that the sluice flow
// does not carry over exactly. The output holds a `# TODO(import): ...`
// comment for each one, at the place it concerns.
type Finding struct {
	// Path is the JSON path in the input, e.g.
	// tasks[3].taskProperties.CONCAT_FORMAT.
	Path    string
	Message string
}

func (f Finding) String() string { return f.Path + ": " + f.Message }

// Convert reads an AppFlow flow definition — a CreateFlow request, a
// DescribeFlow response, or a CloudFormation template or resource of type
// AWS::AppFlow::Flow — and writes the equivalent sluice flow file,
// canonically formatted. filename is used in error messages. err is set
// only when src is not valid JSON or holds no flow; everything the
// conversion could not express is a Finding.
func Convert(src []byte, filename string) (hclSrc []byte, report []Finding, err error) {
	flows, err := parse(src, filename)
	if err != nil {
		return nil, nil, err
	}
	c := &converter{conns: map[string]*connection{}}
	var bodies []*hclwrite.Block
	for _, fd := range flows {
		bodies = append(bodies, c.flow(fd))
	}

	f := hclwrite.NewEmptyFile()
	root := f.Body()
	comment(root, fmt.Sprintf("Imported from %s by `sluice import appflow`.", filename))
	comment(root, "Review every TODO(import) comment before running this flow.")
	root.AppendNewline()
	for _, conn := range c.connOrder {
		root.AppendBlock(conn.block())
		root.AppendNewline()
	}
	for i, b := range bodies {
		if i > 0 {
			root.AppendNewline()
		}
		root.AppendBlock(b)
	}
	return hclwrite.Format(f.Bytes()), c.findings, nil
}

type converter struct {
	findings  []Finding
	conns     map[string]*connection
	connOrder []*connection
}

// todo records a finding and returns the comment that marks it.
func (c *converter) todo(path, format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	c.findings = append(c.findings, Finding{Path: path, Message: msg})
	return fmt.Sprintf("TODO(import): %s (%s)", msg, path)
}

// connection is one connection block: one per connector profile.
type connection struct {
	typ, name, profile string
	supported          bool
	staging            string // redshift: s3://intermediate bucket/prefix
	notes              []string
}

func (c *connection) ref() hcl.Traversal {
	return hcl.Traversal{
		hcl.TraverseRoot{Name: "connection"},
		hcl.TraverseAttr{Name: c.typ},
		hcl.TraverseAttr{Name: c.name},
	}
}

func (c *connection) block() *hclwrite.Block {
	b := hclwrite.NewBlock("connection", []string{c.typ, c.name})
	body := b.Body()
	if c.name != c.profile {
		comment(body, fmt.Sprintf("AppFlow connector profile %q.", c.profile))
	}
	for _, n := range c.notes {
		comment(body, n)
	}
	env := strings.ToUpper(strings.NewReplacer("-", "_").Replace(c.name))
	switch c.typ {
	case "salesforce":
		comment(body, "AppFlow keeps this profile's credentials; give sluice its own (JWT bearer here).")
		body.SetAttributeValue("login_url", cty.StringVal("https://login.salesforce.com"))
		body.SetAttributeValue("auth", cty.StringVal("jwt"))
		body.SetAttributeRaw("client_id", envCall("SF_"+env+"_CLIENT_ID"))
		body.SetAttributeRaw("username", envCall("SF_"+env+"_USERNAME"))
		body.SetAttributeRaw("private_key", hclwrite.TokensForFunctionCall("file", envCall("SF_"+env+"_KEY_FILE")))
	case "redshift":
		comment(body, "AppFlow keeps this profile's database URL and role; give sluice its own.")
		body.SetAttributeRaw("dsn", envCall("REDSHIFT_"+env+"_DSN"))
		if c.staging != "" {
			body.SetAttributeValue("staging", cty.StringVal(c.staging))
		}
		body.SetAttributeRaw("iam_role", envCall("REDSHIFT_"+env+"_IAM_ROLE"))
	case "s3":
		comment(body, "Credentials come from the usual AWS environment (variables, profile or instance role).")
	default:
		// The placeholder keeps the references valid to read; sluice has
		// no connector of this type to accept it yet.
		comment(body, fmt.Sprintf("Placeholder: sluice has no %s connector yet; fill in its settings once there is one.", c.typ))
	}
	return b
}

func envCall(name string) hclwrite.Tokens {
	return hclwrite.TokensForFunctionCall("env", hclwrite.TokensForValue(cty.StringVal(name)))
}

// comment appends a # comment line to body. hclwrite has no comment API,
// so the token is built by hand; Format re-indents it.
func comment(body *hclwrite.Body, text string) {
	for _, line := range strings.Split(text, "\n") {
		body.AppendUnstructuredTokens(hclwrite.Tokens{{
			Type:  hclsyntax.TokenComment,
			Bytes: []byte("# " + strings.TrimRight(line, " ") + "\n"),
		}})
	}
}

// connectorName maps an AppFlow connectorType to a sluice connector.
func connectorName(typ string) (name string, supported bool) {
	switch strings.ToLower(typ) {
	case "salesforce":
		return "salesforce", true
	case "s3":
		return "s3", true
	case "redshift":
		return "redshift", true
	}
	return identifier(strings.ToLower(typ)), false
}

var notIdentChar = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// identifier makes s a valid HCL identifier (letters, digits, _ and -,
// not starting with a digit or dash).
func identifier(s string) string {
	if hclsyntax.ValidIdentifier(s) {
		return s
	}
	out := notIdentChar.ReplaceAllString(s, "_")
	if out == "" || !hclsyntax.ValidIdentifier(out) {
		out = "_" + out
	}
	return out
}

// connection returns the connection block for profile, declaring it on
// first use.
func (c *converter) connection(typ, profile string) *connection {
	name := identifier(profile)
	key := typ + "\x00" + name
	if conn, ok := c.conns[key]; ok {
		return conn
	}
	_, supported := connectorName(typ)
	conn := &connection{typ: typ, name: name, profile: profile, supported: supported}
	c.conns[key] = conn
	c.connOrder = append(c.connOrder, conn)
	return conn
}

// Keys of a flow definition that are run-time state, not definition.
var describeOnly = []string{"flowArn", "flowStatus", "flowStatusMessage", "createdAt", "createdBy",
	"lastUpdatedAt", "lastUpdatedBy", "lastRunExecutionDetails", "lastRunMetadataCatalogDetails",
	"schemaVersion", "clientToken"}

var definitionKeys = []string{"flowName", "description", "kmsArn", "tags", "metadataCatalogConfig",
	"triggerConfig", "sourceFlowConfig", "destinationFlowConfigList", "tasks"}

// flowOut collects a flow's pieces before they are written in block order.
type flowOut struct {
	notes   []string // TODO comments at the top of the flow
	source  *endpointOut
	trigger *hclwrite.Block
	tasks   taskOut
	sinks   []*hclwrite.Block
	onError *hclwrite.Block
}

type endpointOut struct {
	typ     string
	block   *hclwrite.Block
	object  string
	cursor  string // incrementalPullConfig.datetimeTypeFieldName
	cursorP string
}

func (c *converter) flow(fd flowDef) *hclwrite.Block {
	def := fd.node
	out := &flowOut{}
	rawName := def.get("flowName").text()
	if s, ok := def.get("flowName").intrinsic(); ok {
		out.notes = append(out.notes, c.todo(def.get("flowName").path, "the flow name is a CloudFormation %s; name the flow yourself", s))
		rawName = ""
	}
	name := identifier(rawName)
	if rawName == "" {
		name = "imported_flow"
	}

	for _, k := range def.keys() {
		known := false
		for _, d := range append(append([]string{}, definitionKeys...), describeOnly...) {
			known = known || strings.EqualFold(k, d)
		}
		if fd.cfn && strings.EqualFold(k, "FlowStatus") {
			if st := def.get(k).text(); st != "" && st != "Active" {
				out.notes = append(out.notes, c.todo(def.child(k), "the flow is %s in AppFlow; sluice runs whatever flow files it is given", st))
			}
			continue
		}
		if !known {
			out.notes = append(out.notes, c.todo(def.child(k), "%s has no sluice equivalent and is left out", k))
		}
	}
	if n := def.get("kmsArn"); !n.missing() {
		out.notes = append(out.notes, c.todo(n.path, "sluice does not encrypt data with a KMS key (%s); protect the state directory and sinks instead", n.text()))
	}
	if n := def.get("tags"); !n.missing() {
		var tags []string
		if n.isObject() {
			for _, k := range n.keys() {
				tags = append(tags, k+"="+n.get(k).text())
			}
		} else {
			for _, t := range n.list() {
				tags = append(tags, t.get("Key").text()+"="+t.get("Value").text())
			}
		}
		if len(tags) > 0 {
			out.notes = append(out.notes, c.todo(n.path, "flows have no tags in sluice (%s)", strings.Join(tags, ", ")))
		}
	}
	if n := def.get("metadataCatalogConfig"); !n.missing() {
		out.notes = append(out.notes, c.todo(n.path, "sluice does not register output in the AWS Glue Data Catalog"))
	}
	var runtime []string
	for _, k := range def.keys() {
		for _, d := range describeOnly {
			if strings.EqualFold(k, d) && !strings.EqualFold(k, "clientToken") {
				runtime = append(runtime, k)
			}
		}
	}

	out.source = c.source(def.get("sourceFlowConfig"))
	out.tasks = c.tasks(def.get("tasks"), out.source)
	if out.tasks.projection != nil && out.source.block != nil {
		out.source.block.Body().SetAttributeValue("fields", stringList(out.tasks.projection))
	}
	out.trigger = c.trigger(def.get("triggerConfig"), out.source)
	for i, d := range def.get("destinationFlowConfigList").list() {
		sink, onErr := c.sink(d, i, len(def.get("destinationFlowConfigList").list()))
		out.sinks = append(out.sinks, sink)
		if onErr != nil && out.onError == nil {
			out.onError = onErr
		}
	}
	if len(out.sinks) == 0 {
		out.notes = append(out.notes, c.todo(def.get("destinationFlowConfigList").path, "the flow has no destination; add a sink block"))
	}

	b := hclwrite.NewBlock("flow", []string{name})
	body := b.Body()
	if name != rawName && rawName != "" {
		comment(body, fmt.Sprintf("AppFlow flow %q.", rawName))
	}
	if d := def.get("description"); d.text() != "" {
		body.SetAttributeValue("description", cty.StringVal(d.text()))
	}
	if len(runtime) > 0 {
		comment(body, fmt.Sprintf("Left out, as run-time state rather than definition: %s.", strings.Join(runtime, ", ")))
	}
	for _, n := range out.notes {
		comment(body, n)
	}
	body.AppendNewline()
	if out.trigger != nil {
		body.AppendBlock(out.trigger)
		body.AppendNewline()
	}
	if out.source.block != nil {
		body.AppendBlock(out.source.block)
		body.AppendNewline()
	}
	out.tasks.write(body)
	for i, s := range out.sinks {
		if i > 0 {
			body.AppendNewline()
		}
		body.AppendBlock(s)
	}
	if out.onError != nil {
		body.AppendNewline()
		body.AppendBlock(out.onError)
	}
	return b
}

func stringList(ss []string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(ss))
	for i, s := range ss {
		vals[i] = cty.StringVal(s)
	}
	return cty.ListVal(vals)
}

// connectorProps finds the properties object of a source or destination:
// sourceConnectorProperties.<ConnectorType>.
func connectorProps(props node, typ string) node {
	if c := props.get(typ); !c.missing() {
		return c
	}
	keys := props.keys()
	if len(keys) == 1 {
		return props.get(keys[0])
	}
	return node{path: props.child(typ)}
}

// strAttr sets a string attribute from n, flagging CloudFormation
// intrinsic functions, which only CloudFormation can resolve.
func (c *converter) strAttr(body *hclwrite.Body, name string, n node) string {
	if s, ok := n.intrinsic(); ok {
		comment(body, c.todo(n.path, "%s is a CloudFormation %s; write the value", name, s))
		body.SetAttributeValue(name, cty.StringVal("TODO"))
		return ""
	}
	s := n.text()
	body.SetAttributeValue(name, cty.StringVal(s))
	return s
}

func (c *converter) source(cfg node) *endpointOut {
	typAppFlow := cfg.get("connectorType").text()
	typ, supported := connectorName(typAppFlow)
	ep := &endpointOut{typ: typ}
	if cfg.missing() || typAppFlow == "" {
		b := hclwrite.NewBlock("source", []string{"TODO"})
		comment(b.Body(), c.todo(cfg.path, "the flow has no source connector type"))
		ep.block = b
		return ep
	}
	b := hclwrite.NewBlock("source", []string{typ})
	body := b.Body()
	ep.block = b
	if !supported {
		comment(body, c.todo(cfg.get("connectorType").path, "no sluice connector yet for %s", typAppFlow))
	}
	if p := cfg.get("connectorProfileName"); p.text() != "" {
		conn := c.connection(typ, p.text())
		body.SetAttributeTraversal("connection", conn.ref())
	}
	if v := cfg.get("apiVersion"); !v.missing() {
		comment(body, c.todo(v.path, "sluice chooses the API version itself (AppFlow used %s)", v.text()))
	}
	props := connectorProps(cfg.get("sourceConnectorProperties"), typAppFlow)
	switch typ {
	case "salesforce":
		ep.object = c.strAttr(body, "object", props.get("object"))
		if n := props.get("enableDynamicFieldUpdate"); n.text() == "true" {
			comment(body, c.todo(n.path, "enableDynamicFieldUpdate: sluice reads the fields listed in fields; leave fields out to read every field"))
		}
		if n := props.get("includeDeletedRecords"); n.text() == "true" {
			comment(body, c.todo(n.path, "includeDeletedRecords: reading deleted records is not available in sluice yet"))
		}
		if n := props.get("dataTransferApi"); n.text() != "" && !strings.EqualFold(n.text(), "AUTOMATIC") {
			comment(body, c.todo(n.path, "dataTransferApi %s: sluice picks REST or Bulk API 2.0 itself", n.text()))
		}
	case "s3":
		c.strAttr(body, "bucket", props.get("bucketName"))
		if p := props.get("bucketPrefix"); !p.missing() {
			c.strAttr(body, "prefix", p)
		}
		ft := props.get("s3InputFormatConfig").get("s3InputFileType")
		switch strings.ToUpper(ft.text()) {
		case "", "CSV":
			body.SetAttributeValue("format", cty.StringVal("csv"))
		case "JSON":
			body.SetAttributeValue("format", cty.StringVal("jsonl"))
		default:
			comment(body, c.todo(ft.path, "unknown S3 input file type %s", ft.text()))
		}
	default:
		obj := props.first("object", "entityName", "objectPath")
		if !obj.missing() {
			ep.object = c.strAttr(body, "object", obj)
		}
		for _, k := range props.keys() {
			if props.child(k) != obj.path {
				comment(body, c.todo(props.child(k), "%s property %s is not carried over", typAppFlow, k))
			}
		}
	}
	if inc := cfg.get("incrementalPullConfig").get("datetimeTypeFieldName"); inc.text() != "" {
		ep.cursor, ep.cursorP = inc.text(), inc.path
	}
	return ep
}

// changeEvent names the Change Data Capture channel of a Salesforce
// object: AccountChangeEvent, or Foo__ChangeEvent for Foo__c.
func changeEvent(object string) string {
	if strings.HasSuffix(object, "__c") {
		return strings.TrimSuffix(object, "c") + "ChangeEvent"
	}
	return object + "ChangeEvent"
}

func (c *converter) trigger(cfg node, src *endpointOut) *hclwrite.Block {
	typ := cfg.get("triggerType").text()
	switch strings.ToLower(typ) {
	case "", "ondemand":
		b := hclwrite.NewBlock("trigger", []string{"on_demand"})
		if src.cursor != "" {
			comment(b.Body(), c.todo(src.cursorP, "incremental pulls need a schedule trigger; this on-demand flow reads everything each run"))
		}
		return b
	case "event":
		b := hclwrite.NewBlock("trigger", []string{"event"})
		body := b.Body()
		if src.typ != "salesforce" {
			comment(body, c.todo(cfg.get("triggerType").path, "event triggers come from Salesforce Change Data Capture; this source is %s", src.typ))
		}
		obj := src.object
		if obj == "" {
			obj = "TODO"
		}
		body.SetAttributeValue("event", cty.StringVal(changeEvent(obj)))
		return b
	case "scheduled":
	default:
		b := hclwrite.NewBlock("trigger", []string{"on_demand"})
		comment(b.Body(), c.todo(cfg.get("triggerType").path, "unknown trigger type %s; the flow runs on demand", typ))
		return b
	}

	b := hclwrite.NewBlock("trigger", []string{"schedule"})
	body := b.Body()
	props := cfg.get("triggerProperties")
	if s := props.get("Scheduled"); !s.missing() {
		props = s
	}
	expr := props.get("scheduleExpression")
	cron, exact, err := toCron(expr.text())
	switch {
	case expr.text() == "":
		comment(body, c.todo(expr.path, "the schedule has no expression; write a cron"))
		cron = "0 * * * *"
	case err != nil:
		comment(body, c.todo(expr.path, "cannot convert %s to cron: %v; write it by hand", expr.text(), err))
		cron = "0 * * * *"
	case !exact:
		comment(body, c.todo(expr.path, "%s becomes %q, which restarts its count every hour, day or month; check it", expr.text(), cron))
	default:
		comment(body, fmt.Sprintf("AppFlow: %s", expr.text()))
	}
	body.SetAttributeValue("cron", cty.StringVal(cron))
	for _, t := range []struct{ key, attr string }{{"scheduleStartTime", "start"}, {"scheduleEndTime", "end"}} {
		n := props.get(t.key)
		if n.missing() {
			continue
		}
		if v, ok := timeValue(n); ok {
			body.SetAttributeValue(t.attr, cty.StringVal(v))
		} else {
			comment(body, c.todo(n.path, "cannot read %s %v as a time", t.key, n.v))
		}
	}
	if tz := props.get("timezone"); tz.text() != "" {
		body.SetAttributeValue("timezone", cty.StringVal(tz.text()))
	}
	if n := props.get("scheduleOffset"); !n.missing() && n.text() != "0" {
		comment(body, c.todo(n.path, "scheduleOffset %s s: sluice has no schedule offset; shift the cron instead", n.text()))
	}
	if n := props.get("flowErrorDeactivationThreshold"); !n.missing() {
		comment(body, c.todo(n.path, "deactivating the flow after %s consecutive failures is not available in sluice yet", n.text()))
	}
	mode := props.get("dataPullMode")
	from := props.get("firstExecutionFrom")
	if strings.EqualFold(mode.text(), "Incremental") {
		inc := body.AppendNewBlock("incremental", nil).Body()
		cursor := src.cursor
		if cursor == "" {
			comment(inc, c.todo(mode.path, "incremental pull without sourceFlowConfig.incrementalPullConfig.datetimeTypeFieldName; LastModifiedDate is a guess"))
			cursor = "LastModifiedDate"
		}
		inc.SetAttributeValue("cursor", cty.StringVal(cursor))
		if !from.missing() {
			if v, ok := timeValue(from); ok {
				inc.SetAttributeValue("start_from", cty.StringVal(v))
			} else {
				comment(inc, c.todo(from.path, "cannot read firstExecutionFrom %v as a time", from.v))
			}
		} else {
			comment(inc, "AppFlow's first incremental run reads the past 30 days; set start_from to choose.")
		}
	} else {
		if src.cursor != "" {
			comment(body, c.todo(src.cursorP, "datetimeTypeFieldName is set but dataPullMode is %q: every run reads everything", mode.text()))
		}
		if !from.missing() {
			comment(body, c.todo(from.path, "firstExecutionFrom only matters for incremental pulls"))
		}
	}
	return b
}

// sink converts one destinationFlowConfig; it also returns the on_error
// block its error handling config asks for.
func (c *converter) sink(cfg node, i, n int) (*hclwrite.Block, *hclwrite.Block) {
	typAppFlow := cfg.get("connectorType").text()
	typ, supported := connectorName(typAppFlow)
	labels := []string{typ}
	if n > 1 {
		labels = append(labels, fmt.Sprintf("%s_%d", typ, i+1))
	}
	b := hclwrite.NewBlock("sink", labels)
	body := b.Body()
	if !supported {
		comment(body, c.todo(cfg.get("connectorType").path, "no sluice connector yet for %s", typAppFlow))
	}
	var conn *connection
	if p := cfg.get("connectorProfileName"); p.text() != "" {
		conn = c.connection(typ, p.text())
		body.SetAttributeTraversal("connection", conn.ref())
	}
	if v := cfg.get("apiVersion"); !v.missing() {
		comment(body, c.todo(v.path, "sluice chooses the API version itself (AppFlow used %s)", v.text()))
	}
	props := connectorProps(cfg.get("destinationConnectorProperties"), typAppFlow)
	switch typ {
	case "s3":
		c.strAttr(body, "bucket", props.get("bucketName"))
		if p := props.get("bucketPrefix"); !p.missing() {
			c.strAttr(body, "prefix", p)
		}
		ofc := props.get("s3OutputFormatConfig")
		ft := ofc.get("fileType")
		switch strings.ToUpper(ft.text()) {
		case "", "CSV":
			body.SetAttributeValue("format", cty.StringVal("csv"))
		case "JSON":
			body.SetAttributeValue("format", cty.StringVal("jsonl"))
		case "PARQUET":
			body.SetAttributeValue("format", cty.StringVal("parquet"))
		default:
			comment(body, c.todo(ft.path, "unknown S3 output file type %s", ft.text()))
		}
		agg := ofc.get("aggregationConfig")
		if at := agg.get("aggregationType"); strings.EqualFold(at.text(), "SingleFile") {
			comment(body, c.todo(at.path, "aggregationType SingleFile: sluice writes part files of target_file_size bytes, not one file per run"))
		}
		if sz := agg.get("targetFileSize"); !sz.missing() {
			if mb, err := strconv.ParseInt(sz.text(), 10, 64); err == nil && mb > 0 {
				comment(body, fmt.Sprintf("AppFlow targetFileSize: %d MB.", mb))
				body.SetAttributeValue("target_file_size", cty.NumberIntVal(mb*1024*1024))
			}
		}
		if pc := ofc.get("prefixConfig"); !pc.missing() {
			js, _ := json.Marshal(pc.v)
			comment(body, c.todo(pc.path, "prefixConfig %s: sluice names output paths by partition keys only; add a date field to partition by it", js))
		}
		if p := ofc.get("preserveSourceDataTyping"); p.text() == "false" {
			comment(body, c.todo(p.path, "preserveSourceDataTyping false: sluice keeps the source types; cast in a map to write strings"))
		}
	case "redshift":
		c.strAttr(body, "table", props.get("object"))
		if bucket := props.get("intermediateBucketName").text(); bucket != "" && conn != nil {
			staging := "s3://" + bucket + "/"
			if p := strings.Trim(props.get("bucketPrefix").text(), "/"); p != "" {
				staging += p + "/"
			}
			conn.staging = staging
		}
	case "salesforce":
		c.strAttr(body, "object", props.get("object"))
		if w := props.get("writeOperationType"); w.text() != "" {
			mode := strings.ToLower(w.text())
			switch mode {
			case "insert", "upsert", "update", "delete":
				body.SetAttributeValue("write", cty.StringVal(mode))
			default:
				comment(body, c.todo(w.path, "unknown writeOperationType %s", w.text()))
			}
		}
		if ids := props.get("idFieldNames"); !ids.missing() {
			var keys []string
			for _, id := range ids.list() {
				keys = append(keys, id.text())
			}
			body.SetAttributeValue("key", stringList(keys))
		}
		if n := props.get("dataTransferApi"); n.text() != "" && !strings.EqualFold(n.text(), "AUTOMATIC") {
			comment(body, c.todo(n.path, "dataTransferApi %s: sluice picks REST or Bulk API 2.0 itself", n.text()))
		}
	default:
		obj := props.first("object", "entityName")
		if !obj.missing() {
			c.strAttr(body, "object", obj)
		}
		for _, k := range props.keys() {
			if !strings.EqualFold(k, "object") && !strings.EqualFold(k, "entityName") && !strings.EqualFold(k, "errorHandlingConfig") {
				comment(body, c.todo(props.child(k), "%s property %s is not carried over", typAppFlow, k))
			}
		}
	}
	var onErr *hclwrite.Block
	if eh := props.get("errorHandlingConfig"); !eh.missing() {
		onErr = c.onError(eh)
	}
	return b, onErr
}

func (c *converter) onError(eh node) *hclwrite.Block {
	b := hclwrite.NewBlock("on_error", nil)
	body := b.Body()
	failFast, _ := eh.first("failOnFirstDestinationError", "FailOnFirstError").boolean()
	bucket := eh.get("bucketName")
	if failFast {
		body.SetAttributeValue("mode", cty.StringVal("fail_fast"))
	} else {
		body.SetAttributeValue("mode", cty.StringVal("continue"))
	}
	if bucket.text() != "" {
		dl := "s3://" + bucket.text() + "/"
		if p := strings.Trim(eh.get("bucketPrefix").text(), "/"); p != "" {
			dl += p + "/"
		}
		comment(body, c.todo(bucket.path, "dead_letter takes a local directory for now; copy rejected records to %s yourself or set a local path", dl))
		body.SetAttributeValue("dead_letter", cty.StringVal(dl))
	}
	return b
}
