package script

import (
	"github.com/dop251/goja"
)

// varsObject is the `vars` a script sees: a Go-backed object (goja's
// DynamicObject) made fresh for each run. It holds data properties only —
// goja refuses getters and setters on it — so flowbot reads the values
// back from this map without running any script code; only objects stored
// in it are converted inside the runtime (JSON.stringify, bounded).
type varsObject struct {
	m    map[string]goja.Value
	keys []string // in the order they were set, as for an ordinary object
}

func newVars(in map[string]string, rt *goja.Runtime) *varsObject {
	o := &varsObject{m: make(map[string]goja.Value, len(in)+4), keys: make([]string, 0, len(in)+4)}
	for _, k := range sortedKeys(in) {
		o.Set(k, rt.ToValue(in[k]))
	}
	return o
}

// Get implements goja.DynamicObject.
func (o *varsObject) Get(key string) goja.Value { return o.m[key] }

// Set implements goja.DynamicObject.
func (o *varsObject) Set(key string, val goja.Value) bool {
	if _, ok := o.m[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.m[key] = val
	return true
}

// Has implements goja.DynamicObject.
func (o *varsObject) Has(key string) bool {
	_, ok := o.m[key]
	return ok
}

// Delete implements goja.DynamicObject.
func (o *varsObject) Delete(key string) bool {
	if _, ok := o.m[key]; ok {
		delete(o.m, key)
		for i, k := range o.keys {
			if k == key {
				o.keys = append(o.keys[:i], o.keys[i+1:]...)
				break
			}
		}
	}
	return true
}

// Keys implements goja.DynamicObject.
func (o *varsObject) Keys() []string { return append([]string(nil), o.keys...) }

// sortedKeys orders a map's keys, so that a run sees its variables in the
// same order every time.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
