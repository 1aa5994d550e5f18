package piece

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// refNode is the node function straight from its definition, with
// crypto/sha256 and nothing of this package.
func refNode(msg []byte) [NodeSize]byte {
	d := sha256.Sum256(msg)
	d[NodeSize-1] &= 0x3F
	return d
}

// refLevel hashes the len(src)/64 messages of src with refNode.
func refLevel(src []byte) []byte {
	out := make([]byte, 0, len(src)/2)
	for i := 0; i+64 <= len(src); i += 64 {
		d := refNode(src[i : i+64])
		out = append(out, d[:]...)
	}
	return out
}

// nodeImpls runs f once per node function this machine has: "sha-ni" when
// the CPU has it (amd64, no purego tag), and always "portable", the hasher
// every other CPU uses.
func nodeImpls(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saved := useSHANI
	defer func() { useSHANI = saved }()
	if saved {
		t.Run("sha-ni", f)
	} else {
		t.Log("no SHA-NI node function on this machine: checking the portable one only")
	}
	useSHANI = false
	t.Run("portable", f)
}

// checkLevel hashes src with reduceLevel (in place, like the tree) and with
// hashNodesAsm into a separate buffer, and compares both with refLevel.
func checkLevel(t testing.TB, src []byte) {
	t.Helper()
	want := refLevel(src)
	n := len(src) / 64
	buf := bytes.Clone(src[:64*n])
	newHasher().reduceLevel(buf, 2*n)
	if !bytes.Equal(buf[:32*n], want) {
		t.Fatalf("reduceLevel of %d messages (sha-ni %v) differs from crypto/sha256", n, useSHANI)
	}
	if !bytes.Equal(buf[32*n:], src[32*n:64*n]) {
		t.Fatalf("reduceLevel of %d messages wrote past its output", n)
	}
	dst := make([]byte, 32*n+1)
	dst[32*n] = 0xA5
	if hashNodesAsm(dst, src) {
		if !bytes.Equal(dst[:32*n], want) || dst[32*n] != 0xA5 {
			t.Fatalf("hashNodesAsm of %d messages differs from crypto/sha256 or wrote past its output", n)
		}
	}
	for i := 0; i < n; i++ {
		h := hashPair((*[NodeSize]byte)(src[64*i:]), (*[NodeSize]byte)(src[64*i+32:]))
		if !bytes.Equal(h[:], want[32*i:32*i+32]) {
			t.Fatalf("hashPair of message %d differs from crypto/sha256", i)
		}
	}
}

// TestNodeFunction checks the node function against crypto/sha256: every
// message count from 0 to 17 (pairs and the odd one out of the two-way
// assembly), random, all-zero and all-one messages, in place and not.
func TestNodeFunction(t *testing.T) {
	nodeImpls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(8, 64))
		for n := 0; n <= 17; n++ {
			src := make([]byte, 64*n)
			for i := range src {
				src[i] = byte(r.Uint32())
			}
			checkLevel(t, src)
			checkLevel(t, make([]byte, 64*n))
			checkLevel(t, bytes.Repeat([]byte{0xFF}, 64*n))
		}
		// the zero-subtree table, each level from the one below
		for l := 1; l <= MaxHeight; l++ {
			var m [64]byte
			copy(m[:], zeroComm[l-1][:])
			copy(m[32:], zeroComm[l-1][:])
			if refNode(m[:]) != zeroComm[l] {
				t.Fatalf("zeroComm[%d] differs from crypto/sha256", l)
			}
		}
	})
}

// FuzzNodeFunction compares the node function with crypto/sha256 on
// arbitrary messages (the input cut into 64-byte messages, the rest ignored).
func FuzzNodeFunction(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Add(bytes.Repeat([]byte{0xFF}, 192))
	f.Add(vectorContent(64 * 5))
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > 64*64 {
			src = src[:64*64]
		}
		checkLevel(t, src)
		if useSHANI {
			useSHANI = false
			defer func() { useSHANI = true }()
			checkLevel(t, src)
		}
	})
}
