package transform

import (
	"strings"

	"github.com/agext/levenshtein"
)

// closest returns the candidate nearest to name, or "" when nothing is
// near enough to be a plausible typo. A case-insensitive exact match wins
// outright: "accountid" for "AccountId" is the most common slip.
func closest(name string, candidates []string) string {
	best, bestDist := "", 0
	limit := len(name) / 3
	if limit < 2 {
		limit = 2
	}
	for _, c := range candidates {
		if strings.EqualFold(c, name) {
			return c
		}
		d := levenshtein.Distance(strings.ToLower(name), strings.ToLower(c), nil)
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}
