package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// allocatePort picks a free host port for an app in [PortLo, PortHi].
func (a *Agent) allocatePort() (int, error) {
	cs, err := a.listContainers(a.ctx)
	if err != nil {
		return 0, err
	}
	return a.pickHostPort(a.ctx, 0, nil, cs)
}

// pickHostPort returns prefer when it is in range and free, else a random
// free port not in exclude (a deploy prefers none: its new version runs
// beside the old container, whose port cs shows as busy)
// (ports that just failed to bind): the scan starts at a random offset and
// wraps around. A port is busy when something listens on it (ss -tlnH) or
// when one of the containers cs — running or not — publishes it (a stopped
// app gets its port back on restart). Allocation is serialised by portMu;
// jobs, which then publish the port, run one at a time.
func (a *Agent) pickHostPort(ctx context.Context, prefer int, exclude map[int]bool, cs []psContainer) (int, error) {
	a.portMu.Lock()
	defer a.portMu.Unlock()
	lo, hi := a.cfg.PortLo, a.cfg.PortHi
	if lo < 1 || hi > 65535 || lo > hi {
		return 0, fmt.Errorf("port range %d-%d is invalid", lo, hi)
	}
	out, err := a.run.Run(ctx, "ss", "-tlnH")
	if err != nil {
		return 0, fmt.Errorf("list listening ports: %s", cmdErrText(err))
	}
	busy := parseListeningPorts(string(out))
	for p := range publishedPorts(cs) {
		busy[p] = true
	}
	for p := range exclude {
		busy[p] = true
	}
	if prefer >= lo && prefer <= hi && !busy[prefer] {
		return prefer, nil
	}
	if p, ok := pickPort(lo, hi, busy, rand.IntN(hi-lo+1)); ok {
		return p, nil
	}
	return 0, fmt.Errorf("no free port in %d-%d", lo, hi)
}

// pickPort scans [lo, hi] from lo+start, wrapping around, for a port not
// in busy.
func pickPort(lo, hi int, busy map[int]bool, start int) (int, bool) {
	n := hi - lo + 1
	if n <= 0 {
		return 0, false
	}
	start = ((start % n) + n) % n
	for i := range n {
		p := lo + (start+i)%n
		if !busy[p] {
			return p, true
		}
	}
	return 0, false
}

// parseListeningPorts reads `ss -tlnH` (State Recv-Q Send-Q Local Peer…):
// the port of every local address, whatever the address ("*:80",
// "[::]:22", "127.0.0.53%lo:53").
func parseListeningPorts(out string) map[int]bool {
	ports := map[int]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		local := f[3]
		i := strings.LastIndexByte(local, ':')
		if i < 0 {
			continue
		}
		if p, err := strconv.Atoi(local[i+1:]); err == nil && p > 0 && p <= 65535 {
			ports[p] = true
		}
	}
	return ports
}

// psContainer is the part of `podman ps -a --format json` the pipeline
// reads.
type psContainer struct {
	ID      string            `json:"Id"`
	Names   []string          `json:"Names"`
	ImageID string            `json:"ImageID"`
	State   string            `json:"State"` // created, running, exited, …
	Labels  map[string]string `json:"Labels"`
	Ports   []struct {
		HostPort int `json:"host_port"`
		Range    int `json:"range"`
	} `json:"Ports"`
}

// listContainers lists every container (running or not) on this host.
func (a *Agent) listContainers(ctx context.Context) ([]psContainer, error) {
	out, err := a.run.Run(ctx, "podman", "ps", "-a", "--format", "json")
	if err != nil {
		return nil, fmt.Errorf("list containers: %s", cmdErrText(err))
	}
	cs, err := parsePS(out)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	return cs, nil
}

func parsePS(out []byte) ([]psContainer, error) {
	if len(strings.TrimSpace(string(out))) == 0 {
		return nil, nil
	}
	var cs []psContainer
	if err := json.Unmarshal(out, &cs); err != nil {
		return nil, fmt.Errorf("podman ps output: %w", err)
	}
	return cs, nil
}

// findContainer returns the container named name, if listed.
func findContainer(cs []psContainer, name string) (psContainer, bool) {
	for _, c := range cs {
		if slices.Contains(c.Names, name) {
			return c, true
		}
	}
	return psContainer{}, false
}

// hostPortLabel is the host port a container of ours records, or 0.
func (c psContainer) hostPortLabel() int {
	v, err := strconv.Atoi(c.Labels[LabelHostPort])
	if err != nil || v < 1 || v > 65535 {
		return 0
	}
	return v
}

// publishedPorts returns the host ports that containers publish or that
// our containers record in their host_port label.
func publishedPorts(cs []psContainer) map[int]bool {
	ports := map[int]bool{}
	for _, c := range cs {
		for _, p := range c.Ports {
			n := min(max(p.Range, 1), 65536)
			for i := range n {
				if hp := p.HostPort + i; hp > 0 && hp <= 65535 {
					ports[hp] = true
				}
			}
		}
		if v := c.hostPortLabel(); v > 0 {
			ports[v] = true
		}
	}
	return ports
}
