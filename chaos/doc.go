// Package chaos holds the redirector's fault-injection tests: the real binary as a child process,
// a real redis-server and the strict platform fake, with Redis killed or paused, the platform slow
// or failing, and the service stopped under load. It has no code of its own: the short scenarios
// run with every `go test`, the long ones with `-tags chaos` (`make chaos`).
package chaos
