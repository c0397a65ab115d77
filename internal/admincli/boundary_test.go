package admincli_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The operators' tool is a client: it must not link the server's
// packages (store, database drivers, hub, …), only the contract.
func TestDependsOnlyOnTheContract(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}",
		"github.com/wisehosting/wisehosting/cmd/wisehosting-admin").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := []string{
		"github.com/wisehosting/wisehosting/cmd/wisehosting-admin",
		"github.com/wisehosting/wisehosting/internal/admincli",
		"github.com/wisehosting/wisehosting/internal/adminrpc",
		"github.com/wisehosting/wisehosting/internal/wsproto",
		"github.com/wisehosting/wisehosting/internal/models",
		"github.com/go-json-experiment/json",
		"github.com/gorilla/websocket",
		"golang.org/x/term",
		"golang.org/x/sys",
	}
	for _, dep := range strings.Fields(string(out)) {
		ok := false
		for _, a := range allowed {
			ok = ok || dep == a || strings.HasPrefix(dep, a+"/")
		}
		if !ok {
			t.Errorf("wisehosting-admin depends on %s", dep)
		}
	}
}
