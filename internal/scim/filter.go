package scim

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/latchkey/latchkey/internal/store"
)

// Filter limits: a filter beyond them is more than this server processes
// (tooMany), whatever it would match.
const (
	MaxFilterLen   = 4096
	MaxFilterTerms = 50
)

// resourceFilter maps a resource's filterable attributes (lower-cased
// SCIM paths) to store attributes.
type resourceFilter map[string]string

var userFilterAttrs = resourceFilter{
	"id": store.AttrID, "username": store.AttrUserName, "externalid": store.AttrExternalID,
	"displayname": store.AttrName, "name.formatted": store.AttrName,
	"emails": store.AttrEmail, "emails.value": store.AttrEmail,
	"active": store.AttrActive, "meta.created": store.AttrCreated, "meta.lastmodified": store.AttrLastModified,
}

var groupFilterAttrs = resourceFilter{
	"id": store.AttrID, "displayname": store.AttrDisplayName, "externalid": store.AttrExternalID,
	"members": store.AttrMember, "members.value": store.AttrMember,
	"meta.created": store.AttrCreated, "meta.lastmodified": store.AttrLastModified,
}

// parseFilter parses a SCIM filter (RFC 7644 §3.4.2.2) for one resource
// type into a store.Filter.
func parseFilter(raw string, attrs resourceFilter, coreURN string) (store.Filter, error) {
	if len(raw) > MaxFilterLen {
		return nil, tooMany("the filter is longer than %d bytes", MaxFilterLen)
	}
	if !utf8.ValidString(raw) {
		return nil, invalidFilter("the filter is not valid UTF-8")
	}
	if strings.TrimSpace(raw) == "" {
		return nil, invalidFilter("the filter is empty")
	}
	expr, err := filter.ParseFilter([]byte(raw))
	if err != nil {
		return nil, invalidFilter("the filter is not valid SCIM filter syntax: %v", err)
	}
	t := &filterTranslation{attrs: attrs, coreURN: coreURN}
	return t.translate(expr)
}

type filterTranslation struct {
	attrs   resourceFilter
	coreURN string
	terms   int
}

func (t *filterTranslation) translate(e filter.Expression) (store.Filter, error) {
	t.terms++
	if t.terms > MaxFilterTerms {
		return nil, tooMany("the filter has more than %d terms", MaxFilterTerms)
	}
	switch e := e.(type) {
	case *filter.LogicalExpression:
		l, err := t.translate(e.Left)
		if err != nil {
			return nil, err
		}
		r, err := t.translate(e.Right)
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(string(e.Operator), "or") {
			return store.Or{Left: l, Right: r}, nil
		}
		return store.And{Left: l, Right: r}, nil
	case *filter.NotExpression:
		inner, err := t.translate(e.Expression)
		if err != nil {
			return nil, err
		}
		return store.Not{Filter: inner}, nil
	case *filter.AttributeExpression:
		return t.compare(e.AttributePath, e.Operator, e.CompareValue)
	case *filter.ValuePath:
		// emails[value eq "x"], emails[type eq "work"]: Latchkey keeps one
		// email, of type work; members[value eq "id"].
		return t.valuePath(e)
	}
	return nil, invalidFilter("unsupported filter expression %T", e)
}

func (t *filterTranslation) valuePath(v *filter.ValuePath) (store.Filter, error) {
	parent := strings.ToLower(v.AttributePath.AttributeName)
	var walk func(e filter.Expression) (store.Filter, error)
	walk = func(e filter.Expression) (store.Filter, error) {
		t.terms++
		if t.terms > MaxFilterTerms {
			return nil, tooMany("the filter has more than %d terms", MaxFilterTerms)
		}
		switch e := e.(type) {
		case *filter.LogicalExpression:
			l, err := walk(e.Left)
			if err != nil {
				return nil, err
			}
			r, err := walk(e.Right)
			if err != nil {
				return nil, err
			}
			if strings.EqualFold(string(e.Operator), "or") {
				return store.Or{Left: l, Right: r}, nil
			}
			return store.And{Left: l, Right: r}, nil
		case *filter.NotExpression:
			inner, err := walk(e.Expression)
			if err != nil {
				return nil, err
			}
			return store.Not{Filter: inner}, nil
		case *filter.AttributeExpression:
			sub := strings.ToLower(e.AttributePath.AttributeName)
			if parent == "emails" && (sub == "type" || sub == "primary") {
				// The one email kept is the primary work email: such a
				// condition holds exactly when the user has an email.
				ok := (sub == "type" && e.Operator == filter.EQ && isString(e.CompareValue, "work")) ||
					(sub == "primary" && e.Operator == filter.EQ && e.CompareValue == true) || e.Operator == filter.PR
				if !ok {
					return store.Not{Filter: store.Compare{Attr: store.AttrEmail, Op: "pr"}}, nil
				}
				return store.Compare{Attr: store.AttrEmail, Op: "pr"}, nil
			}
			path := filter.AttributePath{AttributeName: parent, SubAttribute: &e.AttributePath.AttributeName}
			return t.compare(path, e.Operator, e.CompareValue)
		}
		return nil, invalidFilter("unsupported filter expression %T", e)
	}
	return walk(v.ValueFilter)
}

func isString(v any, want string) bool {
	s, ok := v.(string)
	return ok && strings.EqualFold(unquote(s), want)
}

