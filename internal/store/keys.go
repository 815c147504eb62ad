package store

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Every key dmplan uses is built here. Names (sources, tasks, workers) are
// DNS labels, so they never contain '/'; generation IDs and sequence numbers
// are zero-padded decimals, so keys sort in numeric order.
//
// The applied state is kept as versions of objects: an object key (e.g.
// task/shop) followed by the generation that wrote it (task/shop/<gen>).
// An empty value is a tombstone. A reader takes, for each object, its
// newest version that is visible: written by a generation at or before the
// head's and not open (docs/keyspace.md).
const (
	prefix = "/dmplan/v1/"

	keyHead    = prefix + "head"         // HeadRecord of the current generation
	keyGenSeq  = prefix + "genseq"       // bumped to allocate a generation ID
	keyInstall = prefix + "installation" // Installation: the salt of password digests
	pfxStaging = prefix + "staging/"     // staging/<gen>: claim, on the applier's lease
	pfxOpen    = prefix + "open/"        // open/<gen>: a staged generation not (yet) made current
	pfxLog     = prefix + "log/"         // log/<gen>/<n>: object keys a generation wrote, not yet swept
	pfxHistory = prefix + "history/"     // history/<seq>: ApplyRecord
	pfxWorker  = prefix + "worker/"      // worker/<name>: planner.Worker, on its lease
	pfxStatus  = prefix + "status/"      // status/<task>/<source>: SubtaskStatus, on a lease
	pfxShard   = prefix + "shardlock/"   // shardlock/<task>/<target>: job.ShardLock (docs/shard-ddl.md)
	pfxSchema  = prefix + "shardschema/" // shardschema/<task>/<target>: job.ShardSchema (optimistic mode)

	// Versioned objects: <object key>/<gen>.
	pfxSource = prefix + "source/" // source/<source>: spec.Source
	pfxTask   = prefix + "task/"   // task/<task>: spec.Task
	pfxMember = prefix + "member/" // member/<source>/<task>: {} (the task runs on the source)
	pfxBound  = prefix + "bound/"  // bound/<worker>/<source>: {} (the worker serves the source)

	// ElectionPrefix is the etcd election the agents campaign in (etcd's
	// concurrency.Election: election/<lease> holds a candidate's name); its
	// leader moves sources off dead agents.
	ElectionPrefix = prefix + "election"
)

const numWidth = 20 // digits in generation IDs and history sequence numbers

// genID formats a generation ID from the etcd revision that allocated it.
func genID(rev int64) string { return fmt.Sprintf("%0*d", numWidth, rev) }

func stagingKey(gen string) string { return pfxStaging + gen }
func openKey(gen string) string    { return pfxOpen + gen }
func logPrefix(gen string) string  { return pfxLog + gen + "/" }
func logKey(gen string, n int) string {
	return fmt.Sprintf("%s%06d", logPrefix(gen), n)
}

// Object keys, without the generation.
func sourceObj(name string) string         { return pfxSource + name }
func taskObj(name string) string           { return pfxTask + name }
func memberObj(source, task string) string { return pfxMember + source + "/" + task }
func boundObj(worker, source string) string {
	return pfxBound + worker + "/" + source
}

// versionKey is the key of obj's version written by generation gen.
func versionKey(obj, gen string) string { return obj + "/" + gen }

// splitVersion splits a version key into its object key and generation.
func splitVersion(key string) (obj, gen string, ok bool) {
	i := strings.LastIndexByte(key, '/')
	if i < 0 || len(key)-i-1 != numWidth {
		return "", "", false
	}
	return key[:i], key[i+1:], true
}

func historyKey(seq int64) string          { return fmt.Sprintf("%s%0*d", pfxHistory, numWidth, seq) }
func workerKey(name string) string         { return pfxWorker + name }
func statusKey(task, source string) string { return pfxStatus + task + "/" + source }

// statusPrefix is the prefix of task's status keys ("": every task's).
func statusPrefix(task string) string {
	if task == "" {
		return pfxStatus
	}
	return pfxStatus + task + "/"
}

// shardLockKey: target is "db.table", path-escaped (a name may hold '/').
func shardLockKey(task, target string) string {
	return pfxShard + task + "/" + url.PathEscape(target)
}

// shardSchemaKey: as shardLockKey.
func shardSchemaKey(task, target string) string {
	return pfxSchema + task + "/" + url.PathEscape(target)
}

// prefixEnd is the end of the range of keys that start with p.
func prefixEnd(p string) string { return clientv3.GetPrefixRangeEnd(p) }

// lastSegments returns the part of key after p, split at '/'.
func lastSegments(key, p string) []string {
	return strings.Split(strings.TrimPrefix(key, p), "/")
}

// validName reports whether a name can be a single key segment: not
// empty, no '/', and nothing that needs quoting.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '/' {
			return !strings.ContainsAny(s, "/\x00") && strconv.Quote(s) == `"`+s+`"`
		}
	}
	return true
}
