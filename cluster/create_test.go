//go:build cluster

package cluster_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// TestClusterCreateRace sends racing creates of one page that is not a product, without a slug, to
// three replicas over a six-node Redis Cluster, where the record and the page's index entry lie in
// different hash slots: every racer gets the same id, exactly one of them 201.
func TestClusterCreateRace(t *testing.T) {
	rc := startRedisCluster(t)
	p, api := fakePlatform(t)
	rs := startReplicas(t, 3, serviceEnv(p, api, rc))

	for _, tc := range []struct {
		name   string
		page   string
		racers int
	}{
		{"8 racers", "https://www.aliexpress.com/w/wholesale-red-lamp.html", 8},
		{"50 racers", "https://www.aliexpress.com/w/wholesale-blue-lamp.html", 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]string{"url": tc.page})
			replies := make([]reply, tc.racers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range tc.racers {
				wg.Go(func() {
					<-start
					replies[i] = rs[i%len(rs)].must(t, http.MethodPost, "/api/links", string(body))
				})
			}
			close(start)
			wg.Wait()
			created := 0
			ids := map[string]int{}
			for i, rep := range replies {
				switch rep.status {
				case http.StatusCreated:
					created++
				case http.StatusOK:
				default:
					t.Fatalf("%s: POST /api/links %s = %d %s, want 201 or 200", rs[i%len(rs)].name, body, rep.status, rep.body)
				}
				var l linkJSON
				if err := json.Unmarshal([]byte(rep.body), &l); err != nil || l.ID == "" {
					t.Fatalf("POST /api/links: body %s: no id (%v)", rep.body, err)
				}
				ids[l.ID]++
			}
			if created != 1 || len(ids) != 1 {
				t.Fatalf("%d concurrent POST /api/links %s over %d replicas: %d answered 201, %d ids %v; want one 201 and one id",
					tc.racers, body, len(rs), created, len(ids), ids)
			}
			for id := range ids {
				sum := sha256.Sum256([]byte(tc.page))
				index := "rd:v1:tgt:" + hex.EncodeToString(sum[:16])
				rec := fmt.Sprintf("rd:v1:{%s}:rec", id)
				t.Logf("id %s: record in slot %d, index entry in slot %d", id, rc.slot(t, rec), rc.slot(t, index))
				for _, r := range rs {
					if l, ok := r.link(t, id); !ok || l.Target != tc.page {
						t.Errorf("%s: GET /api/links/%s = %+v (found %v), want target %s", r.name, id, l, ok, tc.page)
					}
				}
			}
		})
	}
}
