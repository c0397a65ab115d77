package worker

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Pure parsers of what podman prints. Everything here is table-tested in
// parse_test.go against output captured from podman 4.3.1.

// lastLine returns the last non-empty line of s, trimmed (podman run -d
// prints the container id last, after any pull progress).
func lastLine(s string) string {
	for s != "" {
		i := strings.LastIndexByte(s, '\n')
		line := strings.TrimSpace(s[i+1:])
		if line != "" {
			return line
		}
		if i < 0 {
			break
		}
		s = s[:i]
	}
	return ""
}

// parseCPUPercent reads "12.34%" (podman stats); anything else is 0.
func parseCPUPercent(s string) float64 {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0
	}
	return f
}

// parseMemUsage reads "12.5MiB / 512MiB" into used and limit bytes. The
// same "a / b" shape is used by net_io (rx / tx) and block_io (read /
// write).
func parseMemUsage(s string) (used, limit int64) {
	a, b, _ := strings.Cut(s, "/")
	return parseHumanBytes(a), parseHumanBytes(b)
}

// byteUnits maps a lower-cased unit to its multiplier. Podman prints SI
// units (kB, MB, GB: go-units HumanSize) for stats and IEC units (KiB, MiB)
// elsewhere; both are accepted, and a bare "k"/"m"/"g" is taken as SI.
var byteUnits = map[string]float64{
	"": 1, "b": 1, "byte": 1, "bytes": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9,
	"t": 1e12, "tb": 1e12, "p": 1e15, "pb": 1e15,
	"ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20, "gi": 1 << 30, "gib": 1 << 30,
	"ti": 1 << 40, "tib": 1 << 40, "pi": 1 << 50, "pib": 1 << 50,
}

// parseHumanBytes reads "1.5GB", "12kB", "3MiB", "0B", "512" or
// "12.5 MiB" into bytes; anything unreadable ("--", "") is 0.
func parseHumanBytes(s string) int64 {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	// An exponent ("1.2e+03B"), as %g may print.
	if i > 0 && i+1 < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if s[j] == '+' || s[j] == '-' {
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j {
			i = k
		}
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	mult, ok := byteUnits[unit]
	if !ok {
		return 0
	}
	v := f * mult
	if v >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(math.Round(v))
}

// splitPodmanLogLine splits one line of `podman logs --timestamps`
// ("2026-01-02T15:04:05.123456789Z message") into its time and body.
func splitPodmanLogLine(line string) (time.Time, string, bool) {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	ts, body, _ := strings.Cut(line, " ")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, "", false
	}
	return t, body, true
}

// criRecord is one record of a container log file in the CRI format that
// conmon writes with the k8s-file driver:
//
//	2026-01-02T15:04:05.123456789+00:00 stdout F message
//
// A "P" tag marks a partial record: the line continues in the next record
// of the same stream.
type criRecord struct {
	At      time.Time
	Stream  string
	Partial bool
	Msg     []byte
}

// parseCRILine parses one record (without its trailing newline).
func parseCRILine(line []byte) (criRecord, bool) {
	var r criRecord
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return r, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return r, false
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return r, false
	}
	switch string(stream) {
	case "stdout", "stderr":
	default:
		return r, false
	}
	tag, msg, _ := bytes.Cut(rest, []byte{' '})
	if len(tag) == 0 {
		return r, false
	}
	// Tags may carry more flags after a colon ("P:x"); the first is P or F.
	first, _, _ := bytes.Cut(tag, []byte{':'})
	switch string(first) {
	case "P":
		r.Partial = true
	case "F":
	default:
		return r, false
	}
	r.At, r.Stream, r.Msg = t, string(stream), msg
	return r, true
}

// maxLogLine caps one runtime log line; longer lines are cut (on a rune
// boundary) and marked.
const maxLogLine = 16 << 10

const truncatedMark = "…[truncated]"

