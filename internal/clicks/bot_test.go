package clicks

import (
	"strings"
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

func TestPreviewAgentsLowerCase(t *testing.T) {
	for _, p := range append(previewAgents[:], searchAgents[:]...) {
		if p != strings.ToLower(p) {
			t.Errorf("agent pattern %q is not lower case; judge matches against a lower-cased User-Agent", p)
		}
	}
}

var sinkBool bool

func BenchmarkIsBot(b *testing.B) {
	for _, bc := range []struct{ name, ua string }{
		{"chrome", chromeUA},
		{"googlebot", googleUA},
		{"facebook", facebook},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkBool = IsBot(bc.ua)
			}
		})
	}
	// What a cache miss costs: the explicit lists plus crawlerdetect's patterns.
	b.Run("uncached/chrome", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkBool = judge(chromeUA)&verdictBot != 0
		}
	})
	b.Run("uncached/ahrefs", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkBool = judge(ahrefsBot)&verdictBot != 0
		}
	})
	b.Run("crawlerdetect/chrome", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkBool = crawlerdetect.IsCrawler(chromeUA)
		}
	})
}

func BenchmarkIsPreview(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkBool = IsPreview(chromeUA)
	}
}
