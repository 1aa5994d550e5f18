package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/container"
)

// bearerInvocation decodes the Authorization: Bearer <ctn-v1 container> header into the
// one invocation it must hold and the delegations that prove it.
func bearerInvocation(h string) (*ucan.Token, ucan.Proofs, error) {
	if h == "" {
		return nil, nil, errors.New("an Authorization: Bearer <UCAN container> header is required")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, nil, errors.New("the Authorization header must use the Bearer scheme")
	}
	token = strings.TrimSpace(token)
	if len(token) > MaxBearerSize {
		return nil, nil, fmt.Errorf("bearer token is %d bytes, the limit is %d", len(token), MaxBearerSize)
	}
	raws, err := container.Decode([]byte(token))
	if err != nil {
		return nil, nil, fmt.Errorf("bearer token is not a UCAN container: %v", err)
	}
	var inv *ucan.Token
	proofs := ucan.Proofs{}
	for i, raw := range raws {
		tok, err := ucan.Decode(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("bearer container token %d: %v", i, err)
		}
		switch {
		case tok.Delegation != nil:
			proofs[tok.CID] = tok
		case inv != nil:
			return nil, nil, errors.New("bearer container holds more than one invocation")
		default:
			inv = tok
		}
	}
	if inv == nil {
		return nil, nil, errors.New("bearer container holds no invocation")
	}
	return inv, proofs, nil
}

// watch serves GET /watch/{did}/{path…}: Server-Sent Events of the receipts committed
// under the path. Each event has the commit sequence as its id, type "receipt" and the
// receipt envelope as DAG-JSON data. A reconnecting client sends Last-Event-ID and gets
// every receipt after it; a new one gets what comes next, or everything after ?after=N.
// The stream ends when the invocation authorising it expires or the server shuts down.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	vars := mux.Vars(r)
	raw := "/" + vars["did"]
	if rest := strings.TrimSuffix(vars["path"], "/"); rest != "" {
		raw += "/" + rest
	}
	p, err := dag.ParsePath(raw)
	if err == nil {
		p, err = s.opts.Store.Canonical(p)
	}
	if err != nil {
		status, name := http.StatusBadRequest, NameBadRequest
		if errors.Is(err, dag.ErrUnknownCollection) {
			status, name = http.StatusNotFound, dag.ErrUnknownCollection.Name
		}
		writeError(w, status, name, err.Error())
		return
	}
	inv, proofs, err := bearerInvocation(r.Header.Get("Authorization"))
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="w3dag"`)
		writeError(w, http.StatusUnauthorized, NameUnauthorized, err.Error())
		return
	}
	ctx := r.Context()
	allow, err := s.opts.Runner.AuthorizeWatch(ctx, inv, proofs, p)
	if err != nil {
		var ue *ucan.Error
		var de *dag.Error
		switch {
		case errors.As(err, &ue):
			writeError(w, http.StatusForbidden, ue.Name, ue.Message)
		case errors.As(err, &de):
			writeError(w, http.StatusBadRequest, de.Name, err.Error())
		default:
			s.writeFailure(w, r, "authorising watch", err)
		}
		return
	}
	done, status := s.watchers.admit(p.Subject)
	switch status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(UploadRetryAfter))
		writeError(w, status, NameUnavailable, fmt.Sprintf("%d watch streams are open, the most this service serves; retry later", s.opts.MaxWatchers))
		return
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(UploadRetryAfter))
		writeError(w, status, NameTooManyWatchers, fmt.Sprintf("%d watch streams are open on %s, the most one subject may have; close one", s.opts.MaxWatchersPerSpace, p.Subject))
		return
	}
	defer done()
	after, err := s.watchStart(ctx, r)
	if err != nil {
		var he *httpError
		if errors.As(err, &he) {
			writeError(w, he.status, he.name, he.msg)
		} else {
			s.writeFailure(w, r, "starting watch", err)
		}
		return
	}
	if exp := inv.Invocation.Expiration; exp != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(*exp, 0))
		defer cancel()
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := s.opts.Store.Watch(wctx, p, after)
	if err != nil {
		s.writeFailure(w, r, "starting watch", err)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	// Every write has Options.WatchWriteTimeout: a client that stops reading is disconnected.
	_ = rc.SetWriteDeadline(time.Now().Add(s.opts.WatchWriteTimeout))
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, ": watching %s after %d\n\n", p, after)
	if err := rc.Flush(); err != nil {
		return
	}
	s.metrics.watchers.Inc()
	defer s.metrics.watchers.Dec()
	heartbeat := time.NewTicker(s.opts.WatchHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-s.closing:
			_ = rc.SetWriteDeadline(time.Now().Add(s.opts.WatchWriteTimeout))
			fmt.Fprint(w, ": server shutting down\n\n")
			rc.Flush()
			return
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			_ = rc.SetWriteDeadline(time.Now().Add(s.opts.WatchWriteTimeout))
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		case ev, ok := <-events:
			if !ok {
				return
			}
			if allow != nil && !allow(ev.Path) {
				continue // a policy of the watch's delegations denies this entry
			}
			data, err := s.opts.Store.Block(ctx, ev.Receipt)
			if err != nil {
				if ctx.Err() != nil {
					return // the client went away while the receipt was being read
				}
				s.log.ErrorContext(ctx, "watch: loading receipt", "receipt", ev.Receipt.String(), "seq", ev.Seq, "error", err)
				return
			}
			js, err := message.BlockJSON(message.Block{CID: ev.Receipt, Data: data})
			if err != nil {
				s.log.ErrorContext(ctx, "watch: rendering receipt", "receipt", ev.Receipt.String(), "error", err)
				return
			}
			_ = rc.SetWriteDeadline(time.Now().Add(s.opts.WatchWriteTimeout))
			if _, err := fmt.Fprintf(w, "id: %d\nevent: receipt\ndata: %s\n\n", ev.Seq, js); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}

// watchStart returns the sequence a watch starts after: Last-Event-ID, else ?after=, else
// the last committed sequence (only new receipts).
func (s *Server) watchStart(ctx context.Context, r *http.Request) (uint64, error) {
	for _, src := range []struct{ name, v string }{
		{"Last-Event-ID", r.Header.Get("Last-Event-ID")},
		{"after", r.URL.Query().Get("after")},
	} {
		if src.v == "" {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(src.v), 10, 64)
		if err != nil {
			return 0, &httpError{status: http.StatusBadRequest, name: NameBadRequest,
				msg: fmt.Sprintf("%s %q is not a commit sequence number", src.name, src.v)}
		}
		return n, nil
	}
	return s.opts.Store.LastSeq(ctx)
}