// sanitizeLogMsg makes an app's output safe to ship and store: invalid
// UTF-8 and NUL bytes (which PostgreSQL text refuses) become U+FFFD, a
// trailing CR goes, and the line is capped at maxLogLine bytes.
func sanitizeLogMsg(b []byte) string {
	b = bytes.TrimSuffix(b, []byte{'\r'})
	truncated := false
	if len(b) > maxLogLine {
		// Cut on a rune boundary: b[cut] is the first byte left out.
		cut := maxLogLine
		for cut > maxLogLine-utf8.UTFMax && !utf8.RuneStart(b[cut]) {
			cut--
		}
		b, truncated = b[:cut], true
	}
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if truncated {
		s += truncatedMark
	}
	return s
}

// jsonStringLen is the length of s once encoded as a JSON string by
// encoding/json (quotes and escapes included, HTML characters escaped).
func jsonStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6 // \ufffd
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// flexString decodes a JSON string or number as a string: podman's JSON
// output has changed field types between versions.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if string(b) == "null" {
		*f = ""
		return nil
	}
	*f = flexString(b)
	return nil
}

// podmanStat is one entry of `podman stats --no-stream --format json`
// (podman 4.3.1 prints every value as a string).
type podmanStat struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CPUTime    flexString `json:"cpu_time"`    // "47.259438ms" (a Go duration)
	CPUPercent flexString `json:"cpu_percent"` // "0.62%": average since start
	MemUsage   flexString `json:"mem_usage"`   // "602.1kB / 16.78MB"
	NetIO      flexString `json:"net_io"`      // "586B / 1.72kB" (rx / tx)
	BlockIO    flexString `json:"block_io"`    // "0B / 0B" (read / write)
	PIDs       flexString `json:"pids"`        // "2"
}

// statSample is a parsed podmanStat.
type statSample struct {
	ID, Name          string
	CPUTime           time.Duration // -1 when podman did not say
	CPUPercent        float64
	MemUsed, MemLimit int64
	NetRx, NetTx      int64
	BlockRd, BlockWr  int64
	PIDs              int
}

// parsePodmanStats parses `podman stats --no-stream --format json`.
func parsePodmanStats(out []byte) ([]statSample, error) {
	out = bytes.TrimSpace(out)
	if len(out) == 0 || string(out) == "null" {
		return nil, nil
	}
	var raw []podmanStat
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, err
	}
	res := make([]statSample, 0, len(raw))
	for _, r := range raw {
		s := statSample{ID: r.ID, Name: r.Name, CPUTime: -1, CPUPercent: parseCPUPercent(string(r.CPUPercent))}
		if d, err := time.ParseDuration(strings.TrimSpace(string(r.CPUTime))); err == nil && d >= 0 {
			s.CPUTime = d
		}
		s.MemUsed, s.MemLimit = parseMemUsage(string(r.MemUsage))
		s.NetRx, s.NetTx = parseMemUsage(string(r.NetIO))
		s.BlockRd, s.BlockWr = parseMemUsage(string(r.BlockIO))
		if n, err := strconv.Atoi(strings.TrimSpace(string(r.PIDs))); err == nil && n >= 0 {
			s.PIDs = n
		}
		res = append(res, s)
	}
	return res, nil
}

// managedCtr is one entry of `podman ps -a --format json`.
type managedCtr struct {
	ID        string            `json:"Id"`
	Names     []string          `json:"Names"`
	State     string            `json:"State"` // created, running, exited, paused, …
	ExitCode  int               `json:"ExitCode"`
	Exited    bool              `json:"Exited"`
	ExitedAt  int64             `json:"ExitedAt"`  // unix seconds
	StartedAt int64             `json:"StartedAt"` // unix seconds
	Labels    map[string]string `json:"Labels"`
	Ports     []struct {
		HostPort int `json:"host_port"`
	} `json:"Ports"`
}

// Name is the container's first name.
func (c *managedCtr) Name() string {
	if len(c.Names) > 0 {
		return c.Names[0]
	}
	return ""
}

// AppID is the app the container belongs to ("" if unlabelled).
func (c *managedCtr) AppID() string { return c.Labels[LabelAppID] }

