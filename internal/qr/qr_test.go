package qr

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
)

var levels = []Level{Low, Medium, Quartile, High}

// contents are short URLs as the service writes them, and one long URL for a dense code.
var contents = []string{
	"http://localhost:8080/aZ3kP9qX",
	"https://s.example.com/4bNbq4b6AY?s=1",
	"https://links.example-shop.com/summer-sale_2024?s=1",
	"https://www.aliexpress.com/item/1005001234567890.html?sku_id=12000012345678901&" + strings.Repeat("x", 200),
}

// decode reads the QR code in img and returns its text and error correction level.
func decode(t *testing.T, img image.Image) (text, level string) {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("binary bitmap: %v", err)
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decode qr code: %v", err)
	}
	lvl, _ := res.GetResultMetadata()[gozxing.ResultMetadataType_ERROR_CORRECTION_LEVEL].(string)
	return res.GetText(), lvl
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    Level
		wantErr bool
	}{
		{"", Medium, false},
		{"M", Medium, false},
		{"m", Medium, false},
		{"L", Low, false},
		{"l", Low, false},
		{"Q", Quartile, false},
		{"H", High, false},
		{"h", High, false},
		{"X", Medium, true},
		{"MM", Medium, true},
		{" M", Medium, true},
		{"high", Medium, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseLevel(tc.in)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("ParseLevel(%q) = %v, %v, want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
			if err == nil && tc.in != "" && got.String() != strings.ToUpper(tc.in) {
				t.Errorf("ParseLevel(%q).String() = %q, want %q", tc.in, got.String(), strings.ToUpper(tc.in))
			}
		})
	}
}

func TestPNGDecodes(t *testing.T) {
	for _, content := range contents {
		for _, level := range levels {
			sizes := []int{MinSize, 300, DefaultSize}
			if level == Medium && content == contents[0] {
				sizes = append(sizes, MaxSize) // slow to decode: one case is enough
			}
			for _, size := range sizes {
				name := level.String() + "/" + strconv.Itoa(size) + "/" + content[:min(len(content), 40)]
				t.Run(name, func(t *testing.T) {
					b, err := PNG(content, size, level)
					if err != nil {
						t.Fatalf("PNG(%q, %d, %v) error: %v", content, size, level, err)
					}
					img, err := png.Decode(bytes.NewReader(b))
					if err != nil {
						t.Fatalf("png.Decode: %v", err)
					}
					n := len(mustModules(t, content, level))
					wantSize := size
					if n > size {
						wantSize = n // one pixel per module
					}
					if got := img.Bounds(); got.Dx() != wantSize || got.Dy() != wantSize {
						t.Fatalf("PNG(%q, %d, %v) is %v, want %dx%d", content, size, level, got, wantSize, wantSize)
					}
					checkQuietZone(t, img)
					text, lvl := decode(t, img)
					if text != content || lvl != level.String() {
						t.Errorf("decode(PNG(%q, %d, %v)) = %q, level %q, want %q, level %q", content, size, level, text, lvl, content, level)
					}
				})
			}
		}
	}
}

func mustModules(t *testing.T, content string, level Level) [][]bool {
	t.Helper()
	m, err := modules(content, level)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkQuietZone checks that the dark pixels are framed by at least QuietZone modules of white. A
// module's width in pixels is read off the top-left finder pattern: its first row is 7 dark modules.
func checkQuietZone(t *testing.T, img image.Image) {
	t.Helper()
	b := img.Bounds()
	gray := image.NewGray(b)
	draw.Draw(gray, b, img, b.Min, draw.Src)
	dark := func(x, y int) bool { return gray.GrayAt(x, y).Y < 128 }
	minX, minY, maxX, maxY := b.Max.X, b.Max.Y, -1, -1
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if dark(x, y) {
				minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
			}
		}
	}
	if maxX < 0 {
		t.Fatal("image has no dark pixels")
	}
	run := 0
	for x := minX; x < b.Max.X && dark(x, minY); x++ {
		run++
	}
	if run%7 != 0 {
		t.Fatalf("finder pattern's top row is %d pixels, want a multiple of 7 (whole-pixel modules)", run)
	}
	zone := QuietZone * run / 7
	if minX < zone || minY < zone || b.Max.X-1-maxX < zone || b.Max.Y-1-maxY < zone {
		t.Errorf("margins left %d top %d right %d bottom %d pixels, want at least %d (%d modules)",
			minX, minY, b.Max.X-1-maxX, b.Max.Y-1-maxY, zone, QuietZone)
	}
}

