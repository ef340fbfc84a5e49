package op

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/domain"
)

// sortedJSON is v as a JWT library encodes a claim set: json.Marshal, then
// the members sorted by name.
func sortedJSON(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// oldUserInfo is the UserInfo body as a map, the way it was encoded
// before it was written member by member.
func oldUserInfo(sub string, c *idTokenClaims) map[string]any {
	body := map[string]any{"sub": sub}
	for k, v := range map[string]string{"preferred_username": c.PreferredUsername, "name": c.Name, "given_name": c.GivenName, "family_name": c.FamilyName, "picture": c.Picture, "email": c.Email, "role": c.Role} {
		if v != "" {
			body[k] = v
		}
	}
	if c.EmailVerified != nil {
		body["email_verified"] = *c.EmailVerified
	}
	if c.Groups != nil {
		body["groups"] = *c.Groups
	}
	return body
}

// checkEncoders compares every hand-written encoder with encoding/json for
// claims and answers carrying s and n in each of their members.
func checkEncoders(t *testing.T, s string, n int64, flag bool) {
	t.Helper()
	str := func(suffix string) string { return s + suffix }
	var verified *bool
	var groups *[]string
	var amr []string
	if flag {
		verified, groups, amr = &flag, &[]string{s, str("g")}, []string{s, "otp"}
	} else if n%2 == 0 {
		groups, amr = &[]string{}, []string{}
	}
	id := idTokenClaims{
		Issuer: str("iss"), Subject: s, Audience: str("aud"), Expiry: n, IssuedAt: -n, AuthTime: n / 2, Nonce: s, SID: s, AccessTokenHash: s,
		AMR: amr, ACR: s, AuthorizedParty: str("azp"), PreferredUsername: s, Name: str("n"), GivenName: s, FamilyName: s, Picture: s,
		Email: s, EmailVerified: verified, Role: s, Groups: groups,
	}
	if got, want := id.appendJSON(nil), sortedJSON(t, id); !bytes.Equal(got, want) {
		t.Fatalf("id_token claims\n got %s\nwant %s", got, want)
	}
	at := accessTokenClaims{Issuer: str("iss"), Subject: s, Audience: s, Expiry: n, IssuedAt: n, JTI: str("j"), ClientID: s, Scope: s, AuthTime: n, AMR: amr, ACR: s, SID: s}
	if got, want := at.appendJSON(nil), sortedJSON(t, at); !bytes.Equal(got, want) {
		t.Fatalf("access token claims\n got %s\nwant %s", got, want)
	}
	want, _ := json.Marshal(oldUserInfo(str("sub"), &id))
	if got := appendUserInfo(nil, str("sub"), &id); !bytes.Equal(got, want) {
		t.Fatalf("userinfo\n got %s\nwant %s", got, want)
	}
	tr := tokenResponse{AccessToken: str("a"), TokenType: "Bearer", ExpiresIn: n, RefreshToken: s, IDToken: s, Scope: s}
	want, _ = json.Marshal(tr)
	if got := tr.appendJSON(nil); !bytes.Equal(got, want) {
		t.Fatalf("token response\n got %s\nwant %s", got, want)
	}
	in := introspection{Active: flag, Scope: s, ClientID: s, Username: s, TokenType: s, Expiry: n, IssuedAt: n, Subject: s, Audience: s, Issuer: s, SID: s, AuthTime: n}
	want, _ = json.Marshal(in)
	if got := in.appendJSON(nil); !bytes.Equal(got, want) {
		t.Fatalf("introspection\n got %s\nwant %s", got, want)
	}
}

func TestEncoders_SameBytesAsEncodingJSON(t *testing.T) {
	for i, s := range []string{"", "plain", "Zoë Ørsted", `quote " backslash \ slash /`, "<script>&amp;</script>", "\x00\x01\b\f\n\r\t\x1f\x7f",
		"\u2028\u2029", "bad \xff utf-8 \xc3", "emoji 😀", "https://sso.example/o/acme"} {
		checkEncoders(t, s, int64(i)*1767225600, i%2 == 0)
		checkEncoders(t, s, 0, false)
	}
}

// fillEveryField sets every field of the struct v points to to a value
// that encoding/json writes (no omitempty field is left out), so that a
// field added to a claim set or answer but not to its encoder fails below.
func fillEveryField(t *testing.T, v any) {
	t.Helper()
	e := reflect.ValueOf(v).Elem()
	for i := range e.NumField() {
		f, name := e.Field(i), e.Type().Field(i).Name
		switch {
		case f.Kind() == reflect.String:
			f.SetString("v-" + name)
		case f.Kind() == reflect.Int64 || f.Kind() == reflect.Int:
			f.SetInt(int64(1000 + i))
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			f.Set(reflect.ValueOf([]string{"a-" + name, "b"}))
		case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Bool:
			f.Set(reflect.ValueOf(new(bool)))
		case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Slice:
			f.Set(reflect.ValueOf(&[]string{"g-" + name}))
		default:
			t.Fatalf("%T.%s: a field of type %s; teach fillEveryField and the encoder about it", v, name, f.Type())
		}
	}
}

func TestEncoders_WriteEveryField(t *testing.T) {
	var id idTokenClaims
	fillEveryField(t, &id)
	if got, want := id.appendJSON(nil), sortedJSON(t, id); !bytes.Equal(got, want) {
		t.Fatalf("id_token claims\n got %s\nwant %s", got, want)
	}
	var at accessTokenClaims
	fillEveryField(t, &at)
	if got, want := at.appendJSON(nil), sortedJSON(t, at); !bytes.Equal(got, want) {
		t.Fatalf("access token claims\n got %s\nwant %s", got, want)
	}
	var tr tokenResponse
	fillEveryField(t, &tr)
	if want, _ := json.Marshal(tr); !bytes.Equal(tr.appendJSON(nil), want) {
		t.Fatalf("token response\n got %s\nwant %s", tr.appendJSON(nil), want)
	}
	var in introspection
	fillEveryField(t, &in)
	if want, _ := json.Marshal(in); !bytes.Equal(in.appendJSON(nil), want) {
		t.Fatalf("introspection\n got %s\nwant %s", in.appendJSON(nil), want)
	}
}

func FuzzEncoders(f *testing.F) {
	f.Add("plain", int64(1767225600), true)
	f.Add("\xff<\u2028>\b", int64(-1), false)
	f.Fuzz(func(t *testing.T, s string, n int64, flag bool) {
		checkEncoders(t, s, n, flag)
	})
}

func TestWriteJSON_NoStore(t *testing.T) {
	w := httptest.NewRecorder()
	tr := tokenResponse{AccessToken: "a", TokenType: "Bearer", ExpiresIn: 300}
	writeJSON(w, 200, tr.appendJSON)
	want, _ := json.Marshal(tr)
	want = append(want, '\n')
	if w.Body.String() != string(want) || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "no-store" ||
		w.Header().Get("Pragma") != "no-cache" || w.Code != 200 {
		t.Fatalf("%d %v %q", w.Code, w.Header(), w.Body.String())
	}
}

func TestAtHash_LeftHalfOfTheAlgorithmsHash(t *testing.T) {
	for _, tok := range []string{"", "short", strings.Repeat("t", 43), strings.Repeat("j", 64), strings.Repeat("J", 900)} {
		s256, s512 := sha256.Sum256([]byte(tok)), sha512.Sum512([]byte(tok))
		for alg, want := range map[string]string{domain.AlgRS256: base64.RawURLEncoding.EncodeToString(s256[:16]),
			domain.AlgES256: base64.RawURLEncoding.EncodeToString(s256[:16]), domain.AlgEdDSA: base64.RawURLEncoding.EncodeToString(s512[:32])} {
			if got := atHash(alg, tok); got != want {
				t.Fatalf("%s %d: got %s want %s", alg, len(tok), got, want)
			}
		}
	}
}
