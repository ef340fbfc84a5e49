package platform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/domain"
)

// userFields are the fields an update may set. nil means "not given"
// (absent or JSON null): that field stays as it is.
type userFields struct {
	Name    *string
	Role    *string
	Picture *string
	Email   *string
}

// readUserFields reads an update body strictly: one JSON object in UTF-8,
// at most MaxBodyBytes, each known field a string or null and given once.
// Unknown fields are ignored (platforms send extra data); an empty body is
// an update that changes nothing.
func readUserFields(w http.ResponseWriter, r *http.Request) (*userFields, *apiError) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, &apiError{Status: http.StatusUnsupportedMediaType, Code: "invalid_request",
				Message: "The body must be JSON: send Content-Type: application/json."}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request",
				Message: fmt.Sprintf("The body is larger than %d bytes.", MaxBodyBytes), Field: "body"}
		}
		return nil, invalid("body", "The body could not be read.")
	}
	f := &userFields{}
	if len(bytes.TrimSpace(body)) == 0 {
		return f, nil
	}
	known := map[string]**string{"name": &f.Name, "role": &f.Role, "picture": &f.Picture, "email": &f.Email}
	seen := map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		if err != nil {
			return nil, syntaxError(err)
		}
		return nil, invalid("body", "The body must be a JSON object like {\"name\": \"John Doe\"}.")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntaxError(err)
		}
		dst, ok := known[key]
		if !ok {
			continue
		}
		if seen[key] {
			return nil, invalid(key, fmt.Sprintf("%s is given more than once.", key))
		}
		seen[key] = true
		v, e := stringOrNull(key, raw)
		if e != nil {
			return nil, e
		}
		*dst = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, syntaxError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid("body", "The body must hold one JSON object and nothing after it.")
	}
	// Known fields were checked one by one, so their errors name them; what
	// is left is in fields Latchkey ignores, but JSON must still be UTF-8.
	if !utf8.Valid(body) {
		return nil, invalid("body", "The body must be valid UTF-8.")
	}
	if domain.JSONHasLoneSurrogate(body) {
		return nil, invalid("body", "The body contains an unpaired UTF-16 surrogate escape (such as \\ud800); send valid Unicode.")
	}
	return f, nil
}

// stringOrNull decodes one known field's value.
func stringOrNull(field string, raw json.RawMessage) (*string, *apiError) {
	switch raw[0] {
	case 'n':
		return nil, nil
	case '"':
	default:
		return nil, invalid(field, fmt.Sprintf("%s must be a string or null, not %s.", field, jsonKind(raw[0])))
	}
	if !utf8.Valid(raw) {
		return nil, invalid(field, fmt.Sprintf("%s must be valid UTF-8.", field))
	}
	if domain.JSONHasLoneSurrogate(raw) {
		return nil, invalid(field, fmt.Sprintf("%s contains an unpaired UTF-16 surrogate escape (such as \\ud800); send valid Unicode.", field))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, invalid(field, fmt.Sprintf("%s is not a valid JSON string.", field))
	}
	return &s, nil
}

func jsonKind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

func syntaxError(err error) *apiError {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return invalid("body", fmt.Sprintf("The body is not valid JSON: %s (at byte %d).", se.Error(), se.Offset))
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return invalid("body", "The body is not valid JSON: it ends too early.")
	}
	return invalid("body", "The body is not valid JSON.")
}