func TestPNGSize(t *testing.T) {
	tests := []struct {
		size    int
		wantErr bool
	}{
		{MinSize - 1, true},
		{0, true},
		{-512, true},
		{MaxSize + 1, true},
		{1 << 30, true},
		{MinSize, false},
		{MaxSize, false},
		{DefaultSize, false},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.size), func(t *testing.T) {
			_, err := PNG(contents[0], tc.size, Medium)
			if tc.wantErr && !errors.Is(err, ErrSize) {
				t.Errorf("PNG(_, %d, M) error = %v, want ErrSize", tc.size, err)
			}
			if !tc.wantErr && err != nil {
				t.Errorf("PNG(_, %d, M) error = %v, want nil", tc.size, err)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tooLong := strings.Repeat("x", 3000) // past version 40 in byte mode at every level
	for _, tc := range []struct {
		name, content string
		level         Level
	}{
		{"empty", "", Medium},
		{"too long", tooLong, Low},
		{"unknown level", contents[0], Level(9)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := PNG(tc.content, DefaultSize, tc.level); err == nil {
				t.Errorf("PNG(%.20q, %d, %d) error = nil, want an error", tc.content, DefaultSize, tc.level)
			}
			if _, err := SVG(tc.content, tc.level); err == nil {
				t.Errorf("SVG(%.20q, %d) error = nil, want an error", tc.content, tc.level)
			}
		})
	}
}

// svgRect is one <rect> of the drawing, with the fill it inherits.
type svgRect struct {
	x, y, w, h int
	fill       string
}

// parseSVG walks the SVG's XML and returns the root's viewBox size, its shape-rendering and its rects,
// failing on anything this package should not write.
func parseSVG(t *testing.T, b []byte) (size int, rendering string, rects []svgRect) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var fills []string // inherited fill per open element
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			attrs := map[string]string{}
			for _, a := range el.Attr {
				attrs[a.Name.Local] = a.Value
			}
			fill := ""
			if len(fills) > 0 {
				fill = fills[len(fills)-1]
			}
			if f, ok := attrs["fill"]; ok {
				fill = f
			}
			fills = append(fills, fill)
			depth++
			switch el.Name.Local {
			case "svg":
				if depth != 1 || el.Name.Space != "http://www.w3.org/2000/svg" {
					t.Fatalf("svg element at depth %d in namespace %q, want the root in the SVG namespace", depth, el.Name.Space)
				}
				f := strings.Fields(attrs["viewBox"])
				if len(f) != 4 || f[0] != "0" || f[1] != "0" || f[2] != f[3] {
					t.Fatalf("viewBox = %q, want \"0 0 N N\"", attrs["viewBox"])
				}
				size = atoi(t, f[2])
				rendering = attrs["shape-rendering"]
			case "rect":
				r := svgRect{x: atoiDefault(t, attrs["x"]), y: atoiDefault(t, attrs["y"]),
					w: atoi(t, attrs["width"]), h: atoi(t, attrs["height"]), fill: fill}
				rects = append(rects, r)
			case "g":
			default:
				t.Fatalf("unexpected element <%s>", el.Name.Local)
			}
		case xml.EndElement:
			fills = fills[:len(fills)-1]
			depth--
		}
	}
	return size, rendering, rects
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("number %q: %v", s, err)
	}
	return n
}

func atoiDefault(t *testing.T, s string) int {
	if s == "" {
		return 0
	}
	return atoi(t, s)
}

// rasterise paints the rects, in order, onto a grey canvas at scale pixels per unit; a pixel left grey
// was painted by nothing.
func rasterise(t *testing.T, size, scale int, rects []svgRect) *image.Gray {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, size*scale, size*scale))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	for _, r := range rects {
		var v uint8
		switch r.fill {
		case "#fff", "#ffffff", "white":
			v = 255
		case "#000", "#000000", "black":
			v = 0
		default:
			t.Fatalf("rect %+v has fill %q, want black or white", r, r.fill)
		}
		if r.x < 0 || r.y < 0 || r.w <= 0 || r.h <= 0 || r.x+r.w > size || r.y+r.h > size {
			t.Fatalf("rect %+v is outside the %dx%d viewBox or empty", r, size, size)
		}
		for y := r.y * scale; y < (r.y+r.h)*scale; y++ {
			for x := r.x * scale; x < (r.x+r.w)*scale; x++ {
				img.Pix[y*img.Stride+x] = v
			}
		}
	}
	for i, p := range img.Pix {
		if p == 128 {
			t.Fatalf("pixel %d,%d painted by no rect: the background is missing", i%img.Stride, i/img.Stride)
		}
	}
	return img
}

