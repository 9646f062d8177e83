//go:build unix

package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// openWriteCount maps path+writeCountSuffix, creating it as eight zero bytes if missing.
// A store that cannot map it does not open: its commits would go unseen by stores that
// trust the count.
func openWriteCount(path string) (*writeCount, error) {
	name := realPath(path) + writeCountSuffix
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("write count %s: %w", name, err)
	}
	defer f.Close() // the mapping outlives the descriptor
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("write count %s: %w", name, err)
	}
	// Only ever grown: two processes opening at once both make it eight bytes, and a
	// word already counted is kept.
	if info.Size() < 8 {
		if err := f.Truncate(8); err != nil {
			return nil, fmt.Errorf("write count %s: %w", name, err)
		}
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, 8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("write count %s: map: %w", name, err)
	}
	// A mapping starts on a page boundary, so the word is aligned for atomic access,
	// which every process sharing the page uses.
	return &writeCount{word: (*atomic.Uint64)(unsafe.Pointer(&mem[0])), close: func() error { return syscall.Munmap(mem) }}, nil
}

// realPath is path with its symbolic links resolved, as SQLite resolves them to place the
// -wal and -shm files: two processes that name one database through different links
// must share one count. A file not there yet is placed by its directory.
func realPath(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
		return filepath.Join(dir, filepath.Base(path))
	}
	return path
}
