package affiliatetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// ShareFailure is a way the share host can be told to fail.
type ShareFailure int

// Share host failures.
const (
	ShareOK      ShareFailure = iota // answer normally
	Share5xx                         // HTTP 503
	Share429                         // HTTP 429 with Retry-After
	ShareHang                        // no answer until the request's context ends (or a minute passes)
	ShareRefused                     // every connection refused, as by a host that is down
	ShareGone                        // HTTP 404: no link has this code
	ShareOffsite                     // a 302 to a page off AliExpress
)

// SharePage is the product page the share host sends the share code code to: the same page for the same code,
// https://www.aliexpress.com/item/1005<12 digits>.html.
func SharePage(code string) string {
	sum := sha256.Sum256([]byte(code))
	return fmt.Sprintf("https://www.aliexpress.com/item/1005%012d.html", binary.BigEndian.Uint64(sum[:8])%1_000_000_000_000)
}

// ShareHost stands in for AliExpress's share-link hosts, an http.Handler: a.aliexpress.com/_<code> answers a
// 302 to s.click.aliexpress.com/e/_<code>, as the app's links do, and s.click.aliexpress.com/e/<code> and
// click.aliexpress.com/e/<code> a 302 to SharePage(code) with share tracking on it; anything else is 404. Its
// methods are safe for concurrent use.
type ShareHost struct {
	mu       sync.Mutex // guards everything below
	requests int
	failure  ShareFailure
}

// Requests returns how many requests the host received (connections it refused are not requests).
func (h *ShareHost) Requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests
}

// Fail makes every request fail as f until told otherwise; Fail(ShareOK) heals the host.
func (h *ShareHost) Fail(f ShareFailure) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failure = f
}

func (h *ShareHost) state() ShareFailure {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failure
}

// ServeHTTP answers one share-link request as AliExpress's share hosts do.
func (h *ShareHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.requests++
	failure := h.failure
	h.mu.Unlock()
	switch failure {
	case Share5xx:
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	case Share429:
		w.Header().Set("Retry-After", "60")
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	case ShareHang:
		sleep(r, hangMax)
		return
	case ShareGone:
		http.NotFound(w, r)
		return
	case ShareOffsite:
		http.Redirect(w, r, "https://evil.example/", http.StatusFound)
		return
	case ShareRefused:
		// A connection opened before the host went down: drop it unanswered.
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
		return
	}
	host := strings.ToLower(strings.TrimSuffix(r.Host, ":443"))
	switch {
	case host == "a.aliexpress.com" && strings.HasPrefix(r.URL.Path, "/_"):
		http.Redirect(w, r, "https://s.click.aliexpress.com/e"+r.URL.Path, http.StatusFound)
	case (host == "s.click.aliexpress.com" || host == "click.aliexpress.com") && strings.HasPrefix(r.URL.Path, "/e/") &&
		len(r.URL.Path) > len("/e/"):
		code := r.URL.Path[len("/e/"):]
		http.Redirect(w, r, SharePage(code)+"?srcSns=sns_Copy&spreadType=socialShare&bizType=ProductDetail", http.StatusFound)
	default:
		http.NotFound(w, r)
	}
}

// ShareServer is a ShareHost served over TLS on a loopback port, with a certificate for aliexpress.com and its
// subdomains that only TLSConfig trusts. Point a share resolver at it with Dial and TLSConfig.
type ShareServer struct {
	*ShareHost
	srv     *httptest.Server
	refused string // a loopback address where nothing listens
	tls     *tls.Config

	mu       sync.Mutex // guards refusals
	refusals int
}

// NewShareServer starts a share host. The caller closes it.
func NewShareServer() (*ShareServer, error) {
	cert, err := ShareCertificate()
	if err != nil {
		return nil, fmt.Errorf("share host certificate: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("share host refused address: %w", err)
	}
	refused := ln.Addr().String()
	_ = ln.Close()

	s := &ShareServer{ShareHost: &ShareHost{}, refused: refused}
	s.srv = httptest.NewUnstartedServer(s.ShareHost)
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.srv.StartTLS()
	pool := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		s.srv.Close()
		return nil, fmt.Errorf("share host certificate: %w", err)
	}
	pool.AddCert(leaf)
	s.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return s, nil
}

// Dial connects to the share server whatever address it is asked for (or, while the host fails as ShareRefused,
// to a loopback port where nothing listens). It fits aliurl.ResolverConfig.DialContext.
func (s *ShareServer) Dial(ctx context.Context, network, _ string) (net.Conn, error) {
	addr := s.srv.Listener.Addr().String()
	if s.state() == ShareRefused {
		s.mu.Lock()
		s.refusals++
		s.mu.Unlock()
		addr = s.refused
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// Fail makes every request fail as f until told otherwise; Fail(ShareOK) heals the host. ShareRefused also closes
// the connections already open, so that none is reused.
func (s *ShareServer) Fail(f ShareFailure) {
	s.ShareHost.Fail(f)
	if f == ShareRefused {
		s.srv.CloseClientConnections()
	}
}

// Refused returns how many connections were refused because the host failed as ShareRefused.
func (s *ShareServer) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refusals
}

// TLSConfig returns a client configuration that trusts the server's certificate. It fits
// aliurl.ResolverConfig.TLSClientConfig.
func (s *ShareServer) TLSConfig() *tls.Config { return s.tls.Clone() }

// Close stops the server.
func (s *ShareServer) Close() { s.srv.Close() }

// ShareCertificate makes a self-signed certificate for aliexpress.com and its subdomains (the share hosts
// among them), valid as long as a sandbox may run; tests that serve TLS as AliExpress use it too.
func ShareCertificate() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redirector sandbox share host"},
		DNSNames:              []string{"aliexpress.com", "*.aliexpress.com", "*.click.aliexpress.com"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
