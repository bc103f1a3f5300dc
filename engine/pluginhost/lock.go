package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// DefaultLockFile is the lock file's name, looked up in the working
// directory unless another path is given.
const DefaultLockFile = "sluice.lock.hcl"

// LockedPlugin is one entry of the lock file.
type LockedPlugin struct {
	Name    string `hcl:"name,label"`
	Version string `hcl:"version"`
	SHA256  string `hcl:"sha256"`
}

// LockFile pins each plugin to the checksum of a trusted executable.
type LockFile struct {
	Path    string
	Plugins map[string]LockedPlugin
}

type lockFileBody struct {
	Plugins []LockedPlugin `hcl:"plugin,block"`
}

// ReadLockFile reads path. A missing file is not an error: it yields an
// empty lock, under which no plugin may start unless unlocked runs are
// allowed.
func ReadLockFile(path string) (*LockFile, error) {
	lf := &LockFile{Path: path, Plugins: map[string]LockedPlugin{}}
	src, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return lf, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lock file: %w", err)
	}
	f, diags := hclparse.NewParser().ParseHCL(src, path)
	if diags.HasErrors() {
		return nil, fmt.Errorf("lock file %s: %w", path, diags)
	}
	var body lockFileBody
	if diags := gohcl.DecodeBody(f.Body, nil, &body); diags.HasErrors() {
		return nil, fmt.Errorf("lock file %s: %w", path, diags)
	}
	for _, p := range body.Plugins {
		lf.Plugins[p.Name] = p
	}
	return lf, nil
}

// Write saves the lock file, entries sorted by name so diffs stay small.
func (lf *LockFile) Write() error {
	f := hclwrite.NewEmptyFile()
	root := f.Body()
	root.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte(
		"# Written by `sluice plugins lock`. sluice starts a plugin only if its\n" +
			"# executable's SHA-256 matches the entry here.\n")}})
	names := make([]string, 0, len(lf.Plugins))
	for n := range lf.Plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := lf.Plugins[n]
		b := root.AppendNewBlock("plugin", []string{n}).Body()
		b.SetAttributeValue("version", cty.StringVal(p.Version))
		b.SetAttributeValue("sha256", cty.StringVal(p.SHA256))
	}
	if err := os.WriteFile(lf.Path, f.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write lock file: %w", err)
	}
	return nil
}

// FileSHA256 returns the hex SHA-256 of the file at path.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ErrChecksum is returned when a plugin is not in the lock file or its
// executable changed since it was locked.
var ErrChecksum = errors.New("plugin checksum does not match the lock file")

// verify checks the executable at path against the lock entry for name.
func (lf *LockFile) verify(name, path string) error {
	sum, err := FileSHA256(path)
	if err != nil {
		return err
	}
	entry, ok := lf.Plugins[name]
	if !ok {
		where := lf.Path
		if where == "" {
			where = DefaultLockFile
		}
		return fmt.Errorf("%w: plugin %q (%s) is not in %s; run `sluice plugins lock` to trust the installed plugins, or pass --dev-plugins while developing one", ErrChecksum, name, path, where)
	}
	if !strings.EqualFold(entry.SHA256, sum) {
		return fmt.Errorf("%w: plugin %q at %s has SHA-256 %s, but %s pins %s; if you installed a new version on purpose, run `sluice plugins lock` again", ErrChecksum, name, path, sum, lf.Path, entry.SHA256)
	}
	return nil
}
