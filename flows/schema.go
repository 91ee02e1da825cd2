package flows

import (
	"encoding/json"
	"sort"
)

// SchemaID is the $id of the flow language's JSON Schema.
const SchemaID = "https://flowbot.dev/schema/flow-v1.json"

// Schema returns the JSON Schema (draft 2020-12) of the flow language,
// generated from Language and PlatformActions — the same tables the parser
// checks flows against — so the schema and the linter cannot drift.
// Editors use it for completion and checks (yaml-language-server).
func Schema() ([]byte, error) {
	defs := map[string]any{}
	names := make([]string, 0, len(Language))
	for name := range Language {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		defs[name] = objectSchema(Language[name])
	}
	defs["action"] = actionSchema()
	root := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         SchemaID,
		"title":       "flowbot flow",
		"description": "A chat bot flow for flowbot (language version 1).",
		"$ref":        "#/$defs/flow",
		"$defs":       defs,
	}
	return json.MarshalIndent(root, "", "  ")
}

func objectSchema(fields []Field) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range fields {
		s := kindSchema(f)
		if f.Doc != "" {
			s["description"] = f.Doc
		}
		if f.Enum != nil {
			s["enum"] = f.Enum
		}
		if f.Min != nil {
			s["minimum"] = *f.Min
		}
		props[f.Name] = s
		if f.Required {
			required = append(required, f.Name)
		}
	}
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

// scalar is what a KString key accepts: any YAML scalar, read as text.
func scalar() map[string]any { return map[string]any{"type": []string{"string", "number", "boolean"}} }

// durationPattern matches the Go durations `after` accepts ("90s", "1h30m").
const durationPattern = `^([0-9]*\.?[0-9]+(ns|us|µs|ms|s|m|h))+$`

func ref(name string) map[string]any { return map[string]any{"$ref": "#/$defs/" + name} }

func kindSchema(f Field) map[string]any {
	switch f.Kind {
	case KString, KState:
		return scalar()
	case KDuration:
		return map[string]any{"type": "string", "pattern": durationPattern}
	case KInt:
		return map[string]any{"type": "integer"}
	case KNumber:
		return map[string]any{"type": "number"}
	case KBool:
		return map[string]any{"type": "boolean"}
	case KStrings:
		return map[string]any{"oneOf": []any{scalar(), map[string]any{"type": "array", "items": scalar()}}}
	case KMessages:
		one := map[string]any{"oneOf": []any{scalar(), ref("message")}}
		return map[string]any{"oneOf": []any{scalar(), ref("message"), map[string]any{"type": "array", "items": one}}}
	case KNext:
		one := map[string]any{"oneOf": []any{scalar(), ref("branch")}}
		return map[string]any{"oneOf": []any{scalar(), map[string]any{"type": "array", "items": one}}}
	case KObject:
		return ref(f.Object)
	case KList:
		return map[string]any{"type": "array", "items": ref(f.Object)}
	case KActions:
		return map[string]any{"type": "array", "items": ref("action")}
	case KStateMap:
		s := map[string]any{"type": "object", "additionalProperties": scalar()}
		if f.Name == "on" {
			s["propertyNames"] = map[string]any{"enum": Events}
		}
		if f.Name == "on_status" {
			s["propertyNames"] = map[string]any{"pattern": "^[1-5][0-9][0-9]$"}
		}
		return s
	case KVarMap:
		return map[string]any{"type": "object", "additionalProperties": scalar()}
	case KStatesDefs:
		return map[string]any{"type": "object", "additionalProperties": ref("state"), "minProperties": 1}
	case KMap:
		return map[string]any{"type": "object"}
	}
	return map[string]any{}
}

// actionSchema: a bare action name, or {name: payload}.
func actionSchema() map[string]any {
	names := make([]string, 0, len(PlatformActions))
	for n := range PlatformActions {
		names = append(names, n)
	}
	sort.Strings(names)
	var withPayload []any
	for _, n := range names {
		payload := objectSchema(PlatformActions[n])
		withPayload = append(withPayload, map[string]any{
			"type": "object", "properties": map[string]any{n: map[string]any{"oneOf": []any{payload, map[string]any{"type": "null"}}}},
			"required": []string{n}, "additionalProperties": false,
		})
	}
	return map[string]any{
		"description": "A platform action: a name (forward_any) or a name with its payload ({contact_update: {name: …}}).",
		"oneOf":       append([]any{map[string]any{"enum": names}}, withPayload...),
	}
}
