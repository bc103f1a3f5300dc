package format

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sluice-dev/sluice/sdk"
)

// OptionError is a bad attribute value: an [sdk.AttributeError], so the
// engine's diagnostic points at the attribute's line.
func OptionError(attr, format string, args ...any) error {
	return &sdk.AttributeError{Attribute: attr, Err: fmt.Errorf(format, args...)}
}

// ReadAttributes are the attributes a source block takes to read files or
// objects: format, compression, the CSV options, schema and infer_rows.
// Connectors add the ones that say where to read.
func ReadAttributes() []sdk.Attribute {
	return []sdk.Attribute{
		{Name: "format", Type: sdk.TypeString,
			Description: "csv, jsonl or parquet. Default: from the extension (.csv, .tsv, .jsonl, .ndjson, .json, .parquet, optionally followed by .gz)."},
		{Name: "compression", Type: sdk.TypeString, Default: "auto",
			Description: "auto (gzip when the name ends in .gz or the file starts with the gzip magic bytes), gzip or none. CSV and JSONL only."},
		{Name: "delimiter", Type: sdk.TypeString, Default: ",",
			Description: "CSV field separator, one character (tab for .tsv files)."},
		{Name: "quote", Type: sdk.TypeString, Default: `"`,
			Description: "CSV quote character; empty turns quoting off."},
		{Name: "header", Type: sdk.TypeBool, Default: true,
			Description: "Whether the first CSV record names the columns. Without one, columns are c1..cN."},
		{Name: "null_values", Type: sdk.TypeStringList, Default: []string{""},
			Description: "CSV field texts read as null. A quoted field is never null in a string column, so \"\" stays an empty string."},
		{Name: "schema", Type: sdk.TypeStringMap,
			Description: "Per-column type overrides: string, int, float, bool, timestamp (UTC; RFC 3339 or 2006-01-02 15:04:05) or date (YYYY-MM-DD). CSV and JSONL only."},
		{Name: "columns", Type: sdk.TypeStringList,
			Description: "The columns, in order, instead of inferring them: each is a string unless schema gives its type. For CSV without a header they name the fields; with one, every file's header must match. Lets a source describe itself before any file exists (an S3 prefix an event flow waits on). CSV and JSONL only."},
		{Name: "infer_rows", Type: sdk.TypeInt, Default: int64(1000),
			Description: "How many records of the first file inference samples."},
	}
}

// WriteAttributes are the attributes a sink block takes to write files or
// objects: format, compression, the CSV options and parquet_compression.
func WriteAttributes() []sdk.Attribute {
	return []sdk.Attribute{
		{Name: "format", Type: sdk.TypeString, Default: "csv",
			Description: "csv, jsonl or parquet."},
		{Name: "compression", Type: sdk.TypeString, Default: "none",
			Description: "none or gzip (appends .gz). CSV and JSONL only."},
		{Name: "delimiter", Type: sdk.TypeString, Default: ",",
			Description: "CSV field separator, one character."},
		{Name: "header", Type: sdk.TypeBool, Default: true,
			Description: "Whether CSV files start with a header record."},
		{Name: "null_value", Type: sdk.TypeString, Default: "",
			Description: "Text written for null in CSV. Strings equal to it are quoted so they read back as strings."},
		{Name: "parquet_compression", Type: sdk.TypeString, Default: "snappy",
			Description: "snappy, zstd, gzip, lz4 or none."},
	}
}

// ReadOptions are the decoded [ReadAttributes].
type ReadOptions struct {
	// Format is csv, jsonl, parquet, or "" for "by name".
	Format string
	// Compression is auto, gzip or none.
	Compression string

	Delimiter    byte
	DelimiterSet bool // given explicitly, so a .tsv name does not change it
	Quote        byte // 0 disables quoting
	Header       bool
	NullValues   [][]byte
	emptyIsNull  bool // the common null_values = [""], checked without a loop

	// Overrides are the schema attribute's per-column kinds.
	Overrides map[string]Kind
	// Columns are the columns attribute's names, in order; nil infers them.
	Columns []string
	// InferRows is how many records inference samples.
	InferRows int
}