func TestSVGDecodes(t *testing.T) {
	for _, content := range contents {
		for _, level := range levels {
			t.Run(level.String()+"/"+content[:min(len(content), 40)], func(t *testing.T) {
				b, err := SVG(content, level)
				if err != nil {
					t.Fatalf("SVG(%q, %v) error: %v", content, level, err)
				}
				size, rendering, rects := parseSVG(t, b)
				if rendering != "crispEdges" {
					t.Errorf("shape-rendering = %q, want crispEdges", rendering)
				}
				m := mustModules(t, content, level)
				if size != len(m) {
					t.Errorf("viewBox size %d, want %d modules", size, len(m))
				}
				if len(rects) == 0 || rects[0] != (svgRect{0, 0, size, size, "#fff"}) {
					t.Fatalf("first rect = %+v, want the white background over the whole viewBox", rects[:min(1, len(rects))])
				}
				// Horizontal runs are merged: no two dark rects touch end to end in a row.
				ends := map[[2]int]bool{}
				for _, r := range rects[1:] {
					ends[[2]int{r.x + r.w, r.y}] = true
				}
				for _, r := range rects[1:] {
					if ends[[2]int{r.x, r.y}] {
						t.Fatalf("rect %+v continues another rect in its row; runs should be merged", r)
					}
				}
				img := rasterise(t, size, 8, rects)
				// The quiet zone: nothing dark within QuietZone modules of the edge.
				for _, r := range rects[1:] {
					if r.x < QuietZone || r.y < QuietZone || r.x+r.w > size-QuietZone || r.y+r.h > size-QuietZone {
						t.Fatalf("dark rect %+v is inside the %d-module quiet zone", r, QuietZone)
					}
				}
				text, lvl := decode(t, img)
				if text != content || lvl != level.String() {
					t.Errorf("decode(SVG(%q, %v)) = %q, level %q, want %q, level %q", content, level, text, lvl, content, level)
				}
			})
		}
	}
}

func BenchmarkPNG(b *testing.B) {
	for _, size := range []int{DefaultSize, MaxSize} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := PNG(contents[1], size, Medium); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSVG(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SVG(contents[1], Medium); err != nil {
			b.Fatal(err)
		}
	}
}

// reference draws m as PNG lays it out, the simple way: a size×size paletted image filled module by module.
func reference(m [][]bool, size int) *image.Paletted {
	n := len(m)
	scale := size / n
	if scale < 1 {
		scale, size = 1, n
	}
	offset := (size - n*scale) / 2
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	for y, row := range m {
		for x, dark := range row {
			if !dark {
				continue
			}
			for py := offset + y*scale; py < offset+(y+1)*scale; py++ {
				for px := offset + x*scale; px < offset+(x+1)*scale; px++ {
					img.SetColorIndex(px, py, 1)
				}
			}
		}
	}
	return img
}

// PNG's own encoder gives, pixel for pixel, the image of the simple drawing.
func TestPNGPixels(t *testing.T) {
	tests := []struct {
		content string
		size    int
		level   Level
	}{
		{contents[0], MinSize, Medium},
		{contents[0], 100, Low}, // 29 modules: 3 pixels each, 13 left over
		{contents[1], DefaultSize, High},
		{contents[2], 333, Quartile},
		{contents[1], MaxSize, High},
		{contents[3], MinSize, High}, // more modules than pixels: one pixel per module
		{contents[3], 1001, Low},
	}
	for _, tc := range tests {
		t.Run(tc.level.String()+"/"+strconv.Itoa(tc.size)+"/"+tc.content[:min(len(tc.content), 40)], func(t *testing.T) {
			b, err := PNG(tc.content, tc.size, tc.level)
			if err != nil {
				t.Fatalf("PNG(%q, %d, %v) error: %v", tc.content, tc.size, tc.level, err)
			}
			got, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("png.Decode(PNG(%q, %d, %v)): %v", tc.content, tc.size, tc.level, err)
			}
			want := reference(mustModules(t, tc.content, tc.level), tc.size)
			if got.Bounds() != want.Bounds() {
				t.Fatalf("PNG(%q, %d, %v) is %v, want %v", tc.content, tc.size, tc.level, got.Bounds(), want.Bounds())
			}
			for y := range want.Rect.Dy() {
				for x := range want.Rect.Dx() {
					g, _, _, _ := got.At(x, y).RGBA()
					w, _, _, _ := want.At(x, y).RGBA()
					if g != w {
						t.Fatalf("PNG(%q, %d, %v) pixel %d,%d has grey %#x, want %#x", tc.content, tc.size, tc.level, x, y, g, w)
					}
				}
			}
		})
	}
}
