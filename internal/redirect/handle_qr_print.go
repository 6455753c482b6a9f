package redirect

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/redirector/redirector/internal/qr"
	"github.com/redirector/redirector/internal/qrprint"
	"github.com/redirector/redirector/internal/shortid"
)

// maxPrintIDs bounds the codes of one sheet or zip.
const maxPrintIDs = qrprint.DefaultSheetMax

// handleQRPDF serves /{id}/qr.pdf?size_mm=N&title=1&paper=a4|letter: a page with the link's code N mm
// wide (qrprint.MinSize..MaxSize, default 40), its short URL under it and, with title=1, the product's
// title as the health check last found it. Like the other codes, for a live link or any product code,
// and drawn within the client's budget of renderings.
func handleQRPDF(d Deps) idHandler {
	return func(w http.ResponseWriter, r *http.Request, id string) {
		ctx := r.Context()
		if _, ok, _ := d.Targets.Link(ctx, id); !ok {
			notFound(w, d)
			return
		}
		q := r.URL.Query()
		size, err := printSize(q.Get("size_mm"), qrprint.MaxSize)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		paper, ok := qrprint.ParsePaper(q.Get("paper"))
		if !ok {
			http.Error(w, "paper must be a4 or letter", http.StatusBadRequest)
			return
		}
		withTitle, err := printFlag(q.Get("title"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if ok, retry := d.Limits.renderAllowed(r); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(max(1, math.Ceil(retry.Seconds())))))
			http.Error(w, "too many new QR codes from this client: try again in a moment", http.StatusTooManyRequests)
			return
		}
		codes := printCodes(ctx, d, []string{id}, withTitle)
		body, err := qrprint.Single(codes[0], paper, size)
		if err != nil {
			d.Logger.Error("qr pdf", "id", id, "err", err)
			http.Error(w, "could not draw the QR code", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/pdf")
		h.Set("Content-Disposition", `inline; filename="`+id+`-qr.pdf"`)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		h.Set("Cache-Control", "public, max-age=3600") // the title may change; the code never does
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	}
}

// printSize reads a size in millimetres: "" is qrprint.DefaultSize; otherwise a number from
// qrprint.MinSize to most.
func printSize(s string, most float64) (float64, error) {
	if s == "" {
		return qrprint.DefaultSize, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || v < qrprint.MinSize || v > most {
		return 0, fmt.Errorf("size_mm must be a number of millimetres from %d to %g", qrprint.MinSize, most)
	}
	return v, nil
}

func printFlag(s string) (bool, error) {
	switch s {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	}
	return false, errors.New("title must be 1 or 0")
}

// printCodes are the codes of ids (each valid), with their products' titles when titles is true and
// the health check knows them (a store error leaves the titles out: the codes are what matter).
func printCodes(ctx context.Context, d Deps, ids []string, titles bool) []qrprint.Code {
	label := strings.TrimPrefix(strings.TrimPrefix(d.BaseURL, "https://"), "http://")
	codes := make([]qrprint.Code, len(ids))
	for i, id := range ids {
		codes[i] = qrprint.Code{Content: d.BaseURL + "/" + id + "?" + ScanMarker, Label: label + "/" + id}
	}
	if titles && d.Health != nil {
		hs, err := d.Health.Health(ctx, ids)
		if err != nil {
			d.Logger.Warn("qr print titles", "err", err)
			return codes
		}
		for i, h := range hs {
			codes[i].Title = h.Product.Title
		}
	}
	return codes
}

// printIDs checks the ids of a sheet or zip: 1 to maxPrintIDs, each a link that resolves (a live link
// or a product code). Duplicates are dropped, the order kept. An error is the message for a 400.
func printIDs(ctx context.Context, d Deps, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, errors.New("ids: give at least one link id")
	}
	if len(ids) > maxPrintIDs {
		return nil, fmt.Errorf("ids: at most %d links at once", maxPrintIDs)
	}
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	var unknown []string
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if !shortid.Valid(id) {
			unknown = append(unknown, id)
			continue
		}
		if _, ok, _ := d.Targets.Link(ctx, id); !ok {
			unknown = append(unknown, id)
			continue
		}
		out = append(out, id)
	}
	if len(unknown) > 0 {
		if len(unknown) > 10 {
			unknown = append(unknown[:10], fmt.Sprintf("and %d more", len(unknown)-10))
		}
		return nil, fmt.Errorf("ids: no such link: %s", strings.Join(unknown, ", "))
	}
	return out, nil
}

