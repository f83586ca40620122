// Package multi holds the end-to-end test of several Gatehouse instances on
// one PostgreSQL pool: each instance is a separate process of the real
// binary (Caddy's running config is global to a process, so two gateways
// cannot share one), started from its own Caddyfile on its own port. See
// multi_test.go; there is no non-test code here.
package multi
