package httpx

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewSecureTLSConfig(t *testing.T) {
	a, b := NewSecureTLSConfig(), NewSecureTLSConfig()
	if a.MinVersion != tls.VersionTLS13 {
		t.Errorf("MinVersion = %x, want TLS 1.3", a.MinVersion)
	}
	if a == b {
		t.Error("NewSecureTLSConfig returned a shared *tls.Config")
	}
}

// checkTransportSettings pins the settings both clients must share.
func checkTransportSettings(t *testing.T, tr *http.Transport) {
	t.Helper()
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion != tls.VersionTLS13 {
		t.Errorf("TLSClientConfig = %+v, want MinVersion TLS 1.3", tr.TLSClientConfig)
	}
	if !tr.ForceAttemptHTTP2 {
		t.Error("ForceAttemptHTTP2 = false")
	}
	if tr.DialContext == nil {
		t.Error("DialContext is nil; the dial timeout would not apply")
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"MaxIdleConns", tr.MaxIdleConns, 50},
		{"MaxIdleConnsPerHost", tr.MaxIdleConnsPerHost, 10},
		{"IdleConnTimeout", tr.IdleConnTimeout, 90 * time.Second},
		{"TLSHandshakeTimeout", tr.TLSHandshakeTimeout, 10 * time.Second},
		{"ResponseHeaderTimeout", tr.ResponseHeaderTimeout, 30 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestNewSecureClientSettings(t *testing.T) {
	c := NewSecureClient(12 * time.Second)
	if c.Timeout != 12*time.Second {
		t.Errorf("Timeout = %v, want 12s", c.Timeout)
	}
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("Transport = %T, want *http.Transport", c.Transport)
	}
	checkTransportSettings(t, tr)
	if tr.Proxy == nil {
		t.Error("Proxy is nil; the secure client should honour proxy env vars")
	}
}

func TestNewDialerSettings(t *testing.T) {
	d := newDialer(nil)
	if d.Timeout != 10*time.Second {
		t.Errorf("dial Timeout = %v, want 10s", d.Timeout)
	}
	if d.KeepAlive != 30*time.Second {
		t.Errorf("dial KeepAlive = %v, want 30s", d.KeepAlive)
	}
	if newDialer(controlGuard).ControlContext == nil {
		t.Error("ControlContext not installed")
	}
}

// TestNewSecureClientTLS runs against local httptest servers: TLS 1.3 +
// HTTP/2 must be negotiated, and a TLS 1.2-only server must be refused.
func TestNewSecureClientTLS(t *testing.T) {
	newServer := func(maxVersion uint16, hits *atomic.Int32) *httptest.Server {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			hits.Add(1)
			io.WriteString(w, "ok")
		}))
		srv.EnableHTTP2 = true
		srv.TLS = &tls.Config{MaxVersion: maxVersion}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv
	}
	newClient := func(srv *httptest.Server) *http.Client {
		c := NewSecureClient(5 * time.Second)
		t.Cleanup(c.CloseIdleConnections)
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		c.Transport.(*http.Transport).TLSClientConfig.RootCAs = pool
		return c
	}

	t.Run("TLS 1.3 and HTTP/2", func(t *testing.T) {
		var hits atomic.Int32
		srv := newServer(tls.VersionTLS13, &hits)
		resp, err := newClient(srv).Get(srv.URL)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Errorf("negotiated %s, want HTTP/2", resp.Proto)
		}
		if resp.TLS.Version != tls.VersionTLS13 {
			t.Errorf("TLS version %x, want TLS 1.3", resp.TLS.Version)
		}
	})

	t.Run("TLS 1.2 server refused", func(t *testing.T) {
		var hits atomic.Int32
		srv := newServer(tls.VersionTLS12, &hits)
		resp, err := newClient(srv).Get(srv.URL)
		if err == nil {
			resp.Body.Close()
			t.Fatal("request to a TLS 1.2-only server succeeded")
		}
		if hits.Load() != 0 {
			t.Fatal("TLS 1.2-only server handled a request")
		}
	})
}
