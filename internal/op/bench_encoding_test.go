package op

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/oauth"
)

// BenchmarkTokenResponseEncoding writes a code exchange's token response
// (with an RS256-sized id_token) the reflective way and member by member.
func BenchmarkTokenResponseEncoding(b *testing.B) {
	resp := &tokenResponse{AccessToken: strings.Repeat("a", 43), TokenType: "Bearer", ExpiresIn: 300, RefreshToken: strings.Repeat("r", 43),
		IDToken: strings.Repeat("eyJhbGciOiJSUzI1NiJ9", 50), Scope: "openid profile email offline_access"}
	w := &discardWriter{h: http.Header{}}
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w.reset()
			oauth.WriteJSON(w, http.StatusOK, resp)
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w.reset()
			writeJSON(w, http.StatusOK, resp.appendJSON)
		}
	})
}
