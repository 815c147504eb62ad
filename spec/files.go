package spec

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// yamlFiles expands paths into the files to read, in a deterministic order:
// the paths in the order given, each folder's *.yaml and *.yml files
// (recursively, sorted, skipping folders whose names start with ".", such
// as .git and .github). A file named explicitly is read whatever its
// extension. A file reached twice is read once. Problems are added to errs.
func yamlFiles(paths []string, errs *errorSink) []string {
	var out []string
	seen := map[string]bool{}
	addFile := func(p string) {
		key := p
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			errs.add(p, pos{}, "cannot read: %v", pathErrorReason(err))
			continue
		}
		if !info.IsDir() {
			addFile(p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				errs.add(path, pos{}, "cannot read: %v", pathErrorReason(err))
				return nil
			}
			if d.IsDir() {
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if ext := filepath.Ext(path); ext == ".yaml" || ext == ".yml" {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			errs.add(p, pos{}, "cannot read: %v", pathErrorReason(err))
			continue
		}
		if len(found) == 0 {
			errs.add(p, pos{}, "folder holds no .yaml or .yml files")
			continue
		}
		sort.Strings(found)
		for _, f := range found {
			addFile(f)
		}
	}
	return out
}

// pathErrorReason drops the path from an *fs.PathError, which the message
// already starts with.
func pathErrorReason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
