package retryafter_test

import (
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowbot/flowbot/runtime/retryafter"
)

// maxFuzzLimit bounds the limits the fuzzer tries: far above the callers'
// (an hour for the Userlike API, a day for webhook delivery).
const maxFuzzLimit = 100 * 365 * 24 * time.Hour

// FuzzParse checks Parse against a reference: never negative, never above
// the limit, ok exactly when the value is digits or an HTTP date, and the
// wait is the number of seconds (or the time until the date), capped.
func FuzzParse(f *testing.F) {
	now := time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC).Unix()
	for _, v := range []string{"", " ", "0", "1", "120", " 30 ", "007", "-1", "+5", "1.5", "1e3", "3600", "86400", "86401",
		"99999999999999999999999999999", "18446744073709551616", "9223372036854775807", "12a", "٣", "１",
		"Sun, 15 Jun 2025 12:01:00 GMT", "Sunday, 15-Jun-25 12:01:00 GMT", "Sun Jun 15 12:01:00 2025",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT",
		"Sun, 15 Jun 2025 12:01:00 UTC", "garbage", "\t60\r\n"} {
		f.Add(v, now, int64(time.Hour))
		f.Add(v, now, int64(24*time.Hour))
	}
	f.Add("5", now, int64(0))
	f.Add("5", now, int64(1))
	f.Add("9223372037", now, int64(maxFuzzLimit))
	f.Fuzz(func(t *testing.T, v string, nowUnix int64, limitNS int64) {
		limit := time.Duration(limitNS)
		if limit < 0 {
			limit = -limit
		}
		if limit < 0 || limit > maxFuzzLimit {
			limit %= maxFuzzLimit
			if limit < 0 {
				limit = -limit
			}
		}
		now := time.Unix(nowUnix%(400*365*24*3600), 0) // years 1570 to 2370
		d, ok := retryafter.Parse(v, now, limit)
		if d < 0 || d > limit {
			t.Fatalf("Parse(%q, limit %v) = %v, outside [0, limit]", v, limit, d)
		}
		if !ok && d != 0 {
			t.Fatalf("Parse(%q) = %v, false: a failure must be 0", v, d)
		}
		s := strings.TrimSpace(v)
		switch {
		case s == "":
			if ok {
				t.Fatalf("Parse(%q) = %v, true; want false", v, d)
			}
		case s[0] >= '0' && s[0] <= '9':
			n, isInt := new(big.Int).SetString(s, 10)
			digits := isInt && !strings.ContainsAny(s, "+-_") && n.Sign() >= 0
			if ok != digits {
				t.Fatalf("Parse(%q) ok = %v; want %v", v, ok, digits)
			}
			if !ok {
				return
			}
			want := limit
			ns := new(big.Int).Mul(n, big.NewInt(int64(time.Second)))
			if ns.Cmp(big.NewInt(int64(limit))) < 0 {
				want = time.Duration(ns.Int64())
			}
			if d != want {
				t.Fatalf("Parse(%q, limit %v) = %v; want %v", v, limit, d, want)
			}
		default:
			at, err := http.ParseTime(s)
			if ok != (err == nil) {
				t.Fatalf("Parse(%q) ok = %v; http.ParseTime error %v", v, ok, err)
			}
			if !ok {
				return
			}
			want := min(max(at.Sub(now), 0), limit)
			if d != want {
				t.Fatalf("Parse(%q, now %v, limit %v) = %v; want %v", v, now, limit, d, want)
			}
		}
	})
}
