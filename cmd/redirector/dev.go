package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
)

// sandbox is the in-process stand-in for the platform that -dev runs, and for its share-link hosts.
type sandbox struct {
	close func()
	// shareDial and shareTLS point the share resolver at the sandbox's share host: every share link is answered
	// there, never over the network.
	shareDial func(ctx context.Context, network, addr string) (net.Conn, error)
	shareTLS  *tls.Config
}

// sandboxMarker marks every link the sandbox hands out, so none is mistaken for a real one.
const sandboxMarker = "aff_sandbox"

// startSandbox serves the strict platform fake on a loopback port and points cfg at it, with
// throwaway credentials. Its links lead to the real product page with a visible sandbox marker; it
// knows every product (sandboxProduct), for social previews.
// It also serves AliExpress's share-link hosts on a loopback port: each share code leads to a
// product page of its own (affiliatetest.SharePage).
func startSandbox(cfg *config) (sandbox, error) {
	secret := randomHex(16)
	cfg.AppKey, cfg.AppSecret = "sandbox", secret
	if cfg.TrackingID == "" {
		cfg.TrackingID = "sandbox"
	}
	tracking := cfg.TrackingID
	p := affiliatetest.NewPlatform(affiliatetest.PlatformConfig{
		AppKey: cfg.AppKey, Secret: secret, TrackingID: tracking, TrackingIDs: cfg.TrackingIDs,
		LinkFunc: func(source string) string {
			sep := "?"
			if strings.Contains(source, "?") {
				sep = "&"
			}
			return source + sep + sandboxMarker + "=" + url.QueryEscape(tracking)
		},
		ProductFunc: sandboxProduct,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return sandbox{}, fmt.Errorf("start sandbox platform: %w", err)
	}
	shares, err := affiliatetest.NewShareServer()
	if err != nil {
		_ = ln.Close()
		return sandbox{}, fmt.Errorf("start sandbox share host: %w", err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	cfg.APIURL = "http://" + ln.Addr().String() + "/sync"
	// A trickle of sandbox orders of the products clicked, synced every minute, so earnings can be tried.
	stopShop := make(chan struct{})
	go runSandboxShop(p, stopShop)
	if cfg.OrderSyncInterval == 10*time.Minute {
		cfg.OrderSyncInterval = time.Minute
	}
	return sandbox{
		close:     func() { _ = srv.Close(); shares.Close(); close(stopShop) },
		shareDial: shares.Dial,
		shareTLS:  shares.TLSConfig(),
	}, nil
}

// sandboxProduct is what the sandbox's productdetail.get says of every product id, so a preview
// fetcher of a product short link gets its card in -dev: a title that says it is the sandbox, an
// image on AliExpress's image host (the only hosts a preview shows) and a price.
func sandboxProduct(id string) (affiliatetest.Product, bool) {
	return affiliatetest.Product{
		Title:    "Sandbox product " + id,
		ImageURL: "https://ae01.alicdn.com/kf/sandbox-" + id + ".jpg",
		Price:    "9.99",
		Currency: "USD",
	}, true
}

// devBanner tells the developer how to use the running sandbox, generating an admin token if none
// was given.
func devBanner(cfg *config) string {
	if cfg.AdminToken == "" {
		cfg.AdminToken = randomHex(16)
	}
	b := cfg.BaseURL
	metricsURL := b + "/metrics"
	if host, port, err := net.SplitHostPort(cfg.MetricsAddr); err == nil {
		if host == "" {
			host = "localhost"
		}
		metricsURL = "http://" + net.JoinHostPort(host, port) + "/metrics"
	}
	return fmt.Sprintf(`
  redirector -dev: embedded store kept in %s, sandbox platform (links are marked %s=…)
  admin token:   %s
  try:           %s/go?u=https://www.aliexpress.com/item/1005001234567890.html
                 %s/go?u=https://s.click.aliexpress.com/e/_abc   (share links are answered by the sandbox)
                 curl -H 'Authorization: Bearer %s' -d '{"url":"https://www.aliexpress.com/item/1005001234567890.html"}' %s/api/links
  console:       %s/admin   health: %s/healthz   metrics: %s

`, dataFile(cfg.DataDir), sandboxMarker, cfg.AdminToken, b, b, cfg.AdminToken, b, b, b, metricsURL)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
