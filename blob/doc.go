// Package blob defines the byte-storage interface w3dag keeps CAR files and archived agent
// messages behind. Backends live in sub-packages named after their technology (blob/fs,
// blob/s3, blob/mem); blob/blobtest is the contract suite every backend must pass.
//
// Keys are slash-separated names chosen by w3dag (for example
// "carpark/<cid>/<cid>.car"), never file paths supplied by users: ValidKey says which
// keys are acceptable.
//
// This package imports nothing of w3dag's own.
package blob