func (t *filterTranslation) compare(p filter.AttributePath, op filter.CompareOperator, value any) (store.Filter, error) {
	if uri := p.URI(); uri != "" && !strings.EqualFold(uri, t.coreURN) {
		return nil, invalidFilter("attribute %q cannot be filtered on", p.String())
	}
	name := strings.ToLower(p.AttributeName)
	if p.SubAttribute != nil {
		name += "." + strings.ToLower(*p.SubAttribute)
	}
	attr, ok := t.attrs[name]
	if !ok {
		return nil, invalidFilter("attribute %q cannot be filtered on", p.String())
	}
	o := strings.ToLower(string(op))
	switch o {
	case "pr":
		return store.Compare{Attr: attr, Op: "pr"}, nil
	case "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le":
	default:
		return nil, invalidFilter("unknown operator %q", op)
	}
	switch attr {
	case store.AttrActive:
		b, ok := value.(bool)
		if !ok {
			if s, isStr := value.(string); isStr && (strings.EqualFold(s, "true") || strings.EqualFold(s, "false")) {
				b, ok = strings.EqualFold(s, "true"), true
			}
		}
		if !ok {
			return nil, invalidFilter("%s compares with true or false", p.String())
		}
		if o != "eq" && o != "ne" {
			return nil, invalidFilter("%s supports eq, ne and pr", p.String())
		}
		return store.Compare{Attr: attr, Op: o, Value: b}, nil
	case store.AttrCreated, store.AttrLastModified:
		s, ok := value.(string)
		if !ok {
			return nil, invalidFilter("%s compares with a date-time string", p.String())
		}
		at, err := time.Parse(time.RFC3339Nano, unquote(s))
		if err != nil {
			return nil, invalidFilter("%s compares with an RFC 3339 date-time such as \"2026-01-02T03:04:05Z\"", p.String())
		}
		if o == "co" || o == "sw" || o == "ew" {
			return nil, invalidFilter("%s supports eq, ne, gt, ge, lt, le and pr", p.String())
		}
		return store.Compare{Attr: attr, Op: o, Value: at}, nil
	case store.AttrMember:
		s, ok := value.(string)
		if !ok || o != "eq" {
			return nil, invalidFilter("%s supports eq with a user id and pr", p.String())
		}
		if v := unquote(s); !strings.ContainsRune(v, 0) {
			return store.Compare{Attr: attr, Op: o, Value: v}, nil
		}
		return nil, invalidFilter("filter values must not contain NUL characters")
	}
	s, ok := value.(string)
	if !ok {
		return nil, invalidFilter("%s compares with a string", p.String())
	}
	s = unquote(s)
	if strings.ContainsRune(s, 0) {
		return nil, invalidFilter("filter values must not contain NUL characters")
	}
	return store.Compare{Attr: attr, Op: o, Value: s}, nil
}

// unquote resolves the JSON escapes a filter string may hold (the parser
// keeps them as written).
func unquote(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		return s
	}
	return out
}

// match evaluates a value filter (emails[type eq "work"]) on one element
// of a multi-valued attribute.
func match(e filter.Expression, elem map[string]any) (bool, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		l, err := match(e.Left, elem)
		if err != nil {
			return false, err
		}
		r, err := match(e.Right, elem)
		if err != nil {
			return false, err
		}
		if strings.EqualFold(string(e.Operator), "or") {
			return l || r, nil
		}
		return l && r, nil
	case *filter.NotExpression:
		v, err := match(e.Expression, elem)
		return !v, err
	case *filter.AttributeExpression:
		var got any
		for k, v := range elem {
			if strings.EqualFold(k, e.AttributePath.AttributeName) {
				got = v
			}
		}
		op := strings.ToLower(string(e.Operator))
		if op == "pr" {
			return got != nil && got != "", nil
		}
		want := e.CompareValue
		if s, ok := want.(string); ok {
			want = unquote(s)
		}
		if wb, ok := want.(bool); ok {
			gb, _ := asBool(got)
			switch op {
			case "eq":
				return gb == wb, nil
			case "ne":
				return gb != wb, nil
			}
			return false, invalidPath("booleans support eq, ne and pr")
		}
		ws, ok := want.(string)
		if !ok {
			return false, invalidPath("the value filter compares with a string or a boolean")
		}
		gs := strings.ToLower(fmt.Sprint(got))
		if got == nil {
			gs = ""
		}
		ws = strings.ToLower(ws)
		switch op {
		case "eq":
			return gs == ws, nil
		case "ne":
			return gs != ws, nil
		case "co":
			return strings.Contains(gs, ws), nil
		case "sw":
			return strings.HasPrefix(gs, ws), nil
		case "ew":
			return strings.HasSuffix(gs, ws), nil
		case "gt":
			return gs > ws, nil
		case "ge":
			return gs >= ws, nil
		case "lt":
			return gs < ws, nil
		case "le":
			return gs <= ws, nil
		}
		return false, invalidPath("unknown operator %q", e.Operator)
	}
	return false, invalidPath("unsupported value filter")
}

// asBool reads a boolean as SCIM clients send it: true/false, or the
// strings "True"/"False" (Microsoft Entra ID).
func asBool(v any) (bool, bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		switch strings.ToLower(v) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}
