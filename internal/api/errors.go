package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/wisehosting/wisehosting/internal/store"
)

// Error is an error a client may see: a status, a stable code and a
// message. Any other error is logged and answered with a generic 500.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

func errBadRequest(format string, args ...any) error {
	return &Error{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...)}
}
func errValidation(format string, args ...any) error {
	return &Error{http.StatusUnprocessableEntity, "invalid", fmt.Sprintf(format, args...)}
}
func errUnauthorized(msg string) error { return &Error{http.StatusUnauthorized, "unauthorized", msg} }
func errForbidden(msg string) error    { return &Error{http.StatusForbidden, "forbidden", msg} }
func errNotFound(msg string) error     { return &Error{http.StatusNotFound, "not_found", msg} }
func errConflict(msg string) error     { return &Error{http.StatusConflict, "conflict", msg} }

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts a handler that returns an error.
func (a *API) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var apiErr *Error
		switch {
		case errors.As(err, &apiErr):
		case errors.Is(err, store.ErrNotFound):
			apiErr = &Error{http.StatusNotFound, "not_found", "not found"}
		case errors.Is(err, store.ErrConflict):
			apiErr = &Error{http.StatusConflict, "conflict", "already exists"}
		default:
			a.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			apiErr = &Error{http.StatusInternalServerError, "internal", "internal error"}
		}
		writeJSON(w, apiErr.Status, map[string]string{"error": apiErr.Message, "code": apiErr.Code})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.MarshalWrite(w, v, json.Deterministic(true))
	_, _ = io.WriteString(w, "\n")
}

// maxBody bounds every JSON request body.
const maxBody = 1 << 20

// decode reads a JSON body strictly: one object, no unknown fields. The
// Content-Type is not checked (curl -d sends a form type); cookie sessions
// are protected from cross-site writes by the CSRF header, not by it.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return errBadRequest("reading body: %v", err)
	}
	if len(body) > maxBody {
		return &Error{http.StatusRequestEntityTooLarge, "too_large", "request body too large"}
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return errBadRequest("request body must be a JSON object")
	}
	if err := json.Unmarshal(body, v, json.RejectUnknownMembers(true)); err != nil {
		return errBadRequest("invalid JSON: %s", jsonErrText(err))
	}
	return nil
}

// jsonErrText keeps the useful part of a JSON error (which field, what was
// wrong) without Go type names.
func jsonErrText(err error) string {
	var se *json.SemanticError
	if errors.As(err, &se) {
		if se.JSONPointer != "" {
			return fmt.Sprintf("field %s: wrong type or unknown field", strings.TrimPrefix(string(se.JSONPointer), "/"))
		}
		return "the body must be a JSON object" // se names the Go type
	}
	s := err.Error()
	s = strings.TrimPrefix(strings.TrimPrefix(s, "json: "), "jsontext: ")
	return s
}
