// Package qr draws QR codes of short URLs as PNG images for screens and SVG drawings for print.
package qr

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strconv"

	"github.com/skip2/go-qrcode"
)

// Level is a QR code's error correction level: how much of the code may be damaged or covered and still
// scan, traded against a denser code. The zero Level is Medium.
type Level uint8

const (
	// Medium (M) recovers about 15% of the code; the default, good for screens and clean print.
	Medium Level = iota
	// Low (L) recovers about 7%: the sparsest code, for small images of long content.
	Low
	// Quartile (Q) recovers about 25%: for print that may be scuffed or folded.
	Quartile
	// High (H) recovers about 30%: for codes with a logo over them or in rough places.
	High
)

// ParseLevel returns the Level named by s: "L", "M", "Q" or "H" (either case); the empty string is
// Medium. Any other s is an error whose message can be shown to a client.
func ParseLevel(s string) (Level, error) {
	switch s {
	case "", "M", "m":
		return Medium, nil
	case "L", "l":
		return Low, nil
	case "Q", "q":
		return Quartile, nil
	case "H", "h":
		return High, nil
	}
	return Medium, fmt.Errorf("error correction level %q: want L, M, Q or H", s)
}

// String returns the level's letter: "L", "M", "Q" or "H".
func (l Level) String() string {
	switch l {
	case Low:
		return "L"
	case Quartile:
		return "Q"
	case High:
		return "H"
	default:
		return "M"
	}
}

// recovery maps a Level to the library's names, which call Q "High" and H "Highest".
func (l Level) recovery() (qrcode.RecoveryLevel, error) {
	switch l {
	case Low:
		return qrcode.Low, nil
	case Medium:
		return qrcode.Medium, nil
	case Quartile:
		return qrcode.High, nil
	case High:
		return qrcode.Highest, nil
	}
	return 0, fmt.Errorf("unknown error correction level %d", l)
}

const (
	// MinSize and MaxSize bound the PNG size in pixels that PNG accepts; callers validate or clamp.
	MinSize, MaxSize = 64, 2048
	// DefaultSize is the PNG size in pixels to use when a request names none.
	DefaultSize = 512
	// QuietZone is the white margin, in modules, around every code: what the QR standard asks for.
	QuietZone = 4
)

// ErrSize is returned by PNG for a size outside MinSize..MaxSize.
var ErrSize = fmt.Errorf("size must be %d to %d pixels", MinSize, MaxSize)

// modules returns the code's module matrix, quiet zone included: m[y][x] is true for a dark module.
func modules(content string, level Level) ([][]bool, error) {
	rl, err := level.recovery()
	if err != nil {
		return nil, err
	}
	if content == "" {
		return nil, errors.New("encode qr code: empty content")
	}
	q, err := qrcode.New(content, rl)
	if err != nil {
		return nil, fmt.Errorf("encode qr code: %w", err)
	}
	// Bitmap includes a 4-module quiet zone unless DisableBorder is set; QuietZone documents that.
	return q.Bitmap(), nil
}

// PNG returns a size×size pixel PNG of the QR code for content at the given level, black on white. Every
// module is the same whole number of pixels, so edges stay sharp; the pixels left over widen the quiet
// zone, which is never less than QuietZone modules. If the content needs more modules than size has
// pixels, the image grows to one pixel per module. It returns ErrSize for a size outside MinSize..MaxSize
// and an error for empty content or content too long for a QR code. It is safe for concurrent use.
func PNG(content string, size int, level Level) ([]byte, error) {
	if size < MinSize || size > MaxSize {
		return nil, ErrSize
	}
	m, err := modules(content, level)
	if err != nil {
		return nil, err
	}
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
			top, left := offset+y*scale, offset+x*scale
			for py := top; py < top+scale; py++ {
				line := img.Pix[py*img.Stride+left : py*img.Stride+left+scale]
				for i := range line {
					line[i] = 1
				}
			}
		}
	}
	var buf bytes.Buffer
	// Two palette entries make a 1-bit PNG: a 512 pixel code is a few kilobytes.
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}

// SVG returns the QR code for content at the given level as an SVG drawing for print: black rectangles on
// a white square, one unit per module, QuietZone modules of white included in the viewBox, with
// shape-rendering="crispEdges" and no fixed width or height, so it scales to any printed size. Dark modules
// next to each other in a row are drawn as one rectangle. It returns an error for empty content or content
// too long for a QR code. It is safe for concurrent use.
func SVG(content string, level Level) ([]byte, error) {
	m, err := modules(content, level)
	if err != nil {
		return nil, err
	}
	n := strconv.Itoa(len(m))
	var b bytes.Buffer
	b.Grow(64 * len(m) * len(m) / 4)
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 ` + n + ` ` + n +
		`" shape-rendering="crispEdges">` + "\n")
	b.WriteString(`<rect width="` + n + `" height="` + n + `" fill="#fff"/>` + "\n")
	b.WriteString(`<g fill="#000">` + "\n")
	var num []byte
	for y, row := range m {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			b.WriteString(`<rect x="`)
			num = strconv.AppendInt(num[:0], int64(start), 10)
			b.Write(num)
			b.WriteString(`" y="`)
			num = strconv.AppendInt(num[:0], int64(y), 10)
			b.Write(num)
			b.WriteString(`" width="`)
			num = strconv.AppendInt(num[:0], int64(x-start), 10)
			b.Write(num)
			b.WriteString(`" height="1"/>` + "\n")
		}
	}
	b.WriteString("</g>\n</svg>\n")
	return b.Bytes(), nil
}
