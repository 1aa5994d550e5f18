package client

import (
	"errors"
	"fmt"
)

var (
	// ErrNoProof is returned when the client holds no chain of delegations that lets the
	// agent invoke a command on a subject.
	ErrNoProof = errors.New("client: no delegation chain")
	// ErrInvalidPath is returned for a path that is not /<did>/<collection>[/<key>…].
	ErrInvalidPath = errors.New("client: invalid path")
	// ErrInvalidReceipt is returned when a receipt from the service does not verify: bad
	// signature, wrong issuer, or a `ran` that is not the invocation sent.
	ErrInvalidReceipt = errors.New("client: invalid receipt")
	// ErrMissingReceipt is returned when the service's reply has no receipt for an invocation.
	ErrMissingReceipt = errors.New("client: missing receipt")
	// ErrInvalidResponse is returned for a reply the client cannot decode.
	ErrInvalidResponse = errors.New("client: invalid response")
	// ErrNoSigner is returned by New without an agent key.
	ErrNoSigner = errors.New("client: no agent signer")
)

// ReceiptError is the error of an error receipt: the service ran the invocation and answered
// {error: {name, message}}. Receipt is the verified receipt carrying it.
type ReceiptError struct {
	Name    string
	Message string
	Receipt *Receipt
}

func (e *ReceiptError) Error() string {
	if e.Message == "" {
		return e.Name
	}
	return e.Name + ": " + e.Message
}

// HTTPError is a transport failure the service reported with a 4xx or 5xx status and (when it
// sent one) a JSON error body.
type HTTPError struct {
	Status  int
	Name    string
	Message string
}

func (e *HTTPError) Error() string {
	switch {
	case e.Name != "" && e.Message != "":
		return fmt.Sprintf("HTTP %d: %s: %s", e.Status, e.Name, e.Message)
	case e.Name != "":
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Name)
	case e.Message != "":
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("HTTP %d", e.Status)
}
