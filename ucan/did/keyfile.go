package did

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Multicodec codes of the private keys EncodePrivateKey and DecodePrivateKey handle.
const (
	CodeEd25519Priv   = 0x1300
	CodeSecp256k1Priv = 0x1301
	CodeP256Priv      = 0x1306
)

// MaxKeyFileSize bounds the size of a key file ReadKeyFile accepts.
const MaxKeyFileSize = 4096

// EncodePrivateKey renders a signer's private key as base64 (standard, padded) of
// varint(multicodec) || key bytes: 0x1300 + 32-byte seed for Ed25519 (the UCAN spec
// fixtures' format), 0x1306 / 0x1301 + 32-byte scalar for P-256 / secp256k1.
func EncodePrivateKey(s Signer) (string, error) {
	var code uint64
	var key []byte
	switch k := s.(type) {
	case *ed25519Signer:
		code, key = CodeEd25519Priv, k.priv.Seed()
	case *p256Signer:
		b, err := k.scalar()
		if err != nil {
			return "", err
		}
		code, key = CodeP256Priv, b
	case *secp256k1Signer:
		code, key = CodeSecp256k1Priv, k.priv.Serialize()
	default:
		return "", fmt.Errorf("%w: cannot export private key of %T", ErrUnsupportedKey, s)
	}
	b := binary.AppendUvarint(nil, code)
	return base64.StdEncoding.EncodeToString(append(b, key...)), nil
}

// DecodePrivateKey parses the output of EncodePrivateKey. Surrounding whitespace is ignored.
func DecodePrivateKey(s string) (Signer, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %v", ErrInvalidPrivateKey, err)
	}
	code, n := binary.Uvarint(raw)
	if n <= 0 {
		return nil, fmt.Errorf("%w: bad multicodec varint", ErrInvalidPrivateKey)
	}
	key := raw[n:]
	switch code {
	case CodeEd25519Priv:
		return Ed25519FromSeed(key)
	case CodeP256Priv:
		return P256FromScalar(key)
	case CodeSecp256k1Priv:
		return Secp256k1FromScalar(key)
	}
	return nil, fmt.Errorf("%w: private key multicodec 0x%x", ErrUnsupportedKey, code)
}

// WriteKeyFile writes s's private key (EncodePrivateKey form plus a newline) to a new file at
// path with mode 0600. It refuses to overwrite an existing file (ErrKeyFileExists).
//
// The key is durable when it returns, and a crash never leaves a partial key at path: it
// writes a temporary file next to path, fsyncs it, links it to path (which fails if path
// exists, so two processes creating the key at once agree on one), removes the temporary
// name and fsyncs the directory.
func WriteKeyFile(path string, s Signer) error {
	enc, err := EncodePrivateKey(s)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing key file %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(enc + "\n")
	}
	if err == nil {
		err = syncFile(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing key file %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrKeyFileExists, path)
		}
		return fmt.Errorf("writing key file %s: %w", path, err)
	}
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("writing key file %s: removing %s: %w", path, tmp, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("writing key file %s: syncing %s: %w", path, dir, err)
	}
	return nil
}

// syncFile and syncDir make a file and a directory entry durable; tests count the calls.
var (
	syncFile = (*os.File).Sync
	syncDir  = func(dir string) error {
		d, err := os.Open(dir)
		if err != nil {
			return err
		}
		err = syncFile(d)
		if cerr := d.Close(); err == nil {
			err = cerr
		}
		return err
	}
)

// ReadKeyFile reads a key file written by WriteKeyFile (or any file holding one
// EncodePrivateKey string).
func ReadKeyFile(path string) (Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, MaxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading key file %s: %w", path, err)
	}
	if len(buf) > MaxKeyFileSize {
		return nil, fmt.Errorf("%w: key file %s exceeds %d bytes", ErrInvalidPrivateKey, path, MaxKeyFileSize)
	}
	if len(strings.TrimSpace(string(buf))) == 0 {
		return nil, fmt.Errorf("%w: key file %s is empty (truncated, e.g. by a crash while it was written); restore it from a backup, or remove it to create a new key with a new DID", ErrInvalidPrivateKey, path)
	}
	s, err := DecodePrivateKey(string(buf))
	if err != nil {
		return nil, fmt.Errorf("key file %s (%d bytes) does not hold a key, it may be truncated: %w", path, len(buf), err)
	}
	return s, nil
}
