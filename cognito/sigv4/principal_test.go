package sigv4

import "testing"

func TestReadOnly(t *testing.T) {
	t.Parallel()
	ro, rw := &Principal{AccessKeyID: "GHAKAAAAAAAAAAAAAAAA", ReadOnly: true}, &Principal{}
	for action, readOnly := range map[string]bool{
		"AdminGetUser": true, "ListUsers": true, "ListUsersInGroup": true, "GetGroup": true, "ListGroups": true,
		"DescribeUserPool": true, "DescribeUserPoolClient": true, "ListUserPoolClients": true, "AdminListGroupsForUser": true,
		"AdminCreateUser": false, "AdminDeleteUser": false, "AdminInitiateAuth": false, "AdminSetUserPassword": false,
		"CreateGroup": false, "DeleteGroup": false, "UpdateGroup": false, "AdminUserGlobalSignOut": false,
		"Get": false, "Listing": false, "AdminGetaway": false, "": false,
	} {
		if ro.Allows(action) != readOnly || !rw.Allows(action) {
			t.Errorf("%q: read-only key allowed %v, want %v", action, ro.Allows(action), readOnly)
		}
	}
	if e := AccessDenied(ro, "AdminCreateUser"); e.Type != "AccessDeniedException" || e.Message != "Access key GHAKAAAAAAAAAAAAAAAA is read-only: it is not authorized to perform: cognito-idp:AdminCreateUser" {
		t.Errorf("%+v", e)
	}
}
