//go:build amd64 && !purego

package piece

//go:generate go run gen_node_amd64.go

// hashNodesSHANI writes trunc254(SHA-256(src[64i:64i+64])) to dst[32i:] for
// i < n, with the SHA-NI instructions: each message is compressed from the IV
// and followed by its padding block, whose message schedule is precomputed,
// two messages at a time. dst may be src (a tree level reduced in place).
//
//go:noescape
func hashNodesSHANI(dst, src *byte, n int)

// cpuid executes the CPUID instruction.
func cpuid(leaf, sub uint32) (a, b, c, d uint32)

// haveSHANI reports whether the CPU has the instructions hashNodesSHANI
// uses: SHA (CPUID.7.0:EBX bit 29), SSSE3 (CPUID.1:ECX bit 9) and SSE4.1
// (CPUID.1:ECX bit 19). SSE2 is part of amd64.
func haveSHANI() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	_, ebx7, _, _ := cpuid(7, 0)
	return ecx1&(1<<9) != 0 && ecx1&(1<<19) != 0 && ebx7&(1<<29) != 0
}

// useSHANI selects hashNodesSHANI; tests turn it off to check the portable
// path on the same machine.
var useSHANI = haveSHANI()

// hashNodesAsm hashes the len(src)/64 messages of src into dst (see
// hashNodesSHANI) and reports true, or reports false without touching dst
// when this CPU lacks SHA-NI.
func hashNodesAsm(dst, src []byte) bool {
	if !useSHANI {
		return false
	}
	n := len(src) / 64
	if n == 0 {
		return true
	}
	_ = dst[NodeSize*n-1] // bounds check before the assembly writes
	hashNodesSHANI(&dst[0], &src[0], n)
	return true
}
