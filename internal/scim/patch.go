package scim

import (
	"fmt"
	"reflect"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// patchOp is one PATCH operation (RFC 7644 §3.5.2).
type patchOp struct {
	op      string // add, replace, remove (clients also send "Replace" …)
	path    string
	hasPath bool
	value   any
}

// readPatch reads a PatchOp request body.
func readPatch(body map[string]any) ([]patchOp, error) {
	var ops []any
	seen := false
	for k, v := range body {
		switch strings.ToLower(k) {
		case "schemas":
			list, ok := v.([]any)
			if !ok || len(list) != 1 || !isString(list[0], URNPatchOp) {
				return nil, invalidValue("schemas must be [%q]", URNPatchOp)
			}
		case "operations":
			list, ok := v.([]any)
			if !ok {
				return nil, invalidValue("Operations must be a list")
			}
			ops, seen = list, true
		default:
			return nil, invalidSyntax("unknown member %q in a PATCH request (expected schemas and Operations)", k)
		}
	}
	if !seen || len(ops) == 0 {
		return nil, invalidValue("Operations must list at least one operation")
	}
	if len(ops) > MaxOperations {
		return nil, tooMany("a PATCH request may hold at most %d operations", MaxOperations)
	}
	out := make([]patchOp, 0, len(ops))
	for i, raw := range ops {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, invalidValue("Operations[%d] must be an object", i)
		}
		var p patchOp
		for k, v := range m {
			switch strings.ToLower(k) {
			case "op":
				s, ok := v.(string)
				if !ok {
					return nil, invalidValue("Operations[%d].op must be add, replace or remove", i)
				}
				p.op = strings.ToLower(s)
			case "path":
				s, ok := v.(string)
				if !ok {
					return nil, invalidPath("Operations[%d].path must be a string", i)
				}
				p.path, p.hasPath = s, true
			case "value":
				p.value = v
			default:
				return nil, invalidSyntax("unknown member %q in Operations[%d]", k, i)
			}
		}
		switch p.op {
		case "add", "replace", "remove":
		default:
			return nil, invalidValue("Operations[%d].op must be add, replace or remove (got %q)", i, p.op)
		}
		if p.op != "remove" {
			if _, has := m["value"]; !has {
				if _, hasV := m["Value"]; !hasV {
					return nil, invalidValue("Operations[%d] (%s) needs a value", i, p.op)
				}
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// patcher applies operations to a resource in its generic form.
type patcher struct {
	schema schemaSet
	res    map[string]any
	// touched records the attribute paths that changed (lower-cased,
	// "name.givenname"), so the caller can tell which of two sources of
	// one field the client meant.
	touched map[string]bool
}

func (p *patcher) apply(ops []patchOp) error {
	for i, o := range ops {
		if err := p.applyOne(o); err != nil {
			if e, ok := err.(*Error); ok {
				e.Detail = fmt.Sprintf("Operations[%d]: %s", i, e.Detail)
			}
			return err
		}
	}
	return nil
}

func (p *patcher) applyOne(o patchOp) error {
	if !o.hasPath || strings.TrimSpace(o.path) == "" {
		if o.op == "remove" {
			return noTarget("remove needs a path")
		}
		m, ok := o.value.(map[string]any)
		if !ok {
			return invalidValue("without a path, the value must be an object of attributes")
		}
		// Each member names an attribute path (Entra ID also sends
		// "name.givenName" and "urn:…:User:department" members here).
		for k, v := range m {
			if strings.EqualFold(k, "schemas") {
				continue
			}
			if err := p.applyPath(o.op, k, v, true); err != nil {
				return err
			}
		}
		return nil
	}
	return p.applyPath(o.op, o.path, o.value, o.value != nil)
}

// target is where a path points.
type target struct {
	container map[string]any // the map holding the attribute
	a         *attr
	filter    filter.Expression
	sub       *attr
	key       string // lower-cased path, for touched
}

func (p *patcher) resolve(path string, create bool) (*target, error) {
	if len(path) > 1024 {
		return nil, invalidPath("the path is too long")
	}
	// An extension's URN alone names the whole extension object.
	if urn, attrs, ok := p.schema.extension(path); ok {
		return &target{container: p.res, a: &attr{Name: urn, Type: "complex", Sub: attrs}, key: strings.ToLower(urn)}, nil
	}
	parsed, err := filter.ParsePath([]byte(path))
	if err != nil {
		return nil, invalidPath("%q is not a valid attribute path: %v", path, err)
	}
	container, attrs := p.res, p.schema.attrs
	keyPrefix := ""
	if uri := parsed.AttributePath.URI(); uri != "" && !strings.EqualFold(uri, p.schema.coreURN) {
		urn, extAttrs, ok := p.schema.extension(uri)
		if !ok {
			return nil, invalidPath("schema %q is not supported here", uri)
		}
		ext, _ := p.res[urn].(map[string]any)
		if ext == nil {
			ext = map[string]any{}
			if create {
				p.res[urn] = ext
			}
		}
		container, attrs, keyPrefix = ext, extAttrs, strings.ToLower(urn)+":"
	}
	a := lookup(attrs, parsed.AttributePath.AttributeName)
	if a == nil {
		return nil, invalidPath("no attribute %q", parsed.AttributePath.AttributeName)
	}
	t := &target{container: container, a: a, filter: parsed.ValueExpression, key: keyPrefix + strings.ToLower(a.Name)}
	subName := parsed.AttributePath.SubAttributeName()
	if parsed.SubAttribute != nil {
		if subName != "" {
			return nil, invalidPath("%q names two sub-attributes", path)
		}
		subName = *parsed.SubAttribute
	}
	if subName != "" {
		if a.Type != "complex" {
			return nil, invalidPath("%q has no sub-attributes", a.Name)
		}
		if t.sub = a.sub(subName); t.sub == nil {
			return nil, invalidPath("%q has no sub-attribute %q", a.Name, subName)
		}
		t.key += "." + strings.ToLower(t.sub.Name)
	}
	if t.filter != nil && !a.Multi {
		return nil, invalidPath("%q is not multi-valued; it takes no filter", a.Name)
	}
	return t, nil
}

func (p *patcher) applyPath(op, path string, value any, hasValue bool) error {
	t, err := p.resolve(path, op != "remove")
	if err != nil {
		return err
	}
	if t.a.Mutability == "readOnly" || (t.sub != nil && t.sub.Mutability == "readOnly") {
		// Clients echo read-only attributes (Okta sends the group's id
		// in a path-less replace): the same value is no change.
		if op != "remove" && t.sub == nil && reflect.DeepEqual(t.container[t.a.Name], value) {
			return nil
		}
		return mutability("%s is read-only", t.a.Name)
	}
	if t.a.Ignored || (t.sub != nil && t.sub.Ignored) {
		return nil // accepted, not kept
	}
	p.touched[t.key] = true
	if op == "remove" {
		return p.remove(t, value, hasValue)
	}
	return p.set(t, op, value)
}

func (p *patcher) set(t *target, op string, value any) error {
	name := t.a.Name
	if t.sub != nil {
		v, err := normalizeValue(name+"."+t.sub.Name, t.sub, value)
		if err != nil {
			return err
		}
		if !t.a.Multi {
			m, _ := t.container[name].(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			m[t.sub.Name] = v
			t.container[name] = m
			return nil
		}
		return p.setInElements(t, func(e map[string]any) { e[t.sub.Name] = v }, map[string]any{t.sub.Name: v})
	}
	if t.a.Multi {
		var elems []any
		if list, ok := value.([]any); ok {
			elems = list
		} else {
			elems = []any{value}
		}
		nv, err := normalizeValue(name, t.a, elems)
		if err != nil {
			return err
		}
		added := nv.([]any)
		if t.filter != nil {
			if len(added) != 1 {
				return invalidValue("%s with a filter takes one value", name)
			}
			m, ok := added[0].(map[string]any)
			if !ok {
				return invalidValue("%s takes an object", name)
			}
			return p.setInElements(t, func(e map[string]any) {
				for k, v := range m {
					e[k] = v
				}
			}, m)
		}
		if op == "replace" {
			t.container[name] = added
			return nil
		}
		list, _ := t.container[name].([]any)
		for _, e := range added {
			if !containsElement(list, e) {
				list = append(list, e)
			}
		}
		if isPrimary(added) {
			clearPrimary(list, added)
		}
		t.container[name] = list
		return nil
	}
	v, err := normalizeValue(name, t.a, value)
	if err != nil {
		return err
	}
	if t.a.Type == "complex" {
		// Replacing a complex attribute sets the sub-attributes given and
		// keeps the others (RFC 7644 §3.5.2.3).
		m, _ := t.container[name].(map[string]any)
		nm, _ := v.(map[string]any)
		if m == nil || nm == nil {
			t.container[name] = v
			return nil
		}
		for k, sv := range nm {
			m[k] = sv
		}
		return nil
	}
	t.container[name] = v
	return nil
}

// setInElements changes the elements the target's filter selects (every
// element when it has none). When none is selected it adds one, made of
// the filter's equality terms and the new values, as directories expect
// (a replace of emails[type eq "work"].value for a user without one).
func (p *patcher) setInElements(t *target, change func(map[string]any), fresh map[string]any) error {
	list, _ := t.container[t.a.Name].([]any)
	hit := false
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if t.filter != nil {
			ok, err := match(t.filter, m)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		change(m)
		hit = true
	}
	if hit {
		return nil
	}
	elem := map[string]any{}
	if t.filter != nil {
		if !equalityTerms(t.filter, elem) {
			return noTarget("no %s matches %v", t.a.Name, t.filter)
		}
	}
	for k, v := range fresh {
		elem[k] = v
	}
	t.container[t.a.Name] = append(list, elem)
	return nil
}

// equalityTerms collects `a eq v` terms joined by and into elem; false
// for any other filter.
func equalityTerms(e filter.Expression, elem map[string]any) bool {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		return strings.EqualFold(string(e.Operator), "and") && equalityTerms(e.Left, elem) && equalityTerms(e.Right, elem)
	case *filter.AttributeExpression:
		if !strings.EqualFold(string(e.Operator), "eq") || e.AttributePath.SubAttribute != nil {
			return false
		}
		v := e.CompareValue
		if s, ok := v.(string); ok {
			v = unquote(s)
		}
		elem[e.AttributePath.AttributeName] = v
		return true
	}
	return false
}

func (p *patcher) remove(t *target, value any, hasValue bool) error {
	name := t.a.Name
	if !t.a.Multi {
		if t.sub != nil {
			if m, ok := t.container[name].(map[string]any); ok {
				delete(m, t.sub.Name)
			}
			return nil
		}
		delete(t.container, name)
		return nil
	}
	list, _ := t.container[name].([]any)
	var drop func(m map[string]any) (bool, error)
	switch {
	case t.filter != nil:
		drop = func(m map[string]any) (bool, error) { return match(t.filter, m) }
	case hasValue && t.sub == nil:
		// Remove the listed values (Entra ID: members with a value list).
		var values []any
		if l, ok := value.([]any); ok {
			values = l
		} else {
			values = []any{value}
		}
		drop = func(m map[string]any) (bool, error) {
			for _, v := range values {
				vm, ok := v.(map[string]any)
				if !ok {
					return false, invalidValue("%s removal takes objects with a value", name)
				}
				if fmt.Sprint(lookupKey(vm, "value")) == fmt.Sprint(m["value"]) {
					return true, nil
				}
			}
			return false, nil
		}
	default:
		drop = func(map[string]any) (bool, error) { return true, nil }
	}
	kept := make([]any, 0, len(list))
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		d, err := drop(m)
		if err != nil {
			return err
		}
		switch {
		case d && t.sub != nil:
			delete(m, t.sub.Name)
			kept = append(kept, m)
		case d:
		default:
			kept = append(kept, m)
		}
	}
	if len(kept) == 0 {
		delete(t.container, name)
		return nil
	}
	t.container[name] = kept
	return nil
}

func lookupKey(m map[string]any, key string) any {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

func containsElement(list []any, e any) bool {
	em, ok := e.(map[string]any)
	for _, x := range list {
		if reflect.DeepEqual(x, e) {
			return true
		}
		if xm, isMap := x.(map[string]any); ok && isMap && em["value"] != nil && fmt.Sprint(xm["value"]) == fmt.Sprint(em["value"]) {
			for k, v := range em {
				xm[k] = v
			}
			return true
		}
	}
	return false
}

func isPrimary(list []any) bool {
	for _, e := range list {
		if m, ok := e.(map[string]any); ok && m["primary"] == true {
			return true
		}
	}
	return false
}

// clearPrimary keeps at most one primary: the newly added one.
func clearPrimary(list, added []any) {
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok || m["primary"] != true {
			continue
		}
		isNew := false
		for _, a := range added {
			if am, ok := a.(map[string]any); ok && am["primary"] == true && fmt.Sprint(am["value"]) == fmt.Sprint(m["value"]) {
				isNew = true
			}
		}
		if !isNew {
			m["primary"] = false
		}
	}
}
