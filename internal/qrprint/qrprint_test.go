package qrprint

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// The layouts are checked as printed (rasterised, measured, decoded) by internal/redirect's
// qrprint_test.go; these are the bounds and the text handling.

func codes(n int) []Code {
	out := make([]Code, n)
	for i := range out {
		id := fmt.Sprintf("AbCdEf%04d", i)
		out[i] = Code{Content: "https://go.example.com/" + id + "?qr", Label: "go.example.com/" + id, Title: "Wireless Earbuds Bluetooth 5.3 Noise Cancelling"}
	}
	return out
}

func TestBounds(t *testing.T) {
	c := codes(1)[0]
	for _, size := range []float64{MinSize - 0.1, MaxSize + 0.1, 0, -40} {
		if _, err := Single(c, A4, size); !errors.Is(err, ErrSize) {
			t.Errorf("Single(size %g) = %v, want ErrSize", size, err)
		}
	}
	for _, size := range []float64{MinSize - 1, MaxSheetSize + 1} {
		if _, err := Sheet(codes(2), Letter, size, true); !errors.Is(err, ErrSize) {
			t.Errorf("Sheet(size %g) = %v, want ErrSize", size, err)
		}
	}
	for _, size := range []float64{MinSize, MaxSize} {
		if b, err := Single(c, Letter, size); err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
			t.Errorf("Single(size %g) = %d bytes, %v; want a PDF", size, len(b), err)
		}
	}
	if _, err := Sheet(codes(1), A4, MaxSheetSize, true); err != nil {
		t.Errorf("Sheet(MaxSheetSize) = %v, want a PDF", err)
	}
	if _, err := Sheet(nil, A4, 40, false); err == nil {
		t.Error("Sheet of no codes: no error")
	}
}

func TestParsePaper(t *testing.T) {
	for in, want := range map[string]Paper{"": A4, "a4": A4, "A4": A4, "letter": Letter, "Letter": Letter} {
		if got, ok := ParsePaper(in); !ok || got != want {
			t.Errorf("ParsePaper(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"a3", "legal", " a4"} {
		if _, ok := ParsePaper(in); ok {
			t.Errorf("ParsePaper(%q) ok, want refused", in)
		}
	}
}

// Titles from the store may hold anything: control characters, characters the PDF's core fonts lack,
// words longer than a line. None may break the layout.
func TestTitlesFromAnywhere(t *testing.T) {
	for _, title := range []string{
		"Écouteurs sans fil — ünïcödé ✓ 日本語 🎧",
		"tab\there\x00nul\x7fdel\nnewline",
		strings.Repeat("Supercalifragilistic", 30),
		strings.Repeat("word ", 400),
	} {
		c := codes(1)[0]
		c.Title = title
		if _, err := Single(c, A4, 40); err != nil {
			t.Errorf("Single with title %q: %v", title, err)
		}
		if _, err := Sheet([]Code{c, c}, A4, 15, true); err != nil {
			t.Errorf("Sheet with title %q: %v", title, err)
		}
	}
}

func BenchmarkSingle(b *testing.B) {
	c := codes(1)[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Single(c, A4, 40); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSheet200 is the largest sheet POST /api/qr/sheet takes: 200 codes of 15 mm with titles.
func BenchmarkSheet200(b *testing.B) {
	cs := codes(200)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sheet(cs, A4, 15, true); err != nil {
			b.Fatal(err)
		}
	}
}
