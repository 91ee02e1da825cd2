// Package flows reads flow files written in YAML, checks them and compiles
// them into immutable Flow graphs.
//
// A flow is a set of named states. Each state may say messages, ask a
// question, offer a choice, run platform actions and move on to another
// state. Parsing walks the yaml.Node tree so that every problem is reported
// with its position as "file:line:col: message", together with a hint.
//
// The package knows YAML and nothing else: no HTTP, no scripts, no clock.
// The only outside input it reads is the flow files themselves and the
// environment lookup given in Options (for ${env.NAME} references).
package flows
