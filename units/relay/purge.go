package relay

import "time"

// FileInfo is a relay file as purge sees it.
type FileInfo struct {
	Name    string
	Size    int64
	ModTime time.Time // its last write
}

// PurgeInput is what the purge rule decides from (docs/relay.md, "Purge").
type PurgeInput struct {
	Files []FileInfo // the relay's files, oldest first
	// Need is the oldest file a subtask of the source still needs; "" when
	// none needs any. NeedKnown is false when some subtask's checkpoint
	// could not be read: then no file counts as unneeded.
	Need      string
	NeedKnown bool
	Now       time.Time
	Retain    time.Duration
	// Free is the space left on the relay's file system; Floor the space
	// the relay keeps free by purging even needed files.
	Free, Floor int64
}

// Purge returns the files to remove: unneeded ones older than Retain
// (every subtask is past them), then, while Free stays under Floor, the
// oldest others — forced lists those a subtask needed (or may need). The
// newest file is never removed.
func Purge(in PurgeInput) (remove, forced []string) {
	if len(in.Files) < 2 {
		return nil, nil
	}
	old := in.Files[:len(in.Files)-1]
	unneeded := func(f FileInfo) bool {
		return in.NeedKnown && (in.Need == "" || CompareFiles(f.Name, in.Need) < 0)
	}
	free := in.Free
	i := 0
	for ; i < len(old); i++ {
		f := old[i]
		if !unneeded(f) || in.Now.Sub(f.ModTime) < in.Retain {
			break
		}
		remove = append(remove, f.Name)
		free += f.Size
	}
	for ; i < len(old) && free < in.Floor; i++ {
		f := old[i]
		if unneeded(f) {
			remove = append(remove, f.Name)
		} else {
			forced = append(forced, f.Name)
		}
		free += f.Size
	}
	return remove, forced
}
