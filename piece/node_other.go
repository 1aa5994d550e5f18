//go:build !amd64 || purego

package piece

// useSHANI is false: no assembly node function on this platform (or with the
// purego build tag).
var useSHANI = false

// hashNodesAsm reports false: the portable hasher does the work.
func hashNodesAsm(dst, src []byte) bool { return false }
