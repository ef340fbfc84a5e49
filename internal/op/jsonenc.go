package op

import (
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/oauth"
)

// The token endpoint, UserInfo and introspection answer every request with
// a small JSON object of known members, and every id_token carries one. They
// are written here straight into a pooled buffer, member by member, with the
// escaping encoding/json uses, so the output is the bytes json.Marshal would
// give for the same value (tests compare the two) without reflection, maps or
// a second encoding pass.

// jsonBuffers are scratch buffers for responses and claims.
var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledJSON keeps a rare huge answer from pinning its buffer.
const maxPooledJSON = 64 << 10

func getJSONBuffer() *[]byte { return jsonBuffers.Get().(*[]byte) }

func putJSONBuffer(bp *[]byte) {
	if cap(*bp) <= maxPooledJSON {
		*bp = (*bp)[:0]
		jsonBuffers.Put(bp)
	}
}

// jsonObject appends the members of one JSON object to b.
type jsonObject struct {
	b []byte
	n int
}

func (o *jsonObject) begin() { o.b = append(o.b, '{') }

func (o *jsonObject) end() { o.b = append(o.b, '}') }

// key appends a member name; names are constants that need no escaping.
func (o *jsonObject) key(k string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

func (o *jsonObject) str(k, v string) {
	o.key(k)
	o.b = appendJSONString(o.b, v)
}

// strOmit is str for a member tagged omitempty.
func (o *jsonObject) strOmit(k, v string) {
	if v != "" {
		o.str(k, v)
	}
}

func (o *jsonObject) int(k string, v int64) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
}

// intOmit is int for a member tagged omitempty.
func (o *jsonObject) intOmit(k string, v int64) {
	if v != 0 {
		o.int(k, v)
	}
}

func (o *jsonObject) bool(k string, v bool) {
	o.key(k)
	o.b = strconv.AppendBool(o.b, v)
}

// strs appends an array of strings; nil is null, as encoding/json writes it.
func (o *jsonObject) strs(k string, v []string) {
	o.key(k)
	if v == nil {
		o.b = append(o.b, "null"...)
		return
	}
	o.b = append(o.b, '[')
	for i, s := range v {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = appendJSONString(o.b, s)
	}
	o.b = append(o.b, ']')
}

const hexDigits = "0123456789abcdef"

// jsonPlain marks the ASCII bytes a JSON string carries as they are.
var jsonPlain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString appends s as a JSON string the way encoding/json does:
// HTML-significant characters, U+2028 and U+2029 escaped, invalid UTF-8
// replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonPlain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSON appends the id_token claims with their members sorted by
// name, as a JWT library writes a claim set.
func (c *idTokenClaims) appendJSON(b []byte) []byte {
	o := jsonObject{b: b}
	o.begin()
	o.strOmit("acr", c.ACR)
	if len(c.AMR) > 0 {
		o.strs("amr", c.AMR)
	}
	o.strOmit("at_hash", c.AccessTokenHash)
	o.str("aud", c.Audience)
	o.intOmit("auth_time", c.AuthTime)
	o.str("azp", c.AuthorizedParty)
	o.strOmit("email", c.Email)
	if c.EmailVerified != nil {
		o.bool("email_verified", *c.EmailVerified)
	}
	o.int("exp", c.Expiry)
	o.strOmit("family_name", c.FamilyName)
	o.strOmit("given_name", c.GivenName)
	if c.Groups != nil {
		o.strs("groups", *c.Groups)
	}
	o.int("iat", c.IssuedAt)
	o.str("iss", c.Issuer)
	o.strOmit("name", c.Name)
	o.strOmit("nonce", c.Nonce)
	o.strOmit("picture", c.Picture)
	o.strOmit("preferred_username", c.PreferredUsername)
	o.strOmit("role", c.Role)
	o.strOmit("sid", c.SID)
	o.str("sub", c.Subject)
	o.end()
	return o.b
}

// appendJSON appends the JWT access token claims sorted by name.
func (c *accessTokenClaims) appendJSON(b []byte) []byte {
	o := jsonObject{b: b}
	o.begin()
	o.strOmit("acr", c.ACR)
	if len(c.AMR) > 0 {
		o.strs("amr", c.AMR)
	}
	o.str("aud", c.Audience)
	o.intOmit("auth_time", c.AuthTime)
	o.str("client_id", c.ClientID)
	o.int("exp", c.Expiry)
	o.int("iat", c.IssuedAt)
	o.str("iss", c.Issuer)
	o.str("jti", c.JTI)
	o.strOmit("scope", c.Scope)
	o.strOmit("sid", c.SID)
	o.str("sub", c.Subject)
	o.end()
	return o.b
}

// appendJSON appends the token response in its fields' order.
func (r *tokenResponse) appendJSON(b []byte) []byte {
	o := jsonObject{b: b}
	o.begin()
	o.str("access_token", r.AccessToken)
	o.str("token_type", r.TokenType)
	o.int("expires_in", r.ExpiresIn)
	o.strOmit("refresh_token", r.RefreshToken)
	o.strOmit("id_token", r.IDToken)
	o.strOmit("scope", r.Scope)
	o.end()
	return o.b
}

// appendJSON appends the introspection response in its fields' order.
func (r *introspection) appendJSON(b []byte) []byte {
	o := jsonObject{b: b}
	o.begin()
	o.bool("active", r.Active)
	o.strOmit("scope", r.Scope)
	o.strOmit("client_id", r.ClientID)
	o.strOmit("username", r.Username)
	o.strOmit("token_type", r.TokenType)
	o.intOmit("exp", r.Expiry)
	o.intOmit("iat", r.IssuedAt)
	o.strOmit("sub", r.Subject)
	o.strOmit("aud", r.Audience)
	o.strOmit("iss", r.Issuer)
	o.strOmit("sid", r.SID)
	o.intOmit("auth_time", r.AuthTime)
	o.end()
	return o.b
}

// appendUserInfo appends a UserInfo response: sub and the claims of c the
// scope released, sorted by name.
func appendUserInfo(b []byte, sub string, c *idTokenClaims) []byte {
	o := jsonObject{b: b}
	o.begin()
	o.strOmit("email", c.Email)
	if c.EmailVerified != nil {
		o.bool("email_verified", *c.EmailVerified)
	}
	o.strOmit("family_name", c.FamilyName)
	o.strOmit("given_name", c.GivenName)
	if c.Groups != nil {
		o.strs("groups", *c.Groups)
	}
	o.strOmit("name", c.Name)
	o.strOmit("picture", c.Picture)
	o.strOmit("preferred_username", c.PreferredUsername)
	o.strOmit("role", c.Role)
	o.str("sub", sub)
	o.end()
	return o.b
}

// writeJSON answers with the object encode appends, followed by a newline
// as json.Encoder writes it, through a pooled buffer.
func writeJSON(w http.ResponseWriter, status int, encode func([]byte) []byte) {
	bp := getJSONBuffer()
	b := encode((*bp)[:0])
	b = append(b, '\n')
	oauth.WriteJSONBody(w, status, b)
	*bp = b
	putJSONBuffer(bp)
}
