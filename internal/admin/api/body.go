package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/domain"
)

// maxBody bounds every request body.
const maxBody = 64 << 10

// object is a request body: one JSON object whose members were checked for
// duplicates and against the endpoint's fields, each decoded on demand.
type object struct {
	fields map[string]json.RawMessage
}

// fieldSpec lists the members an endpoint accepts, and those it shows but
// does not take (read-only), for a clearer refusal.
type fieldSpec struct {
	writable []string
	readOnly []string
	// fixed members cannot change after creation; the message says why.
	fixed map[string]string
	// nested members are objects whose members (those listed) are read as
	// if given at the top level: an organization's settings, as answers
	// show them.
	nested map[string][]string
}

// body reads and checks the request body against spec. An empty body is an
// empty object when emptyOK, else an error.
func (c *call) body(spec fieldSpec, emptyOK bool) (*object, error) {
	if ct := c.r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
				message: fmt.Sprintf("send the body as application/json (got %q)", ct)}
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &apiError{status: http.StatusBadRequest, code: "request_too_large",
				message: fmt.Sprintf("the request body must be at most %d KiB", maxBody>>10)}
		}
		return nil, &apiError{status: http.StatusBadRequest, code: "invalid_request", message: "could not read the request body"}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if emptyOK {
			return &object{fields: map[string]json.RawMessage{}}, nil
		}
		return nil, invalidJSON("the request body is empty; send a JSON object")
	}
	if !utf8.Valid(data) {
		return nil, &apiError{status: http.StatusBadRequest, code: "invalid_request", message: "the request body must be valid UTF-8"}
	}
	o, err := parseObject(data)
	if err != nil {
		return nil, err
	}
	legacy, err := o.renameLegacy()
	if err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(spec.nested) {
		inner, err := o.inline(name, spec.nested[name])
		if err != nil {
			return nil, err
		}
		legacy = legacy || inner
	}
	if legacy {
		c.w.Header().Set("Deprecation", deprecationDate)
	}
	return o, o.check(spec)
}

// renameLegacy moves members given by their first-release snake_case name
// to today's name, and reports whether there were any.
func (o *object) renameLegacy() (bool, error) {
	var legacy []string
	for k := range o.fields {
		if _, ok := legacyNames[k]; ok {
			legacy = append(legacy, k)
		}
	}
	slices.Sort(legacy)
	for _, k := range legacy {
		name := legacyNames[k]
		if _, both := o.fields[name]; both {
			return false, fieldError(name, "is given twice (also as %s)", k)
		}
		o.fields[name] = o.fields[k]
		delete(o.fields, k)
	}
	return len(legacy) > 0, nil
}

// inline moves the members of the object member name up to the top level,
// as if given there; they may use the first release's snake_case names too
// (reported as legacy). A member given both inside and outside, or one not
// in members, is refused.
func (o *object) inline(name string, members []string) (legacy bool, err error) {
	raw, ok := o.fields[name]
	if !ok {
		return false, nil
	}
	if kind(raw) != "an object" {
		return false, fieldError(name, "must be an object (got %s)", kind(raw))
	}
	inner, err := parseObject(raw)
	if err != nil {
		return false, fieldError(name, "must be a JSON object of known members")
	}
	if legacy, err = inner.renameLegacy(); err != nil {
		return false, err
	}
	delete(o.fields, name)
	for _, k := range sortedKeys(inner.fields) {
		if !slices.Contains(members, k) {
			return false, fieldError(name+"."+k, "is not a known member of %s (known: %s)", name, strings.Join(members, ", "))
		}
		if _, both := o.fields[k]; both {
			return false, fieldError(k, "is given twice (also in %s)", name)
		}
		o.fields[k] = inner.fields[k]
	}
	return legacy, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// fieldError refuses a member or parameter by its name in this API.
// (A *domain.FieldError from package directory may use another name; see
// apiFieldName.)
func fieldError(field, format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, code: "invalid_request", field: field,
		message: field + ": " + fmt.Sprintf(format, args...)}
}

func invalidJSON(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, code: "invalid_json", message: fmt.Sprintf(format, args...)}
}

// parseObject splits a JSON object into its members, refusing anything
// else, duplicate members and trailing data.
func parseObject(data []byte) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, invalidJSON("the request body must be a JSON object")
	}
	o := &object{fields: map[string]json.RawMessage{}}
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
		if _, dup := o.fields[key]; dup {
			return nil, fieldError(key, "is given twice")
		}
		if domain.JSONHasLoneSurrogate(raw) {
			return nil, fieldError(key, "contains an unpaired UTF-16 surrogate escape (such as \\ud800); send valid Unicode")
		}
		o.fields[key] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, syntaxError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalidJSON("unexpected data after the JSON object")
	}
	if domain.JSONHasLoneSurrogate(data) { // in a member name
		return nil, invalidJSON("the request body contains an unpaired UTF-16 surrogate escape (such as \\ud800); send valid Unicode")
	}
	return o, nil
}

