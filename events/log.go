package events

import (
	"context"
	"log/slog"
)

// LogSink returns a Handler that writes one structured line per event to
// logger (slog.Default() when nil) at level, message "event", with the
// event's non-empty fields as attributes (see [Event.LogValue]). It never
// vetoes.
func LogSink(logger *slog.Logger, level slog.Level) Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return &logSink{l: logger, level: level}
}

type logSink struct {
	l     *slog.Logger
	level slog.Level
}

func (s *logSink) HandleEvent(ctx context.Context, ev Event) error {
	if !s.l.Enabled(ctx, s.level) {
		return nil
	}
	attrs := ev.attrs()
	s.l.LogAttrs(ctx, s.level, "event", attrs...)
	return nil
}
