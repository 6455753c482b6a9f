package qr

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// pinned are renderings whose bytes TestRenderPinned holds fixed.
var pinned = []Spec{
	{Content: contents[1], Format: FormatPNG, Size: DefaultSize, Level: Medium},
	{Content: contents[1], Format: FormatPNG, Size: MaxSize, Level: High},
	{Content: contents[3], Format: FormatPNG, Size: MinSize, Level: Low},
	{Content: contents[2], Format: FormatSVG, Level: Quartile},
}

// ETags are hashed from the Spec and renderVersion, not from the bytes, so the bytes of a Spec must
// not change while renderVersion stays. When this test fails because the rendering was changed on
// purpose (or a new Go release compresses differently), bump renderVersion and pin the new digests.
func TestRenderPinned(t *testing.T) {
	want := map[string][]string{
		"1": {
			"d573f8407bb25eea67629ca617894db657fb1e613e8fb06cabfaa394e51f5ee0",
			"2c434a47e274da6cea7f85dbb05db2b631f1b5b09ecb22d5e384687e6ab159ba",
			"a4ceefdac3b0bc5a3684c5455475d60469cc14edb86513aae3ac9bde4f2b4c36",
			"b2b2a677eae6905100806b099d21a6b3927f232151e1161ef44a68a30d474aae",
		},
	}[renderVersion]
	if want == nil {
		t.Fatalf("no digests pinned for renderVersion %q", renderVersion)
	}
	for i, s := range pinned {
		b, err := Render(s)
		if err != nil {
			t.Fatalf("Render(%+v) error: %v", s, err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want[i] {
			t.Errorf("Render(%+v) has SHA-256 %s, want %s: the rendering changed, so bump renderVersion and pin the new digests",
				s, got, want[i])
		}
	}
}

func TestSpecETag(t *testing.T) {
	base := Spec{Content: contents[0], Format: FormatPNG, Size: DefaultSize, Level: Medium}
	tests := []struct {
		name string
		spec Spec
	}{
		{"content", Spec{Content: contents[0] + "x", Format: FormatPNG, Size: DefaultSize, Level: Medium}},
		{"format", Spec{Content: contents[0], Format: FormatSVG, Size: DefaultSize, Level: Medium}},
		{"size", Spec{Content: contents[0], Format: FormatPNG, Size: DefaultSize + 1, Level: Medium}},
		{"level", Spec{Content: contents[0], Format: FormatPNG, Size: DefaultSize, Level: High}},
		// The size cannot pass into the content: the key separates them.
		{"size digits", Spec{Content: "2 " + contents[0], Format: FormatPNG, Size: 51, Level: Medium}},
	}
	tag := base.ETag()
	if len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' || strings.ContainsAny(tag[1:len(tag)-1], "\" \\") {
		t.Fatalf("%+v.ETag() = %s, want a quoted strong entity tag", base, tag)
	}
	if again := base.ETag(); again != tag {
		t.Errorf("%+v.ETag() = %s, then %s", base, tag, again)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.spec.ETag(); got == tag {
				t.Errorf("%+v.ETag() = %s, the same as %+v's", tc.spec, got, base)
			}
		})
	}
	svg := Spec{Content: contents[0], Format: FormatSVG, Level: High}
	if sized := (Spec{Content: contents[0], Format: FormatSVG, Size: 700, Level: High}); sized.ETag() != svg.ETag() {
		t.Errorf("an SVG's ETag changes with Size, which does not apply to it: %s and %s", sized.ETag(), svg.ETag())
	}
}

func TestCacheRender(t *testing.T) {
	rendered := 0
	fail := errors.New("broken renderer")
	c := NewCache(CacheOptions{MaxRendering: 1, Render: func(s Spec) ([]byte, error) {
		rendered++
		if s.Size == 99 {
			return nil, fail
		}
		return Render(s)
	}})
	s := Spec{Content: contents[0], Format: FormatPNG, Size: 200, Level: Quartile}
	if _, ok := c.Lookup(s); ok {
		t.Fatalf("Lookup(%+v) on an empty cache: ok", s)
	}
	code, err := c.Render(s)
	if err != nil || code.ETag != s.ETag() || len(code.Body) == 0 {
		t.Fatalf("Render(%+v) = %d bytes, ETag %s, %v; want a code with ETag %s", s, len(code.Body), code.ETag, err, s.ETag())
	}
	if again, ok := c.Lookup(s); !ok || string(again.Body) != string(code.Body) || again.ETag != code.ETag {
		t.Errorf("Lookup(%+v) after Render = %d bytes, %v; want the rendered code", s, len(again.Body), ok)
	}
	if _, err := c.Render(s); err != nil || rendered != 1 {
		t.Errorf("Render(%+v) of a kept code: %v, %d renderings in all; want nil and 1", s, err, rendered)
	}
	bad := Spec{Content: contents[0], Format: FormatPNG, Size: 99}
	for range 2 { // a failure is not kept, and gives its slot back
		if _, err := c.Render(bad); !errors.Is(err, fail) {
			t.Errorf("Render(%+v) error = %v, want %v", bad, err, fail)
		}
	}
	if _, ok := c.Lookup(bad); ok || rendered != 3 {
		t.Errorf("Lookup(%+v) after failed renderings: ok %v, %d renderings; want not kept, 3", bad, ok, rendered)
	}
	if st := c.Stats(); st.Hits != 2 || st.Renders != 1 || st.Refused != 0 || st.Bytes == 0 {
		t.Errorf("Stats() = %+v, want 2 hits, 1 render, none refused, some bytes", st)
	}
}

func TestRenderFormat(t *testing.T) {
	if _, err := Render(Spec{Content: contents[0], Format: Format(7)}); err == nil {
		t.Error("Render of format 7: no error")
	}
}

// BenchmarkCacheLookup is a code served from the cache.
func BenchmarkCacheLookup(b *testing.B) {
	c := NewCache(CacheOptions{})
	s := Spec{Content: contents[1], Format: FormatPNG, Size: MaxSize, Level: High}
	if _, err := c.Render(s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Lookup(s); !ok {
			b.Fatal("miss")
		}
	}
}
