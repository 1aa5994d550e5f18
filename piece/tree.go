package piece

import (
	"crypto/sha256"
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
	h := sha256.Sum256(buf[:])
	h[NodeSize-1] &= 0x3F
	return h
}

// reduceLevel hashes the n nodes in buf pairwise in place (node i of the
// next level lands at buf[32i:]); n must be even.
func reduceLevel(buf []byte, n int) {
	for i := 0; i < n/2; i++ {
		h := sha256.Sum256(buf[64*i : 64*i+64])
		h[NodeSize-1] &= 0x3F
		copy(buf[NodeSize*i:], h[:])
	}
}

// rootOfLeaves returns the root of a subtree of the given height whose first
// len(buf)/32 leaves are buf and whose other leaves are zero. buf is
// overwritten. len(buf)/32 must not exceed 2^height.
func rootOfLeaves(buf []byte, height int) [NodeSize]byte {
	n := len(buf) / NodeSize
	if n == 0 {
		return zeroComm[height]
	}
	for l := 0; l < height; l++ {
		even := n &^ 1
		reduceLevel(buf, even)
		if n&1 == 1 {
			var last [NodeSize]byte
			copy(last[:], buf[NodeSize*(n-1):])
			h := hashPair(&last, &zeroComm[l])
			copy(buf[NodeSize*(even/2):], h[:])
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
