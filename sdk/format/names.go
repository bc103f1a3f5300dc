package format

import (
	"path"
	"strings"
)

// HasGzipExt reports whether name ends in .gz.
func HasGzipExt(name string) bool {
	return strings.HasSuffix(strings.ToLower(name), ".gz")
}

// FormatFromName guesses the format (csv, jsonl or parquet) from the
// extension of a slash-separated name, under an optional .gz. It also
// reports whether the name implies tab separation. It returns "" when the
// extension says nothing.
func FormatFromName(name string) (format string, tab bool) {
	base := strings.ToLower(path.Base(strings.ReplaceAll(name, `\`, "/")))
	base = strings.TrimSuffix(base, ".gz")
	switch path.Ext(base) {
	case ".csv":
		return "csv", false
	case ".tsv", ".tab":
		return "csv", true
	case ".jsonl", ".ndjson", ".json":
		return "jsonl", false
	case ".parquet", ".pq":
		return "parquet", false
	}
	return "", false
}

// SkipName reports names a directory, prefix or glob read leaves out:
// hidden and underscore files (temporary files of sluice's own sinks,
// _SUCCESS and _temporary from Spark/Hadoop) and editor or download
// leftovers.
func SkipName(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || strings.HasSuffix(name, "~") {
		return true
	}
	lower := strings.ToLower(name)
	for _, suffix := range []string{".tmp", ".temp", ".swp", ".crdownload", ".partial"} {
		if strings.HasSuffix(lower, suffix) {
			return true
		}
	}
	return false
}

// HasGlobMeta reports whether p holds glob metacharacters (* ? [).
func HasGlobMeta(p string) bool { return strings.ContainsAny(p, "*?[") }

// MatchGlob matches slash-separated name segments against pattern
// segments, path.Match per segment, with "**" standing for any number of
// segments (zero included).
func MatchGlob(pat, parts []string) bool {
	if len(pat) == 0 {
		return len(parts) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(parts); i++ {
			if MatchGlob(pat[1:], parts[i:]) {
				return true
			}
		}
		return false
	}
	if len(parts) == 0 {
		return false
	}
	ok, _ := path.Match(pat[0], parts[0])
	return ok && MatchGlob(pat[1:], parts[1:])
}

// MatchGlobPrefix reports whether a directory at parts could still hold a
// match of pat, so a walk can prune the rest.
func MatchGlobPrefix(pat, parts []string) bool {
	if len(parts) == 0 {
		return true
	}
	if len(pat) == 0 {
		return false
	}
	if pat[0] == "**" {
		return true
	}
	ok, _ := path.Match(pat[0], parts[0])
	return ok && MatchGlobPrefix(pat[1:], parts[1:])
}
