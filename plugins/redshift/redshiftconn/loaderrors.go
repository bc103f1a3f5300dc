package redshiftconn

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/klauspost/compress/gzip"

	"github.com/sluice-dev/sluice/sdk"
)

// maxMaxErrors is the largest MAXERROR Redshift's COPY takes.
const maxMaxErrors = 100_000

// defaultLoadErrorWaits are the pauses between reads of the load-error
// view while it lists fewer rows than COPY skipped: the SYS views are
// filled asynchronously, so a read right after the COPY may miss some.
var defaultLoadErrorWaits = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}

// loadError is one row of a load-error view: a line of a staged file that
// COPY refused.
type loadError struct {
	url     string // s3://…/part-NNNNN.csv.gz
	line    int64
	column  string
	colType string
	length  string
	code    string
	message string
}

func (e loadError) file() string { return path.Base(e.url) }

// typeText is the column's type as the view describes it: varchar(256).
func (e loadError) typeText() string {
	if e.length == "" || e.length == "0" {
		return e.colType
	}
	return e.colType + "(" + e.length + ")"
}

// parseLoadErrors reads the rows of loadErrorsSQL (or stlLoadErrorsSQL):
// file, line, column, type, length, code, message. A line appears once,
// with its first error, sorted by file and line.
func parseLoadErrors(rows [][]string) []loadError {
	seen := map[string]bool{}
	var out []loadError
	for _, r := range rows {
		if len(r) < 7 {
			continue
		}
		line, err := strconv.ParseInt(strings.TrimSpace(r[1]), 10, 64)
		if err != nil {
			line = -1
		}
		e := loadError{url: strings.TrimSpace(r[0]), line: line, column: strings.TrimSpace(r[2]), colType: strings.TrimSpace(r[3]),
			length: strings.TrimSpace(r[4]), code: strings.TrimSpace(r[5]), message: strings.TrimSpace(r[6])}
		k := e.url + "\x00" + strconv.FormatInt(e.line, 10)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b loadError) int {
		if c := strings.Compare(a.url, b.url); c != 0 {
			return c
		}
		return int(min(max(a.line-b.line, -1), 1))
	})
	return out
}

// stagedRecord is one row of a staged CSV file and the lines it spans.
type stagedRecord struct {
	raw []byte // the record without its line end
	// first and last are the physical lines (1-based, counting '\n') of
	// the file the record spans: more than one when a quoted value holds
	// a line break.
	first, last int64
	// pgFirst and pgLast are the lines PostgreSQL's COPY numbers the
	// record with (see lineCounter).
	pgFirst, pgLast int64
}

// lineCounter numbers the lines of staged CSV two ways. phys counts line
// ends. pg counts as PostgreSQL's COPY does (CopyReadLineText): one per
// record, plus one per line break inside quotes — except that until the
// first record has ended it counts quoted '\r' instead of '\n', as it does
// not know the line ending yet. COPY errors name pg's line; Redshift's
// COPY, a descendant of PostgreSQL's, is assumed to count alike.
type lineCounter struct {
	phys, pg int64
	eolKnown bool
}

// scanStaged reads the records of decompressed staged CSV from r, numbering
// their lines with lc, and hands each to fn until fn returns false. The
// record's raw bytes are valid only during the call.
func scanStaged(r io.Reader, lc *lineCounter, fn func(*stagedRecord) bool) error {
	br := bufio.NewReaderSize(r, 1<<16)
	var rec stagedRecord
	var buf []byte
	inQuote, open := false, false
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			if !open {
				open, buf = true, buf[:0]
				lc.pg++
				rec.first, rec.pgFirst = lc.phys+1, lc.pg
			}
			for _, c := range chunk {
				switch {
				case c == '"':
					inQuote = !inQuote
				case inQuote && c == '\n' && lc.eolKnown, inQuote && c == '\r' && !lc.eolKnown:
					lc.pg++
				}
			}
			buf = append(buf, chunk...)
			if chunk[len(chunk)-1] == '\n' {
				lc.phys++
				if !inQuote {
					open, lc.eolKnown = false, true
					rec.last, rec.pgLast, rec.raw = lc.phys, lc.pg, buf[:len(buf)-1]
					if !fn(&rec) {
						return nil
					}
				}
			}
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			if open {
				return errors.New("the staged file ends inside a record")
			}
			return nil
		default:
			return err
		}
	}
}

