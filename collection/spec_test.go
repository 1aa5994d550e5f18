package collection_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/collection"
)

func TestCheckKey(t *testing.T) {
	mh := must(multihash.Sum([]byte("x"), multihash.SHA2_256, -1))
	car := cid.NewCidV1(collection.CodecCAR, mh)
	raw := cid.NewCidV1(cid.Raw, mh)
	b58 := must(car.StringOfBase('z'))
	for _, tc := range []struct {
		rule      collection.KeyRule
		key, want string
		err       string
	}{
		{collection.KeyString, "anything", "anything", ""},
		{collection.KeyString, b58, b58, ""},
		{collection.KeyCID, b58, car.String(), ""},
		{collection.KeyCID, raw.String(), raw.String(), ""},
		{collection.KeyCARCID, b58, car.String(), ""},
		{collection.KeyCARCID, raw.String(), "", "must be a CAR CID (codec 0x0202), got codec 0x55"},
		{collection.KeyCID, "notacid", "", "must be a CID"},
		{collection.KeyString, "", "", "empty key"},
		{collection.KeyString, "a\x00b", "", "control character"},
		{collection.KeyString, strings.Repeat("k", collection.MaxKeyLength+1), "", "longer than"},
	} {
		spec := collection.Spec{Name: "c", Subjects: collection.Space, Key: tc.rule}
		got, err := spec.CheckKey(tc.key)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s key %q: %v, want an error containing %q", tc.rule, tc.key, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s key %q = %q, %v; want %q", tc.rule, tc.key, got, err, tc.want)
		}
	}
}

func TestSpecCheck(t *testing.T) {
	for _, tc := range []struct {
		spec collection.Spec
		err  string
	}{
		{collection.Spec{Name: "store", Subjects: collection.Space, Key: collection.KeyCARCID, KeyField: "link"}, ""},
		{collection.Spec{Name: "metrics", Subjects: collection.Space | collection.Service, Writers: collection.ServiceOnly}, ""},
		{collection.Spec{Name: "", Subjects: collection.Space}, "collection is empty"},
		{collection.Spec{Name: "a/b", Subjects: collection.Space}, "must start with a letter"},
		{collection.Spec{Name: "x"}, "subjects"},
		{collection.Spec{Name: "x", Subjects: 8}, "subjects"},
		{collection.Spec{Name: "x", Subjects: collection.Space, Key: 7}, "unknown key rule"},
		{collection.Spec{Name: "x", Subjects: collection.Space, Writers: 3}, "unknown writers"},
		{collection.Spec{Name: "carwhere", Subjects: collection.Service, Writers: collection.ServiceOnly, PublicRead: true}, ""},
		{collection.Spec{Name: "metrics", Subjects: collection.Space | collection.Service, PublicRead: true}, ""},
		{collection.Spec{Name: "notes", Subjects: collection.Space, PublicRead: true}, "public reads are for collections of the service"},
	} {
		err := tc.spec.Check()
		if tc.err == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.spec, err)
			}
			continue
		}
		if !errors.Is(err, collection.ErrInvalidSpec) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: %v, want ErrInvalidSpec containing %q", tc.spec, err, tc.err)
		}
	}
}

func TestStrings(t *testing.T) {
	for got, want := range map[string]string{
		collection.KeyString.String():                    "string",
		collection.KeyCID.String():                       "cid",
		collection.KeyCARCID.String():                    "car-cid",
		collection.Authority.String():                    "authority",
		collection.ServiceOnly.String():                  "service",
		(collection.Space | collection.Service).String(): "space+service",
		collection.Service.String():                      "service",
		collection.Subjects(0).String():                  "Subjects(0)",
		collection.KeyRule(9).String():                   "KeyRule(9)",
	} {
		if got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
	if !(collection.Space | collection.Service).Has(collection.Space) || collection.Space.Has(collection.Service) || collection.Space.Has(0) {
		t.Error("Subjects.Has")
	}
}

func TestDescription(t *testing.T) {
	var d collection.Description
	store := collection.Spec{Name: "store", Subjects: collection.Space, Key: collection.KeyCARCID, KeyField: "link"}.Info()
	store.Input, store.State = "StoreInput", "StoreStatus"
	d.Collections.Space = []collection.Info{store}
	if err := d.Check(); err != nil {
		t.Fatal(err)
	}
	if c, ok := d.Collection("space", "store"); !ok || c.Key != "car-cid" || c.Writers != "authority" || c.KeyField != "link" {
		t.Fatalf("%+v %v", c, ok)
	}
	if _, ok := d.Collection("service", "store"); ok {
		t.Fatal("store found among the service's collections")
	}
	d.Collections.Service = []collection.Info{{Name: "task", Key: "uuid", Writers: "service", Input: "I", State: "S"}}
	if err := d.Check(); !errors.Is(err, collection.ErrInvalidSpec) || !strings.Contains(err.Error(), `service collection task: key rule "uuid"`) {
		t.Fatalf("Check: %v", err)
	}
}
