package wsproto

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// Parse applies the first two receiver checks of protocol.md §2 to one
// message: size, then a strict decode. Strict means: exactly one JSON object
// with each of t, i, s, ts, p, h once and nothing else; t a string, i 32 and
// h 64 lowercase hex digits; s an unsigned and ts a signed 64-bit integer
// written as plain digits; p any JSON value, kept byte for byte (it aliases
// data, so the caller must not reuse data while the envelope is alive).
// Invalid UTF-8, control characters in strings, trailing bytes and nesting
// deeper than maxDepth are errors. Parse never panics on any input.
func Parse(data []byte) (*Envelope, error) {
	e := new(Envelope)
	if err := parseInto(e, data); err != nil {
		return nil, err
	}
	return e, nil
}

// maxDepth bounds nesting inside p so a hostile message cannot exhaust the
// stack of the validator.
const maxDepth = 512

const (
	keyT = 1 << iota
	keyI
	keyS
	keyTS
	keyP
	keyH
	allKeys = keyT | keyI | keyS | keyTS | keyP | keyH
)

type scanner struct {
	data    []byte
	pos     int
	scratch []byte // reused by hand-written decoders to unescape strings
}

func (s *scanner) fail(format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d", ErrDecode, fmt.Sprintf(format, args...), s.pos)
}

func parseInto(e *Envelope, data []byte) error {
	if len(data) > MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	s := scanner{data: data}
	s.skipWS()
	if !s.consume('{') {
		return s.fail("expected '{'")
	}
	seen := 0
	for {
		s.skipWS()
		key, err := s.readString()
		if err != nil {
			return err
		}
		bit := 0
		switch string(key) { // no allocation: the compiler special-cases this
		case "t":
			bit = keyT
		case "i":
			bit = keyI
		case "s":
			bit = keyS
		case "ts":
			bit = keyTS
		case "p":
			bit = keyP
		case "h":
			bit = keyH
		default:
			return s.fail("unknown key %q", key)
		}
		if seen&bit != 0 {
			return s.fail("duplicate key %q", key)
		}
		seen |= bit
		s.skipWS()
		if !s.consume(':') {
			return s.fail("expected ':'")
		}
		s.skipWS()
		switch bit {
		case keyT:
			v, err := s.readString()
			if err != nil {
				return err
			}
			if len(v) == 0 {
				return s.fail("empty type")
			}
			e.Type = string(v)
		case keyI:
			v, err := s.readString()
			if err != nil {
				return err
			}
			if !isLowerHex(v, 32) {
				return s.fail("id is not 32 lowercase hex digits")
			}
			e.ID = string(v)
		case keyH:
			v, err := s.readString()
			if err != nil {
				return err
			}
			if !isLowerHex(v, 64) {
				return s.fail("hmac is not 64 lowercase hex digits")
			}
			e.HMAC = string(v)
		case keyS:
			v, err := s.readUint()
			if err != nil {
				return err
			}
			e.Seq = v
		case keyTS:
			v, err := s.readInt()
			if err != nil {
				return err
			}
			e.TS = v
		case keyP:
			start := s.pos
			if err := s.skipValue(0); err != nil {
				return err
			}
			e.Payload = data[start:s.pos:s.pos]
		}
		s.skipWS()
		if s.consume(',') {
			continue
		}
		if s.consume('}') {
			break
		}
		return s.fail("expected ',' or '}'")
	}
	s.skipWS()
	if s.pos != len(data) {
		return s.fail("trailing data after envelope")
	}
	if seen != allKeys {
		return s.fail("missing key(s) %s", missingKeys(seen))
	}
	return nil
}

func missingKeys(seen int) string {
	names := [...]string{"t", "i", "s", "ts", "p", "h"}
	out := ""
	for i, n := range names {
		if seen&(1<<i) == 0 {
			if out != "" {
				out += ","
			}
			out += n
		}
	}
	return out
}

