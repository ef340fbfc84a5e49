package domain

import (
	"regexp"
	"strings"
	"time"
)

// Roles a user can have within an organization.
const (
	RoleUser  = "USER"
	RoleAdmin = "ADMIN"
)

// User is a person known to one organization.
type User struct {
	OrgID string
	// Sub is the stable, random subject identifier. It never changes and never
	// reveals the userName.
	Sub           string
	UserName      string
	Name          string
	Email         string
	EmailVerified bool
	Picture       string
	Role          string
	// PasswordHash is an argon2id PHC string, empty when the user has no password.
	PasswordHash string
	Disabled     bool
	// UpstreamIssuer and UpstreamSubject record the upstream identity that
	// first signed this user in (federated login), empty until then.
	UpstreamIssuer  string
	UpstreamSubject string
	// ExternalID is the provisioning directory's own id for the user (SCIM
	// externalId), kept as given.
	ExternalID string
	// GivenName and FamilyName are the parts of Name a directory sent
	// (SCIM name.givenName, name.familyName; OIDC given_name, family_name).
	GivenName  string
	FamilyName string
	// Enterprise holds the SCIM enterprise extension attributes kept.
	Enterprise EnterpriseAttrs
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// MaxUserNameLen bounds a userName.
const MaxUserNameLen = 128

var userNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]*$`)

// ValidateUserName checks a userName: 1–128 characters of letters, digits and
// . _ @ + -, starting with a letter or digit. The set is safe in a URL path
// segment, so the trusted-platform API can carry it verbatim.
func ValidateUserName(v string) error {
	if v == "" {
		return Invalid("userName", "is required")
	}
	if len(v) > MaxUserNameLen {
		return Invalid("userName", "must be at most %d characters", MaxUserNameLen)
	}
	if !userNamePattern.MatchString(v) {
		return Invalid("userName", "may contain only letters, digits and . _ @ + - and must start with a letter or digit")
	}
	return nil
}

// FoldUserName is the case-insensitive form userNames are compared by.
func FoldUserName(v string) string { return strings.ToLower(v) }

// ValidateRole checks a role name.
func ValidateRole(role string) error {
	if role != RoleUser && role != RoleAdmin {
		return Invalid("role", "must be USER or ADMIN (got %q)", role)
	}
	return nil
}

// Validate checks a user before it is stored.
func (u *User) Validate() error {
	if err := ValidateUserName(u.UserName); err != nil {
		return err
	}
	if err := checkText("name", u.Name, MaxNameLen, false); err != nil {
		return err
	}
	if err := checkEmail("email", u.Email); err != nil {
		return err
	}
	if err := CheckHTTPURL("picture", u.Picture, false); err != nil {
		return err
	}
	if err := checkText("givenName", u.GivenName, MaxNameLen, false); err != nil {
		return err
	}
	if err := checkText("familyName", u.FamilyName, MaxNameLen, false); err != nil {
		return err
	}
	if err := checkText("externalId", u.ExternalID, MaxExternalIDLen, false); err != nil {
		return err
	}
	if err := u.Enterprise.Validate(); err != nil {
		return err
	}
	return ValidateRole(u.Role)
}
