package script

import (
	"reflect"

	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/file"
	"github.com/dop251/goja/unistring"
)

// hostName is the wrapper function's parameter through which rewritten
// code reaches the sandbox's helpers; scripts may not use the name.
const hostName = "__flowbot"

// rewrite sends the two native steps the sandbox cannot bound from outside
// goja through its helpers, at compile time:
//
//   - a regular expression's exec (x.exec(…), x["exec"](…), and x.exec
//     read as a value) goes through __flowbot.exec / __flowbot.execOf,
//     which bound the text as the other RegExp methods do; exec itself
//     stays goja's own, so goja's fast path for regular expressions is kept;
//   - spread (...x, in objects, arrays and calls) goes through
//     __flowbot.spread, which refuses a string or an array too long to copy
//     at once (object spread is an opcode no wrapper reaches).
//
// A script that names __flowbot itself is refused (it could shadow the
// helpers). What no syntax shows — a computed name such as x["ex" + "ec"]
// — is not rewritten (SECURITY.md, known limits).
func rewrite(prog *ast.Program) *refusal {
	if id := findIdentifier(prog, hostName, file.Idx(len(prefix))); id != nil {
		return &refusal{Idx: id.Idx, Msg: hostName + " is a name flowbot reserves; use another"}
	}
	rewriteValue(reflect.ValueOf(prog).Elem())
	return nil
}

// findIdentifier returns the first identifier of that name in the tree
// written after offset after (the wrapper's own parameter is before).
func findIdentifier(prog *ast.Program, name string, after file.Idx) *ast.Identifier {
	var found *ast.Identifier
	inspect(prog, func(node any) bool {
		if id, ok := node.(*ast.Identifier); ok && id.Name.String() == name && id.Idx > after {
			found = id
		}
		return found == nil
	})
	return found
}

var exprType = reflect.TypeOf((*ast.Expression)(nil)).Elem()

// rewriteValue walks an addressable value of the tree, replacing the
// expressions rewrite names in place.
func rewriteValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		if v.Type() == exprType {
			if repl := rewriteExpr(v.Interface().(ast.Expression)); repl != nil {
				v.Set(reflect.ValueOf(repl))
			}
		}
		inner := v.Elem()
		if inner.Kind() == reflect.Pointer && !inner.IsNil() {
			rewriteValue(inner.Elem())
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if _, ok := v.Interface().(*file.File); ok {
			return
		}
		rewriteValue(v.Elem())
	case reflect.Struct:
		if v.CanAddr() {
			if sp, ok := v.Addr().Interface().(*ast.SpreadElement); ok && !isHostCall(sp.Expression, "spread") {
				sp.Expression = hostCall("spread", sp.Expression)
			}
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				rewriteValue(v.Field(i))
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			rewriteValue(v.Index(i))
		}
	}
}

// rewriteExpr returns the replacement of an exec call or read, or nil.
func rewriteExpr(e ast.Expression) ast.Expression {
	switch x := e.(type) {
	case *ast.CallExpression:
		helper, callee := "exec", x.Callee
		if opt, ok := callee.(*ast.Optional); ok {
			helper, callee = "execOptional", opt.Expression // x.exec?.(…)
		}
		if obj, ok := execMember(callee); ok {
			return &ast.CallExpression{Callee: hostMember(helper, x.LeftParenthesis), LeftParenthesis: x.LeftParenthesis,
				ArgumentList: append([]ast.Expression{obj}, x.ArgumentList...), RightParenthesis: x.RightParenthesis}
		}
	case *ast.DotExpression, *ast.BracketExpression:
		if obj, ok := execMember(x); ok {
			return hostCall("execOf", obj)
		}
	}
	return nil
}

// execMember recognises x.exec and x["exec"], returning x.
func execMember(e ast.Expression) (ast.Expression, bool) {
	switch x := e.(type) {
	case *ast.DotExpression:
		if x.Identifier.Name.String() == "exec" && !isHostName(x.Left) {
			return x.Left, true
		}
	case *ast.BracketExpression:
		if s, ok := x.Member.(*ast.StringLiteral); ok && s.Value.String() == "exec" {
			return x.Left, true
		}
	}
	return nil, false
}

func isHostName(e ast.Expression) bool {
	id, ok := e.(*ast.Identifier)
	return ok && id.Name.String() == hostName
}

func hostMember(name string, at file.Idx) ast.Expression {
	return &ast.DotExpression{Left: &ast.Identifier{Name: unistring.String(hostName), Idx: at},
		Identifier: ast.Identifier{Name: unistring.String(name), Idx: at}}
}

func hostCall(name string, arg ast.Expression) ast.Expression {
	at := arg.Idx0()
	return &ast.CallExpression{Callee: hostMember(name, at), LeftParenthesis: at, ArgumentList: []ast.Expression{arg}, RightParenthesis: arg.Idx1()}
}

func isHostCall(e ast.Expression, name string) bool {
	c, ok := e.(*ast.CallExpression)
	if !ok {
		return false
	}
	d, ok := c.Callee.(*ast.DotExpression)
	return ok && isHostName(d.Left) && d.Identifier.Name.String() == name
}
