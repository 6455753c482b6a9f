// Package qr draws QR codes of short URLs, as PNG images for screens and SVG drawings for print, and
// keeps the drawn ones in a cache bounded in bytes that renders only a few at once.
package qr

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"sync"

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
	var buf bytes.Buffer
	if err := writePNG(&buf, m, size); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}

// writePNG writes m as a size×size pixel, 1-bit greyscale PNG: every module the same whole number of
// pixels, centred, the pixels left over widening the margin; one pixel per module if m has more
// modules than size has pixels.
//
// It writes the format itself rather than through image/png because a QR code is rows of modules
// repeated scale times: each module row is packed once, and no size×size pixel image (4 MiB at 2048
// pixels) is ever made, nor a pixel read through an interface. What a drawing costs in memory is
// then the compressor, which is pooled, and the PNG itself.
func writePNG(buf *bytes.Buffer, m [][]bool, size int) error {
	n := len(m)
	scale := size / n
	if scale < 1 {
		scale, size = 1, n
	}
	offset := (size - n*scale) / 2

	buf.WriteString("\x89PNG\r\n\x1a\n")
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(size))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(size))
	ihdr[8] = 1 // bit depth; colour type 0 (greyscale), deflate, no filter method, no interlace
	writeChunk(buf, "IHDR", ihdr[:])

	// IDAT's data is the zlib stream of the rows, each a filter byte (0: none) and the pixels at one
	// bit each, 1 for white, most significant bit first.
	var idat bytes.Buffer
	zw := zlibWriters.Get().(*zlib.Writer)
	defer func() {
		zw.Reset(nil) // the pool keeps the compressor, not this code's bytes
		zlibWriters.Put(zw)
	}()
	zw.Reset(&idat)
	stride := 1 + (size+7)/8
	blank := bytes.Repeat([]byte{0xff}, stride)
	blank[0] = 0
	row := make([]byte, stride)
	for y := 0; y < size; y++ {
		my := y - offset
		if my < 0 || my >= n*scale {
			if _, err := zw.Write(blank); err != nil {
				return err
			}
			continue
		}
		if my%scale == 0 { // the first pixel row of a module row: pack it
			copy(row, blank)
			for x, dark := range m[my/scale] {
				if !dark {
					continue
				}
				for px := offset + x*scale; px < offset+(x+1)*scale; px++ {
					row[1+px/8] &^= 0x80 >> (px % 8)
				}
			}
		}
		if _, err := zw.Write(row); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	writeChunk(buf, "IDAT", idat.Bytes())
	writeChunk(buf, "IEND", nil)
	return nil
}

// zlibWriters keeps compressors between drawings: a new one allocates about a megabyte. BestSpeed
// compresses a 2048 pixel code several times faster than the default level, to about 13 KiB
// rather than 4: the repeated rows are long matches either way.
var zlibWriters = sync.Pool{New: func() any {
	zw, _ := zlib.NewWriterLevel(nil, zlib.BestSpeed) // a valid level: no error
	return zw
}}

// writeChunk appends a PNG chunk: length, type, data and the CRC of type and data.
func writeChunk(buf *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	buf.Write(n[:])
	crc := crc32.NewIEEE()
	buf.WriteString(typ)
	crc.Write([]byte(typ))
	buf.Write(data)
	crc.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	buf.Write(n[:])
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
