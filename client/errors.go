package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/receipts"
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

// WrongServiceError is returned when a receipt is signed by another DID than the service DID
// the client checks receipts against (Options.ServiceDID, or the DID fetched once from the
// service). It is an ErrInvalidReceipt and a receipts.ErrWrongIssuer for errors.Is. A service
// that was replaced by one with a new key at the same URL shows up as this error.
type WrongServiceError struct {
	// URL is the service's base URL.
	URL string
	// Receipt is the CID of the receipt refused.
	Receipt cid.Cid
	// Service is the DID the client expected.
	Service string
	// Issuer is the DID that signed the receipt.
	Issuer string
}

func (e *WrongServiceError) Error() string {
	from := ""
	if e.URL != "" {
		from = " from " + e.URL
	}
	return fmt.Sprintf("client: receipt %s%s is signed by %s, not by the service %s", e.Receipt, from, e.Issuer, e.Service)
}

// Unwrap lets errors.Is match ErrInvalidReceipt and receipts.ErrWrongIssuer.
func (e *WrongServiceError) Unwrap() []error {
	return []error{ErrInvalidReceipt, receipts.ErrWrongIssuer}
}

// UnreachableError is returned when a request got no HTTP reply because the service could
// not be reached: the connection was refused, the host name did not resolve, or the dial
// failed otherwise. Err is the transport's error. The client wraps it with what it was
// doing ("client: POST /ucan: cannot reach http://…: connection refused").
type UnreachableError struct {
	// URL is the service's base URL.
	URL string
	// Err is the error of the HTTP transport.
	Err error
}

func (e *UnreachableError) Error() string {
	return "cannot reach " + e.URL + ": " + e.Cause()
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Cause says in a few words why the service could not be reached: "connection refused",
// "no such host example.invalid", "i/o timeout", ….
func (e *UnreachableError) Cause() string {
	var errno syscall.Errno
	if errors.As(e.Err, &errno) {
		return errno.Error()
	}
	var dns *net.DNSError
	if errors.As(e.Err, &dns) {
		if dns.IsNotFound {
			return "no such host " + dns.Name
		}
		return dns.Err
	}
	var op *net.OpError
	if errors.As(e.Err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return e.Err.Error()
}

// unreachable returns err as an *UnreachableError when it says the service at base could not
// be reached (a failed dial or name lookup), and err unchanged otherwise (including when
// the request was cancelled).
func unreachable(base string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var op *net.OpError
	var dns *net.DNSError
	if (errors.As(err, &op) && op.Op == "dial") || errors.As(err, &dns) {
		return &UnreachableError{URL: base, Err: err}
	}
	return err
}
