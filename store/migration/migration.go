// Package migration reads a store backend's schema migrations: numbered SQL
// files embedded in the backend. Applying them is the backend's job, since
// each database locks and records them its own way.
package migration

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Step is one schema change, identified by the number its file name starts
// with; that number, not the name, is what a backend records, so a file may
// be renamed without being applied again.
type Step struct {
	Version int
	Name    string
	SQL     string
}

// Load reads dir of fsys and returns its NNNN_name.sql files in version
// order. It refuses malformed names and duplicate versions rather than
// guess, since a silently skipped migration would surface much later as a
// missing column.
func Load(fsys fs.FS, dir string) ([]Step, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var steps []Step
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must be NNNN_name.sql", e.Name())
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", other, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		steps = append(steps, Step{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].Version < steps[j].Version })
	return steps, nil
}
