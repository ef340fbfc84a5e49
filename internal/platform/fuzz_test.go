package platform

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/domain"
)

// FuzzReadUserFields: the trusted-platform update body parser never
// panics, answers every refusal with a 4xx naming a field, and accepts only
// valid UTF-8 without unpaired surrogates.
func FuzzReadUserFields(f *testing.F) {
	for _, s := range []string{
		`{"name": "John Doe", "role": "USER", "picture": "https://example.com/avatar.jpg"}`, `{}`, ``, `null`, `{"name":null}`,
		`{"name":"A","name":"B"}`, `{"name":5}`, `{"name":"\ud800"}`, `{"bio":"\udbff"}`, `{"name":"\ud83d\ude00"}`, "{\"name\":\"\xff\"}",
		`{"name":"A"} {"name":"B"}`, `{"email":["a"]}`, `{"role":{"x":1}}`, `{"name":"` + strings.Repeat("é", 300) + `"}`, `{"name":"x`,
	} {
		f.Add(s, "application/json")
	}
	f.Add(`{"name":"x"}`, "text/plain")
	f.Add(`{"name":"x"}`, "application/scim+json; charset=utf-8")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		r := httptest.NewRequest(http.MethodPost, "/api/organization/acme/user/johndoe/update", strings.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		fields, e := readUserFields(httptest.NewRecorder(), r)
		if e != nil {
			if e.Status < 400 || e.Status >= 500 || e.Message == "" {
				t.Fatalf("refusal %+v", e)
			}
			return
		}
		if domain.JSONHasLoneSurrogate([]byte(body)) || !utf8.ValidString(body) {
			t.Fatalf("accepted %q", body)
		}
		for _, v := range []*string{fields.Name, fields.Role, fields.Picture, fields.Email} {
			if v != nil && !utf8.ValidString(*v) {
				t.Fatalf("decoded invalid UTF-8 from %q", body)
			}
		}
	})
}
