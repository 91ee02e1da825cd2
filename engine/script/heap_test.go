package script

import "runtime"

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func runtimeKeepAlive(x any) { runtime.KeepAlive(x) }
