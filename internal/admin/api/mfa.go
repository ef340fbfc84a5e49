package api

import (
	"net/http"
)

// getUserMFA lists a user's second factors.
func (a *API) getUserMFA(c *call) (int, any, error) {
	u, err := a.pathUser(c)
	if err != nil {
		return 0, nil, err
	}
	m, err := a.Directory.UserMFA(c.r.Context(), c.org.ID, u.UserName)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, m, nil
}

// resetUserMFA removes a user's second factors and ends their sessions.
func (a *API) resetUserMFA(c *call) (int, any, error) {
	if _, err := c.body(fieldSpec{}, true); err != nil {
		return 0, nil, err
	}
	u, err := a.pathUser(c)
	if err != nil {
		return 0, nil, err
	}
	m, err := a.Directory.ResetUserMFA(c.r.Context(), c.actor, c.org.ID, u.UserName)
	if err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	return http.StatusOK, m, nil
}
