package transform

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
)

// Every function below receives raw values from the VM, so it must cope
// with nil (a null field) and with ints where the checker promised float64
// (expr lets an int expression flow into a float64 parameter unchanged).
// The rule is uniform: a nil argument makes the result nil, except for
// coalesce, is_null and concat, whose whole point is handling nulls.

// function is one entry of the formula library.
type function struct {
	name  string
	fn    func(args ...any) (any, error)
	types []any // typed signatures, so the checker catches misuse
}

// library is the formula function library, in the order it is documented.
var library = []function{
	{"lower", nullary1(func(a any) (any, error) { return strings.ToLower(a.(string)), nil }), sig(new(func(string) string))},
	{"upper", nullary1(func(a any) (any, error) { return strings.ToUpper(a.(string)), nil }), sig(new(func(string) string))},
	{"trim", fnTrim, sig(new(func(string) string), new(func(string, string) string))},
	{"substr", fnSubstr, sig(new(func(string, int) string), new(func(string, int, int) string))},
	{"replace", fnReplace, sig(new(func(string, string, string) string))},
	{"regex_match", fnRegexMatch, sig(new(func(string, string) bool))},
	{"regex_replace", fnRegexReplace, sig(new(func(string, string, string) string))},
	{"split", fnSplit, sig(new(func(string, string) []string))},
	{"concat", fnConcat, sig(new(func(...any) string))},
	{"coalesce", fnCoalesce, sig(
		new(func(string, ...string) string),
		new(func(int, ...int) int),
		new(func(float64, ...float64) float64),
		new(func(bool, ...bool) bool),
		new(func(time.Time, ...time.Time) time.Time),
	)},
	{"is_null", func(args ...any) (any, error) { return args[0] == nil, nil }, sig(new(func(any) bool))},
	{"len", nullary1(fnLen), sig(new(func(string) int), new(func([]string) int), new(func([]any) int))},
	{"now", func(...any) (any, error) { return time.Now().UTC(), nil }, sig(new(func() time.Time))},
	{"parse_time", fnParseTime, sig(new(func(string) time.Time), new(func(string, string) time.Time))},
	{"format_time", fnFormatTime, sig(new(func(time.Time, string) string))},
	{"date_trunc", fnDateTrunc, sig(new(func(string, time.Time) time.Time))},
	{"add_duration", fnAddDuration, sig(new(func(time.Time, string) time.Time))},
	{"sha256", nullary1(func(a any) (any, error) { s := sha256.Sum256([]byte(a.(string))); return hex.EncodeToString(s[:]), nil }), sig(new(func(string) string))},
	{"md5", nullary1(func(a any) (any, error) { s := md5.Sum([]byte(a.(string))); return hex.EncodeToString(s[:]), nil }), sig(new(func(string) string))},
	{"round", fnRound, sig(new(func(float64) float64), new(func(float64, int) float64))},
	{"floor", nullary1(func(a any) (any, error) { return math.Floor(toFloat(a)), nil }), sig(new(func(float64) float64))},
	{"ceil", nullary1(func(a any) (any, error) { return math.Ceil(toFloat(a)), nil }), sig(new(func(float64) float64))},
	{"abs", nullary1(fnAbs), sig(new(func(int) int), new(func(float64) float64))},
	{"int", nullary1(castInt), sig(new(func(int) int), new(func(float64) int), new(func(string) int), new(func(bool) int))},
	{"float", nullary1(castFloat), sig(new(func(float64) float64), new(func(string) float64), new(func(bool) float64))},
	{"string", nullary1(castString), sig(new(func(any) string))},
	{"bool", nullary1(castBool), sig(new(func(bool) bool), new(func(int) bool), new(func(float64) bool), new(func(string) bool))},
	{"date", nullary1(castDate), sig(new(func(string) time.Time), new(func(time.Time) time.Time))},
	{"timestamp", nullary1(castTimestamp), sig(new(func(string) time.Time), new(func(time.Time) time.Time), new(func(int) time.Time))},
}

// functionNames lists the library for "did you mean" suggestions.
var functionNames = func() []string {
	names := make([]string, len(library))
	for i, f := range library {
		names[i] = f.name
	}
	return names
}()

func sig(types ...any) []any { return types }

// libraryOptions registers the library with expr. Registering a name that
// expr also has as a builtin (lower, len, int, ...) replaces the builtin,
// which is what we want: ours are null-aware and match the column path.
func libraryOptions() []expr.Option {
	opts := make([]expr.Option, 0, len(library))
	for _, f := range library {
		opts = append(opts, expr.Function(f.name, f.fn, f.types...))
	}
	return opts
}

// nullary1 wraps a one-argument function with null propagation.
func nullary1(f func(any) (any, error)) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		if args[0] == nil {
			return nil, nil
		}
		return f(args[0])
	}
}

func anyNil(args []any) bool {
	for _, a := range args {
		if a == nil {
			return true
		}
	}
	return false
}

