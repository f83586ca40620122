package migration

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	t.Run("order", func(t *testing.T) {
		steps, err := Load(fstest.MapFS{
			"m/0010_c.sql":  file("c"),
			"m/0002_b.sql":  file("b"),
			"m/0001_a.sql":  file("a"),
			"m/README.md":   file("not a migration"),
			"m/0003_x.sql~": file("backup"),
		}, "m")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range steps {
			got = append(got, fmt.Sprintf("%d:%s:%s", s.Version, s.Name, s.SQL))
		}
		if strings.Join(got, " ") != "1:0001_a.sql:a 2:0002_b.sql:b 10:0010_c.sql:c" {
			t.Errorf("steps = %v", got)
		}
	})
	for name, fsys := range map[string]fstest.MapFS{
		"duplicate version": {"m/0001_a.sql": file(""), "m/1_b.sql": file("")},
		"no number":         {"m/initial.sql": file("")},
		"zero":              {"m/0000_a.sql": file("")},
		"not a number":      {"m/abcd_a.sql": file("")},
		"missing dir":       {"other/0001_a.sql": file("")},
	} {
		t.Run(name, func(t *testing.T) {
			if steps, err := Load(fsys, "m"); err == nil {
				t.Errorf("Load succeeded with %d steps, want an error", len(steps))
			}
		})
	}
}
