// Package openapitest checks the admin API's requests and answers against its OpenAPI document, with
// a maintained validator (kin-openapi), for the tests of the packages that serve or call the API.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/redirector/redirector/internal/openapi"
)

// Validator checks exchanges against the document. Safe for concurrent use.
type Validator struct {
	Doc    *openapi3.T
	router routers.Router
}

// Load reads and validates the document (once per process) and returns its Validator.
var Load = sync.OnceValues(func() (*Validator, error) {
	b, err := openapi.JSON()
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		return nil, fmt.Errorf("load the OpenAPI document: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is not valid: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route the OpenAPI document: %w", err)
	}
	return &Validator{Doc: doc, router: router}, nil
})

// Check validates one exchange of an /api/ path (any other path passes): req as sent (its body
// given apart, as reqBody), and the answer's status, header and body. The rules:
//   - the answer must be one the document describes for the operation: its status listed, its
//     Content-Type one of the status's, its body valid against that schema (errors included);
//   - a request answered 2xx must be valid against the operation (parameters and body): what the
//     service accepts, the document must allow. A request the service refused (4xx) may well be
//     invalid: that is often what the test sends it for;
//   - a method and path the document does not have fail, unless the service refused them too with a
//     JSON error: 404 or 405, or 401, 403 or 429 (the token is checked before the route is looked
//     for): no route may answer that the document does not describe;
//   - a body sent without Content-Type is read as JSON, as the service reads it.
func (v *Validator) Check(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	if req.URL.Path != "/api" && !strings.HasPrefix(req.URL.Path, "/api/") {
		return nil
	}
	what := req.Method + " " + req.URL.RequestURI()
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		// The service refuses it too: no such route (404, 405), or not before the token is right.
		switch status {
		case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
			if isJSONError(header, body) {
				return nil
			}
		}
		return fmt.Errorf("%s answered %d: the OpenAPI document has no such operation: %v", what, status, err)
	}
	ctx := context.Background()
	opts := &openapi3filter.Options{
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus: true,
		MultiError:            false,
	}
	in := &openapi3filter.RequestValidationInput{Request: cloneWithBody(req, reqBody), PathParams: params, Route: route, Options: opts}
	if status >= 200 && status < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fmt.Errorf("%s was answered %d, but the OpenAPI document refuses the request: %w", what, status, err)
		}
	}
	rin := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Options: opts,
	}
	if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
		return fmt.Errorf("%s: the answer %d %.300q does not match the OpenAPI document: %w", what, status, body, err)
	}
	return nil
}

// Scope returns the scope the document's operation method path (in the document's form,
// /api/links/{id}) needs: the role its bearer requirement names. ok is false for an operation the
// document does not have; scope is "" for one that needs no token.
func (v *Validator) Scope(method, path string) (scope string, ok bool, err error) {
	item := v.Doc.Paths.Find(path)
	if item == nil {
		return "", false, nil
	}
	op := item.GetOperation(method)
	if op == nil {
		return "", false, nil
	}
	reqs := v.Doc.Security
	if op.Security != nil {
		reqs = *op.Security
	}
	switch {
	case len(reqs) == 0:
		return "", true, nil
	case len(reqs) != 1 || len(reqs[0]["bearer"]) != 1:
		return "", true, errors.New("an operation's security must be [] or one bearer requirement naming one scope")
	}
	return reqs[0]["bearer"][0], true, nil
}

func isJSONError(header http.Header, body []byte) bool {
	if !strings.HasPrefix(header.Get("Content-Type"), "application/json") {
		return false
	}
	var e struct {
		Error string `json:"error"`
	}
	return json.Unmarshal(body, &e) == nil && e.Error != ""
}

func cloneWithBody(req *http.Request, body []byte) *http.Request {
	c := req.Clone(context.Background())
	c.Body = io.NopCloser(bytes.NewReader(body))
	c.ContentLength = int64(len(body))
	if len(body) > 0 && c.Header.Get("Content-Type") == "" {
		c.Header.Set("Content-Type", "application/json")
	}
	return c
}