// HostPort is the app's host port: the label the pipeline sets, else the
// first published port.
func (c *managedCtr) HostPort() int {
	if p, err := strconv.Atoi(c.Labels[LabelHostPort]); err == nil && p > 0 && p < 65536 {
		return p
	}
	for _, p := range c.Ports {
		if p.HostPort > 0 {
			return p.HostPort
		}
	}
	return 0
}

// parsePodmanPS parses `podman ps --format json`.
func parsePodmanPS(out []byte) ([]managedCtr, error) {
	out = bytes.TrimSpace(out)
	if len(out) == 0 || string(out) == "null" {
		return nil, nil
	}
	var cs []managedCtr
	if err := json.Unmarshal(out, &cs); err != nil {
		return nil, err
	}
	return cs, nil
}

// ctrInspect is what the monitor reads of `podman inspect`.
type ctrInspect struct {
	ID           string `json:"Id"`
	Name         string `json:"Name"`
	RestartCount int    `json:"RestartCount"`
	State        struct {
		Status     string    `json:"Status"`
		Running    bool      `json:"Running"`
		OOMKilled  bool      `json:"OOMKilled"`
		ExitCode   int       `json:"ExitCode"`
		Pid        int       `json:"Pid"`
		Error      string    `json:"Error"`
		StartedAt  time.Time `json:"StartedAt"`
		FinishedAt time.Time `json:"FinishedAt"`
	} `json:"State"`
	HostConfig struct {
		LogConfig struct {
			Type string `json:"Type"`
			Path string `json:"Path"`
		} `json:"LogConfig"`
		RestartPolicy struct {
			Name              string `json:"Name"`
			MaximumRetryCount int    `json:"MaximumRetryCount"`
		} `json:"RestartPolicy"`
		Memory     int64             `json:"Memory"`
		DiskQuota  uint64            `json:"DiskQuota"`
		StorageOpt map[string]string `json:"StorageOpt"`
	} `json:"HostConfig"`
	GraphDriver struct {
		Name string            `json:"Name"`
		Data map[string]string `json:"Data"`
	} `json:"GraphDriver"`
	Config struct {
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
}

// DiskLimit is the size limit of the container's writable layer
// (--storage-opt size=), 0 if none.
func (c *ctrInspect) DiskLimit() int64 {
	if c.HostConfig.DiskQuota > 0 && c.HostConfig.DiskQuota < math.MaxInt64 {
		return int64(c.HostConfig.DiskQuota)
	}
	for k, v := range c.HostConfig.StorageOpt {
		if strings.EqualFold(k, "size") {
			return parseHumanBytes(v)
		}
	}
	return 0
}

// podmanRestarts reports whether podman's own restart policy restarts
// the container (then RestartCount counts its crashes).
func (c *ctrInspect) podmanRestarts() bool {
	switch c.HostConfig.RestartPolicy.Name {
	case "always", "on-failure", "unless-stopped":
		return true
	}
	return false
}

// parseInspect parses `podman inspect` output. Podman prints the
// containers it found even when it fails on another one.
func parseInspect(out []byte) ([]ctrInspect, error) {
	out = bytes.TrimSpace(out)
	if len(out) == 0 || string(out) == "null" {
		return nil, nil
	}
	var cs []ctrInspect
	if err := json.Unmarshal(out, &cs); err != nil {
		return nil, err
	}
	return cs, nil
}

// parseMeminfo returns MemTotal and MemAvailable (bytes) of /proc/meminfo.
func parseMeminfo(b []byte) (total, avail int64) {
	var free, buffers, cached int64
	haveAvail := false
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && strings.EqualFold(f[1], "kB") {
			n <<= 10
		}
		switch k {
		case "MemTotal":
			total = n
		case "MemAvailable":
			avail, haveAvail = n, true
		case "MemFree":
			free = n
		case "Buffers":
			buffers = n
		case "Cached":
			cached = n
		}
	}
	if !haveAvail { // kernels before 3.14
		avail = free + buffers + cached
	}
	return total, min(avail, total)
}
