package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserWaitJS waits up to 10 s until expr is true in the browser page of bctx.
func browserWaitJS(t *testing.T, bctx context.Context, what, expr string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(bctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(wctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("wait for %s (%s): %v", what, expr, err)
	}
}

// browserScreenshot saves the whole page of bctx as dir/name and returns the PNG.
func browserScreenshot(t *testing.T, bctx context.Context, dir, name string) []byte {
	t.Helper()
	buf, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return buf
}
