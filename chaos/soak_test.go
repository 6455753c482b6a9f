//go:build chaos

package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/redistest"
)

// The long suite (`make chaos`): the short scenarios again, longer, repeated and under steady
// load, against a service built with the race detector (a race it reports fails the test).

const raceBinary = true

// TestChaosRedisOutages kills Redis six times under 300 requests a second, three seconds down each
// time, creating links between the outages. What must hold is what TestRedisKilled states, for
// every outage: every click a good 302, /readyz 503 then 200, no record lost (those created between
// outages included), the clicks made during the outages written after, lost at most as reported.
func TestChaosRedisOutages(t *testing.T) {
	runRedisOutages(t, outagePlan{
		rounds: 6, up: 3 * time.Second, down: 3 * time.Second, workers: 16, perSecond: 300,
		linksEachRound: 2, readyWithin: 10 * time.Second, settleClicksFor: 30 * time.Second,
	})
}

// TestChaosRedisStalls stalls Redis five times each way (CLIENT PAUSE 2000 ALL, DEBUG SLEEP 1)
// under 300 requests a second. What must hold is what TestRedisPaused states, for every stall.
func TestChaosRedisStalls(t *testing.T) {
	runRedisStalls(t, stallPlan{rounds: 5, gap: 2 * time.Second, workers: 16, perSecond: 300})
}

// TestChaosPlatformFaults repeats each platform fault three times on one service under 200
// requests a second, three seconds or more each, recovering in between; it adds a platform that
// hangs (no answer until the call's own time-out), which opens the breaker once BREAKER_FAILURES
// hung calls have outlived UPSTREAM_TIMEOUT. What must hold is what TestPlatformFaults states,
// every round.
func TestChaosPlatformFaults(t *testing.T) {
	faults := append(platformFaults(), platformFault{
		name: "hang", inject: func(p *affiliatetest.Platform) { p.FailAlways(affiliatetest.FailHang) },
		opensBreaker: true, breakerWithin: 5 * time.Second,
	})
	for _, fault := range faults {
		t.Run(fault.name, func(t *testing.T) {
			runPlatformFault(t, fault, faultPlan{rounds: 3, faultFor: 3 * time.Second, workers: 12, perSecond: 200})
		})
	}
}

// TestChaosSIGTERM stops five services in turn with SIGTERM, each after three seconds of 400
// requests a second, on one Redis. What must hold is what TestSIGTERMUnderLoad states, every time,
// and the click counts of all five processes add up.
func TestChaosSIGTERM(t *testing.T) {
	runSIGTERM(t, termPlan{rounds: 5, loadFor: 3 * time.Second, workers: 24, perSecond: 400})
}

// TestChaosDurability repeats the durability cases five times each on one Redis, and adds
// docker-compose.yml's settings (appendfsync everysec) with a kill -9 two seconds after the last
// write: everysec may lose the last second's writes to a crash, never older ones.
func TestChaosDurability(t *testing.T) {
	cases := append(durabilityCases(), durabilityCase{
		name:      "docker-compose settings, kill -9 two seconds after the last write",
		opts:      func(t *testing.T) redistest.Options { return redistest.Options{Args: composeRedisArgs(t)} },
		wantFsync: "everysec", crash: (*redistest.Server).Kill, settle: 2 * time.Second,
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runDurability(t, tc, 5) })
	}
}

// TestChaosAcknowledgedWrites creates links without pause while Redis (appendfsync always) is
// killed with SIGKILL and started again five times. What must hold: every link whose creation was
// acknowledged (201) is there afterwards with its target; creations refused while Redis was down
// get an error answer, never a 201.
func TestChaosAcknowledgedWrites(t *testing.T) {
	f := newFixture(t, redistest.Options{AppendOnly: true}, nil)
	s := f.start(t, nil)
	fresh := newFreshProducts()

	var mu sync.Mutex // guards acked, refused
	var acked []linkRecord
	refused := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rec, st, err := tryCreate(s, fresh.page())
				mu.Lock()
				if err == nil && st == http.StatusCreated {
					acked = append(acked, rec)
				} else {
					refused++
				}
				mu.Unlock()
				if err != nil || st != http.StatusCreated {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	for round := range 5 {
		time.Sleep(time.Second + time.Duration(round)*137*time.Millisecond)
		f.redis.Kill()
		time.Sleep(time.Second)
		f.redis.StartAgain(t)
		if !waitFor(10*time.Second, func() bool { return s.readyz() == http.StatusOK }) {
			t.Fatalf("round %d: /readyz not 200 within 10s of Redis's restart", round)
		}
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	t.Logf("%d creations acknowledged, %d refused", len(acked), refused)
	if refused == 0 {
		t.Errorf("no creation was refused: none happened while Redis was down")
	}
	lost := 0
	for _, want := range acked {
		got, ok := s.link(t, want.ID)
		if !ok || got.Target != want.Target {
			lost++
			if lost <= 10 {
				t.Errorf("acknowledged link %s (%s): after the kills found=%v target %q", want.ID, want.Target, ok, got.Target)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged links lost", lost, len(acked))
	}
}

// tryCreate asks for a short link to rawURL and returns the answer, for use off the test's
// goroutine: it never fails the test.
func tryCreate(s *service, rawURL string) (linkRecord, int, error) {
	b, _ := json.Marshal(map[string]string{"url": rawURL})
	req, err := http.NewRequest(http.MethodPost, s.base+"/api/links", bytes.NewReader(b))
	if err != nil {
		return linkRecord{}, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return linkRecord{}, 0, err
	}
	defer resp.Body.Close()
	var rec linkRecord
	if resp.StatusCode == http.StatusCreated {
		if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
			return linkRecord{}, resp.StatusCode, fmt.Errorf("decode: %w", err)
		}
	}
	return rec, resp.StatusCode, nil
}
