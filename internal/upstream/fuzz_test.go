package upstream

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzLogoutToken checks the claim rules of an upstream back-channel logout
// token (the verified payload): nothing panics, and an accepted claim set
// always has the event, a subject or session, a jti and a recent iat.
func FuzzLogoutToken(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	seed := func(claims map[string]any) {
		b, _ := json.Marshal(claims)
		f.Add(b)
	}
	ev := map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}
	seed(map[string]any{"iss": "https://idp", "aud": "c", "sub": "u1", "sid": "s1", "iat": now.Unix(), "exp": now.Unix() + 120, "jti": "j", "events": ev})
	seed(map[string]any{"sub": "u1", "iat": now.Unix() + 3600, "jti": "j", "events": ev})
	seed(map[string]any{"sid": "s1", "iat": now.Unix(), "jti": "j", "events": ev, "nonce": "n"})
	seed(map[string]any{"sid": "s1", "iat": -9223372036854775808, "jti": "j", "events": ev})
	seed(map[string]any{"sid": "s1", "iat": now.Unix(), "jti": "", "events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": "x"}})
	f.Add([]byte(`{"iat":1e30}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		lc, problem := readLogoutClaims(payload, now)
		if problem != "" {
			return
		}
		iat := time.Unix(lc.IssuedAt, 0)
		if lc.JTI == "" || (lc.Subject == "" && lc.SID == "") || lc.Nonce != nil || now.Sub(iat) > maxLogoutTokenAge || iat.Sub(now) > maxLogoutTokenSkew {
			t.Fatalf("accepted %+v", lc)
		}
	})
}
