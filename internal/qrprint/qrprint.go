// Package qrprint lays QR codes out for print: one code on a page at a chosen physical size, or a sheet
// of many, each with its short URL (and, if asked, its product's title) printed under it, as PDF.
package qrprint

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/go-pdf/fpdf"

	"github.com/redirector/redirector/internal/qr"
)

// Paper is a sheet's size.
type Paper string

// The papers a PDF can be laid out on.
const (
	A4     Paper = "a4"     // 210 × 297 mm
	Letter Paper = "letter" // 8.5 × 11 in, 215.9 × 279.4 mm
)

// ParsePaper returns the Paper named by s ("" is A4); ok is false for any other name.
func ParsePaper(s string) (Paper, bool) {
	switch strings.ToLower(s) {
	case "", "a4":
		return A4, true
	case "letter":
		return Letter, true
	}
	return "", false
}

// mm returns the paper's width and height in millimetres.
func (p Paper) mm() (w, h float64) {
	if p == Letter {
		return 215.9, 279.4
	}
	return 210, 297
}

// Size bounds, in millimetres, of the code (its dark square, without the quiet zone around it).
const (
	MinSize         = 15
	MaxSize         = 150 // a single code: with its quiet zone it still fits across A4 and Letter
	MaxSheetSize    = 100 // a sheet's codes: at least one fits across, with room for its URL and title
	DefaultSize     = 40
	DefaultSheetMax = 200 // codes a sheet takes
)

// ErrSize is returned for a size outside the bounds.
var ErrSize = errors.New("size out of bounds")

// Code is one code to print.
type Code struct {
	Content string // what the code encodes: the short URL with the scan marker
	Label   string // the short URL printed under it
	Title   string // the product's title printed under the label; "" for none
}

const (
	margin   = 10.0 // mm round a sheet
	labelPt  = 9.0  // the label's font size on a sheet, shrunk to fit its cell
	titlePt  = 7.0  // the title's on a sheet
	minPt    = 4.0
	lineMM   = 0.3528 // one point in mm
	minCellW = 40.0   // mm: room for a label under a small code
)

// Single returns a one-page PDF on paper with c's code sizeMM millimetres wide (its dark square; the
// white quiet zone of qr.QuietZone modules lies around it), centred at the top, its label under it and
// its title, if any, under that. sizeMM must be MinSize..MaxSize (ErrSize).
func Single(c Code, paper Paper, sizeMM float64) ([]byte, error) {
	if sizeMM < MinSize || sizeMM > MaxSize || math.IsNaN(sizeMM) {
		return nil, ErrSize
	}
	m, err := qr.Modules(c.Content, qr.Medium)
	if err != nil {
		return nil, err
	}
	w, _ := paper.mm()
	pdf := newPDF(paper, c.Label)
	pdf.AddPage()
	quiet := float64(qr.QuietZone) * sizeMM / float64(len(m))
	x, y := (w-sizeMM)/2, max(20, quiet+5)
	drawCode(pdf, m, x, y, sizeMM)
	textW := w - 2*margin
	y += sizeMM + quiet
	y = writeLine(pdf, c.Label, w/2, y, textW, 14)
	if c.Title != "" {
		writeLines(pdf, c.Title, w/2, y+1, min(textW, max(sizeMM, 90)), 11, 3)
	}
	return output(pdf)
}

// Sheet returns a PDF of paper pages with every code in codes sizeMM millimetres wide, in rows, each
// with its label and, when titles is true, its title under it: as many pages as they need. sizeMM must
// be MinSize..MaxSheetSize (ErrSize); codes must not be empty.
func Sheet(codes []Code, paper Paper, sizeMM float64, titles bool) ([]byte, error) {
	if sizeMM < MinSize || sizeMM > MaxSheetSize || math.IsNaN(sizeMM) {
		return nil, ErrSize
	}
	if len(codes) == 0 {
		return nil, errors.New("no codes to lay out")
	}
	mats := make([][][]bool, len(codes))
	smallest := math.MaxInt
	for i, c := range codes {
		m, err := qr.Modules(c.Content, qr.Medium)
		if err != nil {
			return nil, fmt.Errorf("code %d: %w", i, err)
		}
		mats[i], smallest = m, min(smallest, len(m))
	}
	// Every code gets the quiet zone of the code with the fewest modules (the widest one).
	quiet := float64(qr.QuietZone) * sizeMM / float64(smallest)
	textH := labelPt*lineMM + 2
	if titles {
		textH += 2*titlePt*lineMM*1.2 + 1
	}
	cellW := max(sizeMM+2*quiet, minCellW)
	cellH := sizeMM + 2*quiet + textH
	w, h := paper.mm()
	cols := int((w - 2*margin) / cellW)
	rows := int((h - 2*margin) / cellH)
	if cols < 1 || rows < 1 {
		return nil, ErrSize
	}
	left := (w - float64(cols)*cellW) / 2
	pdf := newPDF(paper, "QR codes")
	for i, c := range codes {
		slot := i % (cols * rows)
		if slot == 0 {
			pdf.AddPage()
		}
		cx := left + float64(slot%cols)*cellW
		cy := margin + float64(slot/cols)*cellH
		drawCode(pdf, mats[i], cx+(cellW-sizeMM)/2, cy+quiet, sizeMM)
		y := writeLine(pdf, c.Label, cx+cellW/2, cy+quiet+sizeMM+quiet*0.75, cellW-2, labelPt)
		if titles && c.Title != "" {
			writeLines(pdf, c.Title, cx+cellW/2, y, cellW-2, titlePt, 2)
		}
	}
	return output(pdf)
}

