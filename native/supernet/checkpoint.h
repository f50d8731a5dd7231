// Checkpoint files of the supernet: every tensor (parameters and BN running statistics), the
// SGD momentum buffers, and an opaque caller string (the TypeScript training state as JSON:
// pool, schedules, RNG states, data order), in one versioned binary file with a checksum.
//
// Layout (little-endian):
//   "GNASCKPT"  u32 version  u32 tensor count
//   per tensor: u16 name length, name, u8 kind, u8 rank, i32 dims[rank]
//   u64 extra length, extra bytes
//   u64 float count, values[float count], velocity[float count]
//   u64 FNV-1a 64 checksum of every byte before it
//
// Writes are atomic (temp file, fsync, rename, fsync of the folder): a crash leaves either the
// old file or the new one. A truncated, corrupt or foreign file is refused with a clear error
// and the supernet is left unchanged.
#pragma once
#include <string>

namespace gnas {

class Supernet;

void save_checkpoint(const Supernet& net, const std::string& path, const std::string& extra);
// Returns the extra string. Throws std::runtime_error naming what is wrong with the file.
std::string load_checkpoint(Supernet& net, const std::string& path);

}  // namespace gnas