// sheetBody is the body of POST /api/qr/sheet.
type sheetBody struct {
	IDs    []string `json:"ids"`
	Paper  string   `json:"paper,omitempty"`
	SizeMM *float64 `json:"size_mm,omitempty"`
	Title  bool     `json:"title,omitempty"`
}

// handleQRSheet serves POST /api/qr/sheet {"ids", "paper", "size_mm", "title"}: a PDF of A4 or Letter
// pages with every link's code size_mm wide (qrprint.MinSize..MaxSheetSize, default 40) and its short
// URL (and product title) under it.
func handleQRSheet(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var body sheetBody
		if !decodeBody(w, r, &body) {
			return
		}
		size := float64(qrprint.DefaultSize)
		if body.SizeMM != nil {
			size = *body.SizeMM
		}
		if size < qrprint.MinSize || size > qrprint.MaxSheetSize || math.IsNaN(size) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("size_mm must be a number of millimetres from %d to %d", qrprint.MinSize, qrprint.MaxSheetSize))
			return
		}
		paper, ok := qrprint.ParsePaper(body.Paper)
		if !ok {
			writeError(w, http.StatusBadRequest, `paper must be "a4" or "letter"`)
			return
		}
		ids, err := printIDs(ctx, d, body.IDs)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		pdf, err := qrprint.Sheet(printCodes(ctx, d, ids, body.Title), paper, size, body.Title)
		if err != nil {
			d.Logger.Error("qr sheet", "err", err)
			writeError(w, http.StatusInternalServerError, "could not lay out the sheet")
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/pdf")
		h.Set("Content-Disposition", `attachment; filename="qr-codes.pdf"`)
		h.Set("Content-Length", strconv.Itoa(len(pdf)))
		_, _ = w.Write(pdf)
	})
}

// zipBody is the body of POST /api/qr/zip.
type zipBody struct {
	IDs    []string `json:"ids"`
	Format string   `json:"format,omitempty"`
}

// handleQRZip serves POST /api/qr/zip {"ids", "format": "png"|"svg"}: a zip of the links' codes, one
// file {id}.png (qr.DefaultSize pixels) or {id}.svg each, as /{id}/qr.png and /{id}/qr.svg draw them.
// The zip is made whole before anything is sent: a failure answers an error, never half a zip.
func handleQRZip(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var body zipBody
		if !decodeBody(w, r, &body) {
			return
		}
		format := qr.FormatPNG
		switch body.Format {
		case "", "png":
		case "svg":
			format = qr.FormatSVG
		default:
			writeError(w, http.StatusBadRequest, `format must be "png" or "svg"`)
			return
		}
		ids, err := printIDs(ctx, d, body.IDs)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, id := range ids {
			spec := qr.Spec{Content: d.BaseURL + "/" + id + "?" + ScanMarker, Format: format, Level: qr.Medium}
			if format == qr.FormatPNG {
				spec.Size = qr.DefaultSize
			}
			code, cached := d.QR.Lookup(spec)
			if !cached {
				if code, err = d.QR.Render(spec); errors.Is(err, qr.ErrBusy) {
					w.Header().Set("Retry-After", "1")
					writeError(w, http.StatusServiceUnavailable, "too many QR codes being drawn: try again in a moment")
					return
				} else if err != nil {
					d.Logger.Error("qr zip", "id", id, "err", err)
					writeError(w, http.StatusInternalServerError, "could not draw the QR codes")
					return
				}
			}
			name := id + ".png"
			if format == qr.FormatSVG {
				name = id + ".svg"
			}
			// Codes are compressed already (PNG) or small (SVG): stored, the zip costs no CPU.
			f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: d.Now().UTC()})
			if err == nil {
				_, err = f.Write(code.Body)
			}
			if err != nil {
				writeError(w, http.StatusInternalServerError, "could not write the zip")
				return
			}
		}
		if err := zw.Close(); err != nil {
			writeError(w, http.StatusInternalServerError, "could not write the zip")
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/zip")
		h.Set("Content-Disposition", `attachment; filename="qr-codes.zip"`)
		h.Set("Content-Length", strconv.Itoa(buf.Len()))
		_, _ = w.Write(buf.Bytes())
	})
}
