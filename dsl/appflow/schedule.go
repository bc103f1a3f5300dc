package appflow

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	rateExpr = regexp.MustCompile(`(?i)^rate\(\s*(\d+)\s*(minute|minutes|hour|hours|day|days)\s*\)$`)
	cronExpr = regexp.MustCompile(`(?i)^cron\((.*)\)$`)
)

// toCron converts an AppFlow schedule expression to a standard 5-field
// cron expression. exact is false when the cron only approximates the
// expression (rate(7 minutes) restarts every hour); err is set when there
// is no cron for it at all.
func toCron(expr string) (cron string, exact bool, err error) {
	expr = strings.TrimSpace(expr)
	if m := rateExpr.FindStringSubmatch(expr); m != nil {
		n, _ := strconv.Atoi(m[1])
		if n <= 0 {
			return "", false, fmt.Errorf("rate must be positive")
		}
		unit := strings.TrimSuffix(strings.ToLower(m[2]), "s")
		switch unit {
		case "minute":
			if n == 1 {
				return "* * * * *", true, nil
			}
			if n < 60 {
				return fmt.Sprintf("*/%d * * * *", n), 60%n == 0, nil
			}
			if n%60 == 0 {
				return toCron(fmt.Sprintf("rate(%d hours)", n/60))
			}
			return "", false, fmt.Errorf("every %d minutes has no cron form", n)
		case "hour":
			if n == 1 {
				return "0 * * * *", true, nil
			}
			if n < 24 {
				return fmt.Sprintf("0 */%d * * *", n), 24%n == 0, nil
			}
			if n%24 == 0 {
				return toCron(fmt.Sprintf("rate(%d days)", n/24))
			}
			return "", false, fmt.Errorf("every %d hours has no cron form", n)
		default: // day
			if n == 1 {
				return "0 0 * * *", true, nil
			}
			if n <= 31 {
				return fmt.Sprintf("0 0 */%d * *", n), false, nil
			}
			return "", false, fmt.Errorf("every %d days has no cron form", n)
		}
	}
	m := cronExpr.FindStringSubmatch(expr)
	if m == nil {
		return "", false, fmt.Errorf("%q is neither rate(...) nor cron(...)", expr)
	}
	fields := strings.Fields(m[1])
	switch len(fields) {
	case 6:
		if y := fields[5]; y != "*" && y != "?" {
			return "", false, fmt.Errorf("standard cron has no year field (%q)", y)
		}
		fields = fields[:5]
	case 5:
	default:
		return "", false, fmt.Errorf("cron(...) has %d fields, want 6 (minutes hours day-of-month month day-of-week year)", len(fields))
	}
	for i, f := range fields {
		if strings.ContainsAny(strings.ToUpper(f), "LW#") && !isName(f) {
			return "", false, fmt.Errorf("%q uses L, W or #, which standard cron lacks", f)
		}
		if f == "?" {
			fields[i] = "*"
		}
	}
	// AWS reads 0/15 as "from 0, every 15"; cron implementations differ on
	// a step without a range, so the range is written out.
	for i, max := range []int{59, 23, 31, 12, 7} {
		fields[i] = explicitSteps(fields[i], max)
	}
	dow, err := shiftWeekdays(fields[4])
	if err != nil {
		return "", false, err
	}
	fields[4] = dow
	return strings.Join(fields, " "), true, nil
}

// isName reports a field made of month or weekday names (JAN, MON-FRI),
// whose letters are not the L/W/# operators.
func isName(f string) bool {
	for _, part := range strings.FieldsFunc(f, func(r rune) bool { return r == ',' || r == '-' || r == '/' }) {
		if _, err := strconv.Atoi(part); err == nil || part == "*" {
			continue
		}
		if len(part) != 3 || strings.Trim(strings.ToUpper(part), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			return false
		}
	}
	return true
}

// shiftWeekdays turns AWS day-of-week numbers (1 = Sunday .. 7 = Saturday)
// into standard cron's (0 = Sunday .. 6). Step values stay as they are.
func shiftWeekdays(f string) (string, error) {
	items := strings.Split(f, ",")
	for i, item := range items {
		base, step, hasStep := strings.Cut(item, "/")
		bounds := strings.Split(base, "-")
		for j, b := range bounds {
			n, err := strconv.Atoi(b)
			if err != nil {
				continue // * or a name
			}
			if n < 1 || n > 7 {
				return "", fmt.Errorf("day of week %d is outside AWS's 1-7", n)
			}
			bounds[j] = strconv.Itoa(n - 1)
		}
		items[i] = strings.Join(bounds, "-")
		if hasStep {
			items[i] += "/" + step
		}
	}
	return strings.Join(items, ","), nil
}

// timeValue reads a schedule time: epoch seconds (the API and
// CloudFormation send numbers), epoch milliseconds, or an ISO 8601 text.
func timeValue(n node) (string, bool) {
	switch v := n.v.(type) {
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return "", false
		}
		if f > 1e11 { // milliseconds
			f /= 1000
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC().Format(time.RFC3339), true
	case string:
		if t, ok := parseTime(v); ok {
			if _, err := strconv.ParseInt(v, 10, 64); err == nil {
				// A numeric text is epoch seconds here, like the numbers.
				sec, _ := strconv.ParseInt(v, 10, 64)
				if sec > 1e11 {
					return time.UnixMilli(sec).UTC().Format(time.RFC3339), true
				}
				return time.Unix(sec, 0).UTC().Format(time.RFC3339), true
			}
			return t.Format(time.RFC3339), true
		}
	}
	return "", false
}

// explicitSteps rewrites a/b items, which have a start but no end, as
// a-max/b.
func explicitSteps(f string, max int) string {
	items := strings.Split(f, ",")
	for i, item := range items {
		base, step, ok := strings.Cut(item, "/")
		if ok && base != "*" && !strings.Contains(base, "-") {
			items[i] = fmt.Sprintf("%s-%d/%s", base, max, step)
		}
	}
	return strings.Join(items, ",")
}
