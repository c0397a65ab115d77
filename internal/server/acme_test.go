package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/wisehosting/wisehosting/internal/config"
	"github.com/wisehosting/wisehosting/internal/store"
)

// TestACMECertificates runs the control plane with --acme against Pebble,
// Let's Encrypt's test CA, in process: an app host gets a certificate from
// the CA on its first HTTPS request and its traffic is routed over TLS; a
// host with no app gets none. (Pebble is told to accept every challenge:
// nothing on this machine resolves apps.example.test to us.)
func TestACMECertificates(t *testing.T) {
	t.Setenv("PEBBLE_VA_ALWAYS_VALID", "1")
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	quiet := log.New(io.Discard, "", 0)
	pdb := db.NewMemoryStore()
	pca := ca.New(quiet, pdb, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	pva := va.New(quiet, 80, 443, false, "", pdb)
	pwfe := wfe.New(quiet, pdb, pva, pca, nil, false, false, 0, 0)
	acmeSrv := httptest.NewTLSServer(pwfe.Handler())
	defer acmeSrv.Close()

	// An app to route to, on "worker" 127.0.0.1.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello over %s", r.Header.Get("X-Forwarded-Proto"))
	}))
	defer app.Close()
	_, appPort, _ := net.SplitHostPort(app.Listener.Addr().String())

	httpsAddr := freeAddr(t)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.PublicURL = "https://paas.example.test"
	cfg.BaseDomain = "apps.example.test"
	cfg.ACME, cfg.ACMEEmail, cfg.ACMEDirectory, cfg.HTTPSListen = true, "ops@example.test", acmeSrv.URL+wfe.DirectoryPath, httpsAddr
	cfg.InternalListen = ""
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.ACMEHTTPClient = acmeSrv.Client()
	seedRoutedApp(t, s.Store, "web", appPort)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		<-done
	}()
	waitListening(t, httpsAddr)

	roots := x509.NewCertPool()
	roots.AddCert(pca.GetRootCert(0).Cert)
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, httpsAddr)
		},
	}}
	resp, err := client.Get("https://web.apps.example.test/")
	if err != nil {
		t.Fatalf("HTTPS to an app host: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello over https" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if leaf := resp.TLS.PeerCertificates[0]; leaf.Subject.CommonName != "web.apps.example.test" && (len(leaf.DNSNames) == 0 || leaf.DNSNames[0] != "web.apps.example.test") {
		t.Errorf("certificate for %v %v", leaf.Subject, leaf.DNSNames)
	}

	// No app, no certificate: the handshake fails.
	conn, err := tls.Dial("tcp", httpsAddr, &tls.Config{RootCAs: roots, ServerName: "nope.apps.example.test"})
	if err == nil {
		conn.Close()
		t.Fatal("a host with no app got a certificate")
	}
}

// seedRoutedApp records an app running on a worker at 127.0.0.1:port.
func seedRoutedApp(t *testing.T, st *store.Store, name, port string) {
	t.Helper()
	ctx := context.Background()
	u := &store.User{Email: "o@example.test", Name: "o", PasswordHash: "x"}
	team := &store.Team{Name: "o", Slug: "o", Personal: true}
	if err := st.CreateUserWithTeam(ctx, u, team); err != nil {
		t.Fatal(err)
	}
	w := &store.Worker{Name: "w1", APIKeyHash: "0000000000000000000000000000000000000000000000000000000000000001", CreatedBy: u.ID}
	if err := st.CreateWorker(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateWorkerRegistration(ctx, w.ID, store.WorkerRegistration{Address: "127.0.0.1", RegisteredAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	a := &store.App{TeamID: team.ID, Name: name, Port: 8080}
	if err := st.CreateApp(ctx, a); err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	if err := st.UpdateAppRuntime(ctx, a.ID, store.AppRuntime{Status: "running", WorkerID: w.ID, HostPort: p}); err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never listened", addr)
}
