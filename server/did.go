package server

import (
	"encoding/json"
	"fmt"
	"strings"
)

// didDocument returns the DID document of a did:key service: one Multikey verification
// method (the key itself) used for authentication and assertions, and, when publicURL is
// set, the w3dag service endpoint.
func didDocument(id, publicURL string) ([]byte, error) {
	mb, ok := strings.CutPrefix(id, "did:key:")
	if !ok || mb == "" {
		return nil, fmt.Errorf("service DID %q is not a did:key", id)
	}
	vm := id + "#" + mb
	doc := map[string]any{
		"@context": []string{"https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"},
		"id":       id,
		"verificationMethod": []map[string]string{{
			"id":                 vm,
			"type":               "Multikey",
			"controller":         id,
			"publicKeyMultibase": mb,
		}},
		"authentication":  []string{vm},
		"assertionMethod": []string{vm},
	}
	if publicURL != "" {
		doc["service"] = []map[string]string{{
			"id":              id + "#w3dag",
			"type":            "W3DAG",
			"serviceEndpoint": publicURL,
		}}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
