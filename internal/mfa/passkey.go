package mfa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// Ceremony purposes, kept in the challenge's flow.
const (
	purposeRegister     = "register"
	purposeSecond       = "second_factor"
	purposePasswordless = "passwordless"
)

// MaxCredentialJSON bounds what a browser may send for one ceremony.
const MaxCredentialJSON = 64 << 10

// ceremony is what a WebAuthn flow keeps between its two halves.
type ceremony struct {
	Purpose string               `json:"purpose"`
	Session webauthn.SessionData `json:"session"`
}

// webauthnUser adapts a user and their passkeys to the library.
type webauthnUser struct {
	u     *domain.User
	creds []webauthn.Credential
}

func (w *webauthnUser) WebAuthnID() []byte   { return []byte(w.u.Sub) }
func (w *webauthnUser) WebAuthnName() string { return w.u.UserName }
func (w *webauthnUser) WebAuthnDisplayName() string {
	if w.u.Name != "" {
		return w.u.Name
	}
	return w.u.UserName
}
func (w *webauthnUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func credential(k *domain.Passkey) webauthn.Credential {
	ts := make([]protocol.AuthenticatorTransport, len(k.Transports))
	for i, t := range k.Transports {
		ts[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID: k.ID, PublicKey: k.PublicKey, AttestationType: k.AttestationType, AttestationFormat: k.AttestationFormat,
		Transport: ts, Flags: webauthn.CredentialFlagsFromMsgpByte(k.Flags),
		Authenticator: webauthn.Authenticator{AAGUID: k.AAGUID, SignCount: k.SignCount},
	}
}

func (s *Service) webauthnUser(ctx context.Context, u *domain.User) (*webauthnUser, []*domain.Passkey, error) {
	keys, err := s.Store.ListPasskeys(ctx, u.OrgID, u.Sub)
	if err != nil {
		return nil, nil, fmt.Errorf("list passkeys: %w", err)
	}
	w := &webauthnUser{u: u}
	for _, k := range keys {
		w.creds = append(w.creds, credential(k))
	}
	return w, keys, nil
}

func (s *Service) relyingParty(org *domain.Organization) (*webauthn.WebAuthn, error) {
	id, origin, err := s.rp()
	if err != nil {
		return nil, err
	}
	return webauthn.New(&webauthn.Config{
		RPID: id, RPDisplayName: org.Name, RPOrigins: []string{origin},
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyLifetime},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyLifetime},
		},
	})
}

// Ceremony is one begun WebAuthn ceremony: the options for
// navigator.credentials and the secret that names its challenge.
type Ceremony struct {
	Options json.RawMessage
	Token   string
}

func (s *Service) startCeremony(ctx context.Context, org *domain.Organization, sub, purpose string, options any, sd *webauthn.SessionData) (*Ceremony, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(ceremony{Purpose: purpose, Session: *sd})
	if err != nil {
		return nil, err
	}
	tok, err := s.NewFlow(ctx, &domain.MFAFlow{OrgID: org.ID, Kind: domain.FlowWebAuthn, UserSub: sub, Data: string(data)}, CeremonyLifetime)
	if err != nil {
		return nil, err
	}
	return &Ceremony{Options: opts, Token: tok}, nil
}

// finishCeremony consumes the ceremony's challenge (single use).
func (s *Service) finishCeremony(ctx context.Context, orgID, token, purpose, sub string) (*ceremony, error) {
	if token == "" {
		return nil, ErrExpired
	}
	f, err := s.FinishFlow(ctx, orgID, token)
	if err != nil {
		return nil, err
	}
	var c ceremony
	if f.Kind != domain.FlowWebAuthn || json.Unmarshal([]byte(f.Data), &c) != nil || c.Purpose != purpose || f.UserSub != sub {
		return nil, ErrExpired
	}
	return &c, nil
}

// BeginRegistration starts adding a passkey for u: a discoverable
// credential (so it can sign in without a username), user verification
// preferred, the user's passkeys excluded.
func (s *Service) BeginRegistration(ctx context.Context, org *domain.Organization, u *domain.User) (*Ceremony, error) {
	rp, err := s.relyingParty(org)
	if err != nil {
		return nil, err
	}
	w, keys, err := s.webauthnUser(ctx, u)
	if err != nil {
		return nil, err
	}
	if len(keys) >= domain.MaxPasskeys {
		return nil, domain.Invalid("passkey", "you have %d passkeys, the most allowed; remove one first", len(keys))
	}
	creation, sd, err := rp.BeginRegistration(w,
		webauthn.WithExclusions(webauthn.Credentials(w.creds).CredentialDescriptors()),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()),
	)
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	return s.startCeremony(ctx, org, u.Sub, purposeRegister, creation, sd)
}

// FinishRegistration verifies the authenticator's answer and stores the
// passkey under name.
func (s *Service) FinishRegistration(ctx context.Context, org *domain.Organization, u *domain.User, token, name, response string) (*domain.Passkey, error) {
	name = strings.TrimSpace(name)
	if err := domain.ValidatePasskeyName(name); err != nil {
		return nil, err
	}
	c, err := s.finishCeremony(ctx, org.ID, token, purposeRegister, u.Sub)
	if err != nil {
		return nil, err
	}
	if len(response) > MaxCredentialJSON {
		return nil, ErrInvalid
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(response))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	rp, err := s.relyingParty(org)
	if err != nil {
		return nil, err
	}
	w, _, err := s.webauthnUser(ctx, u)
	if err != nil {
		return nil, err
	}
	cred, err := rp.CreateCredential(w, c.Session, parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	k := &domain.Passkey{
		OrgID: org.ID, UserSub: u.Sub, ID: cred.ID, Name: name, PublicKey: cred.PublicKey, SignCount: cred.Authenticator.SignCount,
		AAGUID: cred.Authenticator.AAGUID, Flags: cred.Flags.MsgpByte(), AttestationType: cred.AttestationType,
		AttestationFormat: cred.AttestationFormat, CreatedAt: s.now(),
	}
	for _, t := range cred.Transport {
		k.Transports = append(k.Transports, string(t))
	}
	if err := s.Store.CreatePasskey(ctx, k); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, domain.Invalid("passkey", "this passkey is registered already")
		}
		return nil, fmt.Errorf("store passkey: %w", err)
	}
	return k, nil
}

