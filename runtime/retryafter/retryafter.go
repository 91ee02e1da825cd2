// Package retryafter reads the Retry-After header of an HTTP answer (RFC
// 9110 §10.2.3), for every client of flowbot that retries: the Userlike API
// client and the Chat API's webhook delivery.
package retryafter

import (
	"net/http"
	"strings"
	"time"
)

// Parse reads v, a number of seconds or an HTTP date, as a wait from now,
// at most limit. A date in the past is a wait of 0. ok is false when v is
// empty or unreadable.
func Parse(v string, now time.Time, limit time.Duration) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		var secs int64
		capped := int64(limit / time.Second)
		for _, c := range v {
			if c < '0' || c > '9' {
				return 0, false
			}
			secs = min(secs*10+int64(c-'0'), capped+1) // keep reading: the rest must be digits too
		}
		if secs > capped {
			return limit, true
		}
		return min(time.Duration(secs)*time.Second, limit), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), limit), true
}
