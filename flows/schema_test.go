package flows

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// validate checks a value against the subset of JSON Schema that Schema
// emits: $ref, type, enum, minimum, oneOf, properties, required,
// additionalProperties, propertyNames, minProperties, items.
func validate(root, s map[string]any, v any, path string) []string {
	if r, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(r, "#/$defs/")
		return validate(root, root["$defs"].(map[string]any)[name].(map[string]any), v, path)
	}
	var errs []string
	if t, ok := s["type"]; ok && !typeOK(t, v) {
		return []string{fmt.Sprintf("%s: want type %v, got %T", path, t, v)}
	}
	if e, ok := s["enum"].([]any); ok {
		found := false
		for _, x := range e {
			if fmt.Sprint(x) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			errs = append(errs, fmt.Sprintf("%s: %v not in %v", path, v, e))
		}
	}
	if m, ok := s["minimum"].(float64); ok {
		if n, isNum := v.(float64); isNum && n < m {
			errs = append(errs, fmt.Sprintf("%s: %v is below the minimum %v", path, v, m))
		}
	}
	if one, ok := s["oneOf"].([]any); ok {
		n := 0
		for _, alt := range one {
			if len(validate(root, alt.(map[string]any), v, path)) == 0 {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, fmt.Sprintf("%s: matches %d of the oneOf alternatives, want 1", path, n))
		}
	}
	if obj, ok := v.(map[string]any); ok {
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := obj[r]; !ok {
				errs = append(errs, fmt.Sprintf("%s: missing %q", path, r))
			}
		}
		if m, ok := s["minProperties"].(float64); ok && float64(len(obj)) < m {
			errs = append(errs, fmt.Sprintf("%s: too few properties", path))
		}
		for k, val := range obj {
			if pn, ok := s["propertyNames"].(map[string]any); ok {
				errs = append(errs, validate(root, pn, k, path+"."+k+"(name)")...)
			}
			if ps, ok := props[k].(map[string]any); ok {
				errs = append(errs, validate(root, ps, val, path+"."+k)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					errs = append(errs, fmt.Sprintf("%s: unknown key %q", path, k))
				}
			case map[string]any:
				errs = append(errs, validate(root, ap, val, path+"."+k)...)
			}
		}
	}
	if arr, ok := v.([]any); ok {
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range arr {
				errs = append(errs, validate(root, items, e, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	if p, ok := s["pattern"].(string); ok {
		if str, ok := v.(string); ok && !regexp.MustCompile(p).MatchString(str) {
			errs = append(errs, fmt.Sprintf("%s: %q does not match %s", path, str, p))
		}
	}
	return errs
}

func asList(v any) []string {
	var out []string
	for _, x := range asAny(v) {
		out = append(out, x.(string))
	}
	return out
}

func asAny(v any) []any { l, _ := v.([]any); return l }

func typeOK(t any, v any) bool {
	types := []string{}
	switch x := t.(type) {
	case string:
		types = append(types, x)
	case []any:
		for _, e := range x {
			types = append(types, e.(string))
		}
	}
	for _, ty := range types {
		switch v.(type) {
		case string:
			if ty == "string" {
				return true
			}
		case float64:
			f := v.(float64)
			if ty == "number" || ty == "integer" && f == float64(int64(f)) {
				return true
			}
		case bool:
			if ty == "boolean" {
				return true
			}
		case nil:
			if ty == "null" {
				return true
			}
		case map[string]any:
			if ty == "object" {
				return true
			}
		case []any:
			if ty == "array" {
				return true
			}
		}
	}
	return false
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// yamlToJSON reads YAML as the JSON data model (numbers as float64).
func yamlToJSON(t *testing.T, src []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(stringKeys(v))
	if err != nil {
		t.Fatal(err)
	}
	var out any
	json.Unmarshal(b, &out)
	return out
}

func TestSchemaValidatesExamples(t *testing.T) {
	s := loadSchema(t)
	files, _ := filepath.Glob("../examples/*.yaml")
	more, _ := filepath.Glob("../examples/newcomer/*.yaml")
	files = append(files, more...)
	n := 0
	for _, f := range files {
		if !IsFlowFile(f) {
			continue
		}
		src, _ := os.ReadFile(f)
		if !strings.Contains(string(src), "yaml-language-server: $schema=") {
			t.Errorf("%s: no yaml-language-server schema comment", f)
		}
		if errs := validate(s, s, yamlToJSON(t, src), "$"); len(errs) > 0 {
			t.Errorf("%s:\n%s", f, strings.Join(errs, "\n"))
		}
		n++
	}
	if n < 3 {
		t.Fatalf("validated %d examples", n)
	}
}

func TestSchemaRejectsMistakes(t *testing.T) {
	s := loadSchema(t)
	for _, name := range []string{"key_typo", "unknown_action", "wrong_type", "missing_start", "unknown_event", "contact_update_field", "unknown_validator", "protocol_payloads"} {
		src, err := os.ReadFile("testdata/lint/" + name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		if errs := validate(s, s, yamlToJSON(t, src), "$"); len(errs) == 0 {
			t.Errorf("%s: the schema accepts a flow the linter rejects", name)
		}
	}
}

// TestCommittedSchemaIsCurrent keeps docs/flow.schema.json (which editors
// load) equal to the generated schema. Rewrite it with -update.
func TestCommittedSchemaIsCurrent(t *testing.T) {
	b, _ := Schema()
	b = append(b, '\n')
	if *update {
		os.WriteFile("../docs/flow.schema.json", b, 0o644)
	}
	got, _ := os.ReadFile("../docs/flow.schema.json")
	if string(got) != string(b) {
		t.Errorf("docs/flow.schema.json is stale: run go test ./flows -update")
	}
}

func TestGraphGolden(t *testing.T) {
	for _, name := range []string{"webshop", "name-email-forward", "campaign-signup"} {
		f, err := Load("../examples/"+name+".yaml", Options{})
		if err != nil {
			t.Fatal(err)
		}
		for ext, out := range map[string]string{"mmd": Mermaid(f), "dot": DOT(f)} {
			golden := "testdata/graph/" + name + "." + ext
			if *update {
				os.MkdirAll("testdata/graph", 0o755)
				os.WriteFile(golden, []byte(out), 0o644)
			}
			want, _ := os.ReadFile(golden)
			if string(want) != out {
				t.Errorf("%s differs from the golden file (go test ./flows -update):\n%s", golden, out)
			}
		}
	}
}

// stringKeys turns YAML maps with non-string keys (404:) into JSON objects.
func stringKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = stringKeys(e)
		}
		return x
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = stringKeys(e)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = stringKeys(e)
		}
	}
	return v
}
