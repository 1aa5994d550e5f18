package ops

import (
	"errors"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/ucan"
)

// Receipt error names given here (UCAN validation names come from package ucan, operation
// names from package dag).
const (
	// NameUnknownCommand: the invocation's command is not one of the four.
	NameUnknownCommand = "UnknownCommand"
	// NameInvalidArgs: the arguments do not decode (missing or mistyped fields).
	NameInvalidArgs = "InvalidArgs"
	// NameBudgetExceeded: the message carrying the invocation spent one of its limits
	// (the message names which: LimitMessageWork, LimitMessageProofs).
	NameBudgetExceeded = "BudgetExceeded"
	// NameInternal is the name of failures that have no other (never in a receipt the
	// engine stores; used only for metrics).
	NameInternal = "InternalError"
)

var (
	// ErrUnknownCommand fails invocations of commands other than the four.
	ErrUnknownCommand = &dag.Error{Name: NameUnknownCommand, Message: "unknown command"}
	// ErrInvalidArgs fails invocations whose arguments do not decode.
	ErrInvalidArgs = &dag.Error{Name: NameInvalidArgs, Message: "invalid arguments"}
	// ErrBudgetExceeded refuses invocations once their message spent a limit of its Budget.
	ErrBudgetExceeded = &dag.Error{Name: NameBudgetExceeded, Message: "message work budget exceeded"}
	// ErrConfig is returned by New for unusable options.
	ErrConfig = errors.New("ops: invalid options")
)

// ErrorName is the receipt error name of err: the Name of a *ucan.Error (validation) or a
// *dag.Error (operation) in its chain, NameInternal otherwise.
func ErrorName(err error) string {
	var ue *ucan.Error
	if errors.As(err, &ue) {
		return ue.Name
	}
	if name := dag.ErrorName(err); name != "" {
		return name
	}
	return NameInternal
}
