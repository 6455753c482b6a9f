// Package openapi is the OpenAPI 3.1 document of the admin API (/api/): written by hand in YAML, one
// file per area in api/, merged into one document when first asked for.
//
// api/openapi.yaml holds what the whole document has once (openapi, info, security, the shared
// components); every other file of api/ is a partial document of an area (links, stats, pages, keys,
// …) holding only paths and components. A path, or a component of a kind (schemas, responses,
// parameters, …), defined in two files is an error, and so is any other top-level field in an area's
// file: areas are written by different hands and must not silently overwrite each other.
package openapi

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sync"

	"go.yaml.in/yaml/v4"
)

//go:embed api/*.yaml
var files embed.FS

// baseFile is the file with the document's own fields.
const baseFile = "openapi.yaml"

// JSON returns the document as JSON, the same bytes on every call (object members sorted by name).
// It fails when a file is malformed or two files define the same path or component; the tests make
// sure it does not.
func JSON() ([]byte, error) { return load() }

var load = sync.OnceValues(func() ([]byte, error) {
	doc, err := Merge(files, "api")
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(doc, "", "  ")
})

// Merge reads every .yaml file of dir in fsys and merges them as the package doc says.
func Merge(fsys fs.FS, dir string) (map[string]any, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	read := func(name string) (map[string]any, error) {
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		var v any
		if err := yaml.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		m, ok := normalize(v).(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: not a mapping", name)
		}
		return m, nil
	}
	doc, err := read(baseFile)
	if err != nil {
		return nil, err
	}
	paths := submap(doc, "paths")
	components := submap(doc, "components")
	origin := map[string]string{} // "paths /api/links" or "schemas Link" → the file that defined it
	for p := range paths {
		origin["paths "+p] = baseFile
	}
	for kind, defs := range components {
		for name := range asMap(defs) {
			origin[kind+" "+name] = baseFile
		}
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && path.Ext(n) == ".yaml" && n != baseFile {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		part, err := read(name)
		if err != nil {
			return nil, err
		}
		for field := range part {
			if field != "paths" && field != "components" {
				return nil, fmt.Errorf("%s: field %q: an area's file holds only paths and components", name, field)
			}
		}
		for p, item := range submap(part, "paths") {
			if by, dup := origin["paths "+p]; dup {
				return nil, fmt.Errorf("%s: path %s is defined in %s already", name, p, by)
			}
			origin["paths "+p] = name
			paths[p] = item
		}
		for kind, defs := range submap(part, "components") {
			m, ok := defs.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: components.%s is not a mapping", name, kind)
			}
			into := asMap(components[kind])
			for n, def := range m {
				if by, dup := origin[kind+" "+n]; dup {
					return nil, fmt.Errorf("%s: component %s %s is defined in %s already", name, kind, n, by)
				}
				origin[kind+" "+n] = name
				into[n] = def
			}
			components[kind] = into
		}
	}
	return doc, nil
}

// submap returns m[key] as a mapping, made (and put in m) when absent.
func submap(m map[string]any, key string) map[string]any {
	sub := asMap(m[key])
	m[key] = sub
	return sub
}

func asMap(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// normalize turns YAML's mappings with keys of any type (a response code 200) into map[string]any,
// which JSON can hold.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalize(e)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = normalize(e)
		}
		return t
	}
	return v
}