// stagedValue is one field of a staged record: its text as written, or
// null (the unquoted NULL marker).
type stagedValue struct {
	text string
	null bool
}

// splitStaged splits one staged record into its fields, undoing the CSV
// quoting appendCSVString applies and nothing else, so the text is the
// value exactly as written.
func splitStaged(raw []byte) []stagedValue {
	var out []stagedValue
	i := 0
	for {
		if i < len(raw) && raw[i] == '"' {
			var b []byte
			for i++; i < len(raw); i++ {
				if raw[i] == '"' {
					if i+1 < len(raw) && raw[i+1] == '"' {
						b = append(b, '"')
						i++
						continue
					}
					i++
					break
				}
				b = append(b, raw[i])
			}
			out = append(out, stagedValue{text: string(b)})
		} else {
			end := len(raw)
			if j := bytes.IndexByte(raw[i:], ','); j >= 0 {
				end = i + j
			}
			t := string(raw[i:end])
			out = append(out, stagedValue{text: t, null: t == nullSentinel})
			i = end
		}
		if i >= len(raw) {
			return out
		}
		i++ // the comma
	}
}

// openStaged opens a local gzip part for reading its CSV.
func openStaged(p string) (io.Reader, func(), error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	return zr, func() { zr.Close(); f.Close() }, nil
}

// lineMatch is what a scan found for one refused line.
type lineMatch struct {
	phys, pg int64 // ordinal of the record whose lines hold it, 0 if none
	values   []stagedValue
}

// matchLines finds, in one decompressed staged file, the record each of
// lines (sorted, ascending) belongs to, by both line counts. It reads no
// further than the last line asked about.
func matchLines(r io.Reader, lines []int64) (map[int64]*lineMatch, error) {
	out := make(map[int64]*lineMatch, len(lines))
	for _, l := range lines {
		out[l] = &lineMatch{}
	}
	var lc lineCounter
	var ord int64
	i, j := 0, 0 // next line to place by phys, by pg
	err := scanStaged(r, &lc, func(rec *stagedRecord) bool {
		ord++
		for ; i < len(lines) && lines[i] <= rec.last; i++ {
			if m := out[lines[i]]; lines[i] >= rec.first {
				m.phys, m.values = ord, splitStaged(rec.raw)
			}
		}
		for ; j < len(lines) && lines[j] <= rec.pgLast; j++ {
			if lines[j] >= rec.pgFirst {
				out[lines[j]].pg = ord
			}
		}
		return i < len(lines) || j < len(lines)
	})
	return out, err
}

// refused is a refused line matched to its staged record.
type refused struct {
	loadError
	values []stagedValue // nil when the line could not be matched
	why    string        // why not
}