func toFloat(a any) float64 {
	switch v := a.(type) {
	case float64:
		return v
	case int:
		return float64(v)
	case float32:
		return float64(v)
	case int64:
		return float64(v)
	}
	panic(fmt.Sprintf("expected a number, got %T", a))
}

func toInt(a any) int {
	switch v := a.(type) {
	case int:
		return v
	case int64:
		return int(v)
	case float64:
		return int(v)
	}
	panic(fmt.Sprintf("expected an integer, got %T", a))
}

func fnTrim(args ...any) (any, error) {
	if anyNil(args) {
		return nil, nil
	}
	if len(args) == 2 {
		return strings.Trim(args[0].(string), args[1].(string)), nil
	}
	return strings.TrimSpace(args[0].(string)), nil
}

// fnSubstr takes a 0-based rune start and an optional rune length, and
// clamps both to the string instead of failing: substr is mostly used to
// cut fields to size, where a short value is not an error.
func fnSubstr(args ...any) (any, error) {
	if anyNil(args) {
		return nil, nil
	}
	s := args[0].(string)
	start := toInt(args[1])
	n := utf8.RuneCountInString(s)
	if start < 0 {
		start += n // negative start counts from the end, like Python
		if start < 0 {
			start = 0
		}
	}
	if start >= n {
		return "", nil
	}
	end := n
	if len(args) == 3 {
		l := toInt(args[2])
		if l < 0 {
			return nil, fmt.Errorf("substr: negative length %d", l)
		}
		if start+l < end {
			end = start + l
		}
	}
	return runeSlice(s, start, end), nil
}

// runeSlice returns s's runes [from, to) without converting to []rune.
func runeSlice(s string, from, to int) string {
	i, bFrom, bTo := 0, len(s), len(s)
	for b := range s {
		if i == from {
			bFrom = b
		}
		if i == to {
			bTo = b
			break
		}
		i++
	}
	if from >= i && bFrom == len(s) {
		return ""
	}
	return s[bFrom:bTo]
}

func fnReplace(args ...any) (any, error) {
	if anyNil(args) {
		return nil, nil
	}
	return strings.ReplaceAll(args[0].(string), args[1].(string), args[2].(string)), nil
}

// regexCache holds compiled patterns. Patterns are nearly always literals,
// so the cache stays small; it stops growing at a fixed size in case a
// formula builds patterns from data.
var regexCache struct {
	sync.RWMutex
	m map[string]*regexp.Regexp
}

const regexCacheMax = 1024

func compileRegex(pattern string) (*regexp.Regexp, error) {
	regexCache.RLock()
	re, ok := regexCache.m[pattern]
	regexCache.RUnlock()
	if ok {
		return re, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %w", pattern, err)
	}
	regexCache.Lock()
	if regexCache.m == nil {
		regexCache.m = make(map[string]*regexp.Regexp)
	}
	if len(regexCache.m) < regexCacheMax {
		regexCache.m[pattern] = re
	}
	regexCache.Unlock()
	return re, nil
}

func fnRegexMatch(args ...any) (any, error) {
	if anyNil(args) {
		return nil, nil
	}
	re, err := compileRegex(args[1].(string))
	if err != nil {
		return nil, err
	}
	return re.MatchString(args[0].(string)), nil
}

func fnRegexReplace(args ...any) (any, error) {
	if anyNil(args) {
		return nil, nil
	}
	re, err := compileRegex(args[1].(string))
	if err != nil {
		return nil, err
	}
	return re.ReplaceAllString(args[0].(string), args[2].(string)), nil
}

func fnSplit(args ...any) (any, error) {
	if anyNil(args) {
		return nil, nil
	}
	return strings.Split(args[0].(string), args[1].(string)), nil
}

// fnConcat joins its arguments' string forms and skips nulls, like
// PostgreSQL's concat(): concatenating a missing middle name should not
// erase the whole name.
func fnConcat(args ...any) (any, error) {
	var b strings.Builder
	for _, a := range args {
		if a == nil {
			continue
		}
		s, err := castString(a)
		if err != nil {
			return nil, err
		}
		b.WriteString(s.(string))
	}
	return b.String(), nil
}

func fnCoalesce(args ...any) (any, error) {
	for _, a := range args {
		if a != nil {
			return a, nil
		}
	}
	return nil, nil
}

func fnLen(a any) (any, error) {
	switch v := a.(type) {
	case string:
		return utf8.RuneCountInString(v), nil
	case []string:
		return len(v), nil
	case []any:
		return len(v), nil
	}
	return nil, fmt.Errorf("len: unsupported type %T", a)
}

// timeLayouts are tried in order by parse_time, date and timestamp when no
// layout is given: the ISO shapes sources actually send, including
// Salesforce's "+0000" offset without a colon.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.000Z0700",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

func parseTimeAuto(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as a time (want RFC 3339, e.g. 2024-01-31T12:00:00Z, or give a layout)", s)
}

func fnParseTime(args ...any) (any, error) {
	if anyNil(args) {
		return nil, nil
	}
	s := args[0].(string)
	if len(args) == 1 {
		return parseTimeAuto(s)
	}
	t, err := time.Parse(args[1].(string), s)
	if err != nil {
		return nil, fmt.Errorf("parse_time: %w", err)
	}
	return t.UTC(), nil
}

