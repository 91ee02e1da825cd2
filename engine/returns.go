package engine

import (
	"fmt"
	"slices"

	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/parser"

	"github.com/flowbot/flowbot/flows"
)

// returnsPrefix wraps a script in a function, as the host runs it, so
// that a top-level `return` parses.
const returnsPrefix = "(function(){"

// scriptReturnLints reports each `return "state"` of st's script (a
// string literal returned by the script itself, not by a function inside
// it) whose state the state's `next` does not list: at run time it takes
// the error path. A script that does not parse is reported elsewhere.
func scriptReturnLints(st *flows.State) flows.Lints {
	sc := st.Script
	prog, err := parser.ParseFile(nil, "", returnsPrefix+sc.Source+"\n})", 0)
	if err != nil || len(prog.Body) != 1 {
		return nil
	}
	es, ok := prog.Body[0].(*ast.ExpressionStatement)
	if !ok {
		return nil
	}
	fn, ok := es.Expression.(*ast.FunctionLiteral)
	if !ok || fn.Body == nil {
		return nil
	}
	var listed []string
	for _, b := range st.Next {
		listed = append(listed, b.Goto.State)
	}
	var out flows.Lints
	for lit := range literalReturns(fn.Body.List) {
		target := lit.Value.String()
		if slices.Contains(listed, target) {
			continue
		}
		pos := flows.Pos{Line: st.Pos.Line, Column: st.Pos.Column}
		file := sc.File
		if off := int(lit.Idx) - 1 - len(returnsPrefix); off >= 0 && off <= len(sc.Source) {
			pos = sc.PosOf(off)
		}
		hint := "add it to the state's `next`"
		if len(listed) == 0 {
			hint = "give the state a `next` that lists it"
		}
		out = append(out, flows.Lint{File: file, Line: pos.Line, Column: pos.Column, Level: flows.Error,
			What: fmt.Sprintf("the script of state %q returns %q, which its `next` does not list; %s (a script may only pick one of them)%s",
				st.Name, target, hint, flows.DidYouMean(target, listed))})
	}
	return out
}

// literalReturns yields the string literals that statements return,
// without entering functions defined inside them.
func literalReturns(list []ast.Statement) func(func(*ast.StringLiteral) bool) {
	return func(yield func(*ast.StringLiteral) bool) {
		var stmt func(s ast.Statement) bool
		var expr func(e ast.Expression) bool
		expr = func(e ast.Expression) bool {
			switch x := e.(type) {
			case *ast.StringLiteral:
				return yield(x)
			case *ast.ConditionalExpression:
				return expr(x.Consequent) && expr(x.Alternate)
			}
			return true
		}
		all := func(l []ast.Statement) bool {
			for _, s := range l {
				if !stmt(s) {
					return false
				}
			}
			return true
		}
		stmt = func(s ast.Statement) bool {
			switch x := s.(type) {
			case *ast.ReturnStatement:
				return expr(x.Argument)
			case *ast.BlockStatement:
				return all(x.List)
			case *ast.IfStatement:
				return stmt(x.Consequent) && (x.Alternate == nil || stmt(x.Alternate))
			case *ast.ForStatement:
				return stmt(x.Body)
			case *ast.ForInStatement:
				return stmt(x.Body)
			case *ast.ForOfStatement:
				return stmt(x.Body)
			case *ast.WhileStatement:
				return stmt(x.Body)
			case *ast.DoWhileStatement:
				return stmt(x.Body)
			case *ast.LabelledStatement:
				return stmt(x.Statement)
			case *ast.WithStatement:
				return stmt(x.Body)
			case *ast.SwitchStatement:
				for _, c := range x.Body {
					if !all(c.Consequent) {
						return false
					}
				}
			case *ast.TryStatement:
				return stmt(x.Body) && (x.Catch == nil || stmt(x.Catch.Body)) && (x.Finally == nil || stmt(x.Finally))
			}
			return true
		}
		all(list)
	}
}
