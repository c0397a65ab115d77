package worker

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

func TestLastLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"abc\n", "abc"},
		{"a\nb\n\n  \n", "b"},
		{"pulling...\n57b7408839fc\r\n", "57b7408839fc"},
		{"\n\n", ""},
		{"  id  ", "id"},
	} {
		if got := lastLine(tc.in); got != tc.want {
			t.Errorf("lastLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseCPUPercent(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"12.34%", 12.34}, {"0.00%", 0}, {"150.5%", 150.5}, {" 3% ", 3}, {"7", 7},
		{"--", 0}, {"", 0}, {"abc%", 0}, {"-1%", 0}, {"NaN%", 0}, {"Inf%", 0},
	} {
		if got := parseCPUPercent(tc.in); got != tc.want {
			t.Errorf("parseCPUPercent(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"0B", 0}, {"512", 512}, {"512B", 512},
		{"12kB", 12000}, {"12KB", 12000}, {"602.1kB", 602100}, {"2.276kB", 2276},
		{"16.78MB", 16780000}, {"1.5GB", 1500000000}, {"2TB", 2e12},
		{"3MiB", 3 << 20}, {"1KiB", 1024}, {"12.5MiB", 13107200}, {"1.5GiB", 1610612736}, {"1TiB", 1 << 40},
		{"12.5 MiB", 13107200}, {" 7 kB ", 7000}, {"1.2e+03B", 1200}, {"1e3kB", 1000000},
		{"--", 0}, {"", 0}, {"MB", 0}, {"12XB", 0}, {"-5MB", 0}, {"1.2.3MB", 0},
	} {
		if got := parseHumanBytes(tc.in); got != tc.want {
			t.Errorf("parseHumanBytes(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestParseMemUsage(t *testing.T) {
	for _, tc := range []struct {
		in          string
		used, limit int64
	}{
		{"12.5MiB / 512MiB", 13107200, 512 << 20},
		{"602.1kB / 16.78MB", 602100, 16780000}, // podman 4.3.1, --memory 16m
		{"0B / 0B", 0, 0},
		{"586B / 1.72kB", 586, 1720}, // net_io: rx / tx
		{"1.5GB/2GB", 1500000000, 2000000000},
		{"garbage", 0, 0},
		{"", 0, 0},
	} {
		u, l := parseMemUsage(tc.in)
		if u != tc.used || l != tc.limit {
			t.Errorf("parseMemUsage(%q) = %d, %d; want %d, %d", tc.in, u, l, tc.used, tc.limit)
		}
	}
}

func TestSplitPodmanLogLine(t *testing.T) {
	ts := time.Date(2026, 11, 27, 16, 35, 58, 484835594, time.UTC)
	for _, tc := range []struct {
		in   string
		at   time.Time
		body string
		ok   bool
	}{
		{"2026-11-27T16:35:58.484835594Z hello world", ts, "hello world", true},
		{"2026-11-27T16:35:58.484835594Z  two leading", ts, " two leading", true},
		{"2026-11-27T16:35:58.484835594Z ", ts, "", true},
		{"2026-11-27T16:35:58.484835594Z", ts, "", true},
		{"2026-11-27T16:35:58.484835594+00:00 x\r\n", ts, "x", true},
		{"2026-11-27T17:35:58.484835594+01:00 x", ts, "x", true},
		{"not a time x", time.Time{}, "", false},
		{"", time.Time{}, "", false},
	} {
		at, body, ok := splitPodmanLogLine(tc.in)
		if ok != tc.ok || body != tc.body || !at.Equal(tc.at) {
			t.Errorf("splitPodmanLogLine(%q) = %v, %q, %v; want %v, %q, %v", tc.in, at, body, ok, tc.at, tc.body, tc.ok)
		}
	}
}

func TestParseCRILine(t *testing.T) {
	ts := time.Date(2026, 11, 27, 16, 35, 56, 483033297, time.UTC)
	for _, tc := range []struct {
		in      string
		stream  string
		partial bool
		msg     string
		ok      bool
	}{
		{"2026-11-27T16:35:56.483033297+00:00 stdout F hello", "stdout", false, "hello", true},
		{"2026-11-27T16:35:56.483033297+00:00 stderr F err", "stderr", false, "err", true},
		{"2026-11-27T16:35:56.483033297+00:00 stdout P part ", "stdout", true, "part ", true},
		{"2026-11-27T16:35:56.483033297+00:00 stdout F", "stdout", false, "", true},
		{"2026-11-27T16:35:56.483033297+00:00 stdout F ", "stdout", false, "", true},
		{"2026-11-27T16:35:56.483033297+00:00 stdout F  spaced  ", "stdout", false, " spaced  ", true},
		{"2026-11-27T16:35:56.483033297+00:00 stdout P:x y", "stdout", true, "y", true},
		{"2026-11-27T16:35:56.483033297+00:00 stdin F x", "", false, "", false},
		{"2026-11-27T16:35:56.483033297+00:00 stdout X x", "", false, "", false},
		{"2026-11-27T16:35:56.483033297+00:00 stdout", "", false, "", false},
		{"yesterday stdout F x", "", false, "", false},
		{"", "", false, "", false},
	} {
		r, ok := parseCRILine([]byte(tc.in))
		if ok != tc.ok {
			t.Errorf("parseCRILine(%q) ok = %v", tc.in, ok)
			continue
		}
		if !ok {
			continue
		}
		if r.Stream != tc.stream || r.Partial != tc.partial || string(r.Msg) != tc.msg || !r.At.Equal(ts) {
			t.Errorf("parseCRILine(%q) = %+v", tc.in, r)
		}
	}
}

func TestSanitizeLogMsg(t *testing.T) {
	if got := sanitizeLogMsg([]byte("ok\r")); got != "ok" {
		t.Errorf("CR: %q", got)
	}
	if got := sanitizeLogMsg([]byte("a\xffb\x00c")); got != "a\uFFFDb\uFFFDc" {
		t.Errorf("invalid UTF-8 and NUL: %q", got)
	}
	// A long line is cut on a rune boundary and marked.
	long := strings.Repeat("é", maxLogLine) // 2 bytes each
	got := sanitizeLogMsg([]byte("x" + long))
	if !strings.HasSuffix(got, truncatedMark) || !utf8.ValidString(got) {
		t.Fatalf("long line not cut cleanly: ...%q", got[len(got)-20:])
	}
	if body := strings.TrimSuffix(got, truncatedMark); len(body) > maxLogLine || len(body) < maxLogLine-utf8.UTFMax || strings.ContainsRune(body, utf8.RuneError) {
		t.Errorf("cut at %d bytes", len(body))
	}
	if got := sanitizeLogMsg([]byte(strings.Repeat("a", maxLogLine))); got != strings.Repeat("a", maxLogLine) {
		t.Error("a line of exactly the cap was cut")
	}
}

func TestJSONStringLen(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "é", "\"", "\\", "\n", "\t", "\x01", "<", ">", "&", "\u2028", "\xff", "\x00", "日本", "\u007f"}
	for i := 0; i < 2000; i++ {
		var b strings.Builder
		for j := r.IntN(30); j > 0; j-- {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		s := b.String()
		enc, _ := json.Marshal(s)
		if got := jsonStringLen(s); got != len(enc) {
			t.Fatalf("jsonStringLen(%q) = %d, json.Marshal gives %d (%s)", s, got, len(enc), enc)
		}
	}
}

// Output of `podman stats --no-stream --no-trunc --format json` on podman
// 4.3.1 (one running container with --memory 16m, one exited).
const realStatsJSON = `[
 {
  "id": "57b7408839fc3e1520f695d02d78fe9bf5390042367d25df4a18efe0a3012cd5",
  "name": "whmon-t1",
  "cpu_time": "133.955836ms",
  "cpu_percent": "0.09%",
  "avg_cpu": "0.09%",
  "mem_usage": "393.2kB / 16.78MB",
  "mem_percent": "2.34%",
  "net_io": "866B / 2.276kB",
  "block_io": "0B / 0B",
  "pids": "2"
 },
 {
  "id": "724d5051d3401ecc01376d395287c23e361402d3431542994677c075bda6bae3",
  "name": "whmon-t2",
  "cpu_time": "0s",
  "cpu_percent": "0.00%",
  "avg_cpu": "0.00%",
  "mem_usage": "0B / 0B",
  "mem_percent": "0.00%",
  "net_io": "0B / 0B",
  "block_io": "0B / 0B",
  "pids": "0"
 }
]`

func TestParsePodmanStats(t *testing.T) {
	s, err := parsePodmanStats([]byte(realStatsJSON))
	if err != nil || len(s) != 2 {
		t.Fatalf("%v %d", err, len(s))
	}
	want := statSample{ID: "57b7408839fc3e1520f695d02d78fe9bf5390042367d25df4a18efe0a3012cd5", Name: "whmon-t1",
		CPUTime: 133955836 * time.Nanosecond, CPUPercent: 0.09, MemUsed: 393200, MemLimit: 16780000,
		NetRx: 866, NetTx: 2276, PIDs: 2}
	if s[0] != want {
		t.Errorf("got %+v\nwant %+v", s[0], want)
	}
	if s[1].CPUTime != 0 || s[1].PIDs != 0 {
		t.Errorf("exited: %+v", s[1])
	}
	// Numbers instead of strings, and unknown fields, are tolerated.
	s, err = parsePodmanStats([]byte(`[{"id":"x","cpu_percent":1.5,"pids":3,"cpu_time":"bad","extra":{}}]`))
	if err != nil || s[0].CPUPercent != 1.5 || s[0].PIDs != 3 || s[0].CPUTime != -1 {
		t.Errorf("%v %+v", err, s)
	}
	for _, empty := range []string{"", "null", "[]", " \n"} {
		if s, err := parsePodmanStats([]byte(empty)); err != nil || len(s) != 0 {
			t.Errorf("%q: %v %v", empty, s, err)
		}
	}
	if _, err := parsePodmanStats([]byte("Error: x")); err == nil {
		t.Error("garbage accepted")
	}
}

// Output of `podman ps -a --filter label=wisehosting.managed=true --format
// json` on podman 4.3.1 (trimmed to two containers).
const realPSJSON = `[
  {
    "AutoRemove": false,
    "Command": ["sh", "-c", "while true; do date; sleep 2; done"],
    "CreatedAt": "3 seconds ago",
    "Exited": false,
    "ExitedAt": -62135596800,
    "ExitCode": 0,
    "Id": "57b7408839fc3e1520f695d02d78fe9bf5390042367d25df4a18efe0a3012cd5",
    "Image": "localhost/busybox-mon:latest",
    "ImageID": "d6f3691804884e285fb0bb0ac7b5eb6bf6f4d043ca2b9ab4b35e049bba7c1528",
    "IsInfra": false,
    "Labels": {
      "wisehosting.app": "t1",
      "wisehosting.app_id": "app-1",
      "wisehosting.host_port": "21001",
      "wisehosting.managed": "true"
    },
    "Mounts": [],
    "Names": ["whmon-t1"],
    "Namespaces": {},
    "Networks": ["podman"],
    "Pid": 8181,
    "Pod": "",
    "PodName": "",
    "Ports": [{"host_ip": "127.0.0.1", "container_port": 8080, "host_port": 21001, "range": 1, "protocol": "tcp"}],
    "Size": null,
    "StartedAt": 1795797356,
    "State": "running",
    "Status": "Up 3 seconds ago",
    "Created": 1795797356
  },
  {
    "AutoRemove": false,
    "Command": ["sh", "-c", "echo bye; exit 3"],
    "Exited": true,
    "ExitedAt": 1795797356,
    "ExitCode": 3,
    "Id": "724d5051d3401ecc01376d395287c23e361402d3431542994677c075bda6bae3",
    "Labels": {"wisehosting.app_id": "app-2", "wisehosting.managed": "true"},
    "Names": ["whmon-t2"],
    "Pid": 0,
    "Ports": null,
    "StartedAt": 1795797356,
    "State": "exited",
    "Status": "Exited (3) 3 seconds ago",
    "Created": 1795797356
  }
]`

func TestParsePodmanPS(t *testing.T) {
	cs, err := parsePodmanPS([]byte(realPSJSON))
	if err != nil || len(cs) != 2 {
		t.Fatalf("%v %d", err, len(cs))
	}
	c := cs[0]
	if c.Name() != "whmon-t1" || c.AppID() != "app-1" || c.HostPort() != 21001 || c.State != "running" || c.StartedAt != 1795797356 {
		t.Errorf("%+v", c)
	}
	c = cs[1]
	if c.AppID() != "app-2" || c.HostPort() != 0 || c.State != "exited" || c.ExitCode != 3 || c.ExitedAt != 1795797356 {
		t.Errorf("%+v", c)
	}
	// Without the label, the first published port.
	cs, _ = parsePodmanPS([]byte(`[{"Id":"x","Labels":{"wisehosting.host_port":"nope"},"Ports":[{"host_port":0},{"host_port":23000}]}]`))
	if cs[0].HostPort() != 23000 || cs[0].Name() != "" {
		t.Errorf("%+v", cs[0])
	}
	if cs, err := parsePodmanPS([]byte("\n")); err != nil || cs != nil {
		t.Error(cs, err)
	}
}

// Part of `podman inspect` of an exited, OOM-killed container (podman
// 4.3.1; OOMKilled is false there, see attach.go).
const realInspectJSON = `[
     {
          "Id": "c2746d41af112ed44f676b25a65eb0c46a7437ddc1758a245ea68c218d44d730",
          "Created": "2026-11-27T16:36:24.887173356Z",
          "State": {
               "OciVersion": "1.0.2-dev",
               "Status": "exited",
               "Running": false,
               "Paused": false,
               "Restarting": false,
               "OOMKilled": false,
               "Dead": false,
               "Pid": 0,
               "ExitCode": 137,
               "Error": "",
               "StartedAt": "2026-11-27T16:36:25.120598104Z",
               "FinishedAt": "2026-11-27T16:36:25.333406886Z",
               "Health": {"Status": "", "FailingStreak": 0, "Log": null},
               "CheckpointedAt": "0001-01-01T00:00:00Z",
               "RestoredAt": "0001-01-01T00:00:00Z"
          },
          "Name": "whmon-oom",
          "RestartCount": 0,
          "Driver": "overlay",
          "GraphDriver": {
               "Name": "overlay",
               "Data": {
                    "UpperDir": "/var/lib/containers/storage/overlay/0326c58f/diff",
                    "WorkDir": "/var/lib/containers/storage/overlay/0326c58f/work"
               }
          },
          "Config": {"Labels": {"wisehosting.app_id": "app-oom", "wisehosting.managed": "true"}},
          "HostConfig": {
               "LogConfig": {
                    "Type": "k8s-file",
                    "Config": null,
                    "Path": "/var/lib/containers/storage/overlay-containers/c2746d41af112ed44f676b25a65eb0c46a7437ddc1758a245ea68c218d44d730/userdata/ctr.log",
                    "Tag": "",
                    "Size": "0B"
               },
               "RestartPolicy": {"Name": "", "MaximumRetryCount": 0},
               "Memory": 16777216,
               "DiskQuota": 0
          }
     }
]`

func TestParseInspect(t *testing.T) {
	cs, err := parseInspect([]byte(realInspectJSON))
	if err != nil || len(cs) != 1 {
		t.Fatalf("%v %d", err, len(cs))
	}
	c := cs[0]
	if c.State.ExitCode != 137 || c.State.OOMKilled || c.State.Status != "exited" || c.HostConfig.Memory != 16<<20 ||
		c.HostConfig.LogConfig.Type != "k8s-file" || !strings.HasSuffix(c.HostConfig.LogConfig.Path, "/userdata/ctr.log") ||
		c.GraphDriver.Data["UpperDir"] == "" || c.DiskLimit() != 0 || c.podmanRestarts() {
		t.Errorf("%+v", c)
	}
	if want := time.Date(2026, 11, 27, 16, 36, 25, 333406886, time.UTC); !c.State.FinishedAt.Equal(want) {
		t.Errorf("finished %v", c.State.FinishedAt)
	}
	cs, _ = parseInspect([]byte(`[{"HostConfig":{"StorageOpt":{"size":"1G"},"RestartPolicy":{"Name":"on-failure"}}},{"HostConfig":{"DiskQuota":1048576}}]`))
	if cs[0].DiskLimit() != 1e9 || !cs[0].podmanRestarts() || cs[1].DiskLimit() != 1<<20 {
		t.Errorf("%d %d", cs[0].DiskLimit(), cs[1].DiskLimit())
	}
}

func TestParseMeminfo(t *testing.T) {
	total, avail := parseMeminfo([]byte("MemTotal:        8000000 kB\nMemFree:          100000 kB\nMemAvailable:    6000000 kB\nBuffers: 1 kB\n"))
	if total != 8000000<<10 || avail != 6000000<<10 {
		t.Errorf("%d %d", total, avail)
	}
	// Old kernels: free + buffers + cached.
	total, avail = parseMeminfo([]byte("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 200 kB\n"))
	if total != 1000<<10 || avail != 310<<10 {
		t.Errorf("%d %d", total, avail)
	}
}

func TestParseKmsgOOM(t *testing.T) {
	// Records as read from /dev/kmsg after an OOM kill of a podman
	// container (cgroupfs manager), and a systemd-scope variant.
	id := "c2746d41af112ed44f676b25a65eb0c46a7437ddc1758a245ea68c218d44d730"
	rec := "6,1234,3177281625,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=libpod-" + id +
		",mems_allowed=0,oom_memcg=/libpod_parent/libpod-" + id + ",task_memcg=/libpod_parent/libpod-" + id + ",task=dd,pid=10237,uid=0\n"
	got, usec, ok := parseKmsgOOM(rec)
	if !ok || got != id || usec != 3177281625 {
		t.Errorf("%q %d %v", got, usec, ok)
	}
	other := strings.Repeat("ab", 32)
	rec = "6,9,100,-;oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/machine.slice/libpod-" + other + ".scope,task_memcg=/machine.slice/libpod-" + id + ".scope/container,task=node,pid=1,uid=0"
	if got, _, ok := parseKmsgOOM(rec); !ok || got != id {
		t.Errorf("systemd: %q %v", got, ok)
	}
	for _, rec := range []string{
		"6,1235,3177281667,-;Memory cgroup out of memory: Killed process 10237 (dd) total-vm:67804kB",
		"6,1,1,-;oom-kill:constraint=CONSTRAINT_NONE,task_memcg=/user.slice,task=x",
		"no header",
	} {
		if _, _, ok := parseKmsgOOM(rec); ok {
			t.Errorf("matched %q", rec)
		}
	}
}

func TestParseInotifyEvents(t *testing.T) {
	var b []byte
	add := func(wd int32, mask uint32, name string) {
		rec := make([]byte, syscall.SizeofInotifyEvent)
		binary.NativeEndian.PutUint32(rec[0:], uint32(wd))
		binary.NativeEndian.PutUint32(rec[4:], mask)
		padded := 0
		if name != "" {
			padded = (len(name) + 1 + 15) / 16 * 16
		}
		binary.NativeEndian.PutUint32(rec[12:], uint32(padded))
		rec = append(rec, make([]byte, padded)...)
		copy(rec[syscall.SizeofInotifyEvent:], name)
		b = append(b, rec...)
	}
	add(1, syscall.IN_MODIFY, "ctr.log")
	add(2, syscall.IN_IGNORED, "")
	add(3, syscall.IN_MOVED_TO, "containers.json")
	evs := parseInotifyEvents(b)
	if len(evs) != 3 || evs[0] != (inotifyEvent{1, syscall.IN_MODIFY, "ctr.log"}) || evs[1].wd != 2 || evs[2].name != "containers.json" {
		t.Errorf("%+v", evs)
	}
	if evs := parseInotifyEvents(b[:20]); len(evs) != 0 {
		t.Errorf("truncated: %+v", evs)
	}
}
