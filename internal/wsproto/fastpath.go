package wsproto

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// Runtime log batches are the most frequent large message (every worker
// sends one every few seconds), so RuntimeLogPayload has a hand-written
// encoder and decoder. They follow json v2's rules exactly for this type,
// with one deliberate difference on encode (invalid UTF-8 in a log line is
// replaced, not refused). FuzzRuntimeLogDecode and TestRuntimeLogEncodeMatches
// hold them to that. BENCHMARKS.md has the figures that justify the code.

// payloadDecoder is a payload type with its own strict decoder.
type payloadDecoder interface {
	decodePayload(data []byte) error
}

// payloadAppender is a payload type with its own encoder.
type payloadAppender interface {
	appendPayload(dst []byte) ([]byte, error)
}

// decodePayload accepts what json v2 accepts for RuntimeLogPayload with
// RejectUnknownMembers: one object with at most one "lines" (null or an
// array of null or objects with app_id, stream, at, msg, each at most once,
// each a string or null; "at" an RFC 3339 time). Strings without escapes
// share one copy of data instead of allocating one each.
func (p *RuntimeLogPayload) decodePayload(data []byte) error {
	shared := string(data)
	s := scanner{data: data}
	s.skipWS()
	if s.isNull() {
		return s.end()
	}
	if !s.consume('{') {
		return s.fail("payload is not an object")
	}
	seenLines := false
	err := s.members(func(key []byte) error {
		if string(key) != "lines" {
			return s.fail("unknown field %q", key)
		}
		if seenLines {
			return s.fail("duplicate field %q", key)
		}
		seenLines = true
		if s.isNull() {
			p.Lines = nil
			return nil
		}
		if !s.consume('[') {
			return s.fail("lines is not an array")
		}
		p.Lines = make([]RuntimeLogLine, 0, 8) // "[]" decodes to empty, not nil, as in v2
		return s.elements(func() error {
			var l RuntimeLogLine
			if err := l.decode(&s, shared); err != nil {
				return err
			}
			p.Lines = append(p.Lines, l)
			return nil
		})
	})
	if err != nil {
		return err
	}
	return s.end()
}

func (l *RuntimeLogLine) decode(s *scanner, shared string) error {
	if s.isNull() {
		return nil
	}
	if !s.consume('{') {
		return s.fail("log line is not an object")
	}
	var seen [4]bool
	return s.members(func(key []byte) error {
		var field int
		switch string(key) {
		case "app_id":
			field = 0
		case "stream":
			field = 1
		case "at":
			field = 2
		case "msg":
			field = 3
		default:
			return s.fail("unknown field %q", key)
		}
		if seen[field] {
			return s.fail("duplicate field %q", key)
		}
		seen[field] = true
		if s.isNull() {
			return nil // json v2 leaves the field as it is
		}
		at := s.pos + 1 // where the string's body starts in data and shared
		raw, escaped, err := s.rawString()
		if err != nil {
			return err
		}
		if escaped {
			if !pairedSurrogates(raw) {
				return s.fail("invalid surrogate pair in string")
			}
			s.scratch = appendUnescaped(s.scratch[:0], raw)
			raw = s.scratch
		}
		if field == 2 {
			return parseTimeStrict(&l.At, raw)
		}
		var v string
		if escaped {
			v = string(raw)
		} else {
			v = shared[at : at+len(raw)]
		}
		switch field {
		case 0:
			l.AppID = v
		case 1:
			l.Stream = v
		case 3:
			l.Msg = v
		}
		return nil
	})
}

// parseTimeStrict parses RFC 3339 exactly as json v2 does for time.Time:
// time's own parser plus the checks v2 adds because "time" is too lenient
// (go.dev/issue/57912).
func parseTimeStrict(t *time.Time, b []byte) error {
	if err := t.UnmarshalText(b); err != nil {
		return fmt.Errorf("%w: %v", ErrDecode, err)
	}
	var bad bool
	switch {
	case b[len("2006-01-02T")+1] == ':':
		bad = true
	case b[len("2006-01-02T15:04:05")] == ',':
		bad = true
	case b[len(b)-1] != 'Z':
		bad = dec2(b[len(b)-len("07:00"):]) >= 24 || dec2(b[len(b)-len("00"):]) >= 60
	}
	if bad {
		return fmt.Errorf("%w: malformed RFC 3339 time %q", ErrDecode, b)
	}
	return nil
}