// BeginSecondFactor asks for one of u's passkeys.
func (s *Service) BeginSecondFactor(ctx context.Context, org *domain.Organization, u *domain.User) (*Ceremony, error) {
	rp, err := s.relyingParty(org)
	if err != nil {
		return nil, err
	}
	w, _, err := s.webauthnUser(ctx, u)
	if err != nil {
		return nil, err
	}
	assertion, sd, err := rp.BeginLogin(w, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("begin passkey check: %w", err)
	}
	return s.startCeremony(ctx, org, u.Sub, purposeSecond, assertion, sd)
}

// BeginPasswordless asks the browser for any passkey of the organization
// (discoverable credentials), with user verification required: the
// passkey alone then proves possession and the user's PIN or biometric.
// conditional asks for the browser's autofill (conditional mediation).
func (s *Service) BeginPasswordless(ctx context.Context, org *domain.Organization, conditional bool) (*Ceremony, error) {
	rp, err := s.relyingParty(org)
	if err != nil {
		return nil, err
	}
	mediation := protocol.MediationDefault
	if conditional {
		mediation = protocol.MediationConditional
	}
	assertion, sd, err := rp.BeginDiscoverableMediatedLogin(mediation, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("begin passkey sign-in: %w", err)
	}
	return s.startCeremony(ctx, org, "", purposePasswordless, assertion, sd)
}

// Assertion is a verified passkey use.
type Assertion struct {
	User    *domain.User
	Passkey *domain.Passkey
	// AMR is what the passkey proved: hwk, or swk for a passkey that may
	// be synced between devices.
	AMR []string
	// UserVerified: the authenticator checked the user's PIN or biometric.
	UserVerified bool
}

// FinishSecondFactor verifies u's passkey answer.
func (s *Service) FinishSecondFactor(ctx context.Context, org *domain.Organization, u *domain.User, token, response string) (*Assertion, error) {
	c, err := s.finishCeremony(ctx, org.ID, token, purposeSecond, u.Sub)
	if err != nil {
		return nil, err
	}
	return s.verifyAssertion(ctx, org, c, u, response)
}

// FinishPasswordless verifies a discoverable passkey answer and returns
// whose it is. Only a passkey registered with org is accepted.
func (s *Service) FinishPasswordless(ctx context.Context, org *domain.Organization, token, response string) (*Assertion, error) {
	c, err := s.finishCeremony(ctx, org.ID, token, purposePasswordless, "")
	if err != nil {
		return nil, err
	}
	return s.verifyAssertion(ctx, org, c, nil, response)
}

func (s *Service) verifyAssertion(ctx context.Context, org *domain.Organization, c *ceremony, u *domain.User, response string) (*Assertion, error) {
	if len(response) > MaxCredentialJSON {
		return nil, ErrInvalid
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(response))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	// The credential must be one of this organization's, and the user's.
	k, err := s.Store.GetPasskey(ctx, org.ID, parsed.RawID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownCredential
	}
	if err != nil {
		return nil, err
	}
	if u == nil {
		if u, err = s.Store.GetUser(ctx, org.ID, k.UserSub); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, ErrUnknownCredential
			}
			return nil, err
		}
	}
	if k.UserSub != u.Sub {
		return nil, ErrUnknownCredential
	}
	rp, err := s.relyingParty(org)
	if err != nil {
		return nil, err
	}
	w := &webauthnUser{u: u, creds: []webauthn.Credential{credential(k)}}
	var cred *webauthn.Credential
	if len(c.Session.UserID) == 0 {
		_, cred, err = rp.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			if string(userHandle) != u.Sub {
				return nil, ErrUnknownCredential
			}
			return w, nil
		}, c.Session, parsed)
	} else {
		cred, err = rp.ValidateLogin(w, c.Session, parsed)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if cred.Authenticator.CloneWarning {
		return &Assertion{User: u, Passkey: k}, ErrClone
	}
	now := s.now()
	err = s.Store.UsePasskey(ctx, org.ID, k.ID, cred.Authenticator.SignCount, cred.Flags.MsgpByte(), now)
	if errors.Is(err, store.ErrAlreadyUsed) {
		return &Assertion{User: u, Passkey: k}, ErrClone
	}
	if err != nil {
		return nil, fmt.Errorf("record passkey use: %w", err)
	}
	k.SignCount, k.LastUsedAt = cred.Authenticator.SignCount, now
	a := &Assertion{User: u, Passkey: k, AMR: []string{domain.AMRHardwareKey}}
	if parsed.Response.AuthenticatorData.Flags.HasBackupEligible() {
		a.AMR[0] = domain.AMRSoftwareKey
	}
	a.UserVerified = parsed.Response.AuthenticatorData.Flags.HasUserVerified()
	return a, nil
}

// RemovePasskey removes one of the user's passkeys.
func (s *Service) RemovePasskey(ctx context.Context, orgID, sub string, id []byte) error {
	err := s.Store.DeletePasskey(ctx, orgID, sub, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrUnknownCredential
	}
	return err
}