func fnFormatTime(args ...any) (any, error) {
	if anyNil(args) {
		return nil, nil
	}
	return args[0].(time.Time).Format(args[1].(string)), nil
}

// truncUnits are the units date_trunc accepts; weeks start on Monday (ISO).
var truncUnits = map[string]bool{"second": true, "minute": true, "hour": true, "day": true, "week": true, "month": true, "quarter": true, "year": true}

func fnDateTrunc(args ...any) (any, error) {
	if anyNil(args) {
		return nil, nil
	}
	return dateTrunc(args[0].(string), args[1].(time.Time))
}

func dateTrunc(unit string, t time.Time) (time.Time, error) {
	t = t.UTC()
	y, m, d := t.Date()
	switch strings.ToLower(unit) {
	case "second":
		return t.Truncate(time.Second), nil
	case "minute":
		return t.Truncate(time.Minute), nil
	case "hour":
		return time.Date(y, m, d, t.Hour(), 0, 0, 0, time.UTC), nil
	case "day":
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	case "week":
		off := (int(t.Weekday()) + 6) % 7
		return time.Date(y, m, d-off, 0, 0, 0, 0, time.UTC), nil
	case "month":
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC), nil
	case "quarter":
		return time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, time.UTC), nil
	case "year":
		return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC), nil
	}
	return time.Time{}, fmt.Errorf("date_trunc: unknown unit %q (want second, minute, hour, day, week, month, quarter or year)", unit)
}

func fnAddDuration(args ...any) (any, error) {
	if anyNil(args) {
		return nil, nil
	}
	d, err := parseDuration(args[1].(string))
	if err != nil {
		return nil, err
	}
	return args[0].(time.Time).Add(d), nil
}

// parseDuration is time.ParseDuration plus a "d" (24h) unit, because
// "add 30 days" is the common case in flows and "720h" reads badly.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err == nil {
			return time.Duration(n * float64(24*time.Hour)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("add_duration: %w (use e.g. \"90m\", \"1h30m\", \"7d\")", err)
	}
	return d, nil
}

// fnRound rounds half away from zero, to digits decimal places.
func fnRound(args ...any) (any, error) {
	if anyNil(args) {
		return nil, nil
	}
	x := toFloat(args[0])
	if len(args) == 1 {
		return math.Round(x), nil
	}
	p := math.Pow(10, float64(toInt(args[1])))
	return math.Round(x*p) / p, nil
}

func fnAbs(a any) (any, error) {
	switch v := a.(type) {
	case int:
		if v < 0 {
			return -v, nil
		}
		return v, nil
	default:
		return math.Abs(toFloat(a)), nil
	}
}

var errCast = errors.New("cannot convert")

func castInt(a any) (any, error) {
	switch v := a.(type) {
	case int:
		return v, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("int(%v): %w a non-finite number", v, errCast)
		}
		return int(v), nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case string:
		s := strings.TrimSpace(v)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return int(n), nil
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return int(f), nil
		}
		return nil, fmt.Errorf("int(%q): %w it to an integer", v, errCast)
	}
	return nil, fmt.Errorf("int(%T): %w it to an integer", a, errCast)
}

func castFloat(a any) (any, error) {
	switch v := a.(type) {
	case float64:
		return v, nil
	case int:
		return float64(v), nil
	case bool:
		if v {
			return 1.0, nil
		}
		return 0.0, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nil, fmt.Errorf("float(%q): %w it to a number", v, errCast)
		}
		return f, nil
	}
	return nil, fmt.Errorf("float(%T): %w it to a number", a, errCast)
}

func castString(a any) (any, error) {
	switch v := a.(type) {
	case string:
		return v, nil
	case int:
		return strconv.Itoa(v), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano), nil
	case []string:
		return strings.Join(v, ","), nil
	}
	return fmt.Sprint(a), nil
}

func castBool(a any) (any, error) {
	switch v := a.(type) {
	case bool:
		return v, nil
	case int:
		return v != 0, nil
	case float64:
		return v != 0, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("bool(%q): %w it to true or false", v, errCast)
		}
		return b, nil
	}
	return nil, fmt.Errorf("bool(%T): %w it to true or false", a, errCast)
}

// castDate parses or truncates to midnight UTC.
func castDate(a any) (any, error) {
	t, err := castTimestamp(a)
	if err != nil {
		return nil, err
	}
	return dateTrunc("day", t.(time.Time))
}

// castTimestamp parses a string, passes a time through, or reads an int as
// Unix seconds.
func castTimestamp(a any) (any, error) {
	switch v := a.(type) {
	case time.Time:
		return v.UTC(), nil
	case string:
		return parseTimeAuto(v)
	case int:
		return time.Unix(int64(v), 0).UTC(), nil
	}
	return nil, fmt.Errorf("timestamp(%T): %w it to a time", a, errCast)
}
