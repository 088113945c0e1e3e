#pragma once

// The allocator podproxy hands nghttp2 (nghttp2_mem): nghttp2 allocates several small blocks
// per stream (the stream, queued frames, decoded header values). With a hundred streams in
// flight those overflow glibc's per-thread cache and take malloc's slow path; here they come
// from per-thread free lists by power-of-two size class, without a lock (a session lives on one
// worker). Blocks above the largest class go to malloc.

#include <nghttp2/nghttp2.h>

namespace podproxy::http::http2 {

// The same allocator for every session; its state is per thread.
nghttp2_mem* threadCachedAllocator();

}  // namespace podproxy::http::http2
