package piece

import "encoding/binary"

const (
	// chunkSize is one Fr32 input chunk: 127 bytes, four 254-bit fields.
	chunkSize = 127
	// expandedChunkSize is what a chunk expands to: four 32-byte leaves.
	expandedChunkSize = 128
)

// fr32Expand expands in (a multiple of 127 bytes) into out (len(in)/127*128
// bytes): each 127-byte chunk, read as an LSB-first bitstream, becomes four
// 254-bit fields in 32-byte little-endian slots whose top two bits are zero.
func fr32Expand(out, in []byte) {
	le := binary.LittleEndian
	for c := 0; c+chunkSize <= len(in); c += chunkSize {
		i := in[c : c+chunkSize : c+chunkSize]
		o := out[c/chunkSize*expandedChunkSize:][:expandedChunkSize:expandedChunkSize]
		// field 0: stream bits 0..253 are bytes 0..31 as they are.
		copy(o[0:32], i[0:32])
		o[31] &= 0x3F
		// field 1: bits 254..507, i.e. shifted right by 6 from byte 31.
		for j := 0; j < 32; j += 8 {
			le.PutUint64(o[32+j:], le.Uint64(i[31+j:])>>6|uint64(i[39+j])<<58)
		}
		o[63] &= 0x3F
		// field 2: bits 508..761, shifted right by 4 from byte 63.
		for j := 0; j < 32; j += 8 {
			le.PutUint64(o[64+j:], le.Uint64(i[63+j:])>>4|uint64(i[71+j])<<60)
		}
		o[95] &= 0x3F
		// field 3: bits 762..1015, shifted right by 2 from byte 95.
		for j := 0; j < 24; j += 8 {
			le.PutUint64(o[96+j:], le.Uint64(i[95+j:])>>2|uint64(i[103+j])<<62)
		}
		le.PutUint64(o[120:], le.Uint64(i[119:])>>2)
	}
}

// fr32Unpad is the inverse of fr32Expand: out (len(in)/128*127 bytes) gets
// the 127-byte chunks whose expansion is in. The top two bits of every slot of
// in are ignored.
func fr32Unpad(out, in []byte) {
	for c := 0; c+expandedChunkSize <= len(in); c += expandedChunkSize {
		o := in[c : c+expandedChunkSize : c+expandedChunkSize]
		i := out[c/expandedChunkSize*chunkSize:][:chunkSize:chunkSize]
		copy(i[0:31], o[0:31])
		i[31] = o[31]&0x3F | o[32]<<6
		for j := 32; j < 63; j++ {
			i[j] = o[j]>>2 | o[j+1]<<6
		}
		i[63] = (o[63]>>2)&0x0F | o[64]<<4
		for j := 64; j < 95; j++ {
			i[j] = o[j]>>4 | o[j+1]<<4
		}
		i[95] = (o[95]>>4)&0x03 | o[96]<<2
		for j := 96; j < 127; j++ {
			i[j] = o[j]>>6 | o[j+1]<<2
		}
	}
}
