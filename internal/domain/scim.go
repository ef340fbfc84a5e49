package domain

import "time"

// MaxExternalIDLen bounds a provisioning directory's id for a user or group.
const MaxExternalIDLen = 256

// MaxGroupMembers bounds the members of one group.
const MaxGroupMembers = 10000

// EnterpriseAttrs are the attributes of the SCIM enterprise user extension
// (RFC 7643 §4.3) that Latchkey keeps.
type EnterpriseAttrs struct {
	EmployeeNumber string `json:"employeeNumber,omitempty"`
	Department     string `json:"department,omitempty"`
	// Manager is the manager's id as the directory sent it.
	Manager string `json:"manager,omitempty"`
}

// Validate checks the enterprise attributes.
func (e EnterpriseAttrs) Validate() error {
	if err := checkText("employeeNumber", e.EmployeeNumber, MaxNameLen, false); err != nil {
		return err
	}
	if err := checkText("department", e.Department, MaxNameLen, false); err != nil {
		return err
	}
	return checkText("manager", e.Manager, MaxExternalIDLen, false)
}

// SCIMToken is a bearer token for one organization's SCIM endpoint. Only
// its SHA-256 is stored.
type SCIMToken struct {
	OrgID       string
	ID          string
	Hash        []byte
	Description string
	CreatedAt   time.Time
	// ExpiresAt is zero for a token that never expires.
	ExpiresAt  time.Time
	RevokedAt  time.Time
	LastUsedAt time.Time
}

// Group is a named set of an organization's users, kept in step by SCIM
// and sent to applications that ask for it as the groups claim.
type Group struct {
	OrgID       string
	ID          string
	DisplayName string
	ExternalID  string
	// Members are the users' subs.
	Members   []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Validate checks a group before it is stored.
func (g *Group) Validate() error {
	if err := checkText("displayName", g.DisplayName, MaxNameLen, true); err != nil {
		return err
	}
	if err := checkText("externalId", g.ExternalID, MaxExternalIDLen, false); err != nil {
		return err
	}
	if len(g.Members) > MaxGroupMembers {
		return Invalid("members", "at most %d members", MaxGroupMembers)
	}
	return nil
}
