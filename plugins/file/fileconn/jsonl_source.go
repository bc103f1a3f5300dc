package fileconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
)

// jsonGuess narrows a JSONL member's type. JSON already says number, bool
// or string; strings are further tested for timestamps and dates. Mixed
// JSON types settle on string.
type jsonGuess struct {
	strings, numbers, bools, nested int
	allInt, allTime, allDate        bool
}

func (g *jsonGuess) observe(v *jsonValue) {
	switch v.kind {
	case jsonString:
		if g.strings == 0 {
			g.allTime, g.allDate = true, true
		}
		g.strings++
		if g.allTime && !isTimestampText(v.str) {
			g.allTime = false
		}
		if g.allDate {
			if _, ok := parseDate(v.str); !ok {
				g.allDate = false
			}
		}
	case jsonNumber:
		if g.numbers == 0 {
			g.allInt = true
		}
		g.numbers++
		if g.allInt {
			if _, ok := parseInt(v.raw); !ok {
				g.allInt = false
			}
		}
	case jsonBool:
		g.bools++
	case jsonNested:
		g.nested++
	}
}

func (g *jsonGuess) kind() kind {
	switch {
	case g.numbers > 0 && g.strings+g.bools+g.nested == 0:
		if g.allInt {
			return kindInt
		}
		return kindFloat
	case g.bools > 0 && g.strings+g.numbers+g.nested == 0:
		return kindBool
	case g.strings > 0 && g.numbers+g.bools+g.nested == 0:
		if g.allTime {
			return kindTimestamp
		}
		if g.allDate {
			return kindDate
		}
	}
	return kindString
}

// inferJSONL samples the first non-empty file. Columns come in order of
// first appearance; members that only show up after the sample are not
// columns and are ignored.
func inferJSONL(ctx context.Context, opts *sourceOptions, files []sourceFile) (textSchema, error) {
	for _, f := range files {
		ts, ok, err := inferJSONLFile(ctx, opts, f.path)
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
	return textSchema{}, fmt.Errorf("%s: no JSON objects to take columns from", opts.path)
}

func inferJSONLFile(ctx context.Context, opts *sourceOptions, path string) (textSchema, bool, error) {
	in, err := openInput(path, opts.compression)
	if err != nil {
		return textSchema{}, false, err
	}
	defer in.Close()
	ls := newLineScanner(in.r)
	var js jsonObjectScanner
	var names []string
	index := map[string]int{}
	var guesses []jsonGuess
	for sampled := 0; sampled < opts.inferRows; {
		line, _, err := ls.next()
		if err != nil {
			var rec *recordError
			if errors.As(err, &rec) {
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return textSchema{}, false, fmt.Errorf("read %s: %w", path, err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		members, err := js.scan(line)
		if err != nil {
			continue
		}
		for i := range members {
			m := &members[i]
			j, ok := index[string(m.key)]
			if !ok {
				j = len(names)
				index[string(m.key)] = j
				names = append(names, string(m.key))
				guesses = append(guesses, jsonGuess{})
			}
			guesses[j].observe(&m.val)
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

// convertJSON turns a JSON value into c for the column's kind. Strings
// holding a number, bool or time convert too, since overriding a quoted
// field's type is the usual reason for a schema entry.
func (col *textColumn) convertJSON(v *jsonValue, c *cell) string {
	c.null = false
	switch v.kind {
	case jsonNull:
		c.null = true
		return ""
	case jsonString:
		if col.kind == kindString {
			c.str = v.str
			return ""
		}
		return col.convert(v.str, c)
	case jsonNumber:
		switch col.kind {
		case kindString:
			c.str = v.raw
			return ""
		case kindFloat:
			return col.convert(v.raw, c)
		case kindInt:
			if n, ok := parseInt(v.raw); ok {
				c.bits = n
				return ""
			}
			// 1.0 or 1e3 is still a whole number.
			if f, ok := parseFloat(v.raw); ok && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
				c.bits = int64(f)
				return ""
			}
		}
	case jsonBool:
		switch col.kind {
		case kindString:
			c.str = v.raw
			return ""
		case kindBool:
			c.bits = 0
			if v.b {
				c.bits = 1
			}
			return ""
		}
	case jsonNested:
		if col.kind == kindString {
			c.str = v.raw
			return ""
		}
	}
	return badValue(col, v.raw)
}

// readJSONL streams one JSONL file into b.
func (rs *readState) readJSONL(f sourceFile, b *batcher) error {
	in, err := openInput(f.path, rs.plan.opts.compression)
	if err != nil {
		return err
	}
	defer in.Close()
	ls := newLineScanner(in.r)
	var js jsonObjectScanner
	index := make(map[string]int, len(b.cols))
	for i := range b.cols {
		index[b.cols[i].name] = i
	}
	for n := 1; ; n++ {
		line, lineNo, err := ls.next()
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
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		members, err := js.scan(line)
		if err != nil {
			if err := rs.reject(f.path, lineNo, err.Error(), clone(line)); err != nil {
				return err
			}
			continue
		}
		b.clearCells()
		bad := ""
		for i := range members {
			m := &members[i]
			j, ok := index[string(m.key)]
			if !ok {
				continue
			}
			if bad = b.cols[j].convertJSON(&m.val, &b.cells[j]); bad != "" {
				break
			}
		}
		if bad != "" {
			if err := rs.reject(f.path, lineNo, bad, clone(line)); err != nil {
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