func syntaxError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return invalidJSON("malformed JSON at byte %d: %s", se.Offset, se.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return invalidJSON("malformed JSON: the body ends too early")
	}
	return invalidJSON("malformed JSON: %s", err.Error())
}

// check refuses members the endpoint does not take, naming the first in
// sorted order so the answer does not depend on map order.
func (o *object) check(spec fieldSpec) error {
	for _, k := range sortedKeys(o.fields) {
		switch {
		case slices.Contains(spec.writable, k):
		case spec.fixed[k] != "":
			return fieldError(k, "%s", spec.fixed[k])
		case slices.Contains(spec.readOnly, k):
			return fieldError(k, "is read-only")
		case len(spec.writable) == 0:
			return fieldError(k, "is not a known field (this endpoint takes no fields)")
		default:
			return fieldError(k, "is not a known field (known: %s)", strings.Join(spec.writable, ", "))
		}
	}
	return nil
}

// has reports whether the body gave name.
func (o *object) has(name string) bool {
	_, ok := o.fields[name]
	return ok
}

// kind names a JSON value's type for messages.
func kind(raw json.RawMessage) string {
	switch b := bytes.TrimSpace(raw); {
	case len(b) == 0:
		return "nothing"
	case b[0] == '"':
		return "a string"
	case b[0] == '{':
		return "an object"
	case b[0] == '[':
		return "an array"
	case b[0] == 't' || b[0] == 'f':
		return "a boolean"
	case b[0] == 'n':
		return "null"
	default:
		return "a number"
	}
}

func isNull(raw json.RawMessage) bool { return kind(raw) == "null" }

// str returns a string member, nil when absent.
func (o *object) str(name string) (*string, error) {
	raw, ok := o.fields[name]
	if !ok {
		return nil, nil
	}
	var v string
	if kind(raw) != "a string" || json.Unmarshal(raw, &v) != nil {
		return nil, domain.Invalid(name, "must be a string (got %s)", kind(raw))
	}
	return &v, nil
}

// boolean returns a boolean member, nil when absent.
func (o *object) boolean(name string) (*bool, error) {
	raw, ok := o.fields[name]
	if !ok {
		return nil, nil
	}
	var v bool
	if kind(raw) != "a boolean" || json.Unmarshal(raw, &v) != nil {
		return nil, domain.Invalid(name, "must be true or false (got %s)", kind(raw))
	}
	return &v, nil
}

// seconds returns a whole number of seconds given as a JSON number or as a
// string the way people type it ("1.296.000", "1 296 000"), nil when
// absent. Range checks are the domain's.
func (o *object) seconds(name string) (*int64, error) {
	raw, ok := o.fields[name]
	if !ok {
		return nil, nil
	}
	switch kind(raw) {
	case "a string":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, domain.Invalid(name, "must be a whole number of seconds")
		}
		n, err := domain.ParseSeconds(s)
		if err != nil {
			return nil, domain.Invalid(name, "%q %s", s, err.Error())
		}
		return &n, nil
	case "a number":
		var n int64
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, domain.Invalid(name, "must be a whole number of seconds (got %s)", strings.TrimSpace(string(raw)))
		}
		return &n, nil
	}
	return nil, domain.Invalid(name, "must be a whole number of seconds, as a number or a string like \"1.296.000\" (got %s)", kind(raw))
}

// stringList returns an array of strings, nil when absent.
func (o *object) stringList(name string) (*[]string, error) {
	raw, ok := o.fields[name]
	if !ok {
		return nil, nil
	}
	v := []string{}
	if kind(raw) != "an array" || json.Unmarshal(raw, &v) != nil {
		return nil, domain.Invalid(name, "must be an array of strings (got %s)", kind(raw))
	}
	return &v, nil
}

// uriList returns a list of URIs given as an array of strings or as one
// string with one URI per line (what the portal's textarea sends): lines
// are trimmed and empty ones dropped. nil when absent.
func (o *object) uriList(name string) (*[]string, error) {
	raw, ok := o.fields[name]
	if !ok {
		return nil, nil
	}
	if kind(raw) != "a string" {
		v, err := o.stringList(name)
		if err != nil {
			return nil, domain.Invalid(name, "must be an array of URIs or a string with one URI per line (got %s)", kind(raw))
		}
		return v, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, domain.Invalid(name, "must be an array of URIs or a string with one URI per line")
	}
	out := []string{}
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return &out, nil
}

// checkQuery allows only the named query parameters, each at most once.
func checkQuery(r *http.Request, allowed []string) (map[string]string, error) {
	q := r.URL.Query()
	out := make(map[string]string, len(q))
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return nil, fieldError(k, "is not a query parameter of this endpoint (it takes none)")
			}
			return nil, fieldError(k, "is not a query parameter of this endpoint (known: %s)", strings.Join(allowed, ", "))
		}
		if len(q[k]) > 1 {
			return nil, fieldError(k, "is given more than once")
		}
		v := q[k][0]
		if !utf8.ValidString(v) {
			return nil, fieldError(k, "must be valid UTF-8")
		}
		out[k] = v
	}
	return out, nil
}
