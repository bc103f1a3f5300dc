package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// writePlainDiagnostics renders diagnostics without colour: the source
// line and a caret line under the offending range, which is what a CI log
// or a file needs to show where the problem is.
//
//	Error: Unknown field in formula
//
//	  on flows/x.hcl line 3:
//	   3:   filter { where = "Emial != nil" }
//	                          ^^^^^
//
//	There is no field "Emial" at this point in the flow. Did you mean "Email"? ...
func writePlainDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) {
	for _, d := range diags {
		sev := "Error"
		if d.Severity == hcl.DiagWarning {
			sev = "Warning"
		}
		fmt.Fprintf(w, "%s: %s\n\n", sev, d.Summary)
		if r := d.Subject; r != nil {
			fmt.Fprintf(w, "  on %s line %d:\n", r.Filename, r.Start.Line)
			if f := files[r.Filename]; f != nil {
				writeSnippet(w, f.Bytes, *r)
			}
			fmt.Fprintln(w)
		}
		if d.Detail != "" {
			fmt.Fprintf(w, "%s\n\n", d.Detail)
		}
	}
}

func writeSnippet(w io.Writer, src []byte, r hcl.Range) {
	lines := bytes.Split(src, []byte("\n"))
	if r.Start.Line < 1 || r.Start.Line > len(lines) {
		return
	}
	line := strings.TrimRight(string(lines[r.Start.Line-1]), "\r")
	prefix := fmt.Sprintf("  %3d: ", r.Start.Line)
	fmt.Fprintf(w, "%s%s\n", prefix, line)

	// Columns count characters; the caret line copies the tabs before the
	// range so it lines up however the terminal expands them.
	start := max(r.Start.Column-1, 0)
	end := len([]rune(line))
	if r.End.Line == r.Start.Line {
		end = max(r.End.Column-1, start+1)
	}
	var caret strings.Builder
	caret.WriteString(strings.Repeat(" ", len(prefix)))
	i := 0
	for _, c := range line {
		if i >= start {
			break
		}
		if c == '\t' {
			caret.WriteByte('\t')
		} else {
			caret.WriteByte(' ')
		}
		i++
	}
	width := min(end, utf8.RuneCountInString(line)) - start
	caret.WriteString(strings.Repeat("^", max(width, 1)))
	fmt.Fprintln(w, caret.String())
}