func isLowerHex(b []byte, n int) bool {
	if len(b) != n {
		return false
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func (s *scanner) skipWS() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) consume(c byte) bool {
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

// readUint reads a JSON integer without sign, fraction or exponent that fits
// in 64 bits.
func (s *scanner) readUint() (uint64, error) {
	start := s.pos
	var v uint64
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		d := uint64(s.data[s.pos] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, s.fail("integer overflows 64 bits")
		}
		v = v*10 + d
		s.pos++
	}
	n := s.pos - start
	switch {
	case n == 0:
		return 0, s.fail("expected an unsigned integer")
	case n > 1 && s.data[start] == '0':
		return 0, s.fail("leading zero in integer")
	}
	if s.pos < len(s.data) {
		switch s.data[s.pos] {
		case '.', 'e', 'E', '-', '+':
			return 0, s.fail("expected a plain integer")
		}
	}
	return v, nil
}

// readInt reads a JSON integer that fits in int64.
func (s *scanner) readInt() (int64, error) {
	neg := s.consume('-')
	u, err := s.readUint()
	if err != nil {
		return 0, err
	}
	if neg {
		if u > 1<<63 {
			return 0, s.fail("integer overflows int64")
		}
		return -int64(u-1) - 1, nil
	}
	if u > 1<<63-1 {
		return 0, s.fail("integer overflows int64")
	}
	return int64(u), nil
}

// strSafe marks bytes that need no attention inside a string: printable
// ASCII other than '"' and '\\'.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// readString reads a JSON string and returns its decoded bytes. Without
// escapes the result aliases the input; with escapes it is a new slice.
func (s *scanner) readString() ([]byte, error) {
	if !s.consume('"') {
		return nil, s.fail("expected a string")
	}
	start := s.pos
	if err := s.scanStringBody(); err != nil {
		return nil, err
	}
	raw := s.data[start : s.pos-1]
	for _, c := range raw {
		if c == '\\' {
			return unescape(raw), nil
		}
	}
	return raw, nil
}

// scanStringBody validates a string's body after its opening quote and
// leaves pos after the closing quote.
func (s *scanner) scanStringBody() error {
	d := s.data
	for {
		i := s.pos
		for i < len(d) && strSafe[d[i]] {
			i++
		}
		s.pos = i
		if i >= len(d) {
			return s.fail("unterminated string")
		}
		switch c := d[i]; {
		case c == '"':
			s.pos++
			return nil
		case c == '\\':
			if err := s.scanEscape(); err != nil {
				return err
			}
		case c < 0x20:
			return s.fail("control character in string")
		default: // non-ASCII: must be valid UTF-8
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size <= 1 {
				return s.fail("invalid UTF-8 in string")
			}
			s.pos += size
		}
	}
}

func (s *scanner) scanEscape() error {
	d := s.data
	if s.pos+1 >= len(d) {
		return s.fail("unterminated escape")
	}
	switch d[s.pos+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos += 2
		return nil
	case 'u':
		if s.pos+6 > len(d) {
			return s.fail("short \\u escape")
		}
		for _, c := range d[s.pos+2 : s.pos+6] {
			if unhex(c) < 0 {
				return s.fail("bad \\u escape")
			}
		}
		s.pos += 6
		return nil
	}
	return s.fail("bad escape")
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

func hex4(b []byte) rune {
	return rune(unhex(b[0])<<12 | unhex(b[1])<<8 | unhex(b[2])<<4 | unhex(b[3]))
}

// unescape decodes an already validated string body.
func unescape(raw []byte) []byte {
	return appendUnescaped(make([]byte, 0, len(raw)), raw)
}

// appendUnescaped appends the decoded form of an already validated string
// body to dst. Lone surrogates become U+FFFD, as in encoding/json.
func appendUnescaped(dst, raw []byte) []byte {
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\\')
		if i < 0 {
			return append(dst, raw...)
		}
		dst = append(dst, raw[:i]...)
		raw = raw[i:]
		switch raw[1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[2:6])
			raw = raw[6:]
			if utf16.IsSurrogate(r) {
				if len(raw) >= 6 && raw[0] == '\\' && raw[1] == 'u' {
					if r2 := utf16.DecodeRune(r, hex4(raw[2:6])); r2 != utf8.RuneError {
						dst = utf8.AppendRune(dst, r2)
						raw = raw[6:]
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[1])
		}
		raw = raw[2:]
	}
	return dst
}

var errTooDeep = errors.New("nesting too deep")

// skipValue validates one JSON value and leaves pos after it.
func (s *scanner) skipValue(depth int) error {
	if s.pos >= len(s.data) {
		return s.fail("unexpected end of input")
	}
	switch c := s.data[s.pos]; c {
	case '{':
		if depth >= maxDepth {
			return s.fail("%v", errTooDeep)
		}
		s.pos++
		s.skipWS()
		if s.consume('}') {
			return nil
		}
		for {
			if !s.consume('"') {
				return s.fail("expected a string key")
			}
			if err := s.scanStringBody(); err != nil {
				return err
			}
			s.skipWS()
			if !s.consume(':') {
				return s.fail("expected ':'")
			}
			s.skipWS()
			if err := s.skipValue(depth + 1); err != nil {
				return err
			}
			s.skipWS()
			if s.consume('}') {
				return nil
			}
			if !s.consume(',') {
				return s.fail("expected ',' or '}'")
			}
			s.skipWS()
		}
	case '[':
		if depth >= maxDepth {
			return s.fail("%v", errTooDeep)
		}
		s.pos++
		s.skipWS()
		if s.consume(']') {
			return nil
		}
		for {
			if err := s.skipValue(depth + 1); err != nil {
				return err
			}
			s.skipWS()
			if s.consume(']') {
				return nil
			}
			if !s.consume(',') {
				return s.fail("expected ',' or ']'")
			}
			s.skipWS()
		}
	case '"':
		s.pos++
		return s.scanStringBody()
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return s.skipNumber()
		}
		return s.fail("unexpected character %q", c)
	}
}

func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.fail("invalid literal")
	}
	s.pos += len(lit)
	return nil
}

// skipNumber validates the JSON number grammar:
// -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
func (s *scanner) skipNumber() error {
	d := s.data
	s.consume('-')
	digits := func() int {
		n := 0
		for s.pos < len(d) && '0' <= d[s.pos] && d[s.pos] <= '9' {
			s.pos++
			n++
		}
		return n
	}
	start := s.pos
	n := digits()
	if n == 0 {
		return s.fail("invalid number")
	}
	if n > 1 && d[start] == '0' {
		return s.fail("leading zero in number")
	}
	if s.consume('.') && digits() == 0 {
		return s.fail("invalid number fraction")
	}
	if s.consume('e') || s.consume('E') {
		if !s.consume('+') {
			s.consume('-')
		}
		if digits() == 0 {
			return s.fail("invalid number exponent")
		}
	}
	return nil
}