func newPDF(paper Paper, title string) *fpdf.Fpdf {
	w, h := paper.mm()
	pdf := fpdf.NewCustom(&fpdf.InitType{OrientationStr: "P", UnitStr: "mm", Size: fpdf.SizeType{Wd: w, Ht: h}})
	pdf.SetMargins(0, 0, 0)
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetCreator("redirector", true)
	pdf.SetTitle(title, true)
	return pdf
}

// drawCode draws m's dark modules as black rectangles, size mm wide, with its top left at x, y. Runs of
// dark modules in a row are one rectangle, a hair taller than a module so that no seam shows between
// rows when the page is rasterised.
func drawCode(pdf *fpdf.Fpdf, m [][]bool, x, y, size float64) {
	mod := size / float64(len(m))
	pdf.SetFillColor(0, 0, 0)
	for r, row := range m {
		for c := 0; c < len(row); {
			if !row[c] {
				c++
				continue
			}
			start := c
			for c < len(row) && row[c] {
				c++
			}
			h := mod
			if r < len(m)-1 {
				h += mod * 0.02
			}
			pdf.Rect(x+float64(start)*mod, y+float64(r)*mod, float64(c-start)*mod, h, "F")
		}
	}
}

// writeLine writes s centred on cx, its top at y, at pt points or smaller until it fits width (but not
// below minPt), and returns the y under it.
func writeLine(pdf *fpdf.Fpdf, s string, cx, y, width, pt float64) float64 {
	s = toCP1252(printable(s))
	pdf.SetFont("Helvetica", "", pt)
	for pt > minPt && pdf.GetStringWidth(s) > width {
		pt -= 0.5
		pdf.SetFontSize(pt)
	}
	pdf.SetTextColor(0, 0, 0)
	lh := pt * lineMM
	pdf.Text(cx-pdf.GetStringWidth(s)/2, y+lh*0.8, s)
	return y + lh*1.2
}

// writeLines writes s in at most n lines of width, centred on cx from y, the last cut with an ellipsis
// when s is longer.
func writeLines(pdf *fpdf.Fpdf, s string, cx, y, width, pt float64, n int) {
	s = toCP1252(strings.Join(strings.Fields(printable(s)), " "))
	pdf.SetFont("Helvetica", "", pt)
	pdf.SetTextColor(60, 60, 60)
	lines := wrap(pdf, s, width)
	if len(lines) > n {
		lines = lines[:n]
		last := lines[n-1]
		for last != "" && pdf.GetStringWidth(last+"...") > width {
			last = last[:len(last)-1]
		}
		lines[n-1] = strings.TrimRight(last, " ") + "..."
	}
	lh := pt * lineMM * 1.2
	for i, l := range lines {
		pdf.Text(cx-pdf.GetStringWidth(l)/2, y+float64(i)*lh+pt*lineMM*0.8, l)
	}
}

// cp1252 returns the translation of UTF-8 into the core fonts' encoding, cp1252 (what it lacks becomes
// a dot), read once: fpdf reads its table again at each call. The function is safe for concurrent use.
var cp1252 = sync.OnceValue(func() func(string) string {
	return fpdf.New("P", "mm", "A4", "").UnicodeTranslatorFromDescriptor("")
})

func toCP1252(s string) string { return cp1252()(s) }

// printable is s with control characters (which would end the core fonts' width count) made spaces.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// wrap splits s (in the core fonts' one-byte encoding, words apart by single spaces) into lines no
// wider than width at the current font; a word wider than a line is cut.
func wrap(pdf *fpdf.Fpdf, s string, width float64) []string {
	var lines []string
	line := ""
	for _, word := range strings.Split(s, " ") {
		if word == "" {
			continue
		}
		try := word
		if line != "" {
			try = line + " " + word
		}
		if pdf.GetStringWidth(try) <= width {
			line = try
			continue
		}
		if line != "" {
			lines = append(lines, line)
		}
		for len(word) > 1 && pdf.GetStringWidth(word) > width {
			cut := len(word) - 1
			for cut > 1 && pdf.GetStringWidth(word[:cut]) > width {
				cut--
			}
			lines = append(lines, word[:cut])
			word = word[cut:]
		}
		line = word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

func output(pdf *fpdf.Fpdf) ([]byte, error) {
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("write pdf: %w", err)
	}
	return buf.Bytes(), nil
}
