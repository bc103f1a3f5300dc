package appflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// node is one value of the input JSON with the path that reached it. Keys
// are looked up case-insensitively, which is how one model reads both the
// API's camelCase (flowName, sourceFlowConfig) and CloudFormation's
// PascalCase (FlowName, SourceFlowConfig). Paths keep the input's spelling,
// so a finding names the key as the user wrote it.
type node struct {
	v    any
	path string
}

func (n node) child(key string) string {
	if n.path == "" {
		return key
	}
	return n.path + "." + key
}

// get returns the member called key (any letter case), or a missing node.
func (n node) get(key string) node {
	m, ok := n.v.(map[string]any)
	if !ok {
		return node{path: n.child(key)}
	}
	if v, ok := m[key]; ok {
		return node{v: v, path: n.child(key)}
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return node{v: v, path: n.child(k)}
		}
	}
	return node{path: n.child(key)}
}

// first returns the first of keys that is present (CloudFormation renames a
// few properties, e.g. FailOnFirstError for failOnFirstDestinationError).
func (n node) first(keys ...string) node {
	for _, k := range keys {
		if c := n.get(k); !c.missing() {
			return c
		}
	}
	return n.get(keys[0])
}

func (n node) missing() bool { return n.v == nil }

// keys lists an object's members in sorted order.
func (n node) keys() []string {
	m, _ := n.v.(map[string]any)
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (n node) isObject() bool { _, ok := n.v.(map[string]any); return ok }

func (n node) list() []node {
	l, _ := n.v.([]any)
	out := make([]node, len(l))
	for i, v := range l {
		out[i] = node{v: v, path: fmt.Sprintf("%s[%d]", n.path, i)}
	}
	return out
}

// str reads a scalar as text. Numbers and booleans count: CloudFormation
// templates often write "5" as 5.
func (n node) str() (string, bool) {
	switch v := n.v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// text is str with "" for anything else.
func (n node) text() string {
	s, _ := n.str()
	return s
}

func (n node) boolean() (bool, bool) {
	switch v := n.v.(type) {
	case bool:
		return v, true
	case string:
		b, err := strconv.ParseBool(v)
		return b, err == nil
	}
	return false, false
}

// intrinsic reports a CloudFormation intrinsic function ({"Ref": ...},
// {"Fn::Sub": ...}) standing where a plain value was expected, and returns
// a short rendering of it.
func (n node) intrinsic() (string, bool) {
	m, ok := n.v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false
	}
	for k, v := range m {
		if k == "Ref" || strings.HasPrefix(k, "Fn::") {
			b, _ := json.Marshal(v)
			return fmt.Sprintf("%s %s", k, b), true
		}
	}
	return "", false
}

// taskProperties reads a task's properties: an object of KEY: "value" in
// the API, a list of {Key, Value} in CloudFormation.
func (n node) taskProperties() map[string]node {
	out := map[string]node{}
	switch v := n.v.(type) {
	case map[string]any:
		for _, k := range n.keys() {
			out[strings.ToUpper(k)] = node{v: v[k], path: n.child(k)}
		}
	case []any:
		for _, item := range n.list() {
			k := item.get("Key").text()
			if k == "" {
				continue
			}
			out[strings.ToUpper(k)] = node{v: item.get("Value").v, path: item.path}
		}
	}
	return out
}

// flowDef is one flow found in the input, with the path of its properties.
type flowDef struct {
	node
	cfn bool
}

// parse decodes src and finds the flows in it: the input itself when it is
// a CreateFlow request or DescribeFlow response, or every AWS::AppFlow::Flow
// resource of a CloudFormation template.
func parse(src []byte, filename string) ([]flowDef, error) {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(src, filename, err)
	}
	if dec.More() {
		off := dec.InputOffset()
		line, col := lineCol(src, off)
		return nil, fmt.Errorf("%s:%d:%d: invalid JSON: more than one value in the file", filename, line, col)
	}
	root := node{v: v}
	if !root.isObject() {
		return nil, fmt.Errorf("%s: not an AppFlow flow definition: the file holds a JSON %s, not an object", filename, jsonKind(v))
	}
	if res := root.get("Resources"); !res.missing() {
		var flows []flowDef
		for _, id := range res.keys() {
			r := res.get(id)
			if r.get("Type").text() == "AWS::AppFlow::Flow" {
				flows = append(flows, flowDef{node: r.get("Properties"), cfn: true})
			}
		}
		if len(flows) == 0 {
			return nil, fmt.Errorf("%s: the CloudFormation template has no resource of type AWS::AppFlow::Flow", filename)
		}
		return flows, nil
	}
	if t := root.get("Type"); !t.missing() {
		if t.text() != "AWS::AppFlow::Flow" {
			return nil, fmt.Errorf("%s: the CloudFormation resource is a %s, not an AWS::AppFlow::Flow", filename, t.text())
		}
		return []flowDef{{node: root.get("Properties"), cfn: true}}, nil
	}
	if root.get("flowName").missing() && root.get("sourceFlowConfig").missing() {
		return nil, fmt.Errorf("%s: not an AppFlow flow definition: no flowName or sourceFlowConfig (expected a CreateFlow request, a DescribeFlow response or a CloudFormation template)", filename)
	}
	return []flowDef{{node: root}}, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return "null"
}

// jsonError names the file and, where the decoder knows it, the line and
// column of a JSON error.
func jsonError(src []byte, filename string, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := lineCol(src, se.Offset-1)
		return fmt.Errorf("%s:%d:%d: invalid JSON: %s", filename, line, col, se.Error())
	case errors.As(err, &te):
		line, col := lineCol(src, te.Offset-1)
		return fmt.Errorf("%s:%d:%d: invalid JSON: %s", filename, line, col, te.Error())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		line, col := lineCol(src, int64(len(src)))
		return fmt.Errorf("%s:%d:%d: invalid JSON: unexpected end of file", filename, line, col)
	}
	return fmt.Errorf("%s: invalid JSON: %w", filename, err)
}

// lineCol turns the byte offset of the offending byte into a 1-based line
// and column. (The decoder reports the offset just after it.)
func lineCol(src []byte, off int64) (int, int) {
	off = max(0, min(off, int64(len(src))))
	line, col := 1, 1
	for _, b := range src[:off] {
		if b == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}
