package api

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/domain"
)

// FuzzAdminBody runs a request body through what every admin API write
// does before it touches the directory: the strict object parser, the
// field check and the typed decoders of an application and a user. Nothing
// panics; what is accepted is valid UTF-8 with no unpaired surrogate, and
// every error is a 4xx that names what is wrong.
func FuzzAdminBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"Wiki","redirect_uris":["https://wiki.example/cb"],"access_token_lifetime":"1.296.000"}`,
		`{"post_logout_redirect_uris":"https://a.example/\nhttps://b.example/"}`,
		`{"name":"x","name":"y"}`, `{"name":"\ud800"}`, `{"n\udc00":"x"}`, `{"name":"\ud83d\ude00"}`,
		`{"access_token_lifetime":1e400}`, `{"grant_types":[1,2]}`, `{"public":"yes"}`, `[]`, `{}`, `{"a":{}} x`, "{\"name\":\"\xff\"}",
		`{"role":"ADMIN","disabled":true,"password":"correct horse battery"}`, `{"session_lifetime_seconds":"1 296 000"}`, `{"email_verified":null}`,
		`{"refresh_token_reuse_interval":30}`, `{"redirect_uris":"` + strings.Repeat("a", 3000) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := parseObject(data)
		if err != nil {
			wantClientError(t, err)
			return
		}
		if domain.JSONHasLoneSurrogate(data) {
			t.Fatalf("accepted a body with an unpaired surrogate: %q", data)
		}
		for k, raw := range o.fields {
			if !json.Valid(raw) || !utf8.ValidString(k) {
				t.Fatalf("member %q: %q", k, raw)
			}
		}
		if err := o.check(fieldSpec{writable: appSettings, readOnly: appReadOnly}); err == nil {
			if _, err := appChanges(o); err != nil {
				wantClientError(t, err)
			}
		}
		if err := o.check(fieldSpec{writable: userSettings, readOnly: userReadOnly}); err == nil {
			for _, name := range []string{"name", "email", "picture", "role", "password"} {
				if v, err := o.str(name); err == nil && v != nil && !utf8.ValidString(*v) {
					t.Fatalf("%s decoded to invalid UTF-8", name)
				}
			}
			if _, err := userChanges(o, true); err != nil {
				wantClientError(t, err)
			}
		}
		for _, name := range []string{"session_lifetime_seconds", "ticket_lifetime_seconds"} {
			if v, err := o.seconds(name); err == nil && v != nil && *v < 0 {
				t.Fatalf("%s = %d", name, *v)
			}
		}
	})
}

func wantClientError(t *testing.T, err error) {
	t.Helper()
	if fe, ok := err.(*domain.FieldError); ok && fe.Field != "" {
		return
	}
	ae, ok := err.(*apiError)
	if !ok || ae.status < 400 || ae.status >= 500 || ae.message == "" {
		t.Fatalf("not a client error: %T %v", err, err)
	}
}
