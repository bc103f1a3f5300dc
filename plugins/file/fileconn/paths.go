package fileconn

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// sourceFile is one file a read covers.
type sourceFile struct {
	path string
	size int64
}

// skipName reports names a directory or glob read leaves out: hidden and
// underscore files (.x.tmp from this connector's own sink, _SUCCESS and
// _temporary from Spark/Hadoop) and editor or download leftovers.
func skipName(name string) bool {
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

func hasGlobMeta(p string) bool { return strings.ContainsAny(p, "*?[") }

// listFiles expands the path attribute into files sorted by path. Sorting
// makes reads repeatable and gives checkpoints a meaning: everything at or
// before the checkpointed file has been read.
func listFiles(p string) ([]sourceFile, error) {
	var files []sourceFile
	if hasGlobMeta(p) {
		var err error
		if files, err = globFiles(p); err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no files match %s", p)
		}
	} else {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("path: %w", err)
		}
		if !info.IsDir() {
			return []sourceFile{{path: p, size: info.Size()}}, nil
		}
		if files, err = walkDir(p); err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("directory %s holds no data files", p)
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	return files, nil
}

func walkDir(root string) ([]sourceFile, error) {
	var files []sourceFile
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && skipName(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			if info.Mode()&fs.ModeSymlink == 0 {
				return nil
			}
			// Follow a symlinked file; a symlinked directory is left
			// out to keep cycles impossible.
			if info, err = os.Stat(p); err != nil || !info.Mode().IsRegular() {
				return nil
			}
		}
		files = append(files, sourceFile{path: p, size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	return files, nil
}

// globFiles matches p segment by segment, with "**" standing for any number
// of directories (zero included). The walk starts at the longest prefix
// without metacharacters, so "data/2024/**/*.csv" only visits data/2024.
func globFiles(p string) ([]sourceFile, error) {
	slashed := filepath.ToSlash(p)
	segs := strings.Split(slashed, "/")
	base := []string{}
	for len(segs) > 0 && !hasGlobMeta(segs[0]) {
		base = append(base, segs[0])
		segs = segs[1:]
	}
	for _, s := range segs {
		if _, err := path.Match(s, ""); err != nil {
			return nil, fmt.Errorf("path: bad pattern %q: %w", p, err)
		}
	}
	root := strings.Join(base, "/")
	switch {
	case root == "" && strings.HasPrefix(slashed, "/"):
		root = "/"
	case root == "":
		root = "."
	}
	root = filepath.FromSlash(root)
	if _, err := os.Stat(root); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("path: %w", err)
	}
	var files []sourceFile
	err := filepath.WalkDir(root, func(fp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if fp == root {
			return nil
		}
		rel, _ := filepath.Rel(root, fp)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if skipName(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if !matchPrefix(segs, parts) {
				return filepath.SkipDir
			}
			return nil
		}
		if !matchSegs(segs, parts) {
			return nil
		}
		info, err := os.Stat(fp)
		if err != nil || !info.Mode().IsRegular() {
			return nil
		}
		files = append(files, sourceFile{path: fp, size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", p, err)
	}
	return files, nil
}

func matchSegs(pat, parts []string) bool {
	if len(pat) == 0 {
		return len(parts) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(parts); i++ {
			if matchSegs(pat[1:], parts[i:]) {
				return true
			}
		}
		return false
	}
	if len(parts) == 0 {
		return false
	}
	ok, _ := path.Match(pat[0], parts[0])
	return ok && matchSegs(pat[1:], parts[1:])
}

// matchPrefix reports whether a directory at parts could still contain a
// match, so the walk can prune the rest.
func matchPrefix(pat, parts []string) bool {
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
	return ok && matchPrefix(pat[1:], parts[1:])
}

func hasGzipExt(p string) bool {
	return strings.HasSuffix(strings.ToLower(p), ".gz")
}

// formatFromName guesses the format from the extension, under an optional
// .gz. It also reports whether the name implies tab separation.
func formatFromName(p string) (format string, tab bool) {
	name := strings.ToLower(filepath.Base(p))
	name = strings.TrimSuffix(name, ".gz")
	switch filepath.Ext(name) {
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
