package hub

import (
	"encoding/binary"
	"errors"
)

// The hub reads WebSocket frames itself (RFC 6455 §5) instead of through
// gorilla's Conn, because gorilla reads with a blocking call and so needs a
// goroutine (and a bufio.Reader) per connection. Here the bytes come from
// whoever has them — the epoll reactor or a fallback read loop — and are
// parsed from a buffer that an idle connection does not hold. gorilla still
// does the handshake.
//
// Only the server side is needed: frames from a worker must be masked, and
// frames to it are not.

// Opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// Close codes (RFC 6455 §7.4.1) the hub sends.
const (
	closeNormal          = 1000
	closeGoingAway       = 1001
	closeProtocolError   = 1002
	closeNoStatus        = 1005 // never sent: "the close frame had no code"
	closePolicyViolation = 1008
	closeMessageTooBig   = 1009
	closeTryAgainLater   = 1013
)

// maxFrameHeader is the longest client frame header: 2 bytes, a 64-bit
// length and the 4-byte mask.
const maxFrameHeader = 14

// frameHeader is one parsed client frame header.
type frameHeader struct {
	fin    bool
	op     byte
	length int64 // payload bytes
	mask   [4]byte
	size   int // header bytes
}

// protoError is a violation of RFC 6455 by the peer; code is the close code
// to answer with.
type protoError struct {
	code int
	msg  string
}

func (e *protoError) Error() string { return "websocket: " + e.msg }

var errNeedMore = errors.New("incomplete frame header")

// parseFrameHeader parses the header at the start of b. It returns
// errNeedMore when b holds only part of it, and a *protoError for a header
// no conforming client sends: reserved bits (no extension is negotiated),
// unknown opcodes, an unmasked frame, a fragmented or oversized control
// frame, or a 64-bit length with its top bit set.
func parseFrameHeader(b []byte) (frameHeader, error) {
	var h frameHeader
	if len(b) < 2 {
		return h, errNeedMore
	}
	b0, b1 := b[0], b[1]
	h.fin = b0&0x80 != 0
	h.op = b0 & 0x0F
	if b0&0x70 != 0 {
		return h, &protoError{closeProtocolError, "reserved bits set"}
	}
	switch h.op {
	case opContinuation, opText, opBinary:
	case opClose, opPing, opPong:
		if !h.fin {
			return h, &protoError{closeProtocolError, "fragmented control frame"}
		}
	default:
		return h, &protoError{closeProtocolError, "unknown opcode"}
	}
	if b1&0x80 == 0 {
		return h, &protoError{closeProtocolError, "unmasked client frame"}
	}
	n := 2
	switch l := b1 & 0x7F; l {
	case 126:
		if len(b) < n+2 {
			return h, errNeedMore
		}
		h.length = int64(binary.BigEndian.Uint16(b[n:]))
		n += 2
	case 127:
		if len(b) < n+8 {
			return h, errNeedMore
		}
		v := binary.BigEndian.Uint64(b[n:])
		if v>>63 != 0 {
			return h, &protoError{closeProtocolError, "frame length overflows"}
		}
		h.length = int64(v)
		n += 8
	default:
		h.length = int64(l)
	}
	if h.op >= opClose && h.length > 125 {
		return h, &protoError{closeProtocolError, "control frame too long"}
	}
	if len(b) < n+4 {
		return h, errNeedMore
	}
	copy(h.mask[:], b[n:n+4])
	h.size = n + 4
	return h, nil
}

// unmaskCopy writes src XOR the mask into dst (len(dst) >= len(src)); the
// mask starts at key[0] because every call covers a whole frame payload.
func unmaskCopy(dst, src []byte, key [4]byte) {
	k32 := binary.LittleEndian.Uint32(key[:])
	k64 := uint64(k32) | uint64(k32)<<32
	i := 0
	for ; i+8 <= len(src); i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], binary.LittleEndian.Uint64(src[i:])^k64)
	}
	// i is a multiple of 8 (so of 4): the rest starts again at key[0].
	for j := 0; i < len(src); i, j = i+1, j+1 {
		dst[i] = src[i] ^ key[j&3]
	}
}

// appendFrameHeader appends a server frame header (FIN set, unmasked).
func appendFrameHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n <= 125:
		dst = append(dst, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return dst
}

// closePayload is a close frame's body: the code, then the reason cut to
// the 123 bytes a control frame has room for.
func closePayload(code int, reason string) []byte {
	if code == closeNoStatus {
		return nil
	}
	if len(reason) > 123 {
		reason = reason[:123]
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	return append(b, reason...)
}

// parseClosePayload reads the code of a peer's close frame (1005 when it
// has none).
func parseClosePayload(p []byte) int {
	if len(p) < 2 {
		return closeNoStatus
	}
	return int(binary.BigEndian.Uint16(p))
}
