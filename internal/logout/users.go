package logout

import (
	"context"
	"fmt"
)

// EndUserSessions ends every open session of the user, each with the
// normal single logout (tokens revoked, back-channel notifications
// queued). A disabled or deleted user must be signed out everywhere.
func (s *Service) EndUserSessions(ctx context.Context, orgID, sub string) error {
	sessions, err := s.Store.ListUserSessions(ctx, orgID, sub)
	if err != nil {
		return fmt.Errorf("list sessions: %w", err)
	}
	for _, sess := range sessions {
		if !sess.EndedAt.IsZero() {
			continue
		}
		if err := s.EndSession(ctx, orgID, sess.SID); err != nil {
			return fmt.Errorf("end session: %w", err)
		}
	}
	return nil
}
