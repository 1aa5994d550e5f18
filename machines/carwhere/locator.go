package carwhere

import (
	"net/url"
	"strings"

	"github.com/ipfs/go-cid"
)

// Locator gives the Location of a CAR in one blob backend.
type Locator func(c cid.Cid) Location

// FSLocator locates CARs in the fs backend: folder is the blob folder (recorded as the
// location's bucket; "" leaves it out) and publicURL the URL clients reach the service at,
// whose GET /blob/<cid> serves the bytes.
func FSLocator(folder, publicURL string) Locator {
	base := strings.TrimSuffix(publicURL, "/")
	return func(c cid.Cid) Location {
		return Location{
			Backend: "fs",
			Bucket:  folder,
			Key:     BlobKey(c),
			URIs:    []string{base + "/blob/" + c.String()},
		}
	}
}

// S3Bucket describes an S3 bucket for S3Locator.
type S3Bucket struct {
	// Endpoint is the server's base URL; "" means AWS (virtual-hosted
	// https://<bucket>.s3.<region>.amazonaws.com).
	Endpoint string
	// Region of the bucket; "" leaves it out of the location (and means us-east-1 for the
	// AWS URL).
	Region string
	// Bucket name.
	Bucket string
	// Prefix the objects are stored under ("" for none): the key is Prefix/carpark/….
	Prefix string
	// PathStyle addresses the bucket as a path (endpoint/bucket/key); otherwise the bucket
	// is a sub-domain of the endpoint.
	PathStyle bool
}

// S3Locator locates CARs in an S3 bucket: the object URL is the location's URI.
func S3Locator(b S3Bucket) Locator {
	return func(c cid.Cid) Location {
		key := BlobKey(c)
		if b.Prefix != "" {
			key = strings.Trim(b.Prefix, "/") + "/" + key
		}
		return Location{Backend: "s3", Bucket: b.Bucket, Region: b.Region, Key: key, URIs: []string{b.objectURL(key)}}
	}
}

func (b S3Bucket) objectURL(key string) string {
	if b.Endpoint == "" {
		region := b.Region
		if region == "" {
			region = "us-east-1"
		}
		return "https://" + b.Bucket + ".s3." + region + ".amazonaws.com/" + key
	}
	u, err := url.Parse(strings.TrimSuffix(b.Endpoint, "/"))
	if err != nil || u.Host == "" || b.PathStyle {
		return strings.TrimSuffix(b.Endpoint, "/") + "/" + b.Bucket + "/" + key
	}
	u.Host = b.Bucket + "." + u.Host
	return u.String() + "/" + key
}
