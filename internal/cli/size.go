package cli

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/wisehosting/wisehosting/internal/models"
)

var quantityRE = regexp.MustCompile(`^([0-9]*\.?[0-9]+)\s*(?:([KMGT])(I?B?)|B?)$`)

// parseQuantity reads a number with an optional K, M, G or T suffix worth
// base¹…base⁴; "i", "B" or "iB" may follow the suffix (512Mi, 512MB,
// 512MiB mean the same) and case does not matter. A fraction (1.5G) is
// rounded to a whole number.
func parseQuantity(s string, base float64) (int64, error) {
	m := quantityRE.FindStringSubmatch(strings.ToUpper(strings.TrimSpace(s)))
	if m == nil {
		return 0, fmt.Errorf("%q is not a number with an optional K, M, G or T suffix", s)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	if m[2] != "" {
		v *= math.Pow(base, float64(strings.Index("KMGT", m[2])+1))
	}
	if v >= math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(math.Round(v)), nil
}

// parseSize reads a byte size: 512M = 512 MiB (K, M, G, T are powers of 1024).
func parseSize(flag, s string) (int64, error) {
	n, err := parseQuantity(s, 1024)
	if err != nil {
		return 0, fmt.Errorf("--%s: %w (want a size such as 512M or 1G; K, M, G, T are powers of 1024)", flag, err)
	}
	return n, nil
}

// parseMemory reads --memory within the API's bounds.
func parseMemory(s string) (int64, error) {
	n, err := parseSize("memory", s)
	if err != nil {
		return 0, err
	}
	if n < models.MinMemoryBytes || n > models.MaxMemoryBytes {
		return 0, fmt.Errorf("--memory %s: must be between 16M and 1T", s)
	}
	return n, nil
}

// parseDisk reads --disk: 0 for no quota, else at least 64 MiB.
func parseDisk(s string) (int64, error) {
	n, err := parseSize("disk", s)
	if err != nil {
		return 0, err
	}
	if n != 0 && n < 64<<20 {
		return 0, fmt.Errorf("--disk %s: must be 0 (no quota) or at least 64M", s)
	}
	return n, nil
}

// parseBandwidth reads --bandwidth in bits per second. A rate is decimal,
// as network rates are: 10M = 10 Mbit/s = 10,000,000 bit/s.
func parseBandwidth(s string) (int64, error) {
	n, err := parseQuantity(s, 1000)
	if err != nil {
		return 0, fmt.Errorf("--bandwidth: %w (want bits per second such as 10M for 10 Mbit/s; K, M, G are powers of 1000)", err)
	}
	if n != 0 && n < 64_000 {
		return 0, fmt.Errorf("--bandwidth %s: must be 0 (no limit) or at least 64K (64 kbit/s)", s)
	}
	return n, nil
}

// parseCPUs reads --cpus (cores, fractions allowed) as thousandths of a core.
func parseCPUs(s string) (int64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("--cpus %q: want a number of cores such as 0.5 or 2", s)
	}
	m := int64(math.Round(v * 1000))
	if m < 10 || m > models.MaxCPUMillis {
		return 0, fmt.Errorf("--cpus %s: must be between 0.01 and %d", s, models.MaxCPUMillis/1000)
	}
	return m, nil
}
