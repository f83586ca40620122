package cognito

import (
	"maps"
	"slices"
)

// AdminActionNames are the registered admin actions, sorted, so that the
// external tests cover every one (a new action cannot be forgotten).
func AdminActionNames() []string { return slices.Sorted(maps.Keys(admin)) }
