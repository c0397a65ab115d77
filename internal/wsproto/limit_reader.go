package wsproto

import (
	"bytes"
	"io"
)

// newLimitReader bounds how much of b a decoder may read, so a payload can
// never make Decode consume more than max bytes whatever its caller passed.
func newLimitReader(b []byte, max int64) io.Reader {
	return io.LimitReader(bytes.NewReader(b), max)
}
