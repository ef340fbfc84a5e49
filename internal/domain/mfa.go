package domain

import (
	"slices"
	"time"
)

// Multi-factor policies of an organization (OrgSettings.MFA).
const (
	// MFAOff: no second factor is asked or offered; passkey sign-in is off.
	MFAOff = "off"
	// MFAOptional: users may enrol factors; those who did are asked for one.
	MFAOptional = "optional"
	// MFAAdmins: users with role ADMIN must use a second factor.
	MFAAdmins = "admins"
	// MFARequired: everyone who signs in with a password must.
	MFARequired = "required"
)

// MFAPolicies lists the valid policies, weakest first.
var MFAPolicies = []string{MFAOff, MFAOptional, MFAAdmins, MFARequired}

// OperatorOrgID is the built-in organization of Latchkey's operators.
const OperatorOrgID = "admin"

// DefaultMFAPolicy is the policy a new organization starts with: operators
// must use a second factor, everyone else may.
func DefaultMFAPolicy(orgID string) string {
	if orgID == OperatorOrgID {
		return MFAAdmins
	}
	return MFAOptional
}

// ValidateMFAPolicy checks a policy value.
func ValidateMFAPolicy(v string) error {
	if !slices.Contains(MFAPolicies, v) {
		return Invalid("mfa", "must be one of off, optional, admins, required (got %q)", v)
	}
	return nil
}

// MFARequiredFor reports whether policy demands a second factor of user.
func MFARequiredFor(policy string, u *User) bool {
	switch policy {
	case MFARequired:
		return true
	case MFAAdmins:
		return u.Role == RoleAdmin
	}
	return false
}

// More authentication methods (RFC 8176).
const (
	// AMRHardwareKey: a passkey bound to a device (not synced).
	AMRHardwareKey = "hwk"
	// AMRSoftwareKey: a passkey that may be synced between devices.
	AMRSoftwareKey = "swk"
	// AMROTP: a one-time code (TOTP or a recovery code).
	AMROTP = "otp"
	// AMRMFA: more than one factor was used.
	AMRMFA = "mfa"
)

// Authentication context classes Latchkey asserts in the acr claim.
const (
	ACRPassword = "urn:latchkey:acr:pwd"
	ACRMFA      = "urn:latchkey:acr:mfa"
)

// ACRValues lists the classes, weakest first (discovery's acr_values_supported).
var ACRValues = []string{ACRPassword, ACRMFA}

// ACR is the context class that methods amr achieve: mfa when several
// factors were used, pwd for a single factor of Latchkey's own, and none
// for upstream and platform logins (their own systems own the factors).
func ACR(amr []string) string {
	switch {
	case slices.Contains(amr, AMRMFA):
		return ACRMFA
	case slices.Contains(amr, AMRPassword), slices.Contains(amr, AMRHardwareKey), slices.Contains(amr, AMRSoftwareKey):
		return ACRPassword
	}
	return ""
}

// Limits of factor records.
const (
	MaxPasskeyNameLen = 64
	// MaxPasskeys caps a user's passkeys (WebAuthn excludeCredentials grows with it).
	MaxPasskeys = 20
	// RecoveryCodeCount is how many recovery codes a user gets at once.
	RecoveryCodeCount = 10
)

// Passkey is a user's WebAuthn credential, registered for one organization.
type Passkey struct {
	OrgID   string
	UserSub string
	// ID is the credential id the authenticator chose.
	ID []byte
	// Name is what the user called it ("Work laptop").
	Name      string
	PublicKey []byte
	SignCount uint32
	// Transports are the authenticator's hints (usb, nfc, ble, internal, hybrid).
	Transports []string
	AAGUID     []byte
	// Flags are the WebAuthn credential flags (UV, BE, BS) as one byte.
	Flags             byte
	AttestationType   string
	AttestationFormat string
	CreatedAt         time.Time
	LastUsedAt        time.Time
}

// ValidatePasskeyName checks a passkey's display name.
func ValidatePasskeyName(name string) error {
	return checkText("name", name, MaxPasskeyNameLen, true)
}

// TOTPFactor is a user's one-time code generator. The secret is sealed
// under the master key; ConfirmedAt stays zero until the user proved the
// enrolment with a first code.
type TOTPFactor struct {
	OrgID   string
	UserSub string
	Sealed  []byte
	// LastStep is the latest time step accepted (replays are refused).
	LastStep    int64
	CreatedAt   time.Time
	ConfirmedAt time.Time
}

// RecoveryCode is one single-use recovery code, stored as a hash.
type RecoveryCode struct {
	OrgID     string
	UserSub   string
	Hash      []byte
	CreatedAt time.Time
	UsedAt    time.Time
}

// MFA flow kinds.
const (
	// FlowSecondFactor: the password was right; a second factor is due.
	FlowSecondFactor = "second_factor"
	// FlowStepUp: an active session asks for a second factor (acr_values).
	FlowStepUp = "step_up"
	// FlowEnrol: the policy requires a factor the user does not have yet.
	FlowEnrol = "enrol"
	// FlowWebAuthn holds one WebAuthn ceremony's challenge.
	FlowWebAuthn = "webauthn"
)

// MFAFlow is a short-lived, single-use step of a multi-factor sign-in,
// found by the hash of a secret the browser holds.
type MFAFlow struct {
	OrgID string
	Hash  []byte
	Kind  string
	// UserSub is who the flow is for ("" for a passwordless ceremony).
	UserSub string
	// AMR and AuthTime are what the user has proved so far.
	AMR      []string
	AuthTime time.Time
	// Request is the pending authorization request to resume, if any.
	Request string
	// Data is the kind's own state (WebAuthn session data as JSON).
	Data      string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
}
