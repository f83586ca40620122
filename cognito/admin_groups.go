package cognito

import (
	"errors"
	"strconv"

	"github.com/gatehouse-auth/gatehouse/cognito/filter"
	"github.com/gatehouse-auth/gatehouse/cognito/usertype"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// The admin actions on groups (CreateGroup, GetGroup, UpdateGroup,
// DeleteGroup, ListGroups, ListUsersInGroup) and ListUsers, in the request
// and response shapes of the AWS API reference. The pool keeps the rules
// (pool/groups.go); these read the request, check the pool id and word the
// pool's errors as Cognito does. Lists page with NextToken, ListUsers with
// PaginationToken, both opaque tokens of the pool.
func init() {
	for name, a := range map[string]AdminAction{
		"CreateGroup":      {Run: createGroup},
		"GetGroup":         {ReadOnly: true, Run: getGroup},
		"UpdateGroup":      {Run: updateGroup},
		"DeleteGroup":      {Run: deleteGroup},
		"ListGroups":       {ReadOnly: true, Run: listGroups},
		"ListUsersInGroup": {ReadOnly: true, Run: listUsersInGroup},
		"ListUsers":        {ReadOnly: true, Run: listUsers},
	} {
		RegisterAdmin(name, a)
	}
}

// errGroupNotFound is Cognito's answer for a group the pool does not have.
var errGroupNotFound = errf("ResourceNotFoundException", "Group not found.")

// groupErr words the pool's group errors as Cognito answers them. A name
// the pool cannot hold names no group: ResourceNotFoundException when
// reading, InvalidParameterException when creating (creating is true).
func groupErr(err error, creating bool) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pool.ErrGroupExists):
		return errf("GroupExistsException", "A group with the name already exists.")
	case errors.Is(err, pool.ErrGroupNotFound):
		return errGroupNotFound
	case errors.Is(err, pool.ErrInvalidGroup):
		if creating {
			return errf("InvalidParameterException", "Invalid group name: "+pool.ErrInvalidGroup.Error())
		}
		return errGroupNotFound
	case errors.Is(err, pool.ErrInvalidGroupDescription):
		return errf("InvalidParameterException", "Invalid description: "+pool.ErrInvalidGroupDescription.Error())
	case errors.Is(err, pool.ErrInvalidPrecedence):
		return errf("InvalidParameterException", "Invalid precedence: "+pool.ErrInvalidPrecedence.Error())
	case errors.Is(err, pool.ErrInvalidPageLimit):
		return errf("InvalidParameterException", pool.ErrInvalidPageLimit.Error())
	case errors.Is(err, pool.ErrInvalidPageToken):
		return errf("InvalidParameterException", "Invalid pagination token.")
	}
	return err
}

// noRoleArn refuses a RoleArn: groups here have no IAM role, and keeping
// quiet about one would let a script believe it set it.
func noRoleArn(arn string) error {
	if arn != "" {
		return errf("InvalidParameterException", "RoleArn is not supported: groups in this user pool have no IAM role")
	}
	return nil
}

type groupFields struct {
	poolRef
	GroupName   string  `json:"GroupName"`
	Description *string `json:"Description"`
	Precedence  *int    `json:"Precedence"`
	RoleArn     string  `json:"RoleArn"`
}

// readGroupRequest decodes a request naming a group and checks the pool
// and that the name is there.
func readGroupRequest(h *Handler, req AdminRequest) (groupFields, error) {
	var in groupFields
	if err := h.decodeInPool(req, &in); err != nil {
		return in, err
	}
	if in.GroupName == "" {
		return in, notNull("groupName")
	}
	return in, nil
}

// groupAnswer is CreateGroup's, GetGroup's and UpdateGroup's response.
func (h *Handler) groupAnswer(g *store.Group) any {
	return map[string]any{"Group": usertype.FromGroup(*g, h.cfg.PoolID)}
}

func createGroup(h *Handler, req AdminRequest) (any, error) {
	in, err := readGroupRequest(h, req)
	if err != nil {
		return nil, err
	}
	if err := noRoleArn(in.RoleArn); err != nil {
		return nil, err
	}
	ng := pool.NewGroup{Name: in.GroupName, Precedence: in.Precedence}
	if in.Description != nil {
		ng.Description = *in.Description
	}
	g, err := h.cfg.Pool.CreateGroup(req.HTTP.Context(), ng)
	if err != nil {
		return nil, groupErr(err, true)
	}
	return h.groupAnswer(g), nil
}

func getGroup(h *Handler, req AdminRequest) (any, error) {
	in, err := readGroupRequest(h, req)
	if err != nil {
		return nil, err
	}
	g, err := h.cfg.Pool.Group(req.HTTP.Context(), in.GroupName)
	if err != nil {
		return nil, groupErr(err, false)
	}
	return h.groupAnswer(g), nil
}

