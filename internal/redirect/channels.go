package redirect

import (
	"net/url"
	"slices"
	"strings"
)

// Channels are the tracking ids (ALIEXPRESS_TRACKING_IDS) this deployment may tag links with. The zero
// value knows only the default channel.
type Channels struct {
	Default string   // the default tracking id; links that name no channel use it
	List    []string // every channel, the default first
}

// normalize returns the channel to tag a link with: "" for the default channel, else c itself; ok=false
// when c is not configured. Never an arbitrary tracking id: our quota must not tag other people's links.
func (c Channels) normalize(ch string) (string, bool) {
	if ch == "" || ch == c.Default {
		return "", true
	}
	return ch, slices.Contains(c.List, ch)
}

// queryC returns the value of c in a raw query, before any literal u (which runs to the query's end).
// given=false: the query has no c.
func queryC(rawQuery string) (c string, given bool, reason string) {
	if !strings.HasPrefix(rawQuery, "c=") && !strings.Contains(rawQuery, "&c=") {
		return "", false, "" // the common case, one fast scan
	}
	for q := rawQuery; q != ""; {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k == "u" && literalURL(v) {
			break
		}
		if k == "c" {
			c, err := url.QueryUnescape(v)
			if err != nil {
				return "", true, "malformed URL encoding in c"
			}
			return c, true, ""
		}
	}
	return "", false, ""
}

// withSubID appends af=id to an affiliate link (SUB_ID=link). id is a valid short id: nothing to escape.
func withSubID(link, id string) string {
	sep := "?"
	if strings.IndexByte(link, '?') >= 0 {
		sep = "&"
	}
	return link + sep + "af=" + id
}
