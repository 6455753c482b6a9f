package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startBrowser starts headless Chromium for a browser test (a 60 s budget in all, a profile of its
// own, no network features of its own) with its window w×h and extra options, and listens to its
// events. It returns the browser's context, the events seen, and the screenshots directory
// (screenshots/ at the repository root). Chromium is ended when the test ends.
func startBrowser(t *testing.T, w, h int, extra ...chromedp.ExecAllocatorOption) (context.Context, *browserEvents, string) {
	t.Helper()
	shots := filepath.Join("..", "..", "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, h),
	}, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	events := &browserEvents{}
	if err := chromedp.Listen(bctx, events.listen); err != nil {
		t.Fatalf("start Chromium (%s): %v", chromiumPath, err)
	}
	return bctx, events, shots
}

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
