package aggregate

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/task"
	commp "github.com/w3dag/w3dag/piece"
	"github.com/w3dag/w3dag/ucan"
)

const (
	// DefaultOfferTimeout bounds one POST of an offer when OfferOptions.Client is nil.
	DefaultOfferTimeout = time.Minute
	// MaxAnswerLength is the most bytes of a broker's answer to an offer kept in the
	// task's error.
	MaxAnswerLength = 512
)

// Offer is the body of POST <broker>/offers (docs/broker.md §1).
type Offer struct {
	Aggregate string       `json:"aggregate"`
	DealSize  uint64       `json:"dealSize"`
	Pieces    []OfferPiece `json:"pieces"`
	ReportURL string       `json:"reportUrl"`
}

// OfferPiece is a member of an Offer, in aggregate order.
type OfferPiece struct {
	Piece   string `json:"piece"`
	Content string `json:"content"`
	Size    uint64 `json:"size"`
	MD5     string `json:"md5"`
	URL     string `json:"url"`
}

// ReportSig is the sig query parameter of the report URL of the aggregate agg: the hex
// HMAC-SHA256 of its piece CID string under secret.
func ReportSig(secret []byte, agg cid.Cid) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(agg.String()))
	return hex.EncodeToString(h.Sum(nil))
}

// CheckReportSig reports whether sig is ReportSig(secret, agg), in constant time.
func CheckReportSig(secret []byte, agg cid.Cid, sig string) bool {
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	want, _ := hex.DecodeString(ReportSig(secret, agg))
	return hmac.Equal(got, want)
}

// OfferOptions configure OfferHandler.
type OfferOptions struct {
	// Broker is the broker's base URL; offers go to Broker + "/offers".
	Broker string
	// PublicURL is the service's public URL, the base of the pieces' url and of reportUrl.
	PublicURL string
	// Secret signs report URLs (ReportSig).
	Secret []byte
	// Blobs holds the CARs (carwhere.BlobKey), read to compute the md5 of a member
	// whose piece index entry has none (indexed before md5 was kept there).
	Blobs blob.Store
	// Client posts offers; nil is a client with DefaultOfferTimeout.
	Client *http.Client
	// Logger may be nil.
	Logger *slog.Logger
}

