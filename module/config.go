package module

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// adaptConfig reads a config file the way `caddy run --config` does: JSON
// as is, a Caddyfile (by adapter name or file name) through its adapter.
func adaptConfig(configFile, adapter string) ([]byte, error) {
	body, err := os.ReadFile(configFile)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	base := strings.ToLower(filepath.Base(configFile))
	if adapter == "" && filepath.Ext(base) != ".json" &&
		(strings.HasPrefix(base, "caddyfile") || strings.HasSuffix(base, ".caddyfile")) {
		adapter = "caddyfile"
	}
	if adapter == "" || adapter == "json" {
		return body, nil
	}
	a := caddyconfig.GetAdapter(adapter)
	if a == nil {
		return nil, fmt.Errorf("unknown config adapter %q", adapter)
	}
	out, _, err := a.Adapt(body, map[string]any{"filename": configFile})
	if err != nil {
		return nil, fmt.Errorf("adapting %s: %w", configFile, err)
	}
	return out, nil
}