// matchLoadErrors maps refused lines to the staged rows they hold,
// re-reading the local copies of the uploaded parts. A line is matched
// only when both line counts name the same record: they differ after a
// record whose quoted value holds a line break at the start of a file,
// and how Redshift numbers lines then is not known.
func matchLoadErrors(parts []part, errs []loadError) []refused {
	local := map[string]string{}
	for _, p := range parts {
		local[filepath.Base(p.Path)] = p.Path
	}
	out := make([]refused, len(errs))
	byFile := map[string][]int{}
	for i, e := range errs {
		out[i].loadError = e
		byFile[e.file()] = append(byFile[e.file()], i)
	}
	for file, idx := range byFile {
		p, ok := local[file]
		fail := func(why string) {
			for _, i := range idx {
				out[i].why = why
			}
		}
		if !ok {
			fail("the load staged no file " + file)
			continue
		}
		var lines []int64
		for _, i := range idx {
			if out[i].line > 0 {
				lines = append(lines, out[i].line)
			} else {
				out[i].why = "no line number"
			}
		}
		slices.Sort(lines)
		r, done, err := openStaged(p)
		if err != nil {
			fail(err.Error())
			continue
		}
		found, err := matchLines(r, lines)
		done()
		if err != nil {
			fail(fmt.Sprintf("reading %s: %v", file, err))
			continue
		}
		for _, i := range idx {
			m := found[out[i].line]
			switch {
			case m == nil:
			case m.phys == 0:
				out[i].why = fmt.Sprintf("%s has no line %d", file, out[i].line)
			case m.phys != m.pg:
				out[i].why = fmt.Sprintf("line %d of %s is ambiguous: an earlier value spans lines", out[i].line, file)
			default:
				out[i].values = m.values
			}
		}
	}
	return out
}

// rejection turns a matched refused line into the row the engine
// dead-letters.
func (w *writer) rejection(r refused) sdk.CommitRejection {
	return sdk.CommitRejection{Fields: w.stagedFields(r.values), Reason: w.refusedReason(r.loadError),
		Location: fmt.Sprintf("%s:%d", r.file(), r.line)}
}

// stagedFields names a staged record's values by the records' field
// names. The loader's own columns are left out; a delete says so in the
// change-type field, the only thing known of its change type.
func (w *writer) stagedFields(vals []stagedValue) map[string]string {
	out := make(map[string]string, len(w.plan.fields))
	for i, fp := range w.plan.fields {
		if i < len(vals) && !vals[i].null {
			out[fp.field.Name] = vals[i].text
		}
	}
	if w.opts.deletes {
		// The marker follows the fields and the sequence column.
		if n := len(w.plan.fields) + 1; n < len(vals) && vals[n].text == "true" {
			out[sdk.ChangeTypeField] = sdk.ChangeDelete
		}
	}
	return out
}

// refusedReason is Redshift's reason, placed on the field when the view
// names a column the records have.
func (w *writer) refusedReason(e loadError) string {
	detail := "load error " + e.code
	if e.column != "" {
		detail += fmt.Sprintf(", column %q %s", e.column, e.typeText())
	}
	for _, fp := range w.plan.fields {
		if e.column != "" && fp.name == e.column {
			return fmt.Sprintf("field %q: Redshift refused the value: %s (%s)", fp.field.Name, e.message, detail)
		}
	}
	return fmt.Sprintf("Redshift refused the row: %s (%s)", e.message, detail)
}

