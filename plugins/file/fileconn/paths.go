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

	"github.com/sluice-dev/sluice/sdk/format"
)

// sourceFile is one file a read covers.
type sourceFile struct {
	path string
	size int64
}

func skipName(name string) bool { return format.SkipName(name) }

func hasGlobMeta(p string) bool { return format.HasGlobMeta(p) }

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

func matchSegs(pat, parts []string) bool { return format.MatchGlob(pat, parts) }

func matchPrefix(pat, parts []string) bool { return format.MatchGlobPrefix(pat, parts) }
