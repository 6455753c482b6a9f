package webhook

import (
	"testing"
	"time"
)

// BenchmarkEmit is what an API call pays to tell the webhooks of a link change: encoding the data and
// a channel send (the fan-out is not running, so events past the buffer are dropped, as under overload).
func BenchmarkEmit(b *testing.B) {
	s := New(nil, Options{Buffer: 1 << 20})
	data := struct {
		ID        string    `json:"id"`
		ShortURL  string    `json:"short_url"`
		Target    string    `json:"target"`
		CreatedAt time.Time `json:"created_at"`
	}{"4bNbq4b6AY", "https://go.example.com/4bNbq4b6AY", "https://www.aliexpress.com/item/1005001234567890.html", time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		s.Emit(LinkCreated, data)
	}
}
