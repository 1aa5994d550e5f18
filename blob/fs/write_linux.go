package fs

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// openDirect is the open flag for direct I/O.
const openDirect = syscall.O_DIRECT

// setDirect turns direct I/O on f on or off.
func setDirect(f *os.File, on bool) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	err = sc.Control(func(fd uintptr) {
		var fl int
		if fl, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0); ferr != nil {
			return
		}
		if on {
			fl |= unix.O_DIRECT
		} else {
			fl &^= unix.O_DIRECT
		}
		_, ferr = unix.FcntlInt(fd, unix.F_SETFL, fl)
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return os.NewSyscallError("fcntl", err)
	}
	return nil
}

// startWriteback asks the kernel to start writing n bytes of f at off back to the disk,
// without waiting. It is a hint: the final fsync reports any write error.
func startWriteback(f *os.File, off, n int64) {
	if sc, err := f.SyscallConn(); err == nil {
		sc.Control(func(fd uintptr) {
			unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
		})
	}
}

// haveSyncfs says that syncfsFile flushes the whole file system in one call.
const haveSyncfs = true

// syncfsFile flushes the file system holding f (syncfs(2); since Linux 5.8 it reports
// write-back errors of any file on it).
func syncfsFile(f *os.File) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := sc.Control(func(fd uintptr) { serr = unix.Syncfs(int(fd)) }); err != nil {
		return err
	}
	if serr != nil {
		return os.NewSyscallError("syncfs", serr)
	}
	return nil
}