// updateGroup changes the fields the request has; an absent Description
// or Precedence stays as it is (Cognito cannot clear a precedence either).
func updateGroup(h *Handler, req AdminRequest) (any, error) {
	in, err := readGroupRequest(h, req)
	if err != nil {
		return nil, err
	}
	if err := noRoleArn(in.RoleArn); err != nil {
		return nil, err
	}
	g, err := h.cfg.Pool.UpdateGroup(req.HTTP.Context(), in.GroupName,
		store.GroupUpdate{Description: in.Description, Precedence: in.Precedence})
	if err != nil {
		return nil, groupErr(err, false)
	}
	return h.groupAnswer(g), nil
}

func deleteGroup(h *Handler, req AdminRequest) (any, error) {
	in, err := readGroupRequest(h, req)
	if err != nil {
		return nil, err
	}
	return nil, groupErr(h.cfg.Pool.DeleteGroup(req.HTTP.Context(), in.GroupName), false)
}

type listGroupsRequest struct {
	poolRef
	Limit     int    `json:"Limit"`
	NextToken string `json:"NextToken"`
}

type listGroupsResponse struct {
	Groups    []usertype.Group `json:"Groups"`
	NextToken string           `json:"NextToken,omitempty"`
}

func listGroups(h *Handler, req AdminRequest) (any, error) {
	var in listGroupsRequest
	if err := h.decodeInPool(req, &in); err != nil {
		return nil, err
	}
	if err := pageLimit(in.Limit); err != nil {
		return nil, err
	}
	gs, next, err := h.cfg.Pool.ListGroups(req.HTTP.Context(), in.Limit, in.NextToken)
	if err != nil {
		return nil, groupErr(err, false)
	}
	return listGroupsResponse{Groups: usertype.FromGroups(gs, h.cfg.PoolID), NextToken: next}, nil
}

type listUsersInGroupRequest struct {
	poolRef
	GroupName string `json:"GroupName"`
	Limit     int    `json:"Limit"`
	NextToken string `json:"NextToken"`
}

type listUsersInGroupResponse struct {
	Users     []usertype.User `json:"Users"`
	NextToken string          `json:"NextToken,omitempty"`
}

func listUsersInGroup(h *Handler, req AdminRequest) (any, error) {
	var in listUsersInGroupRequest
	if err := h.decodeInPool(req, &in); err != nil {
		return nil, err
	}
	if in.GroupName == "" {
		return nil, notNull("groupName")
	}
	if err := pageLimit(in.Limit); err != nil {
		return nil, err
	}
	us, next, err := h.cfg.Pool.ListUsersInGroup(req.HTTP.Context(), in.GroupName, in.Limit, in.NextToken)
	if err != nil {
		return nil, groupErr(err, false)
	}
	return listUsersInGroupResponse{Users: usertype.FromUsers(us, nil), NextToken: next}, nil
}

type listUsersRequest struct {
	poolRef
	AttributesToGet []string `json:"AttributesToGet"`
	Limit           int      `json:"Limit"`
	PaginationToken string   `json:"PaginationToken"`
	Filter          string   `json:"Filter"`
}

type listUsersResponse struct {
	Users           []usertype.User `json:"Users"`
	PaginationToken string          `json:"PaginationToken,omitempty"`
}

// maxAttributeName is Cognito's limit on an attribute's name in
// AttributesToGet.
const maxAttributeName = 32

// listUsers is ListUsers: Cognito's Filter (cognito/filter), the
// attributes AttributesToGet names (all when it is absent or empty), pages
// of Limit users by email.
func listUsers(h *Handler, req AdminRequest) (any, error) {
	var in listUsersRequest
	if err := h.decodeInPool(req, &in); err != nil {
		return nil, err
	}
	if err := pageLimit(in.Limit); err != nil {
		return nil, err
	}
	for i, name := range in.AttributesToGet {
		if name == "" || len(name) > maxAttributeName {
			return nil, errf("InvalidParameterException", "1 validation error detected: Value at 'attributesToGet."+
				strconv.Itoa(i+1)+"' failed to satisfy constraint: Member must have length between 1 and 32")
		}
	}
	f, err := filter.Parse(in.Filter)
	if err != nil {
		if fe, ok := errors.AsType[*filter.InvalidParameterError](err); ok {
			return nil, errf("InvalidParameterException", fe.Error())
		}
		return nil, err
	}
	us, next, err := h.cfg.Pool.ListUsersFiltered(req.HTTP.Context(), f, in.Limit, in.PaginationToken)
	if err != nil {
		return nil, groupErr(err, false)
	}
	return listUsersResponse{Users: usertype.FromUsers(us, in.AttributesToGet), PaginationToken: next}, nil
}
