package store

import (
	"fmt"
	"strconv"
	"strings"
)

// written is what a command (or a pipeline) writes: keys, or every key (FLUSHALL).
type written struct {
	keys     []string
	flushAll bool
}

func (w written) none() bool { return len(w.keys) == 0 && !w.flushAll }

// lazyOnly reports whether every key is a link-cache key.
func (w written) lazyOnly() bool {
	for _, k := range w.keys {
		if !strings.HasPrefix(k, lazyPrefix) {
			return false
		}
	}
	return true
}

func (w *written) add(o written) {
	w.keys = append(w.keys, o.keys...)
	w.flushAll = w.flushAll || o.flushAll
}

// keySpan says where a write command's keys are among its arguments: from first (args[first]) to the
// last argument, every step-th; last < 0 counts from the end (-1: the last argument).
type keySpan struct{ first, last, step int }

// writeCommands are the write commands the durable store knows, by where their keys are. A command
// in neither this table nor readCommands is refused, so a write the store would not keep fails
// loudly instead of being lost at the next restart.
var writeCommands = map[string]keySpan{
	"set": {1, 1, 1}, "setnx": {1, 1, 1}, "setex": {1, 1, 1}, "psetex": {1, 1, 1}, "getset": {1, 1, 1},
	"getdel": {1, 1, 1}, "getex": {1, 1, 1}, "append": {1, 1, 1}, "setrange": {1, 1, 1}, "setbit": {1, 1, 1},
	"incr": {1, 1, 1}, "incrby": {1, 1, 1}, "incrbyfloat": {1, 1, 1}, "decr": {1, 1, 1}, "decrby": {1, 1, 1},
	"del": {1, -1, 1}, "unlink": {1, -1, 1}, "mset": {1, -1, 2}, "msetnx": {1, -1, 2},
	"expire": {1, 1, 1}, "pexpire": {1, 1, 1}, "expireat": {1, 1, 1}, "pexpireat": {1, 1, 1}, "persist": {1, 1, 1},
	"rename": {1, 2, 1}, "renamenx": {1, 2, 1}, "copy": {1, 2, 1}, "move": {1, 1, 1},
	"hset": {1, 1, 1}, "hsetnx": {1, 1, 1}, "hmset": {1, 1, 1}, "hdel": {1, 1, 1}, "hincrby": {1, 1, 1},
	"hincrbyfloat": {1, 1, 1},
	"zadd":         {1, 1, 1}, "zrem": {1, 1, 1}, "zincrby": {1, 1, 1}, "zremrangebyscore": {1, 1, 1},
	"zremrangebyrank": {1, 1, 1}, "zremrangebylex": {1, 1, 1}, "zpopmin": {1, 1, 1}, "zpopmax": {1, 1, 1},
	"zunionstore": {1, 1, 1}, "zinterstore": {1, 1, 1}, "zdiffstore": {1, 1, 1}, "zrangestore": {1, 1, 1},
	"sadd": {1, 1, 1}, "srem": {1, 1, 1}, "spop": {1, 1, 1}, "smove": {1, 2, 1},
	"sunionstore": {1, 1, 1}, "sinterstore": {1, 1, 1}, "sdiffstore": {1, 1, 1},
	"lpush": {1, 1, 1}, "rpush": {1, 1, 1}, "lpushx": {1, 1, 1}, "rpushx": {1, 1, 1}, "lpop": {1, 1, 1},
	"rpop": {1, 1, 1}, "lset": {1, 1, 1}, "lrem": {1, 1, 1}, "ltrim": {1, 1, 1}, "linsert": {1, 1, 1},
	"lmove": {1, 2, 1}, "rpoplpush": {1, 2, 1},
	"pfadd": {1, 1, 1},
}

// readCommands write no key.
var readCommands = setOf(`get mget strlen getrange getbit bitcount exists ttl pttl expiretime
		pexpiretime type hget hmget hgetall hexists hlen hkeys hvals hscan hstrlen hrandfield
		zrange zrangebyscore zrevrange zrevrangebyscore zrangebylex zrevrangebylex zscore zmscore zcard
		zcount zlexcount zrank zrevrank zscan zrandmember zunion zinter zdiff
		smembers sismember smismember scard sscan srandmember sunion sinter sdiff
		lrange llen lindex lpos pfcount scan keys randomkey dbsize object
		ping echo info time hello client select auth quit reset command config
		multi exec discard watch unwatch readonly readwrite wait role
		publish pubsub subscribe unsubscribe psubscribe punsubscribe
		script eval_ro evalsha_ro`)

func setOf(words string) map[string]bool {
	m := make(map[string]bool)
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// writeOf says which keys the command args writes. It fails for a command it does not know, and
// for a script whose key count is unreadable.
func writeOf(args []any) (written, error) {
	if len(args) == 0 {
		return written{}, nil
	}
	name := strings.ToLower(argString(args[0]))
	switch name {
	case "flushall", "flushdb":
		return written{flushAll: true}, nil
	case "eval", "evalsha":
		// Scripts declare every key they touch (Redis Cluster needs it too): KEYS are what they write.
		if len(args) < 3 {
			return written{}, nil
		}
		n, err := strconv.Atoi(argString(args[2]))
		if err != nil || n < 0 || 3+n > len(args) {
			return written{}, fmt.Errorf("embedded store: %s with numkeys %v", name, args[2])
		}
		return keysOf(args[3 : 3+n]), nil
	}
	if span, ok := writeCommands[name]; ok {
		last := span.last
		if last < 0 {
			last = len(args) + last
		}
		var keys []any
		for i := span.first; i <= last && i < len(args); i += span.step {
			keys = append(keys, args[i])
		}
		return keysOf(keys), nil
	}
	if readCommands[name] {
		return written{}, nil
	}
	return written{}, fmt.Errorf("embedded store: command %q is not one the durable store keeps (add it to writeCommands or readCommands)", name)
}

// keysOf is the keys among args, without the list of live records, which is rebuilt at start.
func keysOf(args []any) written {
	w := written{keys: make([]string, 0, len(args))}
	for _, a := range args {
		if k := argString(a); k != linkListKey {
			w.keys = append(w.keys, k)
		}
	}
	return w
}

func argString(a any) string {
	switch v := a.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return fmt.Sprint(a)
}
