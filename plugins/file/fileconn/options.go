package fileconn

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sluice-dev/sluice/sdk"
)

// optionError is a bad attribute value; the message leads with the
// attribute name so the engine's message points at the right line.
func optionError(attr, format string, args ...any) error {
	return fmt.Errorf("%s: %s", attr, fmt.Sprintf(format, args...))
}

// sourceOptions is the decoded source block.
type sourceOptions struct {
	path        string
	format      string // "" means by extension
	compression string // auto, gzip, none

	delimiter    byte
	delimiterSet bool
	quote        byte // 0 disables quoting
	header       bool
	nullValues   [][]byte
	emptyIsNull  bool // the common null_values = [""], checked without a loop

	overrides map[string]kind
	inferRows int
}

func parseSourceOptions(v sdk.Values, entity string) (*sourceOptions, error) {
	o := &sourceOptions{
		path:        v.String("path", entity),
		format:      strings.ToLower(v.String("format", "")),
		compression: strings.ToLower(v.String("compression", "auto")),
		delimiter:   ',',
		quote:       '"',
		header:      v.Bool("header", true),
		inferRows:   int(v.Int("infer_rows", 1000)),
	}
	if o.path == "" {
		return nil, optionError("path", "required")
	}
	switch o.format {
	case "", "csv", "jsonl", "parquet":
	case "json", "ndjson":
		o.format = "jsonl"
	default:
		return nil, optionError("format", "unknown format %q (want csv, jsonl or parquet)", o.format)
	}
	switch o.compression {
	case "auto", "gzip", "none":
	case "gz":
		o.compression = "gzip"
	default:
		return nil, optionError("compression", "unknown compression %q (want auto, gzip or none)", o.compression)
	}
	if d, ok := v["delimiter"].(string); ok {
		b, err := oneChar("delimiter", d)
		if err != nil {
			return nil, err
		}
		o.delimiter, o.delimiterSet = b, true
	}
	if q, ok := v["quote"].(string); ok {
		if q == "" {
			o.quote = 0
		} else {
			b, err := oneChar("quote", q)
			if err != nil {
				return nil, err
			}
			o.quote = b
		}
	}
	if o.quote != 0 && o.quote == o.delimiter {
		return nil, optionError("quote", "must differ from the delimiter")
	}
	nulls := []string{""}
	if _, ok := v["null_values"]; ok {
		nulls = v.Strings("null_values")
	}
	for _, n := range nulls {
		o.nullValues = append(o.nullValues, []byte(n))
	}
	o.emptyIsNull = len(nulls) == 1 && nulls[0] == ""
	if len(v.StringMap("schema")) > 0 {
		o.overrides = map[string]kind{}
		names := make([]string, 0, len(v.StringMap("schema")))
		for name := range v.StringMap("schema") {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			k, err := parseKind(v.StringMap("schema")[name])
			if err != nil {
				return nil, optionError("schema."+name, "%v", err)
			}
			o.overrides[name] = k
		}
	}
	if o.inferRows < 1 {
		o.inferRows = 1
	}
	return o, nil
}

// oneChar accepts a single-byte delimiter; "\t" written as an escape in the
// flow file arrives as a real tab, but the two-character text is accepted
// too because people type it into CLI flags.
func oneChar(attr, s string) (byte, error) {
	if s == `\t` || strings.EqualFold(s, "tab") {
		return '\t', nil
	}
	if len(s) != 1 || s[0] == '\n' || s[0] == '\r' {
		return 0, optionError(attr, "must be exactly one single-byte character, got %q", s)
	}
	return s[0], nil
}

// isNull reports whether an unquoted CSV field is one of the null values.
func (o *sourceOptions) isNull(f []byte) bool {
	if o.emptyIsNull {
		return len(f) == 0
	}
	for _, n := range o.nullValues {
		if string(n) == string(f) {
			return true
		}
	}
	return false
}

// sinkOptions is the decoded sink block.
type sinkOptions struct {
	path               string
	format             string
	gzip               bool
	delimiter          byte
	header             bool
	nullValue          string
	parquetCompression string
	partitionBy        []string
	targetFileSize     int64
	filePrefix         string
}

const defaultTargetFileSize = 128 << 20

func parseSinkOptions(v sdk.Values, entity string) (*sinkOptions, error) {
	o := &sinkOptions{
		path:               v.String("path", entity),
		format:             strings.ToLower(v.String("format", "csv")),
		delimiter:          ',',
		header:             v.Bool("header", true),
		nullValue:          v.String("null_value", ""),
		parquetCompression: strings.ToLower(v.String("parquet_compression", "snappy")),
		partitionBy:        v.Strings("partition_by"),
		targetFileSize:     v.Int("target_file_size", defaultTargetFileSize),
		filePrefix:         v.String("file_prefix", "part"),
	}
	if o.path == "" {
		return nil, optionError("path", "required")
	}
	switch o.format {
	case "csv", "jsonl", "parquet":
	case "json", "ndjson":
		o.format = "jsonl"
	default:
		return nil, optionError("format", "unknown format %q (want csv, jsonl or parquet)", o.format)
	}
	switch c := strings.ToLower(v.String("compression", "none")); c {
	case "none", "":
	case "gzip", "gz":
		o.gzip = true
	default:
		return nil, optionError("compression", "unknown compression %q (want none or gzip)", c)
	}
	if o.gzip && o.format == "parquet" {
		return nil, optionError("compression", "gzip does not apply to parquet files; use parquet_compression")
	}
	if d, ok := v["delimiter"].(string); ok {
		b, err := oneChar("delimiter", d)
		if err != nil {
			return nil, err
		}
		o.delimiter = b
	}
	if o.delimiter == '"' {
		return nil, optionError("delimiter", "cannot be the quote character")
	}
	switch o.parquetCompression {
	case "snappy", "zstd", "none", "uncompressed", "gzip", "lz4":
	default:
		return nil, optionError("parquet_compression", "unknown codec %q (want snappy, zstd, gzip, lz4 or none)", o.parquetCompression)
	}
	if o.targetFileSize <= 0 {
		return nil, optionError("target_file_size", "must be positive")
	}
	if o.filePrefix == "" || strings.ContainsAny(o.filePrefix, `/\`) || strings.HasPrefix(o.filePrefix, ".") {
		return nil, optionError("file_prefix", "must be a plain file name prefix, not %q", o.filePrefix)
	}
	seen := map[string]bool{}
	for _, p := range o.partitionBy {
		if seen[p] {
			return nil, optionError("partition_by", "field %q listed twice", p)
		}
		seen[p] = true
	}
	return o, nil
}
