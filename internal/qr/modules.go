package qr

// Modules returns the module matrix of the QR code for content at level, without its quiet zone:
// m[y][x] is true for a dark module, and the matrix is square. Drawers other than PNG and SVG (the
// print kit's PDF) draw from it, leaving QuietZone modules of white around it themselves. It returns an
// error for empty content or content too long for a QR code. It is safe for concurrent use.
func Modules(content string, level Level) ([][]bool, error) {
	m, err := modules(content, level)
	if err != nil {
		return nil, err
	}
	n := len(m) - 2*QuietZone
	out := make([][]bool, n)
	for y := range out {
		out[y] = m[y+QuietZone][QuietZone : QuietZone+n]
	}
	return out, nil
}
