package engine

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-dev/sluice/sdk"
)

// DeadLetter is one record a run refused, with why and where.
type DeadLetter struct {
	Flow  string `json:"flow"`
	RunID string `json:"run_id"`
	// Stage names who refused it: "source", a task ("validate (flows/x.hcl:12)")
	// or a sink ("sink file.archive").
	Stage    string         `json:"stage"`
	Reason   string         `json:"reason"`
	Location string         `json:"location,omitempty"`
	Record   map[string]any `json:"record,omitempty"`
	Raw      string         `json:"raw,omitempty"`
	At       time.Time      `json:"at"`
}

// deadLetterFile appends rejected records to one JSON Lines file per run.
// It is opened lazily, so a clean run leaves no file behind.
type deadLetterFile struct {
	mu    sync.Mutex
	path  string
	f     *os.File
	w     *bufio.Writer
	count int
}

func (d *deadLetterFile) add(dl DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		if err := os.MkdirAll(filepath.Dir(d.path), 0o755); err != nil {
			return fmt.Errorf("dead-letter directory: %w", err)
		}
		f, err := os.OpenFile(d.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("dead-letter file: %w", err)
		}
		d.f, d.w = f, bufio.NewWriter(f)
	}
	b, err := json.Marshal(dl)
	if err != nil {
		// A record value JSON cannot carry still gets its reason recorded.
		dl.Record = map[string]any{"unencodable": fmt.Sprint(dl.Record)}
		b, _ = json.Marshal(dl)
	}
	d.w.Write(b)
	d.w.WriteByte('\n')
	d.count++
	return nil
}

// sync makes every dead letter so far durable; runs call it before they
// advance a checkpoint or report their result.
func (d *deadLetterFile) sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	if err := d.w.Flush(); err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	return d.f.Sync()
}

func (d *deadLetterFile) close() error {
	err := d.sync()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f != nil {
		if cerr := d.f.Close(); err == nil {
			err = cerr
		}
		d.f = nil
	}
	return err
}

// ErrorSampleSize is how many refused records a run keeps in its error
// sample. Ten is enough to show each kind of failure a typical run has
// (a broken line and a failed check, say) while a run's history row stays
// a few kilobytes and its listing a few lines; the dead-letter file and
// Stats.RecordsFailed account for the rest.
const ErrorSampleSize = 10

// RecordError is one refused record as run history keeps it: who refused
// it, why, and where it came from, never the record itself.
type RecordError struct {
	// Stage is a task ("validate (flows/x.hcl:12)"), "source <type>" or
	// "sink <label>", as in dead letters.
	Stage  string `json:"stage"`
	Reason string `json:"reason"`
	// Location is where the source read the record (file:line), if known.
	Location string `json:"location,omitempty"`
	// Record identifies the record: its key fields when the source or a
	// sink names keys and the record has them, else its first few fields,
	// each value cut to sampleValueLen characters.
	Record string `json:"record,omitempty"`
}

// String is the one-line form the CLI and logs print.
func (e RecordError) String() string {
	var b strings.Builder
	b.WriteString(e.Stage)
	b.WriteString(": ")
	if e.Location != "" {
		b.WriteString(e.Location)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	if e.Record != "" {
		b.WriteString(" (record ")
		b.WriteString(e.Record)
		b.WriteString(")")
	}
	return b.String()
}

const (
	// sampleFields is how many fields identify a record without keys.
	sampleFields = 3
	// sampleValueLen bounds each value shown: enough for an id or a date,
	// too short to carry a whole free-text field into history.
	sampleValueLen = 40
	// sampleReasonLen bounds a reason, which a connector may make long.
	sampleReasonLen = 300
)

// errorSample keeps the first ErrorSampleSize refused records of a run.
// Once it is full, adding costs one atomic load: runs that reject millions
// of records pay nothing more.
type errorSample struct {
	full atomic.Bool
	mu   sync.Mutex
	errs []RecordError
	p    *Prepared
	// keys and order are worked out on the first error, so clean runs
	// never do it.
	keys  []string
	order map[string]int
}

func (s *errorSample) add(stage, reason, location string, rec map[string]any) {
	if s.full.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) >= ErrorSampleSize {
		return
	}
	if s.order == nil {
		s.keys, s.order = recordFields(s.p)
	}
	s.errs = append(s.errs, RecordError{Stage: stage, Reason: cut(reason, sampleReasonLen), Location: location,
		Record: s.render(rec)})
	if len(s.errs) == ErrorSampleSize {
		s.full.Store(true)
	}
}

func (s *errorSample) list() []RecordError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

// recordFields returns the key fields a flow knows (the source entity's
// primary key, then every sink's keys) and a rank for every field name
// the flow's records can have, in schema order from the source through
// each task, so "the first few fields" follows the schema, not map order.
func recordFields(p *Prepared) ([]string, map[string]int) {
	order := map[string]int{}
	if p == nil {
		return nil, order
	}
	var keys []string
	addKey := func(k string) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, k := range p.SourceEntity.PrimaryKey {
		addKey(k)
	}
	for _, s := range p.Sinks {
		for _, k := range s.Plan.Keys {
			addKey(k)
		}
	}
	rank := func(sc *arrow.Schema) {
		if sc == nil {
			return
		}
		for _, f := range sc.Fields() {
			if _, seen := order[f.Name]; !seen {
				order[f.Name] = len(order)
			}
		}
	}
	rank(p.SourceEntity.Schema)
	if p.Pipeline != nil {
		for _, st := range p.Pipeline.Stages() {
			rank(st.Output)
		}
	}
	return keys, order
}

// render identifies a record compactly. No field of a record is marked
// sensitive (only connector options are), so the sample shows the key
// fields when it can, since they identify a record without its content,
// and otherwise only the first few fields, cut short.
func (s *errorSample) render(rec map[string]any) string {
	if len(rec) == 0 {
		return ""
	}
	var names []string
	for _, k := range s.keys {
		if _, ok := rec[k]; ok {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		for k := range rec {
			if k != sdk.ChangeTypeField {
				names = append(names, k)
			}
		}
		slices.SortFunc(names, func(a, b string) int {
			ra, oka := s.order[a]
			rb, okb := s.order[b]
			switch {
			case oka && okb:
				return ra - rb
			case oka:
				return -1
			case okb:
				return 1
			}
			return strings.Compare(a, b)
		})
		names = names[:min(len(names), sampleFields)]
	}
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(sampleValue(rec[k]))
	}
	return b.String()
}

func sampleValue(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		s = x
	case []byte:
		return fmt.Sprintf("(%d bytes)", len(x))
	default:
		s = fmt.Sprint(x)
	}
	s = cut(s, sampleValueLen)
	// Quoting only when needed keeps ids and names readable and a value
	// holding ", " or "=" unambiguous.
	if s == "" || strings.ContainsAny(s, ",=\"\n\t") || strings.TrimSpace(s) != s {
		return strconv.Quote(s)
	}
	return s
}

// cut shortens s to n runes, marking the cut with an ellipsis.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
