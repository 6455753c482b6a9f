package qr

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/maypok86/otter/v2"
)

// Format is the kind of file a code is rendered as.
type Format uint8

const (
	// FormatPNG is a PNG image of Spec.Size pixels (see PNG).
	FormatPNG Format = iota
	// FormatSVG is an SVG drawing for print (see SVG); Spec.Size does not apply.
	FormatSVG
)

// Spec names one rendering of a code: everything that changes its bytes.
type Spec struct {
	Content string
	Format  Format
	Size    int // PNG width and height in pixels; ignored for SVG
	Level   Level
}

// renderVersion names the way this package renders codes. It is hashed into every ETag, so that
// an ETag can be had without rendering and still names exactly one sequence of bytes: change it
// whenever the bytes rendered for a Spec change (TestRenderPinned fails until it does).
const renderVersion = "1"

// key is the cache key of s: its format, level, size (PNG only) and content.
func (s Spec) key() string {
	size := 0
	if s.Format == FormatPNG {
		size = s.Size
	}
	var b strings.Builder
	var num [20]byte
	b.Grow(16 + len(s.Content))
	b.WriteByte(byte('0' + s.Format))
	b.WriteString(s.Level.String())
	b.Write(strconv.AppendInt(num[:0], int64(size), 10))
	b.WriteByte(' ')
	b.WriteString(s.Content)
	return b.String()
}

// ETag returns the strong entity tag, quoted, of the bytes Render(s) returns, without rendering:
// a hash of s and of the rendering's version.
func (s Spec) ETag() string { return etag(s.key()) }

func etag(key string) string {
	sum := sha256.Sum256([]byte(renderVersion + "\x00" + key))
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}

// Render returns the bytes of the code s names: PNG(s.Content, s.Size, s.Level) or
// SVG(s.Content, s.Level), with their errors. It is safe for concurrent use.
func Render(s Spec) ([]byte, error) {
	switch s.Format {
	case FormatPNG:
		return PNG(s.Content, s.Size, s.Level)
	case FormatSVG:
		return SVG(s.Content, s.Level)
	}
	return nil, fmt.Errorf("unknown qr code format %d", s.Format)
}

// Code is a rendered code.
type Code struct {
	Body []byte // shared with the cache: never modify it
	ETag string // strong entity tag, quoted: Spec.ETag
}

// ErrBusy is returned by Cache.Render, without rendering, when the cache renders as many codes as
// it may at once.
var ErrBusy = errors.New("too many qr codes being rendered")

// DefaultCacheBytes is the cache's default bound. Codes are small (a 256 or 512 pixel PNG, what
// the console and most pages show, about 1 KiB; a 2048 pixel one about 13 KiB; an SVG 15 to 80
// KiB), so 16 MiB keeps over ten thousand of the usual ones or a thousand of the largest, more
// than are asked for in a day. A flood of distinct codes fills it, and with the collector's
// headroom it then costs about twice its size in memory: that is why it is not larger.
const DefaultCacheBytes = 16 << 20

// entryOverhead is what an entry costs beyond its key, body and ETag: the cache's node, the slice
// and string headers.
const entryOverhead = 160

// CacheOptions configure a Cache; zero fields take the defaults named on them.
type CacheOptions struct {
	// MaxBytes bounds the codes kept: keys, bodies and ETags, plus entryOverhead each
	// (default DefaultCacheBytes). The least likely to be asked for again go first.
	MaxBytes int
	// MaxRendering is how many codes may be rendered at once (default max(1, GOMAXPROCS/2)). A
	// rendering is one goroutine's CPU work, so at most MaxRendering cores render at any time and
	// the rest are left to the redirects, whatever codes a flood asks for.
	MaxRendering int
	// Render renders a code (default Render). Tests count or hold renderings with it.
	Render func(Spec) ([]byte, error)
}

// Cache renders QR codes, at most MaxRendering at once, and keeps what it rendered, bounded in
// bytes: a code asked for again costs a lookup. It is safe for concurrent use.
type Cache struct {
	codes  *otter.Cache[string, Code]
	slots  chan struct{} // one token per rendering under way
	render func(Spec) ([]byte, error)

	hits, renders, refused atomic.Uint64
}

// NewCache returns an empty cache.
func NewCache(opts CacheOptions) *Cache {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultCacheBytes
	}
	if opts.MaxRendering <= 0 {
		opts.MaxRendering = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if opts.Render == nil {
		opts.Render = Render
	}
	return &Cache{
		codes: otter.Must(&otter.Options[string, Code]{
			MaximumWeight: uint64(opts.MaxBytes),
			Weigher: func(key string, c Code) uint32 {
				return uint32(len(key) + len(c.Body) + len(c.ETag) + entryOverhead)
			},
			// Evict on the writing goroutine, so the bound holds when Render returns; writes
			// come only after a rendering, which costs far more than the eviction.
			Executor: func(fn func()) { fn() },
		}),
		slots:  make(chan struct{}, opts.MaxRendering),
		render: opts.Render,
	}
}

// Lookup returns the code s names if the cache holds it; ok=false means it must be rendered.
// It never renders.
func (c *Cache) Lookup(s Spec) (code Code, ok bool) {
	code, ok = c.codes.GetIfPresent(s.key())
	if ok {
		c.hits.Add(1)
	}
	return code, ok
}

// Render renders the code s names and keeps it. When MaxRendering codes are being rendered
// already it returns ErrBusy at once, without waiting or rendering. Errors of the rendering are
// returned and nothing is kept.
func (c *Cache) Render(s Spec) (Code, error) {
	select {
	case c.slots <- struct{}{}:
	default:
		c.refused.Add(1)
		return Code{}, ErrBusy
	}
	defer func() { <-c.slots }()
	key := s.key()
	if code, ok := c.codes.GetIfPresent(key); ok { // rendered since the caller's Lookup
		c.hits.Add(1)
		return code, nil
	}
	body, err := c.render(s)
	if err != nil {
		return Code{}, err
	}
	c.renders.Add(1)
	code := Code{Body: body, ETag: etag(key)}
	c.codes.Set(key, code)
	return code, nil
}

// CacheStats are a Cache's counts since it was made.
type CacheStats struct {
	Hits    uint64 // codes found in the cache
	Renders uint64 // codes rendered
	Refused uint64 // renderings refused with ErrBusy
	Bytes   uint64 // what the codes kept weigh now (see CacheOptions.MaxBytes)
}

// Stats returns the cache's counts.
func (c *Cache) Stats() CacheStats {
	return CacheStats{
		Hits:    c.hits.Load(),
		Renders: c.renders.Load(),
		Refused: c.refused.Load(),
		Bytes:   c.codes.WeightedSize(),
	}
}
