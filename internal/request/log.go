package request

import (
	"context"
	"log/slog"
)

// LogHandler adds the request id ("request_id") and the organization
// ("org") of the context a line is logged with, when there are any, so
// that handlers log with their request's context (InfoContext, ErrorContext
// …) and never name these by hand. A line logged without a request's
// context is passed on unchanged, and a line that names either itself
// keeps its own.
type LogHandler struct {
	slog.Handler
}

// NewLogHandler wraps h.
func NewLogHandler(h slog.Handler) *LogHandler { return &LogHandler{Handler: h} }

// Handle adds the request's attributes to rec and passes it on.
func (h *LogHandler) Handle(ctx context.Context, rec slog.Record) error {
	if ctx == nil {
		return h.Handler.Handle(ctx, rec)
	}
	i := from(ctx)
	if i == nil {
		return h.Handler.Handle(ctx, rec)
	}
	id, org := i.id, ""
	if i.org != nil {
		org = i.org.ID
	}
	rec.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "request_id":
			id = ""
		case "org":
			org = ""
		}
		return true
	})
	if id != "" {
		rec.AddAttrs(slog.String("request_id", id))
	}
	if org != "" {
		rec.AddAttrs(slog.String("org", org))
	}
	return h.Handler.Handle(ctx, rec)
}

// WithAttrs keeps the wrapper around the derived handler.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &LogHandler{Handler: h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the wrapper around the derived handler.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	return &LogHandler{Handler: h.Handler.WithGroup(name)}
}
