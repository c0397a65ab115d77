package cli

import (
	"strings"
	"testing"
)

func TestParseSizes(t *testing.T) {
	cases := []struct {
		name, in string
		parse    func(string) (int64, error)
		want     int64
		err      string
	}{
		{"memory M", "512M", parseMemory, 512 << 20, ""},
		{"memory Mi", "512Mi", parseMemory, 512 << 20, ""},
		{"memory MiB lower case", "512mib", parseMemory, 512 << 20, ""},
		{"memory MB is binary too", "512MB", parseMemory, 512 << 20, ""},
		{"memory G fraction", "1.5G", parseMemory, 3 << 29, ""},
		{"memory bytes", "134217728", parseMemory, 128 << 20, ""},
		{"memory space", "256 M", parseMemory, 256 << 20, ""},
		{"memory too small", "1M", parseMemory, 0, "between 16M and 1T"},
		{"memory too large", "2T", parseMemory, 0, "between 16M and 1T"},
		{"memory unknown suffix", "1X", parseMemory, 0, "not a number"},
		{"memory i without a unit", "512i", parseMemory, 0, "not a number"},
		{"memory negative", "-1G", parseMemory, 0, "not a number"},
		{"memory empty", "", parseMemory, 0, "not a number"},
		{"memory huge", "99999999999T", parseMemory, 0, "too large"},
		{"disk G", "1G", parseDisk, 1 << 30, ""},
		{"disk zero", "0", parseDisk, 0, ""},
		{"disk too small", "10M", parseDisk, 0, "at least 64M"},
		{"bandwidth decimal", "10M", parseBandwidth, 10_000_000, ""},
		{"bandwidth K", "64K", parseBandwidth, 64_000, ""},
		{"bandwidth too small", "1000", parseBandwidth, 0, "at least 64K"},
		{"bandwidth garbage", "fast", parseBandwidth, 0, "--bandwidth"},
		{"cpus half", "0.5", parseCPUs, 500, ""},
		{"cpus two", "2", parseCPUs, 2000, ""},
		{"cpus zero", "0", parseCPUs, 0, "between 0.01"},
		{"cpus word", "many", parseCPUs, 0, "number of cores"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.parse(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("%q: err %v, want %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("%q: %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[int64]string{512 << 20: "512 MiB", 3 << 29: "1.5 GiB", 1 << 30: "1 GiB", 100: "100 B"} {
		if got := bytesIEC(in); got != want {
			t.Errorf("bytesIEC(%d) = %q, want %q", in, got, want)
		}
	}
	if got := bitsPerSecond(10_000_000); got != "10 Mbit/s" {
		t.Errorf("bitsPerSecond = %q", got)
	}
	if got := cpus(500); got != "0.5" {
		t.Errorf("cpus = %q", got)
	}
}
