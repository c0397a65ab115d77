package worker

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// Captured from ss 6.1 (Debian 12) with a few address forms added.
const ssOutput = `LISTEN 0      4096   127.0.0.1:39069 0.0.0.0:*
LISTEN 0      244    127.0.0.1:5432  0.0.0.0:*
LISTEN 0      128      0.0.0.0:2024  0.0.0.0:*
LISTEN 0      4096   127.0.0.53%lo:53 0.0.0.0:*
LISTEN 0      511          *:80          *:*
LISTEN 0      128       [::]:22       [::]:*
LISTEN 0      4096 [::ffff:127.0.0.1]:21004 *:*

garbage
`

func TestParseListeningPorts(t *testing.T) {
	got := slices.Sorted(maps.Keys(parseListeningPorts(ssOutput)))
	if want := []int{22, 53, 80, 2024, 5432, 21004, 39069}; !slices.Equal(got, want) {
		t.Fatalf("ports = %v, want %v", got, want)
	}
}

func TestPublishedPorts(t *testing.T) {
	// podman 4.3.1 `ps -a --format json`, trimmed.
	out := `[{"Id":"a1","Names":["wh-a"],"ImageID":"i1","Labels":{"wisehosting.host_port":"21001","wisehosting.managed":"true"},
	  "Ports":[{"host_ip":"127.0.0.1","container_port":8080,"host_port":21001,"range":1,"protocol":"tcp"}],"State":"running"},
	 {"Id":"b1","Names":["wh-b"],"Labels":{"wisehosting.host_port":"21002"},"Ports":null,"State":"exited"},
	 {"Id":"c1","Names":["other"],"Labels":null,"Ports":[{"host_port":21005,"range":3}]}]`
	cs, err := parsePS([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	got := publishedPorts(cs)
	if want := []int{21001, 21002, 21005, 21006, 21007}; !slices.Equal(slices.Sorted(maps.Keys(got)), want) {
		t.Fatalf("published = %v, want %v", slices.Sorted(maps.Keys(got)), want)
	}
	if c, ok := findContainer(cs, "wh-a"); !ok || c.ImageID != "i1" || c.hostPortLabel() != 21001 {
		t.Fatalf("findContainer = %+v, %v", c, ok)
	}
	if _, ok := findContainer(cs, "wh-x"); ok {
		t.Fatal("found a container that is not there")
	}
	if cs, err := parsePS([]byte("  \n")); err != nil || len(cs) != 0 {
		t.Fatalf("empty: %v %v", cs, err)
	}
	if _, err := parsePS([]byte("not json")); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestPickPortWrapsAround(t *testing.T) {
	busy := map[int]bool{21008: true, 21009: true, 21010: true}
	// Starting at 21008: 21008-21010 are busy, so it wraps to 21000.
	if p, ok := pickPort(21000, 21010, busy, 8); !ok || p != 21000 {
		t.Fatalf("pickPort = %d, %v; want 21000", p, ok)
	}
	busy[21000] = true
	if p, ok := pickPort(21000, 21010, busy, 10); !ok || p != 21001 {
		t.Fatalf("pickPort = %d, %v; want 21001", p, ok)
	}
	if p, ok := pickPort(21000, 21010, busy, 3); !ok || p != 21003 {
		t.Fatalf("pickPort = %d, %v; want 21003", p, ok)
	}
	// Out-of-range starts are reduced; a full range has no port.
	if p, ok := pickPort(21000, 21010, busy, -1); !ok || p != 21001 {
		t.Fatalf("negative start: %d, %v", p, ok)
	}
	for p := 21000; p <= 21010; p++ {
		busy[p] = true
	}
	if _, ok := pickPort(21000, 21010, busy, 5); ok {
		t.Fatal("found a port in a full range")
	}
	if p, ok := pickPort(30000, 30000, nil, 7); !ok || p != 30000 {
		t.Fatalf("one-port range: %d %v", p, ok)
	}
}

func portAgent(t *testing.T, ss, ps string) *Agent {
	f := newFakeRunner()
	f.on("ss -tlnH", ss, nil)
	f.on("podman ps -a --format json", ps, nil)
	a := newTestAgent(t, f)
	a.cfg.PortLo, a.cfg.PortHi = 21000, 21005
	return a
}

func TestAllocatePortSkipsBusyPorts(t *testing.T) {
	// 21000, 21001 listen; 21002 and 21003 are published by containers
	// (one stopped, known by its label); 21005 listens on IPv6. Only
	// 21004 is free, whatever the random start.
	ss := "LISTEN 0 4096 127.0.0.1:21000 0.0.0.0:*\nLISTEN 0 4096 0.0.0.0:21001 0.0.0.0:*\nLISTEN 0 4096 [::]:21005 [::]:*\n"
	ps := `[{"Labels":{"wisehosting.host_port":"21002"},"Ports":null},{"Labels":{},"Ports":[{"host_port":21003,"range":1}]}]`
	for range 50 {
		a := portAgent(t, ss, ps)
		p, err := a.allocatePort()
		if err != nil || p != 21004 {
			t.Fatalf("allocatePort = %d, %v; want 21004", p, err)
		}
	}
	// Every port in the range is random-started: over many runs all free
	// ports come up.
	seen := map[int]bool{}
	for range 200 {
		p, err := portAgent(t, "", "[]").allocatePort()
		if err != nil {
			t.Fatal(err)
		}
		seen[p] = true
	}
	if len(seen) != 6 {
		t.Fatalf("random start reached only %v", slices.Sorted(maps.Keys(seen)))
	}
}

func TestPickHostPortPrefer(t *testing.T) {
	a := portAgent(t, "LISTEN 0 4096 127.0.0.1:21001 0.0.0.0:*\n", "[]")
	cs := []psContainer{{Names: []string{"x"}, Labels: map[string]string{LabelHostPort: "21002"}}}
	if p, _ := a.pickHostPort(a.ctx, 21003, nil, cs); p != 21003 {
		t.Fatalf("free preferred port not taken: %d", p)
	}
	for _, busy := range []int{21001, 21002} {
		if p, _ := a.pickHostPort(a.ctx, busy, nil, cs); p == busy {
			t.Fatalf("busy preferred port %d taken", busy)
		}
	}
	if p, _ := a.pickHostPort(a.ctx, 80, nil, cs); p < 21000 || p > 21005 {
		t.Fatalf("preferred port out of range taken: %d", p)
	}
	// Excluded ports (that just failed to bind) are skipped, even preferred.
	for range 20 {
		p, err := a.pickHostPort(a.ctx, 21003, map[int]bool{21000: true, 21003: true, 21004: true}, cs)
		if err != nil || p != 21005 {
			t.Fatalf("with exclusions: %d, %v", p, err)
		}
	}
}

func TestAllocatePortErrors(t *testing.T) {
	var ss strings.Builder
	for p := 21000; p <= 21005; p++ {
		fmt.Fprintf(&ss, "LISTEN 0 128 127.0.0.1:%d 0.0.0.0:*\n", p)
	}
	if _, err := portAgent(t, ss.String(), "[]").allocatePort(); err == nil || !strings.Contains(err.Error(), "no free port in 21000-21005") {
		t.Fatalf("full range: %v", err)
	}
	f := newFakeRunner()
	f.on("ss -tlnH", "", errors.New("ss: not found"))
	if _, err := newTestAgent(t, f).allocatePort(); err == nil {
		t.Fatal("ss failure ignored")
	}
	f = newFakeRunner()
	f.on("ss -tlnH", "", nil)
	f.on("podman ps -a --format json", "", &CommandError{ExitCode: 125, Stderr: "Error: boom"})
	if _, err := newTestAgent(t, f).allocatePort(); err == nil {
		t.Fatal("podman ps failure ignored")
	}
}
