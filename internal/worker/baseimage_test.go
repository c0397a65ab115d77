package worker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDockerfileImageRefs(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string
	}{
		{"plain", "FROM busybox:latest\nRUN echo hi\n", []string{"busybox:latest"}},
		{"platform flag and stage", "FROM --platform=linux/amd64 golang:1.22 AS build\nFROM build\nCOPY --from=build /x /y\n", []string{"golang:1.22"}},
		{"arg default", "ARG BASE=localhost/wh-other:dep_1\nFROM ${BASE}\n", []string{"localhost/wh-other:dep_1"}},
		{"arg $VAR form", "ARG IMG=alpine\nARG TAG=3\nFROM $IMG:$TAG\n", []string{"alpine:3"}},
		{"copy from an image", "FROM busybox\nCOPY --from=localhost/wh-other:x /app /app\n", []string{"busybox", "localhost/wh-other:x"}},
		{"continuation", "FROM \\\n  localhost/wh-other\n", []string{"localhost/wh-other"}},
		{"lowercase and scratch", "from scratch\ncopy x /x\n", nil},
		{"stage index", "FROM busybox\nFROM busybox\nCOPY --from=0 /a /b\n", []string{"busybox", "busybox"}},
		// Forms that used to hide a reference.
		{"default of an unset variable", "FROM ${IMG:-localhost/wh-victim:tag}\n", []string{"localhost/wh-victim:tag"}},
		{"default without colon", "ARG IMG\nFROM ${IMG-sha256:abc}\n", []string{"sha256:abc"}},
		{"set default is not used", "ARG IMG=alpine\nFROM ${IMG:-busybox}\n", []string{"alpine"}},
		{"alternative of a set variable", "ARG X=1\nFROM ${X:+localhost/wh-other}\n", []string{"localhost/wh-other"}},
		{"backtick escape", "# escape=`\nFROM `\n  localhost/wh-other:x\n", []string{"localhost/wh-other:x"}},
		{"comment and blank inside a continuation", "FROM \\\n# hidden\n\n  sha256:abc\n", []string{"sha256:abc"}},
	}
	for _, tc := range cases {
		if got := dockerfileImageRefs(tc.text); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCheckBaseImagesRefusesAnotherAppsImage(t *testing.T) {
	r := newFakeRunner().
		on("podman images --filter label=wisehosting.managed=true", "localhost/wh-other\nlocalhost/wh-web\n", nil).
		on("podman image inspect --format", "", errors.New("no such image")).
		on("podman image inspect --format {{index .Labels \"wisehosting.managed\"}}|{{index .Labels \"wisehosting.app\"}} -- localhost/wh-other:dep_1", "true|other\n", nil).
		on("podman image inspect --format {{index .Labels \"wisehosting.managed\"}}|{{index .Labels \"wisehosting.app\"}} -- localhost/wh-web:old", "true|web\n", nil)
	a := newTestAgent(t, r)
	write := func(text string) string {
		p := filepath.Join(t.TempDir(), "Dockerfile")
		os.WriteFile(p, []byte(text), 0o600)
		return p
	}
	if err := a.checkBaseImages(context.Background(), write("ARG B=localhost/wh-other:dep_1\nFROM $B\n"), "web"); err == nil || !strings.Contains(err.Error(), "another app") {
		t.Fatalf("another app's image: %v", err)
	}
	// Another app's image named anywhere is refused.
	for _, text := range []string{"ARG X=LOCALHOST/WH-OTHER:dep_9\nFROM busybox\n", "FROM busybox\nCOPY --from=${Y:-localhost/wh-other} /a /a\n"} {
		if err := a.checkBaseImages(context.Background(), write(text), "web"); err == nil || !strings.Contains(err.Error(), "another app") {
			t.Fatalf("%q: %v", text, err)
		}
	}
	// An image that is not an app's may have such a name.
	if err := a.checkBaseImages(context.Background(), write("ARG B=localhost/wh-base-tools\nFROM busybox\n"), "web"); err != nil {
		t.Fatalf("a local image that is no app's refused: %v", err)
	}
	if err := a.checkBaseImages(context.Background(), write("FROM localhost/wh-web:old\n"), "web"); err != nil {
		t.Fatalf("the app's own image refused: %v", err)
	}
	if err := a.checkBaseImages(context.Background(), write("FROM docker.io/library/busybox\n"), "web"); err != nil {
		t.Fatalf("a public image refused: %v", err)
	}
}
