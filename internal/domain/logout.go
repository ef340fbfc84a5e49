package domain

import "time"

// BackchannelDelivery is one pending or finished OIDC Back-Channel Logout
// notification to one application, kept in a durable outbox so that it is
// retried across restarts and nodes.
type BackchannelDelivery struct {
	OrgID         string
	ID            string
	ClientID      string
	UserSub       string
	SID           string
	CreatedAt     time.Time
	NextAttemptAt time.Time
	Attempts      int
	LastError     string
	DeliveredAt   time.Time
	GaveUpAt      time.Time
}

// BackchannelAttempt records one delivery attempt.
type BackchannelAttempt struct {
	OrgID      string
	DeliveryID string
	Attempt    int
	At         time.Time
	// Status is the HTTP status, 0 when no response was received.
	Status int
	Error  string
}

// AdminToken is a bearer token for the admin JSON API, scoped to one
// organization or, with OrgID "", to all (operators).
type AdminToken struct {
	OrgID       string
	ID          string
	Hash        []byte
	Description string
	CreatedAt   time.Time
	ExpiresAt   time.Time // zero: never
	RevokedAt   time.Time
	LastUsedAt  time.Time
}