// rowLabel names a staged row in messages: its key, or its fields when the
// write has no key.
func (w *writer) rowLabel(vals []stagedValue) string {
	var parts []string
	keyed := false
	for _, fp := range w.plan.fields {
		keyed = keyed || fp.key
	}
	for i, fp := range w.plan.fields {
		if (keyed && !fp.key) || i >= len(vals) {
			continue
		}
		v := vals[i].text
		if vals[i].null {
			v = "null"
		}
		parts = append(parts, fp.field.Name+"="+v)
	}
	s := strings.Join(parts, ", ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// refusedRows reads which staged rows a COPY that loaded fewer rows than
// staged skipped (MAXERROR lets it), from sys_load_error_detail for the
// load's prefix, and maps them back to the staged rows. On the wire it
// runs in the load's session and transaction, which it rolls back by
// failing; through the Data API after the batch committed. The view is
// read again, with pauses, while it lists fewer lines than COPY skipped.
func (w *writer) refusedRows(ctx context.Context, up *uploaded, missing int64) ([]sdk.CommitRejection, error) {
	var errs []loadError
	for attempt := 0; ; attempt++ {
		rows, err := w.sess.Query(ctx, loadErrorsSQL(up.prefix, 0))
		if err != nil {
			return nil, fmt.Errorf("reading the rows COPY refused: %w", err)
		}
		errs = parseLoadErrors(rows)
		if int64(len(errs)) >= missing || attempt >= len(w.c.loadErrorWaits) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("reading the rows COPY refused: %w", ctx.Err())
		case <-time.After(w.c.loadErrorWaits[attempt]):
		}
	}
	if int64(len(errs)) != missing {
		return nil, fmt.Errorf("COPY skipped %d of the %d staged rows, but sys_load_error_detail lists %d refused lines under %s",
			missing, up.rows, len(errs), up.prefix)
	}
	matched := matchLoadErrors(up.parts, errs)
	var out []sdk.CommitRejection
	var unmatched []string
	for _, r := range matched {
		if r.values == nil {
			unmatched = append(unmatched, fmt.Sprintf("%s line %d (%s): %s", r.file(), r.line, r.why, r.message))
			continue
		}
		out = append(out, w.rejection(r))
	}
	if len(unmatched) > 0 {
		return nil, fmt.Errorf("of the %d rows Redshift refused, %d cannot be matched to a staged row:\n  %s",
			len(errs), len(unmatched), strings.Join(firstN(unmatched, 10), "\n  "))
	}
	return out, nil
}

// describeRefused lists the lines a failed COPY refused, the rows they
// hold when the local parts still tell, and why no line was tolerated.
func (w *writer) describeRefused(rows [][]string, parts []part) string {
	errs := parseLoadErrors(rows)
	matched := matchLoadErrors(parts, errs)
	var b strings.Builder
	if n := w.maxErrors(); n == 0 {
		b.WriteString("COPY tolerates no refused row (MAXERROR 0: max_load_errors = 0, or the flow does not continue on error, so the engine takes no rows refused at commit)")
	} else {
		fmt.Fprintf(&b, "Redshift refused more rows than max_load_errors = %d tolerates", n)
	}
	fmt.Fprintf(&b, "; the first %d:", len(matched))
	for _, r := range matched {
		fmt.Fprintf(&b, "\n  %s line %d, column %q (%s): %s [%s]", r.file(), r.line, r.column, r.typeText(), r.message, r.code)
		if r.values != nil {
			fmt.Fprintf(&b, " — row %s", w.rowLabel(r.values))
		}
	}
	return b.String()
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("… and %d more", len(s)-n))
	}
	return s
}

// copyLine finds the input line PostgreSQL names in a COPY error's
// context: `COPY stage, line 4: "…"` or `COPY stage, line 4, column qty: "…"`.
var copyLine = regexp.MustCompile(`^COPY .*?, line (\d+)(?:, column |: |$)`)

// pgCopyError adds to a failed COPY … FROM STDIN the staged row it refused,
// named by key: PostgreSQL stops at the first bad row and names its line in
// the whole stream of parts, which is read again to find it.
func (w *writer) pgCopyError(err error, paths []string) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	m := copyLine.FindStringSubmatch(pe.Where)
	if m == nil {
		return err
	}
	line, _ := strconv.ParseInt(m[1], 10, 64)
	var lc lineCounter
	var ord int64
	var found []stagedValue
	for _, p := range paths {
		r, done, oerr := openStaged(p)
		if oerr != nil {
			return err
		}
		serr := scanStaged(r, &lc, func(rec *stagedRecord) bool {
			ord++
			if line >= rec.pgFirst && line <= rec.pgLast {
				found = splitStaged(rec.raw)
				return false
			}
			return true
		})
		done()
		if serr != nil || found != nil {
			break
		}
	}
	if found == nil {
		return fmt.Errorf("%w (line %d of the staged rows)", err, line)
	}
	return fmt.Errorf("%w: the refused row is %s (staged row %d, line %d of the COPY input)", err, w.rowLabel(found), ord, line)
}
