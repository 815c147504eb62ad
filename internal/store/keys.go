package store

import (
	"fmt"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Every key dmplan uses is built here. Names (sources, tasks, workers) are
// DNS labels, so they never contain '/'; generation IDs and sequence numbers
// are zero-padded decimals, so keys sort in numeric order.
const (
	prefix = "/dmplan/v1/"

	keyHead    = prefix + "head"         // HeadRecord of the current generation
	keyGenSeq  = prefix + "genseq"       // bumped to allocate a generation ID
	keyInstall = prefix + "installation" // Installation: the salt of password digests
	pfxStaging = prefix + "staging/"     // staging/<gen>: claim, on the applier's lease
	pfxGen     = prefix + "gen/"         // gen/<gen>/...: immutable generations
	pfxHistory = prefix + "history/"     // history/<seq>: ApplyRecord
	pfxWorker  = prefix + "worker/"      // worker/<name>: planner.Worker, on its lease
	pfxStatus  = prefix + "status/"      // status/<task>/<source>: SubtaskStatus, on a lease

	// ElectionPrefix is the etcd election the agents campaign in (etcd's
	// concurrency.Election: election/<lease> holds a candidate's name); its
	// leader moves sources off dead agents.
	ElectionPrefix = prefix + "election"

	// Inside a generation, after gen/<gen>/.
	genManifest = "manifest"
	genSource   = "source/"  // source/<name>: spec.Source
	genTask     = "task/"    // task/<name>: spec.Task
	genSubtask  = "subtask/" // subtask/<task>/<source>: planner.Subtask
	genStage    = "stage/"   // stage/<task>/<source>: StageValue
	genBound    = "bound/"   // bound/<source>: BoundValue
)

const numWidth = 20 // digits in generation IDs and history sequence numbers

// genID formats a generation ID from the etcd revision that allocated it.
func genID(rev int64) string { return fmt.Sprintf("%0*d", numWidth, rev) }

func stagingKey(gen string) string { return pfxStaging + gen }

// genPrefix is the prefix of every key of one generation.
func genPrefix(gen string) string { return pfxGen + gen + "/" }

func manifestKey(gen string) string { return genPrefix(gen) + genManifest }

// Keys inside a generation, relative to genPrefix(gen): a state is encoded
// before its generation ID is allocated.
func relSource(name string) string          { return genSource + name }
func relTask(name string) string            { return genTask + name }
func relBound(source string) string         { return genBound + source }
func relSubtask(task, source string) string { return genSubtask + task + "/" + source }
func relStage(task, source string) string   { return genStage + task + "/" + source }

func historyKey(seq int64) string          { return fmt.Sprintf("%s%0*d", pfxHistory, numWidth, seq) }
func workerKey(name string) string         { return pfxWorker + name }
func statusKey(task, source string) string { return pfxStatus + task + "/" + source }

// prefixEnd is the end of the range of keys that start with p.
func prefixEnd(p string) string { return clientv3.GetPrefixRangeEnd(p) }

// genFromKey returns the generation ID of a key under gen/.
func genFromKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, pfxGen)
	if !ok {
		return "", false
	}
	gen, _, ok := strings.Cut(rest, "/")
	return gen, ok && gen != ""
}

// lastSegments returns the part of key after p, split at '/'.
func lastSegments(key, p string) []string {
	return strings.Split(strings.TrimPrefix(key, p), "/")
}

// validName reports whether a name can be a single key segment.
func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, "/\x00") && strconv.Quote(s) == `"`+s+`"`
}
