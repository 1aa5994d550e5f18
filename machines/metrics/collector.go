package metrics

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/w3dag/w3dag/dag"
)

// ScrapeTimeout bounds how long one scrape waits for the counters to be read.
const ScrapeTimeout = 5 * time.Second

// PromName is the Prometheus name of a metric: "w3dag_" and the name with '/' and '-'
// as '_', e.g. store/add-size-total → w3dag_store_add_size_total.
func PromName(name string) string {
	return "w3dag_" + strings.NewReplacer("/", "_", "-", "_").Replace(name)
}

var help = map[string]string{
	StoreAddTotal:           "Store entries that reached done, service-wide.",
	StoreAddSizeTotal:       "Bytes of store entries that reached done, service-wide.",
	StoreRemoveTotal:        "Done store entries removed, service-wide.",
	StoreRemoveSizeTotal:    "Bytes of done store entries removed, service-wide.",
	UploadAddTotal:          "Uploads added, service-wide.",
	UploadRemoveTotal:       "Uploads removed, service-wide.",
	PieceComputedTotal:      "Pieces computed (queued to computed), service-wide.",
	AggregateReadyTotal:     "Aggregates that became ready, service-wide.",
	AggregateReadySizeTotal: "Payload bytes (the CARs' sizes) of aggregates that became ready, service-wide.",
	AggregateDealTotal:      "Aggregates a deal broker reported a deal for (deal_pending → deal_processed), service-wide.",
}

type collector struct {
	e     *dag.Engine
	descs []*prometheus.Desc
	errs  *prometheus.Desc
}

// Collector returns a Prometheus collector of the service-wide counters of Names, read
// from e on every scrape (one read transaction). Register it with the server's
// Registerer (server.Options.Registerer). A scrape whose read fails reports the failure
// through prometheus.NewInvalidMetric, so /metrics shows it rather than stale numbers.
func Collector(e *dag.Engine) prometheus.Collector {
	c := &collector{e: e}
	for _, n := range Names {
		c.descs = append(c.descs, prometheus.NewDesc(PromName(n), help[n], nil, nil))
	}
	c.errs = prometheus.NewDesc("w3dag_metrics_read_error", "Reading the counters failed.", nil, nil)
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), ScrapeTimeout)
	defer cancel()
	vals := make([]int64, len(Names))
	err := c.e.View(ctx, func(tx *dag.Tx) error {
		for i, n := range Names {
			v, err := Get(tx, tx.Service(), n)
			if err != nil {
				return err
			}
			vals[i] = v
		}
		return nil
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.errs, err)
		return
	}
	for i, d := range c.descs {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(vals[i]))
	}
}
