package config

import (
	"strings"
	"testing"
)

func TestInternalListen(t *testing.T) {
	c, err := Load("serve", nil, env(nil))
	if err != nil || c.InternalListen != "127.0.0.1:8081" {
		t.Fatalf("default internal listen %q, %v", c.InternalListen, err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"flag", []string{"--internal-listen", "127.0.0.1:0"}, nil, "127.0.0.1:0"},
		{"ipv6", []string{"--internal-listen", "[::1]:9091"}, nil, "[::1]:9091"},
		{"localhost", []string{"--internal-listen", "localhost:9091"}, nil, "localhost:9091"},
		{"other loopback", []string{"--internal-listen", "127.0.0.2:9091"}, nil, "127.0.0.2:9091"},
		{"env", nil, map[string]string{"WH_INTERNAL_LISTEN": "127.0.0.1:9092"}, "127.0.0.1:9092"},
		{"off by flag", []string{"--internal-listen", "off"}, nil, ""},
		{"empty flag", []string{"--internal-listen", ""}, nil, ""},
		{"off by env", nil, map[string]string{"WH_INTERNAL_LISTEN": "off"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load("serve", tc.args, env(tc.env))
			if err != nil || c.InternalListen != tc.want {
				t.Fatalf("InternalListen = %q, %v; want %q", c.InternalListen, err, tc.want)
			}
		})
	}
	for _, addr := range []string{"0.0.0.0:8081", ":8081", "192.0.2.10:8081", "[::]:8081", "example.com:8081", "127.0.0.1"} {
		_, err := Load("serve", []string{"--internal-listen", addr}, env(nil))
		if err == nil || !strings.Contains(err.Error(), "internal-listen") {
			t.Errorf("%s: err = %v, want a refusal", addr, err)
		}
	}
	_, err = Load("serve", []string{"--internal-listen", "0.0.0.0:8081"}, env(nil))
	if err == nil || !strings.Contains(err.Error(), "loopback address only") {
		t.Fatalf("the refusal should say why: %v", err)
	}
}
