package piece

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"hash"
	"math/bits"
)

const (
	// NodeSize is the size of a tree node (and of a leaf) in bytes.
	NodeSize = 32
	// MinHeight is the height of the smallest piece: 128 padded bytes, four
	// leaves, one 127-byte chunk.
	MinHeight = 2
	// MaxHeight bounds the tree height of a piece or a deal: 32 gives a padded
	// size of 128 GiB, so every payload up to 127 GiB (and so every 64 GiB
	// payload) has a commitment. It bounds the accumulator's fixed-size stack.
	MaxHeight = 32
	// MaxPaddedSize is the padded size of a tree of MaxHeight.
	MaxPaddedSize = NodeSize << MaxHeight
	// MaxPayloadSize is the largest payload Compute accepts: the unpadded
	// capacity of a tree of MaxHeight (127·2^30 bytes).
	MaxPayloadSize = MaxPaddedSize / 128 * 127
)

// zeroComm[l] is the root of a subtree of height l whose leaves are all zero.
var zeroComm [MaxHeight + 1][NodeSize]byte

func init() {
	for l := 1; l <= MaxHeight; l++ {
		zeroComm[l] = hashPair(&zeroComm[l-1], &zeroComm[l-1])
	}
}

// hashPair is the trunc254 SHA-256 node function.
func hashPair(left, right *[NodeSize]byte) [NodeSize]byte {
	var buf [2 * NodeSize]byte
	copy(buf[:NodeSize], left[:])
	copy(buf[NodeSize:], right[:])
	var h [NodeSize]byte
	if hashNodesAsm(h[:], buf[:]) {
		return h
	}
	h = sha256.Sum256(buf[:])
	h[NodeSize-1] &= 0x3F
	return h
}

// hasher is the portable node function, used where hashNodesAsm is not (CPUs
// without SHA-NI, other architectures, the purego build tag). It hashes
// 64-byte messages faster than sha256.Sum256: it writes the
// message and its (constant) SHA-256 padding block in one Write, so the
// compression function runs once over two blocks instead of twice, and reads
// the resulting state, which is then the digest, from the digest's binary
// encoding ("sha\x03" ‖ 8 big-endian state words ‖ …). useStateTrick is false
// if that encoding ever differs from what init checks, and hasher then falls
// back to sha256.Sum256.
//
// Workers hash in parallel with one hasher each, and every hash writes the
// message buffer, the state encoding and the digest's state: those must not
// share a cache line with another worker's (with them adjacent, two workers
// ran at barely 1× on 2 cores). The buffers are padded inside the struct, and
// newHasher allocates a spare (never written) digest right after the one it
// uses, so that two hashers' working digests are never neighbours.
type hasher struct {
	_     [64]byte
	msg   [128]byte
	st    [128]byte
	_     [64]byte
	d     hash.Hash
	spare hash.Hash // never used: keeps the next digest allocated away from d
}

// sha256Pad64 is the padding block of a 64-byte SHA-256 message: 0x80, zeros,
// the bit length 512 big-endian.
var sha256Pad64 = [64]byte{0: 0x80, 62: 0x02}

var useStateTrick = func() bool {
	h := newHasher()
	var in [64]byte
	for i := range in {
		in[i] = byte(i * 7)
	}
	want := sha256.Sum256(in[:])
	got, ok := h.sum64(in[:])
	return ok && bytes.Equal(got, want[:])
}()

func newHasher() *hasher {
	h := &hasher{d: sha256.New()}
	h.spare = sha256.New()
	copy(h.msg[64:], sha256Pad64[:])
	return h
}

// sum64 returns SHA-256(msg) for a 64-byte msg through the state encoding;
// ok is false when the encoding is not the one expected.
func (h *hasher) sum64(msg []byte) ([]byte, bool) {
	copy(h.msg[:64], msg)
	h.d.Reset()
	h.d.Write(h.msg[:])
	ba, ok := h.d.(encoding.BinaryAppender)
	if !ok {
		return nil, false
	}
	st, err := ba.AppendBinary(h.st[:0])
	if err != nil || len(st) < 4+NodeSize || string(st[:4]) != "sha\x03" {
		return nil, false
	}
	return st[4 : 4+NodeSize], true
}

// reduceLevel hashes the n nodes in buf pairwise in place (node i of the
// next level lands at buf[32i:]); n must be even. It uses the SHA-NI
// assembly where the CPU has it (hashNodesAsm), else the hasher.
func (h *hasher) reduceLevel(buf []byte, n int) {
	if hashNodesAsm(buf, buf[:NodeSize*n]) {
		return
	}
	if !useStateTrick {
		for i := 0; i < n/2; i++ {
			d := sha256.Sum256(buf[64*i : 64*i+64])
			d[NodeSize-1] &= 0x3F
			copy(buf[NodeSize*i:], d[:])
		}
		return
	}
	for i := 0; i < n/2; i++ {
		d, _ := h.sum64(buf[64*i : 64*i+64])
		copy(buf[NodeSize*i:], d)
		buf[NodeSize*i+NodeSize-1] &= 0x3F
	}
}

// rootOfLeaves returns the root of a subtree of the given height whose first
// len(buf)/32 leaves are buf and whose other leaves are zero. buf is
// overwritten. len(buf)/32 must not exceed 2^height.
func (h *hasher) rootOfLeaves(buf []byte, height int) [NodeSize]byte {
	n := len(buf) / NodeSize
	if n == 0 {
		return zeroComm[height]
	}
	for l := 0; l < height; l++ {
		even := n &^ 1
		h.reduceLevel(buf, even)
		if n&1 == 1 {
			var last [NodeSize]byte
			copy(last[:], buf[NodeSize*(n-1):])
			p := hashPair(&last, &zeroComm[l])
			copy(buf[NodeSize*(even/2):], p[:])
		}
		n = (n + 1) / 2
	}
	var root [NodeSize]byte
	copy(root[:], buf[:NodeSize])
	return root
}

// stack accumulates subtree roots left to right (each aligned to its own
// size) and folds them into their parents as soon as both children are known:
// at most one pending node per level, so O(height) memory.
type stack struct {
	pending [MaxHeight + 1][NodeSize]byte
	has     [MaxHeight + 1]bool
}

// push adds the root of the next subtree, of height level.
func (s *stack) push(level int, node [NodeSize]byte) {
	for level < MaxHeight && s.has[level] {
		node = hashPair(&s.pending[level], &node)
		s.has[level] = false
		level++
	}
	s.pending[level] = node
	s.has[level] = true
}

// finish pads everything pushed so far with zero subtrees on the right up to
// a tree of the given height and returns its root.
func (s *stack) finish(height int) [NodeSize]byte {
	for l := 0; l < height; l++ {
		if s.has[l] {
			s.has[l] = false
			s.push(l+1, hashPair(&s.pending[l], &zeroComm[l]))
		}
	}
	if !s.has[height] {
		return zeroComm[height]
	}
	return s.pending[height]
}

// log2 returns log2(x) for a power of two x.
func log2(x uint64) int { return bits.TrailingZeros64(x) }

// isPow2 reports whether x is a power of two.
func isPow2(x uint64) bool { return x != 0 && x&(x-1) == 0 }
