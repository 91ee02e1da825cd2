package script

import (
	"math/big"
	"reflect"

	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/file"
)

// refusal is syntax the sandbox does not run, with where it is written.
type refusal struct {
	Idx file.Idx
	Msg string
}

// refused finds the first construct the sandbox refuses in a parsed
// script: BigInt literals, since one BigInt operation (2n ** 10n ** 7n) is
// a single native step that no time limit or memory watch can stop. It
// walks the syntax tree by reflection, so no node kind can be missed.
func refused(prog *ast.Program) *refusal {
	var found *refusal
	bigInt := reflect.TypeOf((*big.Int)(nil))
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		if found != nil || !v.IsValid() {
			return
		}
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if v.IsNil() {
				return
			}
			if n, ok := v.Interface().(*ast.NumberLiteral); ok {
				if n.Value != nil && reflect.TypeOf(n.Value) == bigInt {
					found = &refusal{Idx: n.Idx, Msg: "BigInt literal " + n.Literal + " is not available in flow scripts; use numbers"}
				}
				return
			}
			if _, ok := v.Interface().(*file.File); ok {
				return
			}
			walk(v.Elem())
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		}
	}
	walk(reflect.ValueOf(prog))
	return found
}
