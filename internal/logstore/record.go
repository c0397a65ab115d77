package logstore

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"time"
	"unicode/utf8"
)

// A record is one line, framed so the file can be read both ways:
//
//	n     uint32 LE  length of body
//	body  n bytes    at (int64 LE, Unix ms) | stream length (1 byte) | stream | msg
//	crc   uint32 LE  CRC-32C of body
//	n     uint32 LE  length of body again
//
// The leading length lets a reader walk forward from a known record (a
// resumed cursor), the trailing one lets it walk back from the end (the
// last N lines), and the checksum tells a whole record from the torn
// remains of a write a crash cut short.
const (
	recOverhead = 12       // two lengths and the checksum
	minBody     = 8 + 1    // time and stream length
	maxStream   = 32       // longer stream names are cut (workers send stdout or stderr)
	maxMsg      = 1 << 20  // longer messages are cut (a worker's whole message is at most 256 KiB)
	maxBody     = 64 << 20 // anything longer is not a record: corruption
	stdoutName  = "stdout" // the stream of a line that names none
	readWindow  = 64 << 10 // the first read of a forward or backward walk
	maxRecLen   = maxBody + recOverhead
	replacement = "\uFFFD"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks bytes that are not a whole record.
var errCorrupt = errors.New("logstore: corrupt record")

// cleanText replaces NUL bytes and invalid UTF-8 with U+FFFD, as the
// database store did (PostgreSQL TEXT holds neither), so the API answers
// the same as before.
func cleanText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", replacement)
	}
	return strings.ToValidUTF8(s, replacement)
}

// normalize fills a line's defaults and cleans its text, as stored.
func normalize(l *Line, now time.Time) {
	if l.At.IsZero() {
		l.At = now
	}
	if l.Stream == "" {
		l.Stream = stdoutName
	}
	if len(l.Stream) > maxStream {
		l.Stream = l.Stream[:maxStream]
	}
	l.Stream = cleanText(l.Stream)
	if len(l.Msg) > maxMsg {
		l.Msg = l.Msg[:maxMsg]
	}
	l.Msg = cleanText(l.Msg)
}

// appendRecord appends l, normalised, as one record.
func appendRecord(buf []byte, l *Line) []byte {
	n := minBody + len(l.Stream) + len(l.Msg)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
	start := len(buf)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(l.At.UnixMilli()))
	buf = append(buf, byte(len(l.Stream)))
	buf = append(buf, l.Stream...)
	buf = append(buf, l.Msg...)
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf[start:], castagnoli))
	return binary.LittleEndian.AppendUint32(buf, uint32(n))
}

// recordLen returns the length of the record that starts b, from its
// leading length alone, or errCorrupt when that length is impossible.
func recordLen(b []byte) (int, error) {
	if len(b) < 4 {
		return recOverhead + minBody, nil // need more to tell
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < minBody || n > maxBody {
		return 0, errCorrupt
	}
	return n + recOverhead, nil
}

// parseRecord decodes the record that fills b exactly.
func parseRecord(b []byte) (Line, error) {
	if len(b) < recOverhead+minBody {
		return Line{}, errCorrupt
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n+recOverhead != len(b) || int(binary.LittleEndian.Uint32(b[len(b)-4:])) != n {
		return Line{}, errCorrupt
	}
	body := b[4 : 4+n]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4+n:]) {
		return Line{}, errCorrupt
	}
	sl := int(body[8])
	if minBody+sl > n {
		return Line{}, errCorrupt
	}
	return Line{
		At:     time.UnixMilli(int64(binary.LittleEndian.Uint64(body))).UTC(),
		Stream: string(body[minBody : minBody+sl]),
		Msg:    string(body[minBody+sl:]),
	}, nil
}
