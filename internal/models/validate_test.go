package models

import (
	"strings"
	"testing"
)

func TestValidators(t *testing.T) {
	cases := []struct {
		name  string
		check func(string) error
		ok    []string
		bad   []string
	}{
		{"app name", ValidateAppName,
			[]string{"a", "web", "my-app-2", strings.Repeat("a", 40)},
			[]string{"", "x;id", "../x", "-rf", "Web", "9lives", "a-", "a_b", "a.b", strings.Repeat("a", 41)}},
		{"repo url", ValidateRepoURL,
			[]string{"https://github.com/o/r.git", "https://git.example.com:8443/o/r", "http://127.0.0.1:3000/r.git", "http://10.1.2.3/r", "http://localhost/r"},
			[]string{"", "-uhttps://x", "ext::sh -c id", "file:///etc", "/srv/repo", "ssh://-oProxyCommand=id/x", "git@github.com:o/r.git",
				"http://github.com/o/r", "https://user:pw@github.com/o/r", "https://", "ftp://x/y", "https://x/r?ref=1", "https://x/r y", "https://-x/r"}},
		{"branch", ValidateBranch,
			[]string{"main", "feature/x", "release-1.2", "v1"},
			[]string{"", "-f", "--upload-pack=x", "a..b", "a b", "a~1", "a^", "a:b", "x/", "x.lock", ".hidden", "a/.b", "@", "a@{1}", "a\x00b", "a\\b", "a//b"}},
		{"commit", ValidateCommit,
			[]string{"abcdef1", strings.Repeat("a", 40)},
			[]string{"", "abc", "ABCDEF1", "-abcdef1", "abcdefg", "HEAD"}},
		{"dockerfile", ValidateDockerfilePath,
			[]string{"", "Dockerfile", "deploy/Dockerfile.prod"},
			[]string{"/etc/passwd", "../Dockerfile", "a/../../b", "-f", "a//b"}},
	}
	for _, tc := range cases {
		for _, v := range tc.ok {
			if err := tc.check(v); err != nil {
				t.Errorf("%s %q refused: %v", tc.name, v, err)
			}
		}
		for _, v := range tc.bad {
			if err := tc.check(v); err == nil {
				t.Errorf("%s %q accepted", tc.name, v)
			}
		}
	}
	if ValidateEnv("PORT", "8080") != nil || ValidateEnv("1X", "") == nil || ValidateEnv("A-B", "") == nil || ValidateEnv("X", strings.Repeat("x", MaxEnvValueBytes+1)) == nil {
		t.Error("env validation wrong")
	}
	if (Limits{MemoryBytes: 64 << 20, CPUMillis: 500}).Validate() != nil || (Limits{MemoryBytes: 1}).Validate() == nil || (Limits{CPUMillis: -1}).Validate() == nil {
		t.Error("limits validation wrong")
	}
}
