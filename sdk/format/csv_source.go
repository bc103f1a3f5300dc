package format

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/sluice-dev/sluice/sdk"
)

// csvHeader turns a header record into column names. Blank names get their
// position ("c3") and duplicates are an error, since projection and
// formulas address columns by name.
func csvHeader(fields [][]byte, path string) ([]string, error) {
	names := make([]string, len(fields))
	seen := make(map[string]bool, len(fields))
	for i, f := range fields {
		n := strings.TrimSpace(string(f))
		if n == "" {
			n = "c" + strconv.Itoa(i+1)
		}
		if seen[n] {
			return nil, fmt.Errorf("%s: header names column %q twice", path, n)
		}
		seen[n] = true
		names[i] = n
	}
	return names, nil
}

func positionalNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = "c" + strconv.Itoa(i+1)
	}
	return names
}

// InferCSV reads the header and up to o.InferRows records of in and
// settles each column's type. ok is false when in holds no header and no
// row to take columns from (an empty file); the caller then tries the next
// input. Overrides are not applied: see [TextSchema.ApplyOverrides].
func InferCSV(ctx context.Context, in *Input, opts *ReadOptions) (ts TextSchema, ok bool, err error) {
	path := in.Name
	sc := newCSVScanner(in, opts.Delimiter, opts.Quote)
	var names []string
	var guesses []textGuess
	sampled := 0
	for sampled < opts.InferRows {
		fields, err := sc.next()
		if err != nil {
			var rec *recordError
			if errors.As(err, &rec) {
				continue // rejected later, when the read meets it
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return TextSchema{}, false, fmt.Errorf("read %s: %w", path, err)
		}
		if names == nil {
			if opts.Header {
				if names, err = csvHeader(fields, path); err != nil {
					return TextSchema{}, false, err
				}
				guesses = make([]textGuess, len(names))
				for i := range guesses {
					guesses[i] = newGuess()
				}
				continue
			}
			names = positionalNames(len(fields))
			guesses = make([]textGuess, len(names))
			for i := range guesses {
				guesses[i] = newGuess()
			}
		}
		if len(fields) != len(names) {
			continue
		}
		for i, f := range fields {
			if opts.IsNull(f) {
				continue
			}
			guesses[i].observe(f)
		}
		sampled++
		if sampled%1024 == 0 && ctx.Err() != nil {
			return TextSchema{}, false, ctx.Err()
		}
	}
	if names == nil {
		return TextSchema{}, false, nil
	}
	ts = TextSchema{Names: names, Kinds: make([]Kind, len(names))}
	for i := range guesses {
		ts.Kinds[i] = guesses[i].Kind()
	}
	return ts, true, nil
}

// Target is where a read of one input goes.
type Target struct {
	// Out receives batches and rejected records.
	Out sdk.RecordSender
	// Batcher collects rows (CSV and JSONL); it is flushed at the end of
	// the input, so batches never span inputs.
	Batcher *Batcher
	// Progress, when set, is called after each batch sent with how many
	// bytes of this input have been consumed.
	Progress func(current int64) error
}

func (t *Target) reject(name string, line int64, reason string, raw []byte) error {
	return t.Out.Reject(sdk.BadRecord{
		Location: fmt.Sprintf("%s:%d", name, line),
		Reason:   reason,
		Raw:      raw,
	})
}

// send flushes b and reports progress. It is the one place a read blocks
// on its consumer, so cancellation is checked here too.
func (t *Target) send(ctx context.Context, current int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.Batcher.rows == 0 {
		return nil
	}
	if err := t.Batcher.Flush(t.Out); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if t.Progress != nil {
		return t.Progress(current)
	}
	return nil
}

// ReadCSV streams the records of in into t. Malformed rows and values that
// do not parse as their column's kind go to t.Out.Reject as
// "<in.Name>:<line>" with a reason, and the read goes on. With a header,
// its column names must be those of t.Batcher's schema.
func ReadCSV(ctx context.Context, in *Input, opts *ReadOptions, t Target) error {
	b := t.Batcher
	ts := b.text
	sc := newCSVScanner(in, opts.Delimiter, opts.Quote)
	ncols := len(ts.Names)
	if opts.Header {
		fields, err := sc.next()
		var rec *recordError
		for errors.As(err, &rec) {
			// A malformed line before the header: report it and keep
			// looking, the header is the first well-formed record.
			if err := t.reject(in.Name, rec.line, rec.reason, rec.raw); err != nil {
				return err
			}
			fields, err = sc.next()
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", in.Name, err)
		}
		names, err := csvHeader(fields, in.Name)
		if err != nil {
			return err
		}
		if !equalStrings(names, ts.Names) {
			return fmt.Errorf("%s: header (%s) differs from the first file's (%s)",
				in.Name, strings.Join(names, ", "), strings.Join(ts.Names, ", "))
		}
	}
	cols := b.cols
	cells := b.cells
	for n := 1; ; n++ {
		fields, err := sc.next()
		if err != nil {
			var rec *recordError
			if errors.As(err, &rec) {
				if err := t.reject(in.Name, rec.line, rec.reason, rec.raw); err != nil {
					return err
				}
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("read %s: %w", in.Name, err)
		}
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if len(fields) != ncols {
			reason := fmt.Sprintf("expected %d fields, got %d", ncols, len(fields))
			if err := t.reject(in.Name, sc.recLine, reason, clone(sc.raw)); err != nil {
				return err
			}
			continue
		}
		bad := ""
		for i := range cols {
			col := &cols[i]
			v := fields[col.src]
			if opts.IsNull(v) && (col.Kind != KindString || !sc.anyQuoted || !sc.quoted[col.src]) {
				// A quoted null value is literal text in a string column
				// (so "" round-trips as an empty string); other kinds have
				// no such text, so there it is still null.
				cells[i].null = true
				continue
			}
			if bad = col.convert(v, &cells[i]); bad != "" {
				break
			}
		}
		if bad != "" {
			if err := t.reject(in.Name, sc.recLine, bad, clone(sc.raw)); err != nil {
				return err
			}
			continue
		}
		if b.commit() {
			if err := t.send(ctx, in.BytesRead()); err != nil {
				return err
			}
		}
	}
	return t.send(ctx, in.BytesRead())
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
