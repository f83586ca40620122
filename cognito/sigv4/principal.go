package sigv4

import "strings"

// ReadOnlyAction reports whether a Cognito action changes nothing: the
// ones IAM files under its Read and List access levels, whose names start
// with Get, List, Describe, AdminGet or AdminList (AdminGetUser, ListUsers,
// DescribeUserPool, AdminListGroupsForUser, ...). Everything else,
// AdminInitiateAuth included (it signs a user in), is a change.
func ReadOnlyAction(action string) bool {
	for _, prefix := range []string{"Get", "List", "Describe", "AdminGet", "AdminList"} {
		if rest, ok := strings.CutPrefix(action, prefix); ok && rest != "" && rest[0] >= 'A' && rest[0] <= 'Z' {
			return true
		}
	}
	return false
}

// Allows reports whether p may call action: any action for a full key,
// only ReadOnlyAction ones for a read-only key.
func (p *Principal) Allows(action string) bool {
	return !p.ReadOnly || ReadOnlyAction(action)
}