// OfferHandler returns the handler of offer tasks: for a ready aggregate it builds the
// offer of docs/broker.md §1 — the md5 of each member CAR comes from the piece index
// (piece.Lookup; hashed in the same pass as its commP), or for a piece indexed before
// that, is computed by streaming the CAR from o.Blobs (its size checked against its
// piece CID) — POSTs it to the broker, and on
// 200 or 202 moves the aggregate ready → deal_pending (Engine.Transition under the task's
// invocation). A broker that cannot be reached, or answers 5xx, 408 or 429, is retried
// with the runner's capped backoff until it acknowledges, past the runner's attempts
// (task.KeepTrying); any other 4xx is a refusal: the task fails for good with the answer
// (ErrRefused), logged, and the aggregate stays ready (ResumeOffers offers it again at the
// next start). Other answers are retried up to the runner's attempts. An aggregate no
// longer ready (offered before) finishes the task at once.
func OfferHandler(e *dag.Engine, o OfferOptions) task.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: DefaultOfferTimeout}
	}
	broker := strings.TrimSuffix(o.Broker, "/")
	public := strings.TrimSuffix(o.PublicURL, "/")
	return func(ctx context.Context, inv *ucan.Token) error {
		ap, cur, err := memberTask(ctx, e, inv, "offering")
		if err != nil {
			return err
		}
		if cur.Status != StatusReady {
			return nil // offered before
		}
		ac, err := PieceCID(cur.State)
		if err != nil {
			return task.Permanent(fmt.Errorf("offering %s: %w: %v", ap, ErrNotReady, err))
		}
		agg, err := commp.FromCID(ac)
		if err != nil {
			return task.Permanent(fmt.Errorf("offering %s: %w: %v", ap, ErrNotReady, err))
		}
		ms, err := Members(cur.State)
		if err != nil {
			return task.Permanent(fmt.Errorf("offering %s: %w: %v", ap, ErrNotReady, err))
		}
		contents, err := memberContents(ctx, e, ap.Key, len(ms))
		if err != nil {
			return fmt.Errorf("offering %s: %w", ap, err)
		}
		offer := Offer{Aggregate: ac.String(), DealSize: agg.PaddedSize(),
			ReportURL: public + "/broker/report/" + ac.String() + "?sig=" + ReportSig(o.Secret, ac)}
		for i, pc := range ms {
			p, err := commp.FromCID(pc)
			if err != nil {
				return task.Permanent(fmt.Errorf("offering %s: %w: member %d: %v", ap, ErrMember, i, err))
			}
			sum, err := memberMD5(ctx, e, o.Blobs, pc, contents[i], int64(p.Size))
			if err != nil {
				return fmt.Errorf("offering %s: member %d: %w", ap, i, err)
			}
			offer.Pieces = append(offer.Pieces, OfferPiece{Piece: pc.String(), Content: contents[i].String(),
				Size: p.Size, MD5: sum, URL: public + "/piece/" + pc.String()})
		}
		body, err := json.Marshal(offer)
		if err != nil {
			return fmt.Errorf("offering %s: %w", ap, err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, broker+"/offers", bytes.NewReader(body))
		if err != nil {
			return task.Permanent(fmt.Errorf("offering %s: %w", ap, err))
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := o.Client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("offering %s: %w", ap, err)
			}
			return task.KeepTrying(fmt.Errorf("offering %s to %s: %w: %w", ap, broker, ErrNotAcknowledged, err))
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerLength))
		resp.Body.Close()
		switch s := resp.StatusCode; {
		case s == http.StatusOK || s == http.StatusAccepted:
		case s >= 500 || s == http.StatusRequestTimeout || s == http.StatusTooManyRequests:
			return task.KeepTrying(fmt.Errorf("offering %s to %s: %w: %s %s", ap, broker, ErrNotAcknowledged, resp.Status, bytes.TrimSpace(msg)))
		case s >= 400:
			o.Logger.ErrorContext(ctx, "broker refused the offer", "path", ap.String(), "aggregate", ac.String(), "status", resp.Status, "answer", string(bytes.TrimSpace(msg)))
			return task.Permanent(fmt.Errorf("offering %s to %s: %w: %s %s", ap, broker, ErrRefused, resp.Status, bytes.TrimSpace(msg)))
		default:
			return fmt.Errorf("offering %s to %s: %w: %s %s", ap, broker, ErrNotAcknowledged, resp.Status, bytes.TrimSpace(msg))
		}
		res, err := e.Transition(ctx, inv, ap, EventOffered, nil)
		if err != nil {
			return fmt.Errorf("offering %s: recording the offer: %w", ap, err)
		}
		if res.Err != nil {
			return task.Permanent(fmt.Errorf("offering %s: recording the offer: %w", ap, res.Err))
		}
		o.Logger.InfoContext(ctx, "aggregate offered", "path", ap.String(), "aggregate", ac.String(), "pieces", len(ms), "status", resp.StatusCode)
		return nil
	}
}

// memberContents returns the CAR CIDs of the n members of the aggregate key, in order.
func memberContents(ctx context.Context, e *dag.Engine, key string, n int) ([]cid.Cid, error) {
	out := make([]cid.Cid, n)
	err := e.View(ctx, func(tx *dag.Tx) error {
		kt, err := tx.KV(KVPrefix)
		if err != nil {
			return err
		}
		for i := range out {
			raw, err := kt.Get(memberKey(key, uint64(i)))
			if err != nil {
				return fmt.Errorf("member %d: %w", i, err)
			}
			if out[i], err = cid.Cast(raw); err != nil {
				return task.Permanent(fmt.Errorf("%w: member %d: %v", ErrMember, i, err))
			}
		}
		return nil
	})
	return out, err
}

// memberMD5 returns the hex md5 of the CAR content whose piece is pc: the digest the
// piece index holds (hashed with commP, so no CAR byte is read), or, for a piece
// indexed before md5 was kept there, carMD5 of the CAR.
func memberMD5(ctx context.Context, e *dag.Engine, blobs blob.Store, pc, content cid.Cid, size int64) (string, error) {
	ix, err := piece.Lookup(ctx, e, pc)
	if err == nil && ix.MD5 != nil && ix.Content.Equals(content) {
		return hex.EncodeToString(ix.MD5), nil
	}
	if err != nil && !errors.Is(err, piece.ErrUnknownPiece) {
		return "", err
	}
	return carMD5(ctx, blobs, content, size)
}

// carMD5 streams the CAR content from blobs and returns the hex md5 of its bytes, which
// must be size bytes.
func carMD5(ctx context.Context, blobs blob.Store, content cid.Cid, size int64) (string, error) {
	if blobs == nil {
		return "", errors.New("no blob store to read the CARs from")
	}
	key := carwhere.BlobKey(content)
	rc, _, err := blobs.Get(ctx, key, nil)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", key, err)
	}
	defer rc.Close()
	h := md5.New()
	n, err := io.Copy(h, io.LimitReader(rc, size+1))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", key, err)
	}
	if n != size {
		return "", task.Permanent(fmt.Errorf("%w: %s holds %d bytes, its piece says %d", ErrMember, key, n, size))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