func dec2(b []byte) int { return int(b[0]-'0')*10 + int(b[1]-'0') }

// appendPayload writes the same bytes json v2's Marshal would, except that
// invalid UTF-8 in a string becomes U+FFFD instead of failing the batch:
// one bad byte in an app's output must not lose its neighbours' lines.
func (p RuntimeLogPayload) appendPayload(dst []byte) ([]byte, error) {
	dst = append(dst, `{"lines":[`...)
	for i := range p.Lines {
		l := &p.Lines[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		if y := l.At.Year(); y < 0 || y > 9999 {
			return nil, fmt.Errorf("wsproto: log line time %v outside years 0–9999", l.At)
		}
		dst = append(dst, `{"app_id":`...)
		dst = appendJSONString(dst, l.AppID)
		dst = append(dst, `,"stream":`...)
		dst = appendJSONString(dst, l.Stream)
		dst = append(dst, `,"at":"`...)
		dst = l.At.AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, `","msg":`...)
		dst = appendJSONString(dst, l.Msg)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...), nil
}

// appendJSONString escapes like json v2's default: '"', '\\' and control
// characters only (\b \f \n \r \t short forms, \u00XX otherwise); <, >, &
// and U+2028/9 stay as they are.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if strSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, `\b`...)
			case '\f':
				dst = append(dst, `\f`...)
			case '\n':
				dst = append(dst, `\n`...)
			case '\r':
				dst = append(dst, `\r`...)
			case '\t':
				dst = append(dst, `\t`...)
			default:
				dst = append(dst, `\u00`...)
				dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Small scanner helpers for the hand-written decoders.

func (s *scanner) isNull() bool {
	if len(s.data)-s.pos >= 4 && string(s.data[s.pos:s.pos+4]) == "null" {
		s.pos += 4
		return true
	}
	return false
}

// end requires that only whitespace remains.
func (s *scanner) end() error {
	s.skipWS()
	if s.pos != len(s.data) {
		return s.fail("trailing data after payload")
	}
	return nil
}

// rawString reads a string and returns its body as it stands in the input,
// and whether it holds escapes.
func (s *scanner) rawString() (raw []byte, escaped bool, err error) {
	if !s.consume('"') {
		return nil, false, s.fail("expected a string")
	}
	start := s.pos
	if err := s.scanStringBody(); err != nil {
		return nil, false, err
	}
	raw = s.data[start : s.pos-1]
	for _, c := range raw {
		if c == '\\' {
			return raw, true, nil
		}
	}
	return raw, false, nil
}

// members walks an object's members after its '{', calling member with pos
// at the start of each value; member must consume the value.
func (s *scanner) members(member func(key []byte) error) error {
	s.skipWS()
	if s.consume('}') {
		return nil
	}
	for {
		s.skipWS()
		key, err := s.readString()
		if err != nil {
			return err
		}
		s.skipWS()
		if !s.consume(':') {
			return s.fail("expected ':'")
		}
		s.skipWS()
		if err := member(key); err != nil {
			return err
		}
		s.skipWS()
		if s.consume('}') {
			return nil
		}
		if !s.consume(',') {
			return s.fail("expected ',' or '}'")
		}
	}
}

// elements walks an array's elements after its '[', calling element with
// pos at the start of each; element must consume it.
func (s *scanner) elements(element func() error) error {
	s.skipWS()
	if s.consume(']') {
		return nil
	}
	for {
		s.skipWS()
		if err := element(); err != nil {
			return err
		}
		s.skipWS()
		if s.consume(']') {
			return nil
		}
		if !s.consume(',') {
			return s.fail("expected ',' or ']'")
		}
	}
}

// pairedSurrogates reports whether every UTF-16 surrogate escaped in a
// validated string body is a high one followed by a low one. json v2 refuses
// a lone surrogate where encoding/json (and the envelope parser, which keeps
// its behaviour) would write U+FFFD; the runtime_log codec follows v2.
func pairedSurrogates(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // skip the escaped character, which may be a backslash
			continue
		}
		r := hex4(raw[i+2 : i+6])
		i += 5
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return false
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return false
			}
			if lo := hex4(raw[i+3 : i+7]); lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 6
		}
	}
	return true
}
