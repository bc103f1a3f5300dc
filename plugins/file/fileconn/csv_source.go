package fileconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
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

// inferCSV reads the header and up to infer_rows records of the first
// non-empty file and settles each column's type.
func inferCSV(ctx context.Context, opts *sourceOptions, files []sourceFile) (textSchema, error) {
	for _, f := range files {
		ts, ok, err := inferCSVFile(ctx, opts, f.path)
		if err != nil {
			return textSchema{}, err
		}
		if ok {
			where := files[0].path
			if len(files) > 1 {
				where = "the files under " + opts.path
			}
			if err := ts.applyOverrides(opts.overrides, where); err != nil {
				return textSchema{}, optionError("schema", "%v", err)
			}
			return ts, nil
		}
	}
	return textSchema{}, fmt.Errorf("%s: no CSV header or rows to take columns from", opts.path)
}

func inferCSVFile(ctx context.Context, opts *sourceOptions, path string) (textSchema, bool, error) {
	in, err := openInput(path, opts.compression)
	if err != nil {
		return textSchema{}, false, err
	}
	defer in.Close()
	sc := newCSVScanner(in.r, opts.delimiter, opts.quote)
	var names []string
	var guesses []textGuess
	sampled := 0
	for sampled < opts.inferRows {
		fields, err := sc.next()
		if err != nil {
			var rec *recordError
			if errors.As(err, &rec) {
				continue // rejected later, when the read meets it
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return textSchema{}, false, fmt.Errorf("read %s: %w", path, err)
		}
		if names == nil {
			if opts.header {
				if names, err = csvHeader(fields, path); err != nil {
					return textSchema{}, false, err
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
			if opts.isNull(f) {
				continue
			}
			guesses[i].observe(f)
		}
		sampled++
		if sampled%1024 == 0 && ctx.Err() != nil {
			return textSchema{}, false, ctx.Err()
		}
	}
	if names == nil {
		return textSchema{}, false, nil
	}
	ts := textSchema{names: names, kinds: make([]kind, len(names))}
	for i := range guesses {
		ts.kinds[i] = guesses[i].kind()
	}
	return ts, true, nil
}

// readCSV streams one CSV file into b.
func (rs *readState) readCSV(f sourceFile, b *batcher) error {
	opts := rs.plan.opts
	ts := rs.plan.text
	in, err := openInput(f.path, opts.compression)
	if err != nil {
		return err
	}
	defer in.Close()
	sc := newCSVScanner(in.r, opts.delimiter, opts.quote)
	ncols := len(ts.names)
	if opts.header {
		fields, err := sc.next()
		var rec *recordError
		for errors.As(err, &rec) {
			// A malformed line before the header: report it and keep
			// looking, the header is the first well-formed record.
			if err := rs.reject(f.path, rec.line, rec.reason, rec.raw); err != nil {
				return err
			}
			fields, err = sc.next()
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", f.path, err)
		}
		names, err := csvHeader(fields, f.path)
		if err != nil {
			return err
		}
		if !equalStrings(names, ts.names) {
			return fmt.Errorf("%s: header (%s) differs from the first file's (%s)",
				f.path, strings.Join(names, ", "), strings.Join(ts.names, ", "))
		}
	}
	cols := b.cols
	cells := b.cells
	for n := 1; ; n++ {
		fields, err := sc.next()
		if err != nil {
			var rec *recordError
			if errors.As(err, &rec) {
				if err := rs.reject(f.path, rec.line, rec.reason, rec.raw); err != nil {
					return err
				}
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("read %s: %w", f.path, err)
		}
		if n&1023 == 0 {
			if err := rs.ctx.Err(); err != nil {
				return err
			}
		}
		if len(fields) != ncols {
			reason := fmt.Sprintf("expected %d fields, got %d", ncols, len(fields))
			if err := rs.reject(f.path, sc.recLine, reason, clone(sc.raw)); err != nil {
				return err
			}
			continue
		}
		bad := ""
		for i := range cols {
			col := &cols[i]
			v := fields[col.src]
			if opts.isNull(v) && (col.kind != kindString || !sc.anyQuoted || !sc.quoted[col.src]) {
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
			if err := rs.reject(f.path, sc.recLine, bad, clone(sc.raw)); err != nil {
				return err
			}
			continue
		}
		if b.commit() {
			if err := rs.send(b, in.bytesRead()); err != nil {
				return err
			}
		}
	}
	return rs.send(b, in.bytesRead())
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