// ParseReadOptions decodes the [ReadAttributes] of v.
func ParseReadOptions(v sdk.Values) (*ReadOptions, error) {
	o := &ReadOptions{
		Format:      strings.ToLower(v.String("format", "")),
		Compression: strings.ToLower(v.String("compression", "auto")),
		Delimiter:   ',',
		Quote:       '"',
		Header:      v.Bool("header", true),
		InferRows:   int(v.Int("infer_rows", 1000)),
	}
	switch o.Format {
	case "", "csv", "jsonl", "parquet":
	case "json", "ndjson":
		o.Format = "jsonl"
	default:
		return nil, OptionError("format", "unknown format %q (want csv, jsonl or parquet)", o.Format)
	}
	switch o.Compression {
	case "auto", "gzip", "none":
	case "gz":
		o.Compression = "gzip"
	default:
		return nil, OptionError("compression", "unknown compression %q (want auto, gzip or none)", o.Compression)
	}
	if d, ok := v["delimiter"].(string); ok {
		b, err := OneChar("delimiter", d)
		if err != nil {
			return nil, err
		}
		o.Delimiter, o.DelimiterSet = b, true
	}
	if q, ok := v["quote"].(string); ok {
		if q == "" {
			o.Quote = 0
		} else {
			b, err := OneChar("quote", q)
			if err != nil {
				return nil, err
			}
			o.Quote = b
		}
	}
	if o.Quote != 0 && o.Quote == o.Delimiter {
		return nil, OptionError("quote", "must differ from the delimiter")
	}
	nulls := []string{""}
	if _, ok := v["null_values"]; ok {
		nulls = v.Strings("null_values")
	}
	for _, n := range nulls {
		o.NullValues = append(o.NullValues, []byte(n))
	}
	o.emptyIsNull = len(nulls) == 1 && nulls[0] == ""
	if len(v.StringMap("schema")) > 0 {
		o.Overrides = map[string]Kind{}
		names := make([]string, 0, len(v.StringMap("schema")))
		for name := range v.StringMap("schema") {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			k, err := ParseKind(v.StringMap("schema")[name])
			if err != nil {
				return nil, OptionError("schema."+name, "%v", err)
			}
			o.Overrides[name] = k
		}
	}
	if _, ok := v["columns"]; ok {
		o.Columns = v.Strings("columns")
		if len(o.Columns) == 0 {
			return nil, OptionError("columns", "names no column; leave it out to infer the columns")
		}
		seen := make(map[string]bool, len(o.Columns))
		for i, name := range o.Columns {
			if strings.TrimSpace(name) == "" {
				return nil, OptionError("columns", "column %d has no name", i+1)
			}
			if seen[name] {
				return nil, OptionError("columns", "names %q twice", name)
			}
			seen[name] = true
		}
	}
	if o.InferRows < 1 {
		o.InferRows = 1
	}
	return o, nil
}

// DeclaredSchema is the schema the columns attribute declares, each column
// of the kind the schema attribute gives or a string; ok is false without
// columns, when the schema is inferred from the data.
func (o *ReadOptions) DeclaredSchema() (ts TextSchema, ok bool, err error) {
	if len(o.Columns) == 0 {
		return TextSchema{}, false, nil
	}
	ts = TextSchema{Names: o.Columns, Kinds: make([]Kind, len(o.Columns)), Declared: true}
	if err := ts.ApplyOverrides(o.Overrides, "the columns attribute"); err != nil {
		return TextSchema{}, false, OptionError("schema", "%v", err)
	}
	return ts, true, nil
}

// OneChar accepts a single-byte delimiter; "\t" written as an escape in the
// flow file arrives as a real tab, but the two-character text is accepted
// too because people type it into CLI flags.
func OneChar(attr, s string) (byte, error) {
	if s == `\t` || strings.EqualFold(s, "tab") {
		return '\t', nil
	}
	if len(s) != 1 || s[0] == '\n' || s[0] == '\r' {
		return 0, OptionError(attr, "must be exactly one single-byte character, got %q", s)
	}
	return s[0], nil
}

// IsNull reports whether an unquoted CSV field is one of the null values.
func (o *ReadOptions) IsNull(f []byte) bool {
	if o.emptyIsNull {
		return len(f) == 0
	}
	for _, n := range o.NullValues {
		if string(n) == string(f) {
			return true
		}
	}
	return false
}

// WriteOptions are the decoded [WriteAttributes].
type WriteOptions struct {
	// Format is csv, jsonl or parquet.
	Format string
	// Gzip compresses CSV and JSONL output.
	Gzip bool
	CSV  CSVWriteOptions
	// ParquetCompression is the Parquet page codec.
	ParquetCompression string
}

// ParseWriteOptions decodes the [WriteAttributes] of v.
func ParseWriteOptions(v sdk.Values) (*WriteOptions, error) {
	o := &WriteOptions{
		Format:             strings.ToLower(v.String("format", "csv")),
		CSV:                CSVWriteOptions{Delimiter: ',', Header: v.Bool("header", true), NullValue: v.String("null_value", "")},
		ParquetCompression: strings.ToLower(v.String("parquet_compression", "snappy")),
	}
	switch o.Format {
	case "csv", "jsonl", "parquet":
	case "json", "ndjson":
		o.Format = "jsonl"
	default:
		return nil, OptionError("format", "unknown format %q (want csv, jsonl or parquet)", o.Format)
	}
	switch c := strings.ToLower(v.String("compression", "none")); c {
	case "none", "":
	case "gzip", "gz":
		o.Gzip = true
	default:
		return nil, OptionError("compression", "unknown compression %q (want none or gzip)", c)
	}
	if o.Gzip && o.Format == "parquet" {
		return nil, OptionError("compression", "gzip does not apply to parquet files; use parquet_compression")
	}
	if d, ok := v["delimiter"].(string); ok {
		b, err := OneChar("delimiter", d)
		if err != nil {
			return nil, err
		}
		o.CSV.Delimiter = b
	}
	if o.CSV.Delimiter == '"' {
		return nil, OptionError("delimiter", "cannot be the quote character")
	}
	switch o.ParquetCompression {
	case "snappy", "zstd", "none", "uncompressed", "gzip", "lz4":
	default:
		return nil, OptionError("parquet_compression", "unknown codec %q (want snappy, zstd, gzip, lz4 or none)", o.ParquetCompression)
	}
	return o, nil
}

// Ext is the file name extension output of these options takes: csv,
// jsonl or parquet, plus .gz when gzipped.
func (o *WriteOptions) Ext() string {
	if o.Gzip {
		return o.Format + ".gz"
	}
	return o.Format
}
