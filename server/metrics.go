package server

import (
	"context"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	invocations *prometheus.CounterVec
	messages    *prometheus.CounterVec
	watchers    prometheus.Gauge
}

// newMetrics registers the server's metrics with reg; failed is Store.Failed, read at each
// scrape for w3dag_kv_failed.
func newMetrics(reg prometheus.Registerer, failed func() error) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "w3dag", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "w3dag", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "HTTP request latency by route, method and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "code"}),
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "w3dag", Name: "invocations_total",
			Help: "Invocations run, by command and result (ok or the receipt error name).",
		}, []string{"command", "result"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "w3dag", Name: "messages_total",
			Help: "Agent messages by direction (in, out) and outcome (archived, failed).",
		}, []string{"direction", "outcome"}),
		watchers: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "w3dag", Name: "watchers",
			Help: "Open Server-Sent Events watch streams.",
		}),
	}
	kvFailed := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "w3dag", Name: "kv_failed",
		Help: "1 once the kv store has failed (it takes no writes until the service restarts), 0 while it works.",
	}, func() float64 {
		if failed() != nil {
			return 1
		}
		return 0
	})
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.invocations, m.messages, m.watchers, kvFailed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}})
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Error("serving metrics", "error", v) }

// routeKey is the context key of the *routeInfo the instrument middleware shares with the
// router, so that requests are counted by route template rather than by raw path.
type routeKey struct{}

type routeInfo struct{ name string }

// routeName records the matched route's name for instrument.
func (s *Server) routeName(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ri, ok := r.Context().Value(routeKey{}).(*routeInfo); ok {
			if cr := mux.CurrentRoute(r); cr != nil && cr.GetName() != "" {
				ri.name = cr.GetName()
			}
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status code written; it passes Flush through for SSE.
type statusWriter struct {
	http.ResponseWriter
	code    int
	written bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.written {
		w.code, w.written = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.code, w.written = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if !w.written {
			w.code, w.written = http.StatusOK, true
		}
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts and times requests by route, method and status.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &routeInfo{name: "other"}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			code := strconv.Itoa(sw.code)
			method := r.Method
			switch method {
			case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions:
			default:
				method = "other"
			}
			s.metrics.requests.WithLabelValues(ri.name, method, code).Inc()
			s.metrics.latency.WithLabelValues(ri.name, method, code).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), routeKey{}, ri)))
	})
}

// recoverer turns a panic in a handler into a logged 500 (when nothing was written yet):
// a last resort, every decoder is meant to return errors instead. It reuses the
// statusWriter instrument wraps every request in.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw, ok := w.(*statusWriter)
		if !ok {
			sw = &statusWriter{ResponseWriter: w, code: http.StatusOK}
		}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			if !sw.written {
				writeError(sw, http.StatusInternalServerError, NameInternal, "internal error")
			}
		}()
		next.ServeHTTP(sw, r)
	})
}
