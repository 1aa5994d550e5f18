package metrics_test

import (
	"fmt"

	"github.com/w3dag/w3dag/machines/metrics"
)

// A metric is read with dag/get at /<did>/metrics/<group>/<counter> and exported to
// Prometheus under its PromName.
func ExamplePromName() {
	for _, n := range []string{metrics.StoreAddSizeTotal, metrics.UploadRemoveTotal} {
		fmt.Println(n, metrics.CheckName(n) == nil, metrics.PromName(n))
	}
	// Output:
	// store/add-size-total true w3dag_store_add_size_total
	// upload/remove-total true w3dag_upload_remove_total
}
