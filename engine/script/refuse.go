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
// a single native step that no time limit or memory watch can stop.
func refused(prog *ast.Program) *refusal {
	bigInt := reflect.TypeOf((*big.Int)(nil))
	var found *refusal
	inspect(prog, func(node any) bool {
		if n, ok := node.(*ast.NumberLiteral); ok && n.Value != nil && reflect.TypeOf(n.Value) == bigInt {
			found = &refusal{Idx: n.Idx, Msg: "BigInt literal " + n.Literal + " is not available in flow scripts; use numbers"}
		}
		return found == nil
	})
	return found
}

// inspect calls visit with every node of a syntax tree (every pointer to
// a struct in it), walking by reflection so that no node kind is missed,
// until visit returns false.
func inspect(prog *ast.Program, visit func(node any) bool) {
	more := true
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		if !more || !v.IsValid() {
			return
		}
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if v.IsNil() {
				return
			}
			if _, ok := v.Interface().(*file.File); ok {
				return
			}
			if v.Kind() == reflect.Pointer {
				if more = visit(v.Interface()); !more {
					return
				}
			}
			walk(v.Elem())
		case reflect.Struct:
			if v.CanAddr() && v.Type() == reflect.TypeOf(ast.Identifier{}) {
				// An Identifier held by value (DotExpression.Identifier).
				if more = visit(v.Addr().Interface()); !more {
					return
				}
			}
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
}
