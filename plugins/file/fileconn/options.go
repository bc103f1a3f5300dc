package fileconn

import (
	"strings"

	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/format"
)

// optionError is a bad attribute value; the message leads with the
// attribute name so the engine's message points at the right line.
func optionError(attr, f string, args ...any) error {
	return format.OptionError(attr, f, args...)
}

// sourceOptions is the decoded source block: where to read, and how
// (format.ReadOptions).
type sourceOptions struct {
	path string
	*format.ReadOptions
}

func parseSourceOptions(v sdk.Values, entity string) (*sourceOptions, error) {
	o := &sourceOptions{path: v.String("path", entity)}
	if o.path == "" {
		return nil, optionError("path", "required")
	}
	ro, err := format.ParseReadOptions(v)
	if err != nil {
		return nil, err
	}
	o.ReadOptions = ro
	return o, nil
}

// sinkOptions is the decoded sink block.
type sinkOptions struct {
	path string
	*format.WriteOptions
	partitionBy    []string
	targetFileSize int64
	filePrefix     string
}

const defaultTargetFileSize = 128 << 20

func parseSinkOptions(v sdk.Values, entity string) (*sinkOptions, error) {
	o := &sinkOptions{
		path:           v.String("path", entity),
		partitionBy:    v.Strings("partition_by"),
		targetFileSize: v.Int("target_file_size", defaultTargetFileSize),
		filePrefix:     v.String("file_prefix", "part"),
	}
	if o.path == "" {
		return nil, optionError("path", "required")
	}
	wo, err := format.ParseWriteOptions(v)
	if err != nil {
		return nil, err
	}
	o.WriteOptions = wo
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
