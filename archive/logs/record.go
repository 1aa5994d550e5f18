package logs

import "encoding/json"

// The values of a line's "type".
const (
	TypeWorkflow = "workflow"
	TypeReceipt  = "receipt"
)

// Common are the fields of both kinds of line (docs/logs.md). Field order is the order
// in the file; every field is always present (null when it has no value).
type Common struct {
	// Seq is the commit sequence of the receipt (for a workflow line: of the first
	// receipt that ran the invocation).
	Seq uint64 `json:"seq"`
	// TS is that receipt's meta.ts (unix ms); Date its UTC day, the file's <YYYY-MM-DD>.
	TS   int64  `json:"ts"`
	Date string `json:"date"`
	// Message is the request message the invocation arrived in (the first by CID when
	// several), null for invocations that came in none; fixed at the invocation's first
	// export, so a resend in another message changes no line (docs/logs.md, "Which
	// message").
	Message *string `json:"message"`
	// Task is the invocation's task CID ({sub, cmd, args, nonce}).
	Task string `json:"task"`
	// Iss, Aud, Sub and Cmd are the invocation's (Aud null when absent).
	Iss string  `json:"iss"`
	Aud *string `json:"aud"`
	Sub string  `json:"sub"`
	Cmd string  `json:"cmd"`
	// Op is the file's <op>: the last segment of Cmd (Op).
	Op string `json:"op"`
	// Out is the receipt's out as DAG-JSON: {"ok": state} or {"error": {name, message}};
	// Status is the state's status ("" for none).
	Out    json.RawMessage `json:"out"`
	Status string          `json:"status"`
}

// Receipt is a line of logs/receipt/…: one commit-log record.
type Receipt struct {
	Type string `json:"type"`
	// Receipt is the receipt's CID; Ran the invocation it ran.
	Receipt string `json:"receipt"`
	Ran     string `json:"ran"`
	// Path is the entry the receipt is the new head of, and its parts (Key with the
	// fields of entries named by key and fields, Key).
	Path       string `json:"path"`
	Subject    string `json:"subject"`
	Collection string `json:"collection"`
	Key        string `json:"key"`
	Common
	// Origin is the previous receipt of the path (null for the first); Fx the invocations
	// the transition caused ([] for none).
	Origin *string  `json:"origin"`
	Fx     []string `json:"fx"`
}

// Workflow is a line of logs/workflow/…: one invocation, with its first commit-log
// record's receipt.
type Workflow struct {
	Type       string `json:"type"`
	Invocation string `json:"invocation"`
	// Receipt is the first receipt that ran the invocation.
	Receipt string `json:"receipt"`
	// Path is what the invocation is about: its args.path made absolute, else its first
	// receipt's path; Collection is the file's <collection>.
	Path       string `json:"path"`
	Subject    string `json:"subject"`
	Collection string `json:"collection"`
	Key        string `json:"key"`
	Common
	// Args are the invocation's args as DAG-JSON.
	Args json.RawMessage `json:"args"`
}
