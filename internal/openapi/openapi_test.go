package openapi_test

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/redirector/redirector/internal/openapi"
	"github.com/redirector/redirector/internal/openapi/openapitest"
)

var update = flag.Bool("update", false, "write docs/openapi.json from the embedded YAML")

// docsCopy is the copy of the document kept for readers of the repository.
const docsCopy = "../../docs/openapi.json"

// TestDocumentValid loads the merged document with kin-openapi and validates it as OpenAPI 3.1.
func TestDocumentValid(t *testing.T) {
	v, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !v.Doc.IsOpenAPI31OrLater() || v.Doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", v.Doc.OpenAPI)
	}
	if v.Doc.Paths.Len() < 13 {
		t.Errorf("the document has %d paths: a file of api/ was not merged", v.Doc.Paths.Len())
	}
}

// TestDocsCopy keeps docs/openapi.json the same as what /api/openapi.json serves; run with -update to
// write it.
func TestDocsCopy(t *testing.T) {
	doc, err := openapi.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(docsCopy, doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(docsCopy)
	if err != nil {
		t.Fatalf("%v (go test ./internal/openapi -run TestDocsCopy -update writes it)", err)
	}
	if !bytes.Equal(got, doc) {
		t.Errorf("docs/openapi.json differs from the embedded document: go test ./internal/openapi -run TestDocsCopy -update")
	}
	again, _ := openapi.JSON()
	if !bytes.Equal(again, doc) {
		t.Errorf("JSON() gave different bytes on a second call")
	}
}

const base = `
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /api/a:
    get:
      responses:
        200: {description: ok}
components:
  schemas:
    A: {type: string}
`

func TestMerge(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		err   string // "" merges; else a part of the error
	}{
		{"areas merge", map[string]string{
			"b.yaml": "paths:\n  /api/b:\n    get:\n      responses:\n        200: {description: ok}\ncomponents:\n  schemas:\n    B: {type: string}\n  responses:\n    R: {description: r}\n",
		}, ""},
		{"duplicate path", map[string]string{
			"b.yaml": "paths:\n  /api/a:\n    post:\n      responses:\n        200: {description: ok}\n",
		}, "path /api/a is defined in openapi.yaml already"},
		{"duplicate path between areas", map[string]string{
			"b.yaml": "paths:\n  /api/b: {}\n",
			"c.yaml": "paths:\n  /api/b: {}\n",
		}, "path /api/b is defined in b.yaml already"},
		{"duplicate schema", map[string]string{
			"b.yaml": "components:\n  schemas:\n    A: {type: integer}\n",
		}, "component schemas A is defined in openapi.yaml already"},
		{"other field", map[string]string{
			"b.yaml": "info: {title: x}\n",
		}, `field "info"`},
		{"malformed", map[string]string{
			"b.yaml": "paths: [\n",
		}, "b.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"api/openapi.yaml": {Data: []byte(base)}}
			for n, s := range tc.files {
				fsys["api/"+n] = &fstest.MapFile{Data: []byte(s)}
			}
			doc, err := openapi.Merge(fsys, "api")
			if tc.err == "" {
				if err != nil {
					t.Fatalf("Merge = %v, want no error", err)
				}
				paths := doc["paths"].(map[string]any)
				schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
				if paths["/api/a"] == nil || paths["/api/b"] == nil || schemas["A"] == nil || schemas["B"] == nil {
					t.Errorf("Merge = %v, want paths /api/a and /api/b, schemas A and B", doc)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Merge = %v, want an error with %q", err, tc.err)
			}
		})
	}
}
