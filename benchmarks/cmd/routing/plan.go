package main

import (
	"fmt"
	"math/rand/v2"
)

// placeUsers names n users (u00000, u00001, …) and puts each one's stream
// on an instance: spread, a random permutation dealt out in turn, so that
// every instance holds the same number (±1) of random users; otherwise
// all on instance 0.
func placeUsers(rng *rand.Rand, n, instances int, spread bool) (users []string, place []int) {
	users = make([]string, n)
	place = make([]int, n)
	for i := range users {
		users[i] = fmt.Sprintf("u%05d", i)
	}
	if !spread {
		return users, place
	}
	for i, k := range rng.Perm(n) {
		place[k] = i % instances
	}
	return users, place
}

// perInstance counts the streams place puts on each instance.
func perInstance(place []int, instances int) []int {
	out := make([]int, instances)
	for _, k := range place {
		out[k]++
	}
	return out
}
